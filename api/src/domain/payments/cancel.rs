//! `cancelReservation`: a paid reservation is refunded through the provider first (what is
//! left of the payment after any partial refunds), then cancelled (seats for sale again,
//! coupon back). Buyers cannot cancel after the cut-off before the show; the box office
//! can cancel anything.

use chrono::{Duration, Utc};
use entity::{ReservationStatus, payment, refund, reservation, session};
use sea_orm::EntityTrait;

use super::PaymentDeps;
use super::record::{find_payment, record_refund};
use super::refund_plan::Requested;
use super::refunds::{claim, find_by_key, finish, mark_done, whole_key};
use crate::domain::audit::AuditEntry;
use crate::domain::reservation_flow::cancel_confirmed;
use crate::domain::tickets::NotRefundable;
use crate::domain::validate::required_text;
use crate::error::{ApiError, ApiResult};
use crate::ids::UserId;
use crate::infra::payments::ProviderPayment;

/// Who asks for the cancellation. The box office's carries the audit entry that records it,
/// written in the same transaction as the cancellation.
#[derive(Debug, Clone)]
pub enum Canceller<'a> {
    Buyer(UserId),
    BoxOffice(AuditEntry<'a>),
}

#[tracing::instrument(name = "payments.cancel.cancel_reservation", skip_all)]
pub async fn cancel_reservation(
    deps: PaymentDeps<'_>,
    reservation_id: i64,
    by: Canceller<'_>,
    reason: &str,
) -> ApiResult<reservation::Model> {
    let reservation = find_for(deps, reservation_id, &by).await?;
    let reason = required_text("reason", reason, 200)?;
    if reservation.status == ReservationStatus::Cancelled {
        return Ok(reservation);
    }
    if reservation.status != ReservationStatus::Confirmed {
        return Err(ApiError::Conflict(
            "only a paid reservation can be cancelled; release a held one instead".into(),
        ));
    }
    let audit = admit(deps, &reservation, None, by).await?;
    let Some(payment) = find_payment(deps.db, reservation.id).await? else {
        // Confirmed without a payment (a free booking): nothing to give back.
        tracing::info!(reservation_id, "cancelling a reservation that has no payment to refund");
        return cancel_refunded(deps, reservation.id, audit).await;
    };
    if payment.status == "CANCELED" {
        // Refunded in full already (cancelled at the provider, or a crash after the refund).
        return cancel_refunded(deps, reservation.id, audit).await;
    }
    let key = whole_key(&payment);
    let refund = match find_by_key(deps.db, &key).await? {
        Some(refund) => refund,
        None => {
            claim(
                deps,
                reservation.id,
                Some(&payment),
                &key,
                &reason,
                Requested::Whole,
                audit.is_none(),
            )
            .await?
        }
    };
    finish(deps, refund, audit).await
}

/// The reservation, if the caller may cancel it: a buyer only their own (NOT_FOUND for
/// anyone else's, as if it did not exist).
pub(super) async fn find_for(
    deps: PaymentDeps<'_>,
    reservation_id: i64,
    by: &Canceller<'_>,
) -> ApiResult<reservation::Model> {
    reservation::Entity::find_by_id(reservation_id)
        .one(deps.db)
        .await?
        .filter(|r| match by {
            Canceller::Buyer(user_id) => r.user_id == *user_id,
            Canceller::BoxOffice(_) => true,
        })
        .ok_or(ApiError::NotFound("reservation"))
}

/// Lets the buyer cancel until the cut-off before the show, and only seats whose tickets
/// they still hold (`seat_ids`, or all of them); the box office any time, with its audit
/// entry.
pub(super) async fn admit<'a>(
    deps: PaymentDeps<'_>,
    reservation: &reservation::Model,
    seat_ids: Option<&[i64]>,
    by: Canceller<'a>,
) -> ApiResult<Option<AuditEntry<'a>>> {
    match by {
        Canceller::Buyer(_) => {
            check_cutoff(deps, reservation).await?;
            // Early, for a booking with nothing to refund (no claim); a claim asks again
            // under its locks.
            match crate::domain::tickets::not_refundable(deps.db, reservation.id, seat_ids).await? {
                Some(why) => Err(not_refundable(why)),
                None => Ok(None),
            }
        }
        Canceller::BoxOffice(entry) => Ok(Some(entry)),
    }
}

async fn check_cutoff(deps: PaymentDeps<'_>, reservation: &reservation::Model) -> ApiResult<()> {
    let session = session::Entity::find_by_id(reservation.session_id)
        .one(deps.db)
        .await?
        .ok_or(ApiError::NotFound("session"))?;
    let hours = deps.settings.cancel_cutoff_hours;
    if Utc::now() + Duration::hours(hours) > session.starts_at {
        return Err(ApiError::Conflict(format!(
            "bookings can be cancelled until {hours} hours before the show"
        )));
    }
    Ok(())
}

/// Applies a refund that ends the booking: the refund and the payment's new state are
/// recorded together, then the booking is cancelled. A crash in between leaves the
/// payment CANCELED and the booking CONFIRMED, which the next cancellation finishes.
pub(super) async fn finish_whole(
    deps: PaymentDeps<'_>,
    refund: &refund::Model,
    payment: Option<&payment::Model>,
    answer: Option<&ProviderPayment>,
    audit: Option<AuditEntry<'_>>,
) -> ApiResult<reservation::Model> {
    let txn = crate::db::begin_write(deps.db).await?;
    if mark_done(&txn, refund.id).await? {
        if let Some(payment) = payment {
            record_refund(&txn, &payment.payment_key, answer, &refund.reason).await?;
        }
        txn.commit().await?;
    } else {
        txn.rollback().await?;
    }
    cancel_refunded(deps, refund.reservation_id, audit).await
}

/// CONFIRMED → CANCELLED once the money is back; a booking cancelled meanwhile (by a
/// concurrent request or the provider's webhook) is answered as it is.
pub(super) async fn cancel_refunded(
    deps: PaymentDeps<'_>,
    reservation_id: i64,
    audit: Option<AuditEntry<'_>>,
) -> ApiResult<reservation::Model> {
    match cancel_confirmed(deps.db, reservation_id, audit).await {
        Err(ApiError::Conflict(message)) => {
            let now = reservation::Entity::find_by_id(reservation_id)
                .one(deps.db)
                .await?
                .ok_or(ApiError::NotFound("reservation"))?;
            if now.status == ReservationStatus::Cancelled {
                return Ok(now);
            }
            Err(ApiError::Conflict(message))
        }
        other => other,
    }
}

/// A buyer asking for money back for a ticket that is no longer theirs to give up.
pub(super) fn not_refundable(why: NotRefundable) -> ApiError {
    ApiError::Conflict(
        match why {
            NotRefundable::Transferred => {
                "a ticket of these seats was transferred to someone else; it can no longer be refunded to you"
            }
            NotRefundable::Used => "a ticket of these seats has been used at the door; it can no longer be refunded",
        }
        .into(),
    )
}
