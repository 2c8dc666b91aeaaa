//! What a batch reads before it decides: the buyers (locked in id order), the keys they
//! already used, their live reservations, the session (locked) and the seats asked for.
use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use entity::{ReservationStatus, SeatStatus, reservation, session, session_seat, user};
use sea_orm::sea_query::LockType;
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::domain::holds::ReadyHold;
use crate::domain::holds::decide::{Buyer, SeatState};
use crate::error::{ApiError, ApiResult};

/// Takes the buyers' row locks in id order (so that batches sharing buyers never wait on
/// each other in a circle), before the session lock, as a single hold does: their live
/// reservations, in any session, are then counted one batch after another. Returns the
/// buyers that exist.
pub(super) async fn lock_buyers(txn: &DatabaseTransaction, users: &BTreeSet<i64>) -> ApiResult<BTreeSet<i64>> {
    let locked: Vec<i64> = user::Entity::find()
        .select_only()
        .column(user::Column::Id)
        .filter(user::Column::Id.is_in(users.iter().copied()))
        .order_by_asc(user::Column::Id)
        // The lock a single hold's no-op update takes: it excludes other holds of the
        // buyer, not rows that merely refer to the buyer.
        .lock(LockType::NoKeyUpdate)
        .into_tuple()
        .all(txn)
        .await?;
    Ok(locked.into_iter().collect())
}

/// Reservations already made with the batch's (buyer, key) pairs.
pub(super) async fn keys_used<'a>(
    txn: &DatabaseTransaction,
    holds: &'a [ReadyHold],
) -> ApiResult<HashMap<(i64, &'a str), reservation::Model>> {
    let users: BTreeSet<i64> = holds.iter().map(|h| h.request.user_id.0).collect();
    let keys: BTreeSet<&str> = holds.iter().map(|h| h.key.as_str()).collect();
    let found = reservation::Entity::find()
        .filter(reservation::Column::UserId.is_in(users))
        .filter(reservation::Column::IdempotencyKey.is_in(keys.iter().copied()))
        .all(txn)
        .await?;
    Ok(holds
        .iter()
        .filter_map(|hold| {
            let existing = found
                .iter()
                .find(|r| r.user_id == hold.request.user_id && r.idempotency_key == hold.key)?;
            Some(((hold.request.user_id.0, hold.key.as_str()), existing.clone()))
        })
        .collect())
}

/// Each buyer's reservations waiting for payment, over all sessions.
pub(super) async fn live_reservations(
    txn: &DatabaseTransaction,
    users: &BTreeSet<i64>,
    now: DateTime<Utc>,
) -> ApiResult<HashMap<i64, Buyer>> {
    let rows: Vec<(i64, ReservationStatus, DateTime<Utc>)> = reservation::Entity::find()
        .select_only()
        .column(reservation::Column::UserId)
        .column(reservation::Column::Status)
        .column(reservation::Column::ExpiresAt)
        .filter(reservation::Column::UserId.is_in(users.iter().copied()))
        .filter(
            sea_orm::Condition::any()
                .add(reservation::Column::Status.eq(ReservationStatus::Paying))
                .add(
                    sea_orm::Condition::all()
                        .add(reservation::Column::Status.eq(ReservationStatus::Held))
                        .add(reservation::Column::ExpiresAt.gt(now)),
                ),
        )
        .into_tuple()
        .all(txn)
        .await?;
    let mut buyers: HashMap<i64, Buyer> = HashMap::new();
    for (user_id, status, expires_at) in rows {
        let lapses = (status == ReservationStatus::Held).then_some(expires_at);
        buyers.entry(user_id).or_default().live.push(lapses);
    }
    Ok(buyers)
}

/// Locks the session row (every change to its seats takes this lock first) and reads its
/// seat-map version. On SQLite the write transaction already excludes every other writer.
pub(super) async fn lock_session(txn: &DatabaseTransaction, session_id: i64) -> ApiResult<i64> {
    let version: Option<i64> = session::Entity::find_by_id(session_id)
        .select_only()
        .column(session::Column::SeatMapVersion)
        // The lock every other seat change takes with its UPDATE: not FOR UPDATE, which
        // would also hold up inserts that merely refer to the session.
        .lock(LockType::NoKeyUpdate)
        .into_tuple()
        .one(txn)
        .await?;
    version.ok_or(ApiError::NotFound("session"))
}

/// A seat, its status, its reservation and when its hold lapses.
type SeatRow = (i64, SeatStatus, Option<i64>, Option<DateTime<Utc>>);

pub(super) async fn seat_states(
    txn: &DatabaseTransaction,
    session_id: i64,
    seat_ids: &BTreeSet<i64>,
) -> ApiResult<HashMap<i64, SeatState>> {
    let rows: Vec<SeatRow> = session_seat::Entity::find()
        .select_only()
        .column(session_seat::Column::SeatId)
        .column(session_seat::Column::Status)
        .column(session_seat::Column::ReservationId)
        .column(session_seat::Column::HoldExpiresAt)
        .filter(session_seat::Column::SessionId.eq(session_id))
        .filter(session_seat::Column::SeatId.is_in(seat_ids.iter().copied()))
        .into_tuple()
        .all(txn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(seat_id, status, reservation_id, hold_expires_at)| {
            let state = SeatState {
                status,
                reservation_id,
                hold_expires_at,
            };
            (seat_id, state)
        })
        .collect())
}
