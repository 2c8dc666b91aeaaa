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
use entity::{
    QueueState, ReservationStatus, SeatStatus, reservation, reservation_seat, session, session_seat, waiting_room,
    waiting_room_ticket,
};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, FromQueryResult,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};

mod batch;
mod combiner;
mod decide;
pub(crate) mod pricing;

pub(crate) use batch::seats_in_session;
pub use combiner::HoldCombiner;

use super::inventory::{bump_version, change_available, current_version, lock_session, record_seat_changes};
use super::reservation_flow::record_status_change;
use crate::error::{ApiError, ApiResult};
use crate::ids::{ReservationId, SessionId, UserId};

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
    let key = super::hold_guards::client_key(&request.idempotency_key)?;
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
            return super::hold_guards::replay(db, existing, &request)
                .await
                .map(Prepared::Replayed);
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

/// Gives a held reservation's seats back.
#[tracing::instrument(name = "holds.release_hold", skip_all, fields(reservation_id = %reservation_id, user_id = %user_id))]
pub async fn release_hold(
    db: &DatabaseConnection,
    reservation_id: ReservationId,
    user_id: UserId,
) -> ApiResult<reservation::Model> {
    let reservation = find_owned(db, reservation_id, user_id).await?;
    if reservation.status != ReservationStatus::Held {
        return Err(ApiError::Conflict("only a held reservation can be released".into()));
    }
    let txn = crate::db::begin_write(db).await?;
    let version = bump_version(&txn, reservation.session_id).await?;
    // Conditional on the status, so that a concurrent expiry or payment wins cleanly.
    let changed = reservation::Entity::update_many()
        .col_expr(reservation::Column::Status, Expr::value(ReservationStatus::Released))
        .col_expr(reservation::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(reservation::Column::Id.eq(reservation.id))
        .filter(reservation::Column::Status.eq(ReservationStatus::Held))
        .exec(&txn)
        .await?
        .rows_affected;
    if changed == 0 {
        txn.rollback().await?;
        return Err(ApiError::Conflict("only a held reservation can be released".into()));
    }
    super::coupons::give_back(&txn, [reservation.id]).await?;
    let (freed, available) = free_seats(&txn, reservation.session_id, Some(reservation.id), None).await?;
    record_seat_changes(
        &txn,
        reservation.session_id,
        version,
        &freed,
        SeatStatus::Available,
        available,
    )
    .await?;
    let released = find_owned(&txn, reservation_id, user_id).await?;
    record_status_change(&txn, &released).await?;
    // Before the seats are anyone's: an offer from the waitlist ends, the line comes first.
    super::waitlist::offers_ended(&txn, &[released.id]).await?;
    super::waitlist::hand_over(&txn, released.session_id).await?;
    txn.commit().await?;
    Ok(released)
}

/// Expires every unpaid hold past its time: reservations EXPIRED, their seats (those not
/// already taken over by a newer hold) back to AVAILABLE, counters, versions and outbox rows
/// moved in one transaction per session. Safe to run on several instances at once: each
/// reservation is expired and each seat freed by exactly one of them. Returns how many seats
/// were freed.
///
/// A session whose sweep fails (its transaction is rolled back whole) is logged and left for
/// the next sweep; the other sessions are swept all the same, so one bad session cannot
/// keep every other session's seats held. The sweep also ends the waitlists of sessions no
/// longer on sale ([`super::waitlist::close_ended_lines`]).
#[tracing::instrument(name = "holds.expire_holds", skip_all)]
pub async fn expire_holds(db: &DatabaseConnection) -> ApiResult<u64> {
    let now = Utc::now();
    let sessions: Vec<i64> = reservation::Entity::find()
        .select_only()
        .column(reservation::Column::SessionId)
        .distinct()
        .filter(reservation::Column::Status.eq(ReservationStatus::Held))
        .filter(reservation::Column::ExpiresAt.lt(now))
        .order_by_asc(reservation::Column::SessionId)
        .limit(500)
        .into_tuple()
        .all(db)
        .await?;
    let mut freed = 0;
    for session_id in sessions {
        match expire_session_holds(db, session_id, now).await {
            Ok(seats) => freed += seats,
            Err(err) => tracing::warn!(
                session_id,
                error = ?err.into_anyhow(),
                "sweeping a session's lapsed holds failed; its holds stay until the next sweep"
            ),
        }
    }
    match super::waitlist::close_ended_lines(db, now).await {
        Ok(0) => {}
        Ok(closed) => tracing::info!(closed, "waitlist entries of sessions off sale closed"),
        Err(err) => tracing::warn!(error = ?err.into_anyhow(), "closing the waitlists of sessions off sale failed"),
    }
    Ok(freed)
}

/// One session's sweep in its own transaction: committed whole, or rolled back whole.
async fn expire_session_holds(db: &DatabaseConnection, session_id: i64, now: DateTime<Utc>) -> ApiResult<u64> {
    let txn = crate::db::begin_write(db).await?;
    match sweep_session(&txn, session_id, now).await {
        Ok(Some(freed)) => {
            txn.commit().await?;
            Ok(freed)
        }
        Ok(None) => {
            // Another instance got here first.
            txn.rollback().await?;
            Ok(0)
        }
        Err(err) => {
            if let Err(rollback) = txn.rollback().await {
                tracing::warn!(session_id, error = %rollback, "rolling back a failed sweep failed");
            }
            Err(err)
        }
    }
}

/// Expires the session's lapsed holds in `txn`; `None` when there were none.
async fn sweep_session(txn: &DatabaseTransaction, session_id: i64, now: DateTime<Utc>) -> ApiResult<Option<u64>> {
    lock_session(txn, session_id).await?;
    let lapsed = reservation::Entity::find()
        .filter(reservation::Column::SessionId.eq(session_id))
        .filter(reservation::Column::Status.eq(ReservationStatus::Held))
        .filter(reservation::Column::ExpiresAt.lt(now))
        .all(txn)
        .await?;
    if lapsed.is_empty() {
        return Ok(None);
    }
    reservation::Entity::update_many()
        .col_expr(reservation::Column::Status, Expr::value(ReservationStatus::Expired))
        .col_expr(reservation::Column::UpdatedAt, Expr::value(now))
        .filter(reservation::Column::Id.is_in(lapsed.iter().map(|r| r.id)))
        .exec(txn)
        .await?;
    super::coupons::give_back(txn, lapsed.iter().map(|r| r.id)).await?;
    let lapsed_seats = session_seat::Entity::find()
        .filter(session_seat::Column::SessionId.eq(session_id))
        .filter(session_seat::Column::Status.eq(SeatStatus::Held))
        .filter(session_seat::Column::HoldExpiresAt.lt(now))
        .count(txn)
        .await?;
    let lapsed_ids: Vec<i64> = lapsed.iter().map(|r| r.id).collect();
    super::waitlist::offers_ended(txn, &lapsed_ids).await?;
    let mut freed = Vec::new();
    if lapsed_seats > 0 {
        let version = bump_version(txn, session_id).await?;
        let available;
        (freed, available) = free_seats(txn, session_id, None, Some(now)).await?;
        record_seat_changes(txn, session_id, version, &freed, SeatStatus::Available, available).await?;
    }
    for mut reservation in lapsed {
        reservation.status = ReservationStatus::Expired;
        record_status_change(txn, &reservation).await?;
    }
    if !freed.is_empty() {
        super::waitlist::hand_over(txn, session_id).await?;
    }
    Ok(Some(freed.len() as u64))
}

/// The buyer's own reservation; anyone else's is NOT_FOUND.
pub async fn find_owned(
    db: &impl ConnectionTrait,
    id: ReservationId,
    user_id: UserId,
) -> ApiResult<reservation::Model> {
    reservation::Entity::find_by_id(id)
        .one(db)
        .await?
        .filter(|r| r.user_id == user_id)
        .ok_or(ApiError::NotFound("reservation"))
}

/// The seats of many reservations at once, in the order they were held.
pub async fn seats_of_many(
    db: &impl ConnectionTrait,
    reservation_ids: impl IntoIterator<Item = i64>,
) -> Result<Vec<reservation_seat::Model>, sea_orm::DbErr> {
    reservation_seat::Entity::find()
        .filter(reservation_seat::Column::ReservationId.is_in(reservation_ids))
        .order_by_asc(reservation_seat::Column::Id)
        .all(db)
        .await
}

pub async fn seats_of(db: &impl ConnectionTrait, reservation_id: i64) -> ApiResult<Vec<reservation_seat::Model>> {
    Ok(reservation_seat::Entity::find()
        .filter(reservation_seat::Column::ReservationId.eq(reservation_id))
        .all(db)
        .await?)
}

pub(crate) async fn find_by_key(
    db: &impl ConnectionTrait,
    user_id: UserId,
    key: &str,
) -> ApiResult<Option<reservation::Model>> {
    Ok(reservation::Entity::find()
        .filter(reservation::Column::UserId.eq(user_id))
        .filter(reservation::Column::IdempotencyKey.eq(key))
        .one(db)
        .await?)
}

/// Frees the HELD seats of one reservation, or every hold lapsed before `lapsed_before`,
/// with their reservation rows; moves the counter; returns the freed seats and the new
/// counter. The caller holds
/// the session lock and has bumped the version.
async fn free_seats(
    db: &impl ConnectionTrait,
    session_id: i64,
    reservation_id: Option<i64>,
    lapsed_before: Option<DateTime<Utc>>,
) -> ApiResult<(Vec<i64>, i32)> {
    let mut held = session_seat::Entity::find()
        .select_only()
        .column(session_seat::Column::SeatId)
        .column(session_seat::Column::ReservationId)
        .filter(session_seat::Column::SessionId.eq(session_id))
        .filter(session_seat::Column::Status.eq(SeatStatus::Held));
    if let Some(id) = reservation_id {
        held = held.filter(session_seat::Column::ReservationId.eq(id));
    }
    if let Some(before) = lapsed_before {
        held = held.filter(session_seat::Column::HoldExpiresAt.lt(before));
    }
    let seats: Vec<(i64, Option<i64>)> = held.into_tuple().all(db).await?;
    if seats.is_empty() {
        return Ok((Vec::new(), change_available(db, session_id, 0).await?));
    }
    let seat_ids: Vec<i64> = seats.iter().map(|(seat, _)| *seat).collect();
    let version = current_version(db, session_id).await?;
    let mut update = session_seat::Entity::update_many()
        .col_expr(session_seat::Column::Status, Expr::value(SeatStatus::Available))
        .col_expr(session_seat::Column::ReservationId, Expr::value(Option::<i64>::None))
        .col_expr(
            session_seat::Column::HoldExpiresAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(session_seat::Column::Version, Expr::value(version))
        .filter(session_seat::Column::SessionId.eq(session_id))
        .filter(session_seat::Column::SeatId.is_in(seat_ids.clone()))
        .filter(session_seat::Column::Status.eq(SeatStatus::Held));
    if let Some(before) = lapsed_before {
        update = update.filter(session_seat::Column::HoldExpiresAt.lt(before));
    }
    let freed = update.exec(db).await?.rows_affected;
    let holders: BTreeSet<i64> = seats.iter().filter_map(|(_, r)| *r).collect();
    reservation_seat::Entity::update_many()
        .col_expr(reservation_seat::Column::Active, Expr::value(false))
        .filter(reservation_seat::Column::SessionId.eq(session_id))
        .filter(reservation_seat::Column::SeatId.is_in(seat_ids.clone()))
        .filter(reservation_seat::Column::ReservationId.is_in(holders))
        .exec(db)
        .await?;
    // Under the session lock nothing else moved these seats since they were read.
    debug_assert_eq!(freed as usize, seat_ids.len());
    let available = change_available(db, session_id, freed as i64).await?;
    Ok((seat_ids, available))
}
