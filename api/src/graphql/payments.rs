//! Paying for a held reservation and cancelling a paid one. Which provider takes the money
//! is public: the offline demo's SIMULATED provider says so here and in the logs.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::payment;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::domain::payments::{self, Canceller, ConfirmInput};
use crate::error::ApiError;
use crate::graphql::audit::admin_action;
use crate::graphql::booking::Reservation;
use crate::graphql::guard::{Role, RoleGuard, principal};
use crate::graphql::loaders::{CatalogLoader, LoadError, load};
use crate::graphql::{GqlResult, app};
use crate::ids::{NodeKind, expect, expect_id};

/// Who takes the payments.
#[derive(SimpleObject, Debug)]
pub struct PaymentProviderInfo {
    /// TOSS, or SIMULATED when no Toss key is configured (no money moves).
    pub name: String,
    pub simulated: bool,
    /// The Toss client key for the payment widget; null for the simulated provider.
    pub client_key: Option<String>,
}

pub struct Payment(pub payment::Model);

/// The payment of a reservation, as the provider approved it.
#[Object]
impl Payment {
    /// TOSS or SIMULATED.
    async fn provider(&self) -> &str {
        &self.0.provider
    }
    /// How the buyer paid (카드, 간편결제, …), as the provider says.
    async fn method(&self) -> Option<&str> {
        self.0.method.as_deref()
    }
    /// In whole KRW.
    async fn amount(&self) -> i64 {
        self.0.amount
    }
    /// DONE; PARTIAL_CANCELED once some of it was refunded; CANCELED once nothing is left.
    async fn status(&self) -> &str {
        &self.0.status
    }
    /// How much has been refunded, in whole KRW.
    async fn refunded_amount(&self) -> i64 {
        self.0.cancelled_amount
    }
    /// What is left of the payment after refunds, in whole KRW.
    async fn balance_amount(&self) -> i64 {
        self.0.amount - self.0.cancelled_amount
    }
    async fn approved_at(&self) -> Option<DateTime<Utc>> {
        self.0.approved_at
    }
    async fn receipt_url(&self) -> Option<&str> {
        self.0.receipt_url.as_deref()
    }
    async fn cancelled_at(&self) -> Option<DateTime<Utc>> {
        self.0.cancelled_at
    }
}

/// The payment of a reservation, batched over a page of reservations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PaymentOfReservation(pub i64);

impl Loader<PaymentOfReservation> for CatalogLoader {
    type Value = payment::Model;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[PaymentOfReservation],
    ) -> Result<HashMap<PaymentOfReservation, Self::Value>, Self::Error> {
        let rows = payment::Entity::find()
            .filter(payment::Column::ReservationId.is_in(keys.iter().map(|k| k.0)))
            .all(&self.db().await?)
            .await?;
        Ok(rows
            .into_iter()
            .map(|p| (PaymentOfReservation(p.reservation_id), p))
            .collect())
    }
}

/// The payment of a reservation, once paid.
pub async fn payment_of(ctx: &Context<'_>, reservation_id: i64) -> GqlResult<Option<Payment>> {
    Ok(load(ctx, PaymentOfReservation(reservation_id)).await?.map(Payment))
}

#[derive(Default)]
pub struct PaymentQuery;

#[Object]
impl PaymentQuery {
    async fn payment_provider(&self, ctx: &Context<'_>) -> GqlResult<PaymentProviderInfo> {
        let app = app(ctx)?;
        let name = app.payments.name();
        let simulated = name == "SIMULATED";
        Ok(PaymentProviderInfo {
            name: name.to_string(),
            simulated,
            client_key: (!simulated)
                .then(|| app.settings.payments.toss_client_key.clone())
                .flatten(),
        })
    }
}

#[derive(Default)]
pub struct PaymentMutation;

