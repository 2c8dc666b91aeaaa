//! Settling a payment from what the provider says about it: after an approval, when the
//! outcome was unknown (reconciliation asks the provider by order ID), and on Toss's
//! webhook (which is only a hint: the payment is re-read from Toss, never taken from the
//! request body). Each step is idempotent, so the same news applied twice changes nothing.

use chrono::{Duration, Utc};
use entity::{ReservationStatus, refund, reservation};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::json;

use super::record::{record_payment, record_refund};
use super::{PaymentDeps, provider_error};
use crate::domain::notify::{self, Kind};
use crate::domain::reservation_flow::{abandon_payment, cancel_confirmed, confirm_reservation, start_payment};
use crate::error::{ApiError, ApiResult};
use crate::ids::UserId;
use crate::infra::payments::{ProviderError, ProviderPayment};

/// Reservations settled per reconciliation run; the next run takes the rest.
const RECONCILE_BATCH: u64 = 200;

/// Records an approved payment and confirms its reservation (seats SOLD, coupon spent).
/// When the reservation can no longer take it (lapsed, released, seats gone, another
/// amount), the payment is refunded and the buyer told.
pub(super) async fn finish(
    deps: PaymentDeps<'_>,
    reservation: &reservation::Model,
    payment: &ProviderPayment,
) -> ApiResult<reservation::Model> {
    record_payment(deps.db, reservation, payment, deps.provider.name()).await?;
    // The database decides whether the amount still matches (the reservation read here may
    // be stale): a reservation is only ever confirmed for the amount charged.
    let paid = payment.total_amount;
    let confirmed = match confirm_reservation(deps.db, reservation.id, paid).await {
        Err(ApiError::Conflict(_)) => take_late_payment(deps, reservation.id, paid).await?,
        other => Some(other?),
    };
    if let Some(confirmed) = confirmed {
        tracing::info!(
            reservation_id = reservation.id,
            provider = deps.provider.name(),
            amount = paid,
            "payment approved; reservation confirmed"
        );
        return Ok(confirmed);
    }
    refund_late_payment(deps, reservation, payment).await?;
    Err(ApiError::PaymentFailed(
        "the hold ended before the payment was approved, so the payment was refunded in full".into(),
    ))
}

/// The reservation was not PAYING for `paid` when its approval arrived: confirmed meanwhile
/// (fine), held again, unexpired and still costing `paid` (pay now), or gone or costing
/// something else (`None`: refund).
async fn take_late_payment(
    deps: PaymentDeps<'_>,
    reservation_id: i64,
    paid: i64,
) -> ApiResult<Option<reservation::Model>> {
    let Some(now) = reservation::Entity::find_by_id(reservation_id).one(deps.db).await? else {
        return Ok(None);
    };
    match now.status {
        ReservationStatus::Confirmed => Ok(Some(now)),
        ReservationStatus::Held => match start_payment(deps.db, reservation_id, paid).await {
            Ok(_) => match confirm_reservation(deps.db, reservation_id, paid).await {
                Ok(confirmed) => Ok(Some(confirmed)),
                Err(ApiError::Conflict(_)) => Ok(None),
                Err(err) => Err(err),
            },
            Err(ApiError::Conflict(_)) => Ok(None),
            Err(err) => Err(err),
        },
        _ => Ok(None),
    }
}

async fn refund_late_payment(
    deps: PaymentDeps<'_>,
    reservation: &reservation::Model,
    payment: &ProviderPayment,
) -> ApiResult<()> {
    tracing::warn!(
        reservation_id = reservation.id,
        provider = deps.provider.name(),
        status = ?reservation.status,
        "payment approved for a reservation that cannot take it; refunding"
    );
    let reason = "the seats' hold ended before the payment was approved";
    let key = format!("cancel-{}", payment.payment_key);
    let answer = match deps.provider.cancel(&payment.payment_key, reason, None, &key).await {
        Ok(answer) => Some(answer),
        Err(ProviderError::Declined { code, .. }) if code == "ALREADY_CANCELED_PAYMENT" => None,
        Err(err) => return Err(provider_error(err)),
    };
    record_refund(deps.db, &payment.payment_key, answer.as_ref(), reason).await?;
    let mut facts = notify::reservation_facts(deps.db, reservation).await?;
    facts.amount = payment.total_amount;
    notify::notify(
        deps.db,
        deps.channels,
        UserId(reservation.user_id),
        Kind::PaymentRefunded,
        &format!("payment-refunded:{}", payment.payment_key),
        &facts,
        json!({ "reservationId": reservation.id, "amount": payment.total_amount }),
    )
    .await?;
    Ok(())
}

