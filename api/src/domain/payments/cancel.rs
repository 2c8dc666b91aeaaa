//! `cancelReservation`: a paid reservation is refunded through the provider first, then
//! cancelled (seats for sale again, coupon back). Buyers cannot cancel after the cut-off
//! before the show; the box office can cancel anything.

use chrono::{Duration, Utc};
use entity::{ReservationStatus, reservation, session};
use sea_orm::EntityTrait;

use super::record::{find_payment, record_refund};
use super::{PaymentDeps, provider_error};
use crate::domain::audit::AuditEntry;
use crate::domain::reservation_flow::cancel_confirmed;
use crate::domain::validate::required_text;
use crate::error::{ApiError, ApiResult};
use crate::infra::payments::ProviderError;

/// Who asks for the cancellation. The box office's carries the audit entry that records it,
/// written in the same transaction as the cancellation.
#[derive(Debug, Clone)]
pub enum Canceller<'a> {
    Buyer(i64),
    BoxOffice(AuditEntry<'a>),
}

pub async fn cancel_reservation(
    deps: PaymentDeps<'_>,
    reservation_id: i64,
    by: Canceller<'_>,
    reason: &str,
) -> ApiResult<reservation::Model> {
    let reservation = reservation::Entity::find_by_id(reservation_id)
        .one(deps.db)
        .await?
        .filter(|r| match &by {
            Canceller::Buyer(user_id) => r.user_id == *user_id,
            Canceller::BoxOffice(_) => true,
        })
        .ok_or(ApiError::NotFound("reservation"))?;
    let reason = required_text("reason", reason, 200)?;
    if reservation.status == ReservationStatus::Cancelled {
        return Ok(reservation);
    }
    if reservation.status != ReservationStatus::Confirmed {
        return Err(ApiError::Conflict(
            "only a paid reservation can be cancelled; release a held one instead".into(),
        ));
    }
    let audit = match by {
        Canceller::Buyer(_) => {
            check_cutoff(deps, &reservation).await?;
            if crate::domain::tickets::transferred_away(deps.db, &reservation, None).await? {
                return Err(ApiError::Conflict(
                    "a ticket of this booking was transferred to someone else; it can no longer be refunded to you"
                        .into(),
                ));
            }
            None
        }
        Canceller::BoxOffice(entry) => Some(entry),
    };
    refund(deps, reservation.id, &reason).await?;
    cancel_confirmed(deps.db, reservation.id, audit).await
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

/// Refunds the reservation's payment in full, once (a repeated cancellation carries the
/// same idempotency key, and a payment already refunded is left alone).
async fn refund(deps: PaymentDeps<'_>, reservation_id: i64, reason: &str) -> ApiResult<()> {
    let Some(payment) = find_payment(deps.db, reservation_id).await? else {
        // Confirmed without a payment (a free booking): nothing to give back.
        tracing::info!(reservation_id, "cancelling a reservation that has no payment to refund");
        return Ok(());
    };
    if payment.status == "CANCELED" {
        return Ok(());
    }
    let key = format!("cancel-{}", payment.payment_key);
    match deps.provider.cancel(&payment.payment_key, reason, &key).await {
        Ok(answer) => record_refund(deps.db, &payment.payment_key, Some(&answer), reason).await,
        Err(ProviderError::Declined { code, .. }) if code == "ALREADY_CANCELED_PAYMENT" => {
            record_refund(deps.db, &payment.payment_key, None, reason).await
        }
        Err(err) => {
            tracing::warn!(reservation_id, provider = deps.provider.name(), error = ?err, "refund failed");
            Err(provider_error(err))
        }
    }
}
