//! Giving seats back: a buyer releasing a hold, and the sweep of holds whose time ran out.
//! Both free the seats under the session's lock, after bumping its seat-map version, as
//! every change to a session's seats does (see the parent module).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use entity::{ReservationStatus, SeatStatus, reservation, reservation_seat, session_seat};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use crate::domain::inventory::{bump_version, change_available, current_version, lock_session, record_seat_changes};
use crate::domain::reservation_flow::record_status_change;
use crate::domain::reservations::find_owned;
use crate::error::{ApiError, ApiResult};
use crate::ids::{ReservationId, UserId};

/// Gives a held reservation's seats back.
#[tracing::instrument(name = "holds.release_hold", skip_all, fields(reservation_id = reservation_id.0, user_id = user_id.0))]
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
    crate::domain::coupons::give_back(&txn, [reservation.id]).await?;
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
    crate::domain::waitlist::offers_ended(&txn, &[released.id]).await?;
    crate::domain::waitlist::hand_over(&txn, released.session_id).await?;
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
/// longer on sale ([`crate::domain::waitlist::close_ended_lines`]).
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
    match crate::domain::waitlist::close_ended_lines(db, now).await {
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
    crate::domain::coupons::give_back(txn, lapsed.iter().map(|r| r.id)).await?;
    let lapsed_seats = session_seat::Entity::find()
        .filter(session_seat::Column::SessionId.eq(session_id))
        .filter(session_seat::Column::Status.eq(SeatStatus::Held))
        .filter(session_seat::Column::HoldExpiresAt.lt(now))
        .count(txn)
        .await?;
    let lapsed_ids: Vec<i64> = lapsed.iter().map(|r| r.id).collect();
    crate::domain::waitlist::offers_ended(txn, &lapsed_ids).await?;
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
        crate::domain::waitlist::hand_over(txn, session_id).await?;
    }
    Ok(Some(freed.len() as u64))
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