/// Applies what the provider says about the reservation's order. Returns whether anything
/// changed.
async fn settle(
    deps: PaymentDeps<'_>,
    reservation: reservation::Model,
    found: Option<ProviderPayment>,
) -> ApiResult<bool> {
    let mut reservation = reservation;
    if reservation.status == ReservationStatus::Confirmed
        && let Some(pending) = super::refunds::pending_of(deps.db, reservation.id).await?
    {
        // Our own refund is under way: what the provider says now may be that refund's
        // doing, not a cancellation in its console. While its requester may still be
        // applying it, answer "later" (the webhook is retried); once abandoned, finish it
        // here and then read the provider's news against the booking it left.
        if !super::refunds::is_abandoned(deps, &pending) {
            return Err(ApiError::PaymentPending);
        }
        match super::refunds::finish(deps, pending, None).await {
            Ok(finished) => reservation = finished,
            Err(ApiError::RefundPending) => return Err(ApiError::PaymentPending),
            Err(err) => return Err(err),
        }
    }
    match (reservation.status, found) {
        (ReservationStatus::Confirmed, Some(_)) if refunded_to_nothing_by_seats(deps, reservation.id).await? => {
            // Our own partial refunds took the balance to nothing (the coupon covers the
            // seats that remain): the booking stands.
            Ok(false)
        }
        (ReservationStatus::Confirmed, Some(payment)) if payment.is_cancelled() => {
            // Cancelled in Toss's console: the money is back with the buyer already.
            record_refund(
                deps.db,
                &payment.payment_key,
                Some(&payment),
                "cancelled at the payment provider",
            )
            .await?;
            cancel_confirmed(deps.db, reservation.id, None).await?;
            Ok(true)
        }
        (ReservationStatus::Confirmed, Some(payment)) if payment.is_partially_cancelled() => {
            // Our own partial refunds say so too; one made in Toss's console does not say
            // which seats it was for, so only a person can apply it.
            let recorded = super::record::find_payment(deps.db, reservation.id).await?;
            let refunded = payment.balance_amount.map(|left| payment.total_amount - left);
            if recorded.is_some_and(|p| Some(p.cancelled_amount) != refunded) {
                tracing::warn!(
                    reservation_id = reservation.id,
                    ?refunded,
                    "the payment was partly refunded at the provider, not through Curtain; the box office must \
                     cancel the seats it was for"
                );
            }
            Ok(false)
        }
        (ReservationStatus::Confirmed, _) => Ok(false),
        (_, Some(payment)) if payment.is_done() => match finish(deps, &reservation, &payment).await {
            Ok(_) | Err(ApiError::PaymentFailed(_)) => Ok(true),
            Err(err) => Err(err),
        },
        (ReservationStatus::Paying, _) => {
            // No approved payment: the confirmation never took effect.
            abandon_payment(deps.db, reservation.id).await?;
            tracing::info!(reservation_id = reservation.id, "unpaid PAYING reservation held again");
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Whether the booking's payment was refunded to nothing by partial refunds alone (no
/// refund of the whole booking), so a CANCELED payment does not mean a cancelled booking.
async fn refunded_to_nothing_by_seats(deps: PaymentDeps<'_>, reservation_id: i64) -> ApiResult<bool> {
    let Some(payment) = super::record::find_payment(deps.db, reservation_id).await? else {
        return Ok(false);
    };
    if payment.status != "CANCELED" {
        return Ok(false);
    }
    let refunds = refund::Entity::find()
        .filter(refund::Column::ReservationId.eq(reservation_id))
        .all(deps.db)
        .await?;
    Ok(!refunds.is_empty() && refunds.iter().all(|refund| !refund.whole))
}

/// Settles the reservation of `order_id` from the provider's record (the webhook's work).
/// Returns whether anything changed; an unknown order changes nothing.
#[tracing::instrument(name = "payments.settle.settle_order", skip_all, fields(order_id = %order_id))]
pub async fn settle_order(deps: PaymentDeps<'_>, order_id: &str) -> ApiResult<bool> {
    let Some(reservation) = reservation::Entity::find()
        .filter(reservation::Column::OrderId.eq(order_id))
        .one(deps.db)
        .await?
    else {
        return Ok(false);
    };
    let found = deps.provider.find_by_order(order_id).await.map_err(provider_error)?;
    settle(deps, reservation, found).await
}

/// Finishes reservations left PAYING for longer than `older_than`, either way, by asking
/// the provider, and refunds whose requesters went away before the provider's answer was
/// known. Returns how many were settled; a provider that cannot answer now leaves them for
/// the next run.
#[tracing::instrument(name = "payments.settle.reconcile_payments", skip_all)]
pub async fn reconcile_payments(deps: PaymentDeps<'_>, older_than: Duration) -> ApiResult<u64> {
    let stuck = reservation::Entity::find()
        .filter(reservation::Column::Status.eq(ReservationStatus::Paying))
        .filter(reservation::Column::UpdatedAt.lte(Utc::now() - older_than))
        .order_by_asc(reservation::Column::Id)
        .limit(RECONCILE_BATCH)
        .all(deps.db)
        .await?;
    let mut settled = 0;
    for reservation in stuck {
        let found = match &reservation.order_id {
            Some(order_id) => match deps.provider.find_by_order(order_id).await {
                Ok(found) => found,
                Err(err) => {
                    tracing::warn!(reservation_id = reservation.id, error = ?err, "cannot ask the provider; retrying next run");
                    continue;
                }
            },
            None => None,
        };
        let id = reservation.id;
        match settle(deps, reservation, found).await {
            Ok(true) => settled += 1,
            Ok(false) => {}
            // One reservation that cannot be settled must not hold up the others.
            Err(err) => tracing::error!(reservation_id = id, error = ?err, "cannot settle a PAYING reservation"),
        }
    }
    Ok(settled + super::refunds::finish_abandoned(deps, RECONCILE_BATCH).await?)
}
