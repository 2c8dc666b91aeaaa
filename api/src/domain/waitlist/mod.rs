//! The waitlist of a sold-out session: buyers ask for `count` seats (of a grade, up to a
//! price) and wait in line; seats that come back are held for the first request in line
//! they can meet before anyone else can buy them ([`hand_over`]).
//!
//! Joining takes the session lock, like every change to its seats, so a join and a release
//! are ordered: either the seats were free when the buyer joined (and joining is refused:
//! hold them instead) or the entry was in line when they came back. Entries are served in
//! id order; one live entry (WAITING or OFFERED) per buyer and session is a unique index.

mod hand_over;
mod matching;

use chrono::{DateTime, Duration, Utc};
use entity::{SessionStatus, WaitlistState, session, waitlist_entry};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};

pub use hand_over::hand_over;

use super::inventory::lock_session;
use super::sessions::{SaleState, sale_state};
use crate::error::{ApiError, ApiResult};
use crate::ids::{SessionId, UserId, WaitlistEntryId};

/// Most entries `myWaitlist` lists (newest first); live entries are at most one per session.
pub const MY_WAITLIST_LIMIT: u64 = 50;

/// A request to join a session's line.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    pub user_id: UserId,
    pub session_id: i64,
    pub count: i64,
    pub grade: Option<String>,
    pub max_price: Option<i64>,
}

/// An entry with its place in line (1 for the next served), for WAITING entries only.
#[derive(Debug, Clone)]
pub struct EntryView {
    pub entry: waitlist_entry::Model,
    pub position: Option<u64>,
}