#[Object]
impl PaymentMutation {
    /// Confirms the payment the buyer made in the payment widget for a held reservation.
    /// `orderId` and `amount` must be the reservation's (else BAD_USER_INPUT). A refused
    /// payment is PAYMENT_FAILED and the seats stay held; PAYMENT_UNAVAILABLE means nothing
    /// was charged; PAYMENT_PENDING means the outcome is not known yet and the reservation
    /// stays PAYING until it is settled (watch its status).
    #[graphql(guard = "RoleGuard(Role::User)")]
    async fn confirm_payment(
        &self,
        ctx: &Context<'_>,
        reservation_id: ID,
        payment_key: String,
        order_id: String,
        amount: i64,
    ) -> GqlResult<Reservation> {
        let input = ConfirmInput {
            reservation_id: expect_id(&reservation_id, "reservationId")?,
            user_id: principal(ctx)?.user_id,
            payment_key,
            order_id,
            amount,
        };
        // The payment runs in its own task, awaited here: a client that disconnects, or the
        // request deadline, drops only this wait, never the provider call half-way nor the
        // settling of its outcome (confirming, or holding the seats again after a decline).
        let app = app(ctx)?.clone();
        let paying = tokio::spawn(async move { payments::confirm_payment(app.payment_deps(), input).await });
        let paid = paying
            .await
            .map_err(|err| ApiError::internal(anyhow::anyhow!("the payment task failed: {err}")))??;
        Ok(Reservation(paid))
    }

    /// Cancels a paid reservation and refunds it in full; buyers until the cut-off before
    /// the show, the box office any time and any buyer's.
    #[graphql(guard = "RoleGuard(Role::User)")]
    async fn cancel_reservation(&self, ctx: &Context<'_>, id: ID, reason: String) -> GqlResult<Reservation> {
        let raw = expect(NodeKind::Reservation, &id, "id")?;
        let by = canceller(ctx, "cancelReservation", raw)?;
        // As with confirmPayment: a client that disconnects drops only this wait, never the
        // refund half-way between the provider and the database.
        let app = app(ctx)?.clone();
        let cancelling =
            tokio::spawn(async move { payments::cancel_reservation(app.payment_deps(), raw, by, &reason).await });
        let cancelled = cancelling
            .await
            .map_err(|err| ApiError::internal(anyhow::anyhow!("the cancellation task failed: {err}")))??;
        Ok(Reservation(cancelled))
    }

    /// Cancels some seats of a paid reservation and refunds them (a partial refund); the
    /// seats go back on sale and the coupon is re-applied to the seats that remain (see the
    /// README, "Partial refunds"). Cancelling every remaining seat cancels the reservation.
    /// Buyers their own until the cut-off before the show, the box office any. Repeating a
    /// request that succeeded refunds nothing more; PAYMENT_PENDING means the refund's
    /// outcome is not known yet: repeat the same request to finish it.
    #[graphql(guard = "RoleGuard(Role::User)")]
    async fn cancel_seats(
        &self,
        ctx: &Context<'_>,
        reservation_id: ID,
        seat_ids: Vec<ID>,
        reason: String,
    ) -> GqlResult<Reservation> {
        let raw = expect(NodeKind::Reservation, &reservation_id, "reservationId")?;
        if seat_ids.len() > MAX_SEATS_PER_CANCEL {
            return Err(ApiError::bad_input("seatIds", format!("name at most {MAX_SEATS_PER_CANCEL} seats")).into());
        }
        let seats = seat_ids
            .iter()
            .map(|id| expect(NodeKind::Seat, id, "seatIds"))
            .collect::<Result<Vec<_>, _>>()?;
        let by = canceller(ctx, "cancelSeats", raw)?;
        // As with confirmPayment: a client that disconnects drops only this wait, never the
        // refund half-way between the provider and the database.
        let app = app(ctx)?.clone();
        let cancelling =
            tokio::spawn(async move { payments::cancel_seats(app.payment_deps(), raw, &seats, by, &reason).await });
        let cancelled = cancelling
            .await
            .map_err(|err| ApiError::internal(anyhow::anyhow!("the cancellation task failed: {err}")))??;
        Ok(Reservation(cancelled))
    }
}

/// Who cancels reservation `raw`: the box office (audited as `action`) or a buyer (door staff
/// cancel only bookings of their own, as buyers).
fn canceller<'a>(ctx: &Context<'_>, action: &'a str, raw: i64) -> GqlResult<Canceller<'a>> {
    let caller = principal(ctx)?;
    Ok(match caller.role {
        Role::Admin => Canceller::BoxOffice(admin_action(ctx, action, NodeKind::Reservation, Some(raw))?),
        Role::User | Role::Door => Canceller::Buyer(caller.user_id),
    })
}

/// More seats than any booking has; bounds the work a request can ask for.
const MAX_SEATS_PER_CANCEL: usize = 100;
