//! Holding seats, releasing them, and expiring unpaid holds: where "no seat is sold twice"
//! is enforced, by the database.
//!
//! Every change to a session's seats happens in one transaction that first bumps the
//! session's seat-map version. That update takes the session row's write lock, so the changes
//! of one session are serialised (and get consecutive versions) without any lock of our own.
//! The seats themselves move with conditional updates (`… WHERE status = 'AVAILABLE'`): fewer
//! rows changed than asked for means someone else got there first, and the transaction is
//! rolled back whole. A partial unique index keeps a seat in one live reservation at most.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use entity::{QueueState, SeatStatus, reservation, session, session_seat, waiting_room, waiting_room_ticket};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, QuerySelect};

mod batch;
mod combiner;
mod decide;
pub mod guards;
pub(crate) mod pricing;
mod release;

pub use combiner::HoldCombiner;
pub use release::{expire_holds, release_hold};

use crate::error::{ApiError, ApiResult};
use crate::ids::{SessionId, UserId};

#[derive(Debug, Clone)]
pub struct HoldRequest {
    pub user_id: UserId,
    pub session_id: SessionId,
    pub seat_ids: Vec<i64>,
    pub idempotency_key: String,
}

/// Rules a hold follows, from the booking settings.
#[derive(Debug, Clone, Copy)]
pub struct HoldPolicy {
    pub hold_for: Duration,
    pub max_seats_per_buyer: usize,
    /// Reservations a buyer may have HELD or PAYING at once, over all sessions.
    pub max_live_reservations: usize,
}

impl From<&crate::config::BookingSettings> for HoldPolicy {
    fn from(booking: &crate::config::BookingSettings) -> Self {
        Self {
            hold_for: Duration::seconds(booking.hold_seconds),
            max_seats_per_buyer: booking.max_seats_per_buyer,
            max_live_reservations: booking.max_live_reservations_per_buyer,
        }
    }
}

/// Holds every requested seat or none. Returns the same reservation again for a repeated
/// idempotency key; the key reused for other seats (or another session) is CONFLICT.
///
/// What can be checked without locks is checked here, concurrently; the hold itself is
/// applied by the session's [`HoldCombiner`], together with the requests that arrived
/// while the previous batch was committing.
#[tracing::instrument(name = "holds.hold_seats", skip_all)]
pub async fn hold_seats(holds: &std::sync::Arc<HoldCombiner>, request: HoldRequest) -> ApiResult<reservation::Model> {
    match prepare(holds, request).await? {
        Prepared::Replayed(existing) => Ok(existing),
        Prepared::Ready(ready) => holds.submit(ready).await,
    }
}

/// Queues a checked request for its session's next batch and waits for the answer.
pub async fn submit(holds: &std::sync::Arc<HoldCombiner>, ready: ReadyHold) -> ApiResult<reservation::Model> {
    holds.submit(ready).await
}

/// A hold request that passed every check made without locks. Its session's sale state,
/// prices and title are read once for its whole batch ([`pricing`]).
#[derive(Debug, Clone)]
pub struct ReadyHold {
    /// With `seat_ids` sorted and without repeats.
    request: HoldRequest,
    /// The idempotency key, trimmed.
    key: String,
}

impl ReadyHold {
    pub(crate) fn session_id(&self) -> i64 {
        self.request.session_id.0
    }

    /// The same request made twice (a retry): same buyer, key, session and seats.
    fn same_as(&self, other: &ReadyHold) -> bool {
        self.request.user_id == other.request.user_id
            && self.key == other.key
            && self.request.session_id == other.request.session_id
            && self.request.seat_ids == other.request.seat_ids
    }
}

/// A hold request after the checks made without locks.
pub enum Prepared {
    /// The same request was made before: its reservation.
    Replayed(reservation::Model),
    /// To be applied by [`submit`].
    Ready(ReadyHold),
}

/// The checks a hold request passes before it queues, in one query: the idempotency key
/// (a request made again is answered with its reservation, or CONFLICT for other seats),
/// the seats (in the session, and not visibly taken: on sale day most attempts find a seat
/// taken, and saying so here keeps the batches for the attempts that can succeed; the
/// batch still decides), and the buyer's per-session limit on the request alone.
pub async fn prepare(holds: &HoldCombiner, request: HoldRequest) -> ApiResult<Prepared> {
    let (db, policy) = (holds.db(), holds.policy());
    let key = guards::client_key(&request.idempotency_key)?;
    let seat_ids: BTreeSet<i64> = request.seat_ids.iter().copied().collect();
    if seat_ids.is_empty() {
        return Err(ApiError::bad_input("seatIds", "choose at least one seat"));
    }
    if seat_ids.len() != request.seat_ids.len() {
        return Err(ApiError::bad_input("seatIds", "a seat is listed twice"));
    }
    if seat_ids.len() > policy.max_seats_per_buyer {
        return Err(over_limit(policy, 0));
    }
    let ids: Vec<i64> = seat_ids.into_iter().collect();
    match check_still_free(db, request.session_id.0, &ids, request.user_id, key, Utc::now()).await? {
        Precheck::Free => {}
        Precheck::KeyUsed(id) => {
            let existing = reservation::Entity::find_by_id(id)
                .one(db)
                .await?
                .ok_or(ApiError::NotFound("reservation"))?;
            return guards::replay(db, existing, &request).await.map(Prepared::Replayed);
        }
        Precheck::Taken(taken) => return Err(ApiError::SeatUnavailable(taken)),
    }
    Ok(Prepared::Ready(ReadyHold {
        key: key.to_string(),
        request: HoldRequest {
            seat_ids: ids,
            ..request
        },
    }))
}

