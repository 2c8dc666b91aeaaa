//! Handing seats that came back to the line, inside the transaction that freed them.
//!
//! Every path that frees seats (a release, the expiry sweep, a cancelled booking, an
//! unblock, and partial refunds) calls [`hand_over`] after its own seat-map delta, still
//! holding the session lock. So a freed seat is either held for the first matching request
//! in line or available to everyone, never both, and the public cannot take seats a waiting
//! request matches: they are never AVAILABLE outside this transaction.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use entity::{
    ReservationStatus, SeatStatus, WaitlistState, performance, reservation, reservation_seat, session_seat,
    waitlist_entry,
};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use super::matching::{Pool, Want};
use crate::domain::best_available;
use crate::domain::inventory::{bump_version, change_available, record_seat_changes};
use crate::domain::reservation_events::record_status_change;
use crate::domain::sessions::{SaleState, prices_by_grade, sale_state};
use crate::error::{ApiError, ApiResult};
use crate::ids::{SessionId, UserId};

/// Offers the session's free seats to its line: each WAITING entry in join order whose
/// request the AVAILABLE seats can meet (its grade, at most its price, side by side) gets
/// them held for it as a normal HELD reservation (the usual price, order id and payment
/// window, its own seat-map version, delta and reservation event) and becomes OFFERED; entries
/// that cannot be met keep their place. Returns the entries offered, in line order.
///
/// Contract: call it on the transaction that freed the seats, after their seat-map delta
/// is recorded (the transaction holds the session lock: it bumped the version). It takes the
/// next versions itself. It does nothing when the line is empty, the session is off sale or
/// no seat is available.
pub async fn hand_over(txn: &impl ConnectionTrait, session_id: i64) -> ApiResult<Vec<waitlist_entry::Model>> {
    let line = waitlist_entry::Entity::find()
        .filter(waitlist_entry::Column::SessionId.eq(session_id))
        .filter(waitlist_entry::Column::State.eq(WaitlistState::Waiting))
        .order_by_asc(waitlist_entry::Column::Id)
        .all(txn)
        .await?;
    if line.is_empty() {
        return Ok(Vec::new());
    }
    let now = Utc::now();
    let session = crate::domain::sessions::find_session(txn, session_id).await?;
    if session.available_seats <= 0 || !matches!(sale_state(&session, now), SaleState::OnSale) {
        return Ok(Vec::new());
    }
    let mut pool = free_seats(txn, session_id).await?;
    let title: Option<String> = performance::Entity::find_by_id(session.performance_id)
        .select_only()
        .column(performance::Column::Title)
        .into_tuple()
        .one(txn)
        .await?;
    let title = title.unwrap_or_default();
    // A request that found nothing finds nothing again: the pool only shrinks.
    let mut unmet: HashSet<(usize, Option<String>, Option<i32>)> = HashSet::new();
    let mut offered = Vec::new();
    for entry in line {
        if !pool.any_free() {
            break;
        }
        let shape = (entry.seat_count as usize, entry.grade.clone(), entry.max_price);
        if unmet.contains(&shape) {
            continue;
        }
        let Some(seats) = pool.pick(want_of(&entry)) else {
            unmet.insert(shape);
            continue;
        };
        if over_cap(txn, &entry).await? {
            // Keeps its place: once the buyer has fewer seats, a later hand-over serves it.
            continue;
        }
        if let Some(entry) = offer(txn, &entry, &pool.priced(&seats), &title, now).await? {
            pool.take(&seats);
            offered.push(entry);
        }
    }
    Ok(offered)
}

pub(super) fn want_of(entry: &waitlist_entry::Model) -> Want<'_> {
    Want {
        count: entry.seat_count as usize,
        grade: entry.grade.as_deref(),
        max_price: entry.max_price,
    }
}

/// The session's AVAILABLE seats of every priced grade.
pub(super) async fn free_seats(db: &impl ConnectionTrait, session_id: i64) -> ApiResult<Pool> {
    let prices = prices_by_grade(db, session_id).await?;
    let mut by_grade = BTreeMap::new();
    for grade in prices.keys() {
        by_grade.insert(
            grade.clone(),
            best_available::available_candidates(db, session_id, grade).await?,
        );
    }
    Ok(Pool::new(by_grade, prices))
}

/// Whether offering the entry its seats would take its buyer past the per-buyer cap kept on
/// the entry (the seats they hold or own in the session now, plus the entry's count), as a
/// hold of their own would be refused. Entries made before the cap was kept are not checked.
async fn over_cap(txn: &impl ConnectionTrait, entry: &waitlist_entry::Model) -> ApiResult<bool> {
    let Some(cap) = entry.max_seats else {
        return Ok(false);
    };
    let held = super::seats_held(txn, UserId(entry.user_id), SessionId(entry.session_id)).await?;
    Ok(held + entry.seat_count as usize > usize::try_from(cap).unwrap_or(0))
}

