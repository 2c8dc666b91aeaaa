//! `confirmPayment`: the buyer paid in Toss's widget; the server checks the order against
//! the reservation, asks Toss to approve it, and confirms the reservation.

use chrono::Utc;
use entity::{ReservationStatus, reservation};

use super::record::find_payment;
use super::settle::finish;
use super::{PaymentDeps, provider_error};
use crate::domain::reservation_flow::{abandon_payment, start_payment};
use crate::domain::reservations::find_owned;
use crate::error::{ApiError, ApiResult};
use crate::ids::{ReservationId, UserId};
use crate::infra::payments::{ConfirmRequest, ProviderError};

#[derive(Debug, Clone)]
pub struct ConfirmInput {
    pub reservation_id: ReservationId,
    pub user_id: UserId,
    pub payment_key: String,
    pub order_id: String,
    pub amount: i64,
}

/// The same key for every attempt to confirm one payment, by anyone (the buyer retrying,
/// reconciliation): Toss approves it at most once.
pub(super) fn confirm_key(order_id: &str, payment_key: &str) -> String {
    format!("confirm-{order_id}-{payment_key}")
}

#[tracing::instrument(name = "payments.confirm.confirm_payment", skip_all)]
pub async fn confirm_payment(deps: PaymentDeps<'_>, input: ConfirmInput) -> ApiResult<reservation::Model> {
    let reservation = find_owned(deps.db, input.reservation_id, input.user_id).await?;
    if reservation.status == ReservationStatus::Confirmed
        && find_payment(deps.db, reservation.id)
            .await?
            .is_some_and(|p| p.payment_key == input.payment_key)
    {
        // A repeated confirmation of the same payment: it went through.
        return Ok(reservation);
    }
    if reservation.status == ReservationStatus::Paying {
        // An earlier attempt's outcome is still being settled; a second one must not race it.
        return Err(ApiError::PaymentPending);
    }
    if reservation.status != ReservationStatus::Held || reservation.expires_at <= Utc::now() {
        return Err(ApiError::Conflict(
            "only a held, unexpired reservation can be paid".into(),
        ));
    }
    check_matches(&reservation, &input)?;
    let key = input.payment_key.trim();
    if key.is_empty() || key.len() > 200 {
        return Err(ApiError::bad_input(
            "paymentKey",
            "paymentKey must have 1 to 200 characters",
        ));
    }
    // While the provider is known to be down, say so before touching the reservation.
    deps.provider.check_available().map_err(provider_error)?;
    // Only while the reservation still costs what was checked: a coupon applied or removed
    // meanwhile makes this fail, before anything is charged.
    start_payment(deps.db, reservation.id, input.amount).await?;

    let request = ConfirmRequest {
        payment_key: key.to_string(),
        order_id: input.order_id.clone(),
        amount: input.amount,
    };
    let outcome = deps
        .provider
        .confirm(&request, &confirm_key(&request.order_id, &request.payment_key))
        .await;
    match outcome {
        Ok(payment) if payment.is_done() => finish(deps, &reservation, &payment).await,
        Ok(payment) => {
            tracing::error!(
                reservation_id = reservation.id,
                status = payment.status,
                amount = payment.total_amount,
                "the provider answered a confirmation with an unexpected payment; left PAYING for reconciliation"
            );
            Err(ApiError::PaymentPending)
        }
        Err(ProviderError::Unknown(why)) => {
            tracing::warn!(
                reservation_id = reservation.id,
                provider = deps.provider.name(),
                why,
                "payment outcome unknown; the reservation stays PAYING until reconciliation"
            );
            Err(ApiError::PaymentPending)
        }
        Err(definite) => {
            tracing::info!(
                reservation_id = reservation.id,
                provider = deps.provider.name(),
                error = ?definite,
                "payment not approved; the reservation is held again"
            );
            abandon_payment(deps.db, reservation.id).await?;
            Err(provider_error(definite))
        }
    }
}

/// The client must pay exactly the order the server recorded; anything else is refused and
/// logged as a possible tampering attempt.
fn check_matches(reservation: &reservation::Model, input: &ConfirmInput) -> ApiResult<()> {
    let order_matches = reservation.order_id.as_deref() == Some(input.order_id.as_str());
    if order_matches && reservation.amount == input.amount {
        return Ok(());
    }
    tracing::warn!(
        reservation_id = reservation.id,
        user_id = input.user_id.0,
        expected_order_id = reservation.order_id.as_deref().unwrap_or_default(),
        given_order_id = input.order_id,
        expected_amount = reservation.amount,
        given_amount = input.amount,
        "payment confirmation does not match the reservation: possible tampering"
    );
    let field = if order_matches { "amount" } else { "orderId" };
    Err(ApiError::bad_input(
        field,
        "the order ID and amount must be those of the reservation",
    ))
}
