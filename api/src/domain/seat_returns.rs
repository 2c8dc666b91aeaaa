//! Giving some seats of a paid booking back to sale (`cancelSeats`): the booking stays
//! CONFIRMED with fewer seats, the seats become AVAILABLE for other buyers. The refund is
//! the payment flow's business (`payments::partial`); this is the inventory side, run in
//! the transaction that records the refund.

use chrono::Utc;
use entity::{ReservationStatus, SeatStatus, reservation, reservation_seat, session_seat};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter};

use super::inventory::{bump_version, change_available, record_seat_changes};
use super::reservation_flow::record_status_change;
use crate::error::{ApiError, ApiResult};

/// What the booking is once the seats are given back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Kept {
    pub amount: i64,
    pub discount: i64,
    pub seat_count: i32,
}

/// Gives `seat_ids` of the CONFIRMED booking back to sale, in `txn`, and leaves the
/// booking at `kept`. `refunded` is what the buyer gets back for them.
///
/// Takes the session's next seat-map version first (the session lock every seat change
/// takes, so this is serialised with holds and other cancellations). Every step is
/// conditional on the booking being as the refund was planned on (still CONFIRMED, with
/// these seats active): `None` when it is not, for the caller to roll back.
pub(crate) async fn return_seats(
    txn: &DatabaseTransaction,
    reservation_id: i64,
    seat_ids: &[i64],
    kept: Kept,
    refunded: i64,
) -> ApiResult<Option<reservation::Model>> {
    let current = reservation::Entity::find_by_id(reservation_id)
        .one(txn)
        .await?
        .ok_or(ApiError::NotFound("reservation"))?;
    let version = bump_version(txn, current.session_id).await?;
    let moved = reservation::Entity::update_many()
        .col_expr(reservation::Column::SeatCount, Expr::value(kept.seat_count))
        .col_expr(reservation::Column::Amount, Expr::value(kept.amount))
        .col_expr(reservation::Column::Discount, Expr::value(kept.discount))
        .col_expr(reservation::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(reservation::Column::Id.eq(reservation_id))
        .filter(reservation::Column::Status.eq(ReservationStatus::Confirmed))
        .filter(reservation::Column::SeatCount.eq(kept.seat_count + seat_ids.len() as i32))
        .exec(txn)
        .await?
        .rows_affected;
    if moved == 0 {
        return Ok(None);
    }
    let given_back = reservation_seat::Entity::update_many()
        .col_expr(reservation_seat::Column::Active, Expr::value(false))
        .filter(reservation_seat::Column::ReservationId.eq(reservation_id))
        .filter(reservation_seat::Column::SeatId.is_in(seat_ids.iter().copied()))
        .filter(reservation_seat::Column::Active.eq(true))
        .exec(txn)
        .await?
        .rows_affected;
    if given_back != seat_ids.len() as u64 {
        return Ok(None);
    }
    let freed = session_seat::Entity::update_many()
        .col_expr(session_seat::Column::Status, Expr::value(SeatStatus::Available))
        .col_expr(session_seat::Column::ReservationId, Expr::value(Option::<i64>::None))
        .col_expr(session_seat::Column::Version, Expr::value(version))
        .filter(session_seat::Column::ReservationId.eq(reservation_id))
        .filter(session_seat::Column::SeatId.is_in(seat_ids.iter().copied()))
        .filter(session_seat::Column::Status.eq(SeatStatus::Sold))
        .exec(txn)
        .await?
        .rows_affected;
    if freed != seat_ids.len() as u64 {
        tracing::error!(
            reservation_id,
            freed,
            seats = seat_ids.len(),
            "invariant breach: seats of a confirmed booking are not all SOLD to it; not giving them back"
        );
        return Ok(None);
    }
    let available = change_available(txn, current.session_id, freed as i64).await?;
    record_seat_changes(
        txn,
        current.session_id,
        version,
        seat_ids,
        SeatStatus::Available,
        available,
    )
    .await?;
    // Their tickets stop opening the door, and the seats go to the waitlist before the
    // public (the hand-over takes the versions after this one).
    super::tickets::cancel_for_seats(txn, &current, seat_ids, refunded > 0).await?;
    super::waitlist::hand_over(txn, current.session_id).await?;
    tracing::info!(
        reservation_id,
        seats = seat_ids.len(),
        refunded,
        "seats of a paid booking given back to sale"
    );
    let returned = reservation::Entity::find_by_id(reservation_id)
        .one(txn)
        .await?
        .ok_or(ApiError::NotFound("reservation"))?;
    record_status_change(txn, &returned).await?;
    Ok(Some(returned))
}
