//! What giving seats back costs and leaves: the seats must be active seats of the booking,
//! the coupon is re-applied to the seats that remain (`coupons::discount_kept`), and the
//! refund is what the buyer paid less what the remaining seats now cost. Read inside the
//! transaction that claims the refund, so that the plan is made on the booking as it is
//! while no other refund of it can run.

use entity::{ReservationStatus, payment, reservation, reservation_seat, user_coupon};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::domain::coupons::{discount_kept, find_coupon};
use crate::domain::seat_returns::Kept;
use crate::error::{ApiError, ApiResult};

/// What a cancellation asks for.
#[derive(Debug, Clone, Copy)]
pub(super) enum Requested<'a> {
    /// Whatever is left of the booking (`cancelReservation`).
    Whole,
    /// These seats, ascending and distinct (`cancelSeats`).
    Seats(&'a [i64]),
}

/// A refund worked out on the booking as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Plan {
    pub seats: Vec<i64>,
    /// The refund ends the booking: every remaining seat goes, the coupon goes back.
    pub whole: bool,
    /// What is refunded, in whole KRW: the payment's balance when whole.
    pub amount: i64,
    pub kept: Kept,
}

pub(super) async fn plan(
    db: &impl ConnectionTrait,
    reservation_id: i64,
    payment: Option<&payment::Model>,
    requested: Requested<'_>,
) -> ApiResult<Plan> {
    let reservation = reservation::Entity::find_by_id(reservation_id)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("reservation"))?;
    if reservation.status != ReservationStatus::Confirmed {
        return Err(ApiError::Conflict(
            "the booking changed meanwhile and is no longer paid".into(),
        ));
    }
    let rows = reservation_seat::Entity::find()
        .filter(reservation_seat::Column::ReservationId.eq(reservation_id))
        .all(db)
        .await?;
    let active: Vec<&reservation_seat::Model> = rows.iter().filter(|row| row.active).collect();
    let balance = payment.map_or(0, |p| p.amount - p.cancelled_amount);
    let seats = match requested {
        Requested::Whole => {
            let mut seats: Vec<i64> = active.iter().map(|row| row.seat_id).collect();
            seats.sort_unstable();
            seats
        }
        Requested::Seats(seats) => {
            check_seats(&rows, seats)?;
            seats.to_vec()
        }
    };
    if seats.len() == active.len() {
        return Ok(Plan {
            seats,
            whole: true,
            amount: balance,
            kept: Kept {
                amount: 0,
                discount: 0,
                seat_count: 0,
            },
        });
    }
    let price_of = |seat: &i64| {
        active
            .iter()
            .find(|row| row.seat_id == *seat)
            .map_or(0, |row| i64::from(row.price))
    };
    let cancelled_price: i64 = seats.iter().map(price_of).sum();
    let order: i64 = active.iter().map(|row| i64::from(row.price)).sum();
    let kept_order = order - cancelled_price;
    let (discount, minimum) = match reservation.user_coupon_id {
        Some(copy) => {
            let coupon = coupon_of(db, copy).await?;
            (
                discount_kept(&coupon, kept_order, reservation.discount),
                coupon.minimum_order_amount,
            )
        }
        None => (0, 0),
    };
    let kept_amount = kept_order - discount;
    let amount = reservation.amount - kept_amount;
    if amount < 0 {
        return Err(ApiError::bad_input(
            "seatIds",
            format!(
                "cancelling these seats would leave an order of {kept_order} KRW, under the {minimum} KRW \
                 minimum of the coupon on this booking, so its {lost} KRW discount would be withdrawn: \
                 more than the {cancelled_price} KRW these seats cost, so nothing could be refunded. \
                 Cancel more seats, or the whole booking",
                lost = reservation.discount - discount,
            ),
        ));
    }
    if payment.is_some() && amount > balance {
        tracing::error!(
            reservation_id,
            amount,
            balance,
            "invariant breach: a refund larger than what is left of the payment"
        );
        return Err(ApiError::Conflict(
            "the payment's recorded balance is less than this refund; the box office must check it with the payment provider"
                .into(),
        ));
    }
    let kept_seat_count = reservation.seat_count - seats_len(&seats);
    Ok(Plan {
        seats,
        whole: false,
        amount,
        kept: Kept {
            amount: kept_amount,
            discount,
            seat_count: kept_seat_count,
        },
    })
}

/// Every requested seat must be a seat of the booking that it still owns.
fn check_seats(rows: &[reservation_seat::Model], seats: &[i64]) -> ApiResult<()> {
    let foreign = seats
        .iter()
        .filter(|seat| !rows.iter().any(|row| row.seat_id == **seat))
        .count();
    if foreign > 0 {
        return Err(ApiError::bad_input(
            "seatIds",
            format!("{foreign} of these seats are not seats of this booking"),
        ));
    }
    let gone = seats
        .iter()
        .filter(|seat| !rows.iter().any(|row| row.seat_id == **seat && row.active))
        .count();
    if gone > 0 {
        return Err(ApiError::bad_input(
            "seatIds",
            format!("{gone} of these seats were already cancelled from this booking"),
        ));
    }
    Ok(())
}

fn seats_len(seats: &[i64]) -> i32 {
    i32::try_from(seats.len()).unwrap_or(i32::MAX)
}

async fn coupon_of(db: &impl ConnectionTrait, user_coupon_id: i64) -> ApiResult<entity::coupon::Model> {
    let copy = user_coupon::Entity::find_by_id(user_coupon_id)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("coupon"))?;
    find_coupon(db, copy.coupon_id).await
}