/// Puts the buyer in line. Refused (CONFLICT) while a seat this request could take is
/// available: the buyer holds instead; and when the buyer's live seats in the session plus
/// `count` pass `max_seats_per_buyer` (the cap a hold would apply). While the session's
/// waiting room is on, the buyer needs an admitted ticket, as for a hold (otherwise the line
/// would be a way round the room). Joining again with the same request returns the live
/// entry; with another request it is CONFLICT (leave first).
///
/// The entry keeps the cap and the hold window, for the hand-over, which runs without
/// settings: an offer is not made while it would take the buyer past the cap.
#[tracing::instrument(name = "waitlist.join", skip_all)]
pub async fn join(
    db: &DatabaseConnection,
    request: JoinRequest,
    max_seats_per_buyer: usize,
    hold_for: Duration,
) -> ApiResult<EntryView> {
    let count = super::best_available::check_count(request.count, max_seats_per_buyer)?;
    let grade = match request.grade.as_deref().map(str::trim) {
        Some("") => {
            return Err(ApiError::bad_input(
                "grade",
                "name a seat grade, or leave it out for any",
            ));
        }
        other => other.map(str::to_string),
    };
    let max_price = match request.max_price {
        Some(price) if price <= 0 || price > i64::from(i32::MAX) => {
            return Err(ApiError::bad_input(
                "maxPrice",
                "the price cap must be a positive amount in KRW",
            ));
        }
        other => other.map(|p| p as i32),
    };
    let txn = crate::db::write(db).await?;
    lock_session(&txn, request.session_id).await?;
    let session = super::sessions::find_session(&txn, request.session_id).await?;
    if !matches!(sale_state(&session, Utc::now()), SaleState::OnSale | SaleState::SoldOut) {
        return Err(ApiError::Conflict("this session is not on sale".into()));
    }
    let seats = hand_over::free_seats(&txn, request.session_id).await?;
    let prices = super::sessions::prices_by_grade(&txn, request.session_id).await?;
    if let Some(grade) = &grade
        && !prices.contains_key(grade)
    {
        return Err(ApiError::bad_input(
            "grade",
            format!("the session has no {grade} seats"),
        ));
    }
    if let Some(existing) = live_entry(&txn, request.user_id, request.session_id).await? {
        let same = existing.seat_count as usize == count && existing.grade == grade && existing.max_price == max_price;
        if !same {
            return Err(ApiError::Conflict(
                "you are already on this session's waitlist with another request; leave it first to change it".into(),
            ));
        }
        let view = with_position(&txn, existing).await?;
        crate::db::commit(txn).await?;
        return Ok(view);
    }
    super::waiting_room::require_admission(&txn, request.session_id, request.user_id, Utc::now()).await?;
    let held = seats_held(&txn, request.user_id, SessionId(request.session_id)).await?;
    if held + count > max_seats_per_buyer {
        return Err(ApiError::Conflict(format!(
            "a buyer may have at most {max_seats_per_buyer} seats of a session and you already have {held}: \
             wait for at most {} seats",
            max_seats_per_buyer.saturating_sub(held)
        )));
    }
    let wanted = waitlist_entry::Model {
        id: 0,
        session_id: request.session_id,
        user_id: request.user_id.0,
        seat_count: count as i32,
        grade: grade.clone(),
        max_price,
        state: WaitlistState::Waiting,
        hold_seconds: hold_for.num_seconds().max(1),
        max_seats: Some(i32::try_from(max_seats_per_buyer).unwrap_or(i32::MAX)),
        reservation_id: None,
        created_at: Utc::now(),
        updated_at: Utc::now(),
    };
    if seats.pick(hand_over::want_of(&wanted)).is_some() {
        return Err(ApiError::Conflict(
            "seats matching this request are available now: hold them (holdBestAvailable) instead of joining the waitlist"
                .into(),
        ));
    }
    let entry = waitlist_entry::ActiveModel {
        session_id: Set(wanted.session_id),
        user_id: Set(wanted.user_id),
        seat_count: Set(wanted.seat_count),
        grade: Set(wanted.grade),
        max_price: Set(wanted.max_price),
        state: Set(WaitlistState::Waiting),
        hold_seconds: Set(wanted.hold_seconds),
        max_seats: Set(wanted.max_seats),
        reservation_id: Set(None),
        created_at: Set(wanted.created_at),
        updated_at: Set(wanted.updated_at),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(|e| ApiError::from_db_conflict(e, "you are already on this session's waitlist"))?;
    let view = with_position(&txn, entry).await?;
    crate::db::commit(txn).await?;
    Ok(view)
}

/// Takes the buyer's entry out of line (LEFT). Idempotent: an entry that already left, or
/// ended (BOOKED, LAPSED), is returned as it is. An OFFERED entry cannot leave (CONFLICT):
/// its seats are held, and releasing the hold (`releaseHold`) gives them to the next in line.
#[tracing::instrument(name = "waitlist.leave", skip_all, fields(entry_id = entry_id.0, user_id = user_id.0))]
pub async fn leave(db: &DatabaseConnection, entry_id: WaitlistEntryId, user_id: UserId) -> ApiResult<EntryView> {
    let now = Utc::now();
    waitlist_entry::Entity::update_many()
        .col_expr(waitlist_entry::Column::State, Expr::value(WaitlistState::Left))
        .col_expr(waitlist_entry::Column::UpdatedAt, Expr::value(now))
        .filter(waitlist_entry::Column::Id.eq(entry_id))
        .filter(waitlist_entry::Column::UserId.eq(user_id))
        .filter(waitlist_entry::Column::State.eq(WaitlistState::Waiting))
        .exec(db)
        .await?;
    let entry = find_owned(db, entry_id, user_id).await?;
    if entry.state == WaitlistState::Offered {
        return Err(ApiError::Conflict(
            "seats are already held for you from the waitlist: pay for them, or release the hold (releaseHold)".into(),
        ));
    }
    with_position(db, entry).await
}

/// The buyer's entries, newest first: live ones and those that ended recently.
pub async fn mine(db: &impl ConnectionTrait, user_id: UserId) -> ApiResult<Vec<EntryView>> {
    let entries = waitlist_entry::Entity::find()
        .filter(waitlist_entry::Column::UserId.eq(user_id))
        .order_by_desc(waitlist_entry::Column::Id)
        .limit(MY_WAITLIST_LIMIT)
        .all(db)
        .await?;
    let mut views = Vec::with_capacity(entries.len());
    // One count per WAITING entry: a buyer waits for few sessions at once (one entry each).
    for entry in entries {
        views.push(with_position(db, entry).await?);
    }
    Ok(views)
}

/// The buyer's own entry; anyone else's is NOT_FOUND.
pub async fn find_owned(
    db: &impl ConnectionTrait,
    id: WaitlistEntryId,
    user_id: UserId,
) -> ApiResult<waitlist_entry::Model> {
    waitlist_entry::Entity::find_by_id(id)
        .one(db)
        .await?
        .filter(|e| e.user_id == user_id)
        .ok_or(ApiError::NotFound("waitlist entry"))
}

/// WAITING entries of each of `session_ids` (sessions without any are left out). The bare
/// database error, for the dataloader that batches it.
pub async fn waiting_counts(db: &impl ConnectionTrait, session_ids: &[i64]) -> Result<Vec<(i64, i64)>, sea_orm::DbErr> {
    waitlist_entry::Entity::find()
        .select_only()
        .column(waitlist_entry::Column::SessionId)
        .column_as(waitlist_entry::Column::Id.count(), "waiting")
        .filter(waitlist_entry::Column::SessionId.is_in(session_ids.iter().copied()))
        .filter(waitlist_entry::Column::State.eq(WaitlistState::Waiting))
        .group_by(waitlist_entry::Column::SessionId)
        .into_tuple()
        .all(db)
        .await
}

/// Whether anyone waits in the session's line. The hold batch asks it, under the session
/// lock, before letting a public hold take over a lapsed hold's seats: while someone waits,
/// those seats go through the sweeper, which offers them to the line first.
pub(crate) async fn anyone_waiting(txn: &impl ConnectionTrait, session_id: i64) -> ApiResult<bool> {
    let first: Option<i64> = waitlist_entry::Entity::find()
        .select_only()
        .column(waitlist_entry::Column::Id)
        .filter(waitlist_entry::Column::SessionId.eq(session_id))
        .filter(waitlist_entry::Column::State.eq(WaitlistState::Waiting))
        .limit(1)
        .into_tuple()
        .one(txn)
        .await?;
    Ok(first.is_some())
}

/// Ends the lines of sessions no longer on sale: their WAITING entries become CLOSED (a
/// cancelled session, or one whose sales closed or that has started; the hand-over offers
/// nothing for them any more). Run by the hold sweeper. One conditional update, so a
/// concurrent hand-over either offered an entry first or finds it CLOSED. Returns how many
/// entries closed.
pub(crate) async fn close_ended_lines(db: &impl ConnectionTrait, now: DateTime<Utc>) -> ApiResult<u64> {
    let ended = Query::select()
        .column(session::Column::Id)
        .from(session::Entity)
        .cond_where(
            Condition::any()
                .add(session::Column::Status.eq(SessionStatus::Cancelled))
                .add(session::Column::SalesCloseAt.lte(now))
                .add(session::Column::StartsAt.lte(now)),
        )
        .to_owned();
    Ok(waitlist_entry::Entity::update_many()
        .col_expr(waitlist_entry::Column::State, Expr::value(WaitlistState::Closed))
        .col_expr(waitlist_entry::Column::UpdatedAt, Expr::value(now))
        .filter(waitlist_entry::Column::State.eq(WaitlistState::Waiting))
        .filter(waitlist_entry::Column::SessionId.in_subquery(ended))
        .exec(db)
        .await?
        .rows_affected)
}

/// The offered reservations among `reservation_ids` ended unpaid (released or expired):
/// their entries become LAPSED. Call in the transaction that ended them, before
/// [`hand_over`] gives their seats to the next in line.
pub(crate) async fn offers_ended(txn: &impl ConnectionTrait, reservation_ids: &[i64]) -> ApiResult<u64> {
    if reservation_ids.is_empty() {
        return Ok(0);
    }
    Ok(waitlist_entry::Entity::update_many()
        .col_expr(waitlist_entry::Column::State, Expr::value(WaitlistState::Lapsed))
        .col_expr(waitlist_entry::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(waitlist_entry::Column::ReservationId.is_in(reservation_ids.iter().copied()))
        .filter(waitlist_entry::Column::State.eq(WaitlistState::Offered))
        .exec(txn)
        .await?
        .rows_affected)
}

/// The reservation was paid: its entry, if it was offered from the waitlist, is BOOKED.
/// Call in the confirming transaction.
pub(crate) async fn offer_booked(txn: &impl ConnectionTrait, reservation_id: i64) -> ApiResult<()> {
    waitlist_entry::Entity::update_many()
        .col_expr(waitlist_entry::Column::State, Expr::value(WaitlistState::Booked))
        .col_expr(waitlist_entry::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(waitlist_entry::Column::ReservationId.eq(reservation_id))
        .filter(waitlist_entry::Column::State.eq(WaitlistState::Offered))
        .exec(txn)
        .await?;
    Ok(())
}

/// The idempotency keys' namespace the server keeps for its offers ([`offer_key`]).
const OFFER_KEY_PREFIX: &str = "waitlist:";

/// The idempotency key of the reservation offered to entry `entry_id`: one offer per entry
/// (the unique key on buyer and idempotency key), and recognisable to the notifier. Buyers
/// cannot choose keys of this form ([`is_server_key`]).
pub(crate) fn offer_key(entry_id: i64) -> String {
    format!("{OFFER_KEY_PREFIX}{entry_id}")
}

/// Whether a buyer's idempotency key is in the namespace of the offers' keys (in any case,
/// so that no spelling of it comes close).
pub(crate) fn is_server_key(key: &str) -> bool {
    key.get(..OFFER_KEY_PREFIX.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(OFFER_KEY_PREFIX))
}

/// Seats the buyer holds or owns in the session (the per-buyer cap counts these).
async fn seats_held(db: &impl ConnectionTrait, user_id: UserId, session_id: SessionId) -> ApiResult<usize> {
    let users = std::collections::BTreeSet::from([user_id.0]);
    Ok(super::reservations::seats_in_session(db, &users, session_id.0)
        .await?
        .into_iter()
        .map(|(_, seats)| seats)
        .sum())
}

/// Whether `reservation` was made by the hand-over (checked against the entry, since a buyer
/// may choose any idempotency key for a hold of their own).
pub(crate) async fn offered_entry(
    db: &impl ConnectionTrait,
    reservation: &entity::reservation::Model,
) -> ApiResult<Option<waitlist_entry::Model>> {
    if !reservation.idempotency_key.starts_with(OFFER_KEY_PREFIX) {
        return Ok(None);
    }
    Ok(waitlist_entry::Entity::find()
        .filter(waitlist_entry::Column::ReservationId.eq(reservation.id))
        .one(db)
        .await?)
}

async fn live_entry(
    db: &impl ConnectionTrait,
    user_id: UserId,
    session_id: i64,
) -> ApiResult<Option<waitlist_entry::Model>> {
    Ok(waitlist_entry::Entity::find()
        .filter(waitlist_entry::Column::UserId.eq(user_id))
        .filter(waitlist_entry::Column::SessionId.eq(session_id))
        .filter(waitlist_entry::Column::State.is_in([WaitlistState::Waiting, WaitlistState::Offered]))
        .one(db)
        .await?)
}

async fn with_position(db: &impl ConnectionTrait, entry: waitlist_entry::Model) -> ApiResult<EntryView> {
    let position = if entry.state == WaitlistState::Waiting {
        let ahead_or_same = waitlist_entry::Entity::find()
            .filter(waitlist_entry::Column::SessionId.eq(entry.session_id))
            .filter(waitlist_entry::Column::State.eq(WaitlistState::Waiting))
            .filter(waitlist_entry::Column::Id.lte(entry.id))
            .count(db)
            .await?;
        Some(ahead_or_same)
    } else {
        None
    };
    Ok(EntryView { entry, position })
}
