//! The waiting room of a hot session: buyers queue before they may hold, and admission
//! follows the inventory.
//!
//! - **Line.** A buyer joins once per session (the unique (session, user) key; joining
//!   again returns the same ticket). The admission tick gives every new ticket its place
//!   (`sequence`): buyers who joined before `opens_at` are shuffled once, durably, when the
//!   room opens (a pre-queue), everyone after them in join order. Admission follows the
//!   sequence, so the tickets still waiting are exactly those past `admitted_through`, and a
//!   ticket's position is `sequence − admitted_through` without counting anything.
//! - **Admission** (see [`admission`]): at most `admit_per_minute` in any 60 seconds, and no
//!   more buyers admitted-but-not-holding than the seats left can serve.
//! - **Sold out.** When the session has no seat available, every waiting ticket becomes
//!   SOLD_OUT in one statement and one event tells every subscriber. When seats come back
//!   (a hold lapses or is released), they are WAITING again in their old places.
//! - **The gate** ([`require_admission`]): while the room is enabled, `holdSeats` and
//!   `holdBestAvailable` need an ADMITTED ticket whose `admitted_until` has not passed. The
//!   ticket is not spent by a hold: within the window the buyer may hold (and release, and
//!   hold again) up to the per-buyer seat limit, which is what admission counts on.
//!
//! Everything lives in the database, so it survives restarts and every instance sees the
//! same line; the bus only carries hints to subscribers.

pub mod admission;
mod events;

use chrono::{DateTime, Duration, Utc};
use entity::{QueueState, waiting_room, waiting_room_ticket};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};

pub use events::{RoomUpdate, TicketChange};

use crate::error::{ApiError, ApiResult};
use crate::ids::{SessionId, UserId};

/// What the box office sets.
#[derive(Debug, Clone)]
pub struct RoomSettings {
    pub enabled: bool,
    pub admit_per_minute: i32,
    pub admission_minutes: i32,
    pub opens_at: DateTime<Utc>,
}