/// Holds `seats` for `entry`; `None` when nothing was offered: the entry left the line
/// meanwhile, or its buyer already has a reservation under the offer's key (the entry ends
/// LAPSED and the seats go to the next in line).
async fn offer(
    txn: &impl ConnectionTrait,
    entry: &waitlist_entry::Model,
    seats: &[(i64, String, i32)],
    title: &str,
    now: DateTime<Utc>,
) -> ApiResult<Option<waitlist_entry::Model>> {
    let key = super::offer_key(entry.id);
    // Checked before inserting, not by catching the unique violation: on PostgreSQL a failed
    // statement aborts the whole transaction, and with it the release that freed the seats.
    // Buyers cannot choose such keys (`holds::guards::client_key`), but one made before that
    // rule, or any other way, must not stop seats coming back.
    if crate::domain::reservations::find_by_key(txn, UserId(entry.user_id), &key)
        .await?
        .is_some()
    {
        tracing::warn!(
            entry_id = entry.id,
            user_id = entry.user_id,
            "the buyer already has a reservation under this waitlist entry's offer key; the entry lapses"
        );
        waitlist_entry::Entity::update_many()
            .col_expr(waitlist_entry::Column::State, Expr::value(WaitlistState::Lapsed))
            .col_expr(waitlist_entry::Column::UpdatedAt, Expr::value(now))
            .filter(waitlist_entry::Column::Id.eq(entry.id))
            .filter(waitlist_entry::Column::State.eq(WaitlistState::Waiting))
            .exec(txn)
            .await?;
        return Ok(None);
    }
    // Claimed first, on its state: a concurrent leaveWaitlist either went first (skip) or
    // waits for this transaction and then finds the entry OFFERED.
    let claimed = waitlist_entry::Entity::update_many()
        .col_expr(waitlist_entry::Column::State, Expr::value(WaitlistState::Offered))
        .col_expr(waitlist_entry::Column::UpdatedAt, Expr::value(now))
        .filter(waitlist_entry::Column::Id.eq(entry.id))
        .filter(waitlist_entry::Column::State.eq(WaitlistState::Waiting))
        .exec(txn)
        .await?
        .rows_affected;
    if claimed == 0 {
        return Ok(None);
    }
    let session_id = entry.session_id;
    let version = bump_version(txn, session_id).await?;
    let expires_at = now + Duration::seconds(entry.hold_seconds);
    let held = reservation::ActiveModel {
        user_id: Set(entry.user_id),
        session_id: Set(session_id),
        status: Set(ReservationStatus::Held),
        seat_count: Set(seats.len() as i32),
        amount: Set(seats.iter().map(|(_, _, price)| i64::from(*price)).sum()),
        user_coupon_id: Set(None),
        discount: Set(0),
        order_id: Set(Some(crate::domain::orders::new_order_id())),
        order_name: Set(Some(crate::domain::orders::order_name_of(title, seats.len()))),
        idempotency_key: Set(key),
        expires_at: Set(expires_at),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(txn)
    .await
    .map_err(|e| ApiError::from_db_conflict(e, "seats were already offered to this waitlist entry"))?;
    let seat_ids: Vec<i64> = seats.iter().map(|(id, _, _)| *id).collect();
    let moved = session_seat::Entity::update_many()
        .col_expr(session_seat::Column::Status, Expr::value(SeatStatus::Held))
        .col_expr(session_seat::Column::ReservationId, Expr::value(held.id))
        .col_expr(session_seat::Column::HoldExpiresAt, Expr::value(expires_at))
        .col_expr(session_seat::Column::Version, Expr::value(version))
        .filter(session_seat::Column::SessionId.eq(session_id))
        .filter(session_seat::Column::SeatId.is_in(seat_ids.iter().copied()))
        .filter(session_seat::Column::Status.eq(SeatStatus::Available))
        .exec(txn)
        .await?
        .rows_affected;
    if moved as usize != seat_ids.len() {
        // Under the session lock nothing else moves seats: the caller's transaction must fail.
        return Err(ApiError::internal(anyhow::anyhow!(
            "waitlist entry {}: {moved} of {} chosen seats were still available",
            entry.id,
            seat_ids.len()
        )));
    }
    reservation_seat::Entity::insert_many(
        seats
            .iter()
            .map(|seat| crate::domain::reservations::reservation_seat_row(held.id, session_id, seat)),
    )
    .exec_without_returning(txn)
    .await
    .map_err(|e| ApiError::from_db_conflict(e, "a seat is already in another reservation"))?;
    let available = change_available(txn, session_id, -(seat_ids.len() as i64)).await?;
    record_seat_changes(txn, session_id, version, &seat_ids, SeatStatus::Held, available).await?;
    record_status_change(txn, &held).await?;
    waitlist_entry::Entity::update_many()
        .col_expr(waitlist_entry::Column::ReservationId, Expr::value(held.id))
        .filter(waitlist_entry::Column::Id.eq(entry.id))
        .exec(txn)
        .await?;
    Ok(Some(waitlist_entry::Model {
        state: WaitlistState::Offered,
        reservation_id: Some(held.id),
        updated_at: now,
        ..entry.clone()
    }))
}