/// What the pre-check found.
enum Precheck {
    Free,
    /// The buyer already made a reservation with this key (this one).
    KeyUsed(i64),
    /// These seats are neither available nor a lapsed hold.
    Taken(Vec<i64>),
}

/// A seat of the session, and the reservation the buyer made with the key, if any (the same
/// on every row).
#[derive(Debug, FromQueryResult)]
struct SeatHolder {
    seat_id: i64,
    status: SeatStatus,
    hold_expires_at: Option<DateTime<Utc>>,
    key_used_by: Option<i64>,
    /// Whether the session's waiting room is on, and until when the buyer is admitted.
    room_enabled: Option<bool>,
    admitted_until: Option<DateTime<Utc>>,
}

async fn check_still_free(
    db: &impl ConnectionTrait,
    session_id: i64,
    ids: &[i64],
    user_id: UserId,
    key: &str,
    now: DateTime<Utc>,
) -> ApiResult<Precheck> {
    let by_key = Query::select()
        .column(reservation::Column::Id)
        .from(reservation::Entity)
        .and_where(reservation::Column::UserId.eq(user_id))
        .and_where(reservation::Column::IdempotencyKey.eq(key))
        .to_owned();
    let room = Query::select()
        .column(waiting_room::Column::Enabled)
        .from(waiting_room::Entity)
        .and_where(waiting_room::Column::SessionId.eq(session_id))
        .to_owned();
    let admitted = Query::select()
        .column(waiting_room_ticket::Column::AdmittedUntil)
        .from(waiting_room_ticket::Entity)
        .and_where(waiting_room_ticket::Column::SessionId.eq(session_id))
        .and_where(waiting_room_ticket::Column::UserId.eq(user_id))
        .and_where(waiting_room_ticket::Column::State.eq(QueueState::Admitted))
        .to_owned();
    let rows: Vec<SeatHolder> = session_seat::Entity::find()
        .select_only()
        .column(session_seat::Column::SeatId)
        .column(session_seat::Column::Status)
        .column(session_seat::Column::HoldExpiresAt)
        .expr_as(Expr::SubQuery(None, Box::new(by_key.into())), "key_used_by")
        .expr_as(Expr::SubQuery(None, Box::new(room.into())), "room_enabled")
        .expr_as(Expr::SubQuery(None, Box::new(admitted.into())), "admitted_until")
        .filter(session_seat::Column::SessionId.eq(session_id))
        .filter(session_seat::Column::SeatId.is_in(ids.iter().copied()))
        .into_model()
        .all(db)
        .await?;
    if rows.len() != ids.len() {
        if session::Entity::find_by_id(session_id).one(db).await?.is_none() {
            return Err(ApiError::NotFound("session"));
        }
        return Err(ApiError::bad_input("seatIds", "a seat does not belong to this session"));
    }
    if let Some(id) = rows.first().and_then(|row| row.key_used_by) {
        return Ok(Precheck::KeyUsed(id));
    }
    if let Some(row) = rows.first()
        && !super::waiting_room::admits(row.room_enabled.unwrap_or(false), row.admitted_until, now)
    {
        return Err(ApiError::WaitingRoomRequired);
    }
    let taken: Vec<i64> = rows
        .iter()
        .filter(|seat| !is_free(seat, now))
        .map(|seat| seat.seat_id)
        .collect();
    if taken.is_empty() {
        Ok(Precheck::Free)
    } else {
        Ok(Precheck::Taken(taken))
    }
}

fn is_free(seat: &SeatHolder, now: DateTime<Utc>) -> bool {
    match seat.status {
        SeatStatus::Available => true,
        SeatStatus::Held => seat.hold_expires_at.is_some_and(|at| at < now),
        SeatStatus::Sold | SeatStatus::Blocked => false,
    }
}

pub(super) fn over_limit(policy: HoldPolicy, already: usize) -> ApiError {
    ApiError::bad_input(
        "seatIds",
        format!(
            "a buyer may hold at most {} seats of a session; you already have {already}",
            policy.max_seats_per_buyer
        ),
    )
}