/// Creates or changes the session's waiting room. The line and its counters are kept when
/// a room is turned off and on again.
#[tracing::instrument(name = "waiting_room.configure", skip_all)]
pub async fn configure(
    db: &impl ConnectionTrait,
    session_id: i64,
    input: RoomSettings,
) -> ApiResult<waiting_room::Model> {
    if !(1..=1_000_000).contains(&input.admit_per_minute) {
        return Err(ApiError::bad_input(
            "admitPerMinute",
            "admit 1 to 1,000,000 buyers a minute",
        ));
    }
    if !(1..=24 * 60).contains(&input.admission_minutes) {
        return Err(ApiError::bad_input(
            "admissionMinutes",
            "an admitted buyer needs 1 minute to 24 hours to hold",
        ));
    }
    super::sessions::find_session(db, session_id).await?;
    let now = Utc::now();
    waiting_room::Entity::insert(waiting_room::ActiveModel {
        session_id: Set(session_id),
        enabled: Set(input.enabled),
        admit_per_minute: Set(input.admit_per_minute),
        admission_minutes: Set(input.admission_minutes),
        opens_at: Set(input.opens_at),
        last_sequence: Set(0),
        admitted_through: Set(0),
        sold_out: Set(false),
        tick: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(waiting_room::Column::SessionId)
            .update_columns([
                waiting_room::Column::Enabled,
                waiting_room::Column::AdmitPerMinute,
                waiting_room::Column::AdmissionMinutes,
                waiting_room::Column::OpensAt,
                waiting_room::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    find_room(db, session_id)
        .await?
        .ok_or(ApiError::NotFound("waiting room"))
}

pub async fn find_room(db: &impl ConnectionTrait, session_id: i64) -> ApiResult<Option<waiting_room::Model>> {
    Ok(waiting_room::Entity::find_by_id(session_id).one(db).await?)
}

/// Buyers in line (WAITING or SOLD_OUT) and buyers admitted whose window is still open.
pub async fn head_counts(db: &impl ConnectionTrait, session_id: i64, now: DateTime<Utc>) -> ApiResult<(u64, u64)> {
    let waiting = waiting_room_ticket::Entity::find()
        .filter(waiting_room_ticket::Column::SessionId.eq(session_id))
        .filter(waiting_room_ticket::Column::State.is_in([QueueState::Waiting, QueueState::SoldOut]))
        .count(db)
        .await?;
    let admitted = waiting_room_ticket::Entity::find()
        .filter(waiting_room_ticket::Column::SessionId.eq(session_id))
        .filter(waiting_room_ticket::Column::State.eq(QueueState::Admitted))
        .filter(waiting_room_ticket::Column::AdmittedUntil.gt(now))
        .count(db)
        .await?;
    Ok((waiting, admitted))
}

/// A ticket as its buyer sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketView {
    pub id: i64,
    pub session_id: i64,
    pub state: QueueState,
    pub sequence: Option<i64>,
    /// 1 for the next buyer to be admitted; `None` until the ticket is placed (before the
    /// room opens, for the pre-queue) and once it is no longer in line.
    pub position: Option<i64>,
    pub admitted_until: Option<DateTime<Utc>>,
    /// From the room's admission rate; admission by inventory can only make it longer.
    pub estimated_wait_seconds: Option<i64>,
}

impl TicketView {
    /// The view of `ticket` in a room admitted through `admitted_through` at
    /// `admit_per_minute`.
    pub fn new(ticket: &waiting_room_ticket::Model, admitted_through: i64, admit_per_minute: i32) -> Self {
        let in_line = matches!(ticket.state, QueueState::Waiting | QueueState::SoldOut);
        let position = ticket
            .sequence
            .filter(|_| in_line)
            .map(|sequence| (sequence - admitted_through).max(1));
        Self {
            id: ticket.id,
            session_id: ticket.session_id,
            state: ticket.state,
            sequence: ticket.sequence,
            position,
            admitted_until: ticket.admitted_until,
            estimated_wait_seconds: position.map(|p| (p - 1) * 60 / i64::from(admit_per_minute.max(1))),
        }
    }

    /// Buyers ahead of this one.
    pub fn ahead(&self) -> Option<i64> {
        self.position.map(|p| p - 1)
    }
}

/// Puts the buyer in the session's line, or returns the ticket they already have. A ticket
/// that EXPIRED (admitted, but no hold in time) goes back to the end of the line, keeping
/// its id. Insert-or-nothing on the unique (session, user) key, then a read: concurrent
/// joins of one buyer all get the one ticket, without a lock.
#[tracing::instrument(name = "waiting_room.join", skip_all, fields(session_id = session_id.0, user_id = user_id.0))]
pub async fn join(db: &impl ConnectionTrait, session_id: SessionId, user_id: UserId) -> ApiResult<TicketView> {
    let room = find_room(db, session_id.0)
        .await?
        .filter(|room| room.enabled)
        .ok_or(ApiError::NotFound("waiting room"))?;
    let now = Utc::now();
    let state = if room.sold_out {
        QueueState::SoldOut
    } else {
        QueueState::Waiting
    };
    waiting_room_ticket::Entity::insert(waiting_room_ticket::ActiveModel {
        session_id: Set(session_id.0),
        user_id: Set(user_id.0),
        sequence: Set(None),
        state: Set(state),
        joined_at: Set(now),
        admitted_at: Set(None),
        admitted_until: Set(None),
        updated_at: Set(now),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::columns([
            waiting_room_ticket::Column::SessionId,
            waiting_room_ticket::Column::UserId,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    let mut ticket = find_ticket_of(db, session_id.0, user_id)
        .await?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("a joined ticket cannot be read back")))?;
    // An admission used up (the window closed after a hold) is over too: joining again is
    // the way to a new one.
    let used_up = ticket.state == QueueState::Admitted && ticket.admitted_until.is_some_and(|until| until <= now);
    if ticket.state == QueueState::Expired || used_up {
        requeue(db, ticket.id, state, now).await?;
        ticket = find_ticket(db, ticket.id)
            .await?
            .ok_or(ApiError::NotFound("waiting room ticket"))?;
    }
    Ok(TicketView::new(&ticket, room.admitted_through, room.admit_per_minute))
}

/// Sends an expired (or used-up admitted) ticket to the end of the line; conditional, so
/// that of two concurrent re-joins only one moves it.
async fn requeue(db: &impl ConnectionTrait, ticket_id: i64, state: QueueState, now: DateTime<Utc>) -> ApiResult<()> {
    use sea_orm::sea_query::Expr;
    waiting_room_ticket::Entity::update_many()
        .col_expr(waiting_room_ticket::Column::State, Expr::value(state))
        .col_expr(waiting_room_ticket::Column::Sequence, Expr::value(Option::<i64>::None))
        .col_expr(waiting_room_ticket::Column::JoinedAt, Expr::value(now))
        .col_expr(
            waiting_room_ticket::Column::AdmittedAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            waiting_room_ticket::Column::AdmittedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(waiting_room_ticket::Column::UpdatedAt, Expr::value(now))
        .filter(waiting_room_ticket::Column::Id.eq(ticket_id))
        .filter(
            sea_orm::Condition::any()
                .add(waiting_room_ticket::Column::State.eq(QueueState::Expired))
                .add(
                    sea_orm::Condition::all()
                        .add(waiting_room_ticket::Column::State.eq(QueueState::Admitted))
                        .add(waiting_room_ticket::Column::AdmittedUntil.lte(now)),
                ),
        )
        .exec(db)
        .await?;
    Ok(())
}

pub async fn find_ticket(db: &impl ConnectionTrait, ticket_id: i64) -> ApiResult<Option<waiting_room_ticket::Model>> {
    Ok(waiting_room_ticket::Entity::find_by_id(ticket_id).one(db).await?)
}

async fn find_ticket_of(
    db: &impl ConnectionTrait,
    session_id: i64,
    user_id: UserId,
) -> ApiResult<Option<waiting_room_ticket::Model>> {
    Ok(waiting_room_ticket::Entity::find()
        .filter(waiting_room_ticket::Column::SessionId.eq(session_id))
        .filter(waiting_room_ticket::Column::UserId.eq(user_id))
        .one(db)
        .await?)
}

/// The buyer's own ticket and its room as they are now; anyone else's ticket is NOT_FOUND.
///
/// The ticket is read again after the room: a tick committing in between then leaves the
/// room's tick counter behind the ticket (its event is applied again, harmlessly), never
/// ahead of it (its event would be skipped and the ticket left stale).
pub async fn ticket_and_room(
    db: &impl ConnectionTrait,
    ticket_id: i64,
    user_id: UserId,
) -> ApiResult<(waiting_room_ticket::Model, waiting_room::Model)> {
    let owned = |ticket: Option<waiting_room_ticket::Model>| {
        ticket
            .filter(|ticket| ticket.user_id == user_id)
            .ok_or(ApiError::NotFound("waiting room ticket"))
    };
    let ticket = owned(find_ticket(db, ticket_id).await?)?;
    let room = find_room(db, ticket.session_id)
        .await?
        .ok_or(ApiError::NotFound("waiting room"))?;
    let ticket = owned(find_ticket(db, ticket_id).await?)?;
    Ok((ticket, room))
}

/// The hold gate: Ok when the session has no enabled waiting room, or the buyer's ticket
/// is ADMITTED and its window still open; WAITING_ROOM_REQUIRED otherwise. Called before
/// the hold, outside its transaction: a window closing in between costs at most that one
/// hold, which is what the window means anyway.
pub async fn require_admission(
    db: &impl ConnectionTrait,
    session_id: i64,
    user_id: UserId,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let Some(room) = find_room(db, session_id).await?.filter(|room| room.enabled) else {
        return Ok(());
    };
    let ticket = find_ticket_of(db, room.session_id, user_id).await?;
    let admitted_until = ticket
        .filter(|ticket| ticket.state == QueueState::Admitted)
        .and_then(|ticket| ticket.admitted_until);
    if admits(true, admitted_until, now) {
        Ok(())
    } else {
        Err(ApiError::WaitingRoomRequired)
    }
}

/// The gate's rule: no enabled room, or an ADMITTED ticket whose window is still open
/// (`admitted_until` of an ADMITTED ticket). `holdSeats` reads both in its one pre-check
/// query ([`crate::domain::holds::prepare`]) rather than calling [`require_admission`].
pub fn admits(room_enabled: bool, admitted_until: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    !room_enabled || admitted_until.is_some_and(|until| until > now)
}

/// How long an admitted buyer has, from the room's setting.
fn admission_window(room: &waiting_room::Model) -> Duration {
    Duration::minutes(i64::from(room.admission_minutes))
}
