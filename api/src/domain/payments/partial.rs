//! `cancelSeats`: a paid booking gives some of its seats back and is partly refunded
//! (Toss's partial cancel). The coupon is re-applied to the seats that remain (README,
//! "Partial refunds"); giving back every remaining seat is a whole cancellation.
//!
//! The refund is claimed first (`refunds`), so concurrent cancellations of one booking run
//! one after the other and each seat is refunded at most once; the provider is asked with
//! a key made from the payment and the seats, so a repeated request never refunds twice;
//! then the seats, the booking, the payment and the refund change in one transaction.

use entity::{ReservationStatus, payment, refund, reservation, reservation_seat};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::PaymentDeps;
use super::cancel::{Canceller, admit, find_for};
use super::record::{find_payment, record_partial_refund};
use super::refund_plan::Requested;
use super::refunds::{claim, find_by_key, finish, mark_done, partial_key};
use crate::domain::audit::{self, AuditEntry};
use crate::domain::seat_returns::{Kept, return_seats};
use crate::domain::validate::required_text;
use crate::error::{ApiError, ApiResult};
use crate::infra::payments::ProviderPayment;

/// Gives `seat_ids` of the paid booking back and refunds them; returns the booking as it
/// is afterwards. Repeating a request that succeeded refunds nothing more.
#[tracing::instrument(name = "payments.partial.cancel_seats", skip_all)]
pub async fn cancel_seats(
    deps: PaymentDeps<'_>,
    reservation_id: i64,
    seat_ids: &[i64],
    by: Canceller<'_>,
    reason: &str,
) -> ApiResult<reservation::Model> {
    let reservation = find_for(deps, reservation_id, &by).await?;
    let reason = required_text("reason", reason, 200)?;
    let mut seats = seat_ids.to_vec();
    seats.sort_unstable();
    seats.dedup();
    if seats.is_empty() {
        return Err(ApiError::bad_input("seatIds", "name at least one seat to cancel"));
    }
    match reservation.status {
        ReservationStatus::Confirmed => {}
        // Cancelled in full already: a repeated request that ended it, or a late one.
        ReservationStatus::Cancelled => {
            check_seats_of(deps, reservation.id, &seats).await?;
            return Ok(reservation);
        }
        _ => {
            return Err(ApiError::Conflict(
                "only seats of a paid booking can be cancelled; release a held one instead".into(),
            ));
        }
    }
    let audit = admit(deps, &reservation, Some(&seats), by).await?;
    let payment = find_payment(deps.db, reservation.id).await?;
    let key = partial_key(reservation.id, payment.as_ref(), &seats);
    let refund = match find_by_key(deps.db, &key).await? {
        Some(refund) => refund,
        None => {
            claim(
                deps,
                reservation.id,
                payment.as_ref(),
                &key,
                &reason,
                Requested::Seats(&seats),
                audit.is_none(),
            )
            .await?
        }
    };
    finish(deps, refund, audit).await
}

/// Applies a partial refund the provider made (or one of nothing): the seats back on sale,
/// the booking at what remains, the payment's refunded total, the refund DONE and the box
/// office's audit entry, in one transaction.
pub(super) async fn finish_partial(
    deps: PaymentDeps<'_>,
    refund: &refund::Model,
    payment: Option<&payment::Model>,
    answer: Option<&ProviderPayment>,
    audit: Option<AuditEntry<'_>>,
) -> ApiResult<reservation::Model> {
    let kept = Kept {
        amount: refund.kept_amount,
        discount: refund.kept_discount,
        seat_count: refund.kept_seat_count,
    };
    let txn = crate::db::begin_write(deps.db).await?;
    let Some(returned) = return_seats(&txn, refund.reservation_id, &refund.seats(), kept, refund.amount).await? else {
        txn.rollback().await?;
        return booking_moved_on(deps, refund).await;
    };
    if !mark_done(&txn, refund.id).await? {
        // Finished by a concurrent repeat of this request.
        txn.rollback().await?;
        return current(deps, refund.reservation_id).await;
    }
    if let Some(payment) = payment
        && refund.amount > 0
        && !record_partial_refund(&txn, payment, refund.amount, answer, &refund.reason).await?
    {
        txn.rollback().await?;
        tracing::error!(
            refund_id = refund.id,
            "invariant breach: the payment's refunded total changed under a pending refund"
        );
        return Err(ApiError::Conflict(
            "the payment changed meanwhile; repeat the request".into(),
        ));
    }
    if let Some(entry) = audit {
        audit::record(&txn, entry).await?;
    }
    txn.commit().await?;
    tracing::info!(
        reservation_id = refund.reservation_id,
        refunded = refund.amount,
        "seats of a paid booking cancelled and refunded"
    );
    Ok(returned)
}

/// The booking is not as the pending refund was planned on: finished by a concurrent
/// repeat, or cancelled in full meanwhile (at the provider, say), which already accounts
/// for the money. Either way the refund is closed and the booking answered as it is.
async fn booking_moved_on(deps: PaymentDeps<'_>, refund: &refund::Model) -> ApiResult<reservation::Model> {
    let now = current(deps, refund.reservation_id).await?;
    if now.status == ReservationStatus::Cancelled {
        mark_done(deps.db, refund.id).await?;
        return Ok(now);
    }
    let done = find_by_key(deps.db, &refund.idempotency_key)
        .await?
        .is_some_and(|r| r.status == entity::RefundStatus::Done);
    if done {
        return Ok(now);
    }
    tracing::error!(
        refund_id = refund.id,
        "invariant breach: a booking changed under its pending refund"
    );
    Err(ApiError::Conflict(
        "the booking changed meanwhile; repeat the request".into(),
    ))
}

async fn current(deps: PaymentDeps<'_>, reservation_id: i64) -> ApiResult<reservation::Model> {
    reservation::Entity::find_by_id(reservation_id)
        .one(deps.db)
        .await?
        .ok_or(ApiError::NotFound("reservation"))
}

/// Every seat must have been a seat of the booking (of a cancelled booking, none is active).
async fn check_seats_of(deps: PaymentDeps<'_>, reservation_id: i64, seats: &[i64]) -> ApiResult<()> {
    let known = reservation_seat::Entity::find()
        .filter(reservation_seat::Column::ReservationId.eq(reservation_id))
        .filter(reservation_seat::Column::SeatId.is_in(seats.iter().copied()))
        .all(deps.db)
        .await?
        .len();
    if known != seats.len() {
        return Err(ApiError::bad_input(
            "seatIds",
            format!("{} of these seats are not seats of this booking", seats.len() - known),
        ));
    }
    Ok(())
}
