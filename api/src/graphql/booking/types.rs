use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{reservation, reservation_seat};

use crate::error::ApiError;
use crate::graphql::accounts::Account;
use crate::graphql::catalog::Session;
use crate::graphql::coupons::UserCoupon;
use crate::graphql::guard::{Role, RoleGuard};
use crate::graphql::loaders::{SessionKey, load_list, load_required};
use crate::graphql::{GqlResult, app};
use crate::ids::{NodeKind, encode};

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "entity::ReservationStatus")]
pub enum ReservationStatus {
    /// Seats are held until `expiresAt`, waiting for payment.
    Held,
    /// Payment is being confirmed.
    Paying,
    Confirmed,
    Cancelled,
    /// The hold lapsed unpaid.
    Expired,
    /// The buyer let the seats go.
    Released,
}

pub struct Reservation(pub reservation::Model);

/// A buyer's seats in one session.
#[Object]
impl Reservation {
    async fn id(&self) -> ID {
        encode(NodeKind::Reservation, self.0.id)
    }
    async fn status(&self) -> ReservationStatus {
        self.0.status.into()
    }
    /// What the buyer pays, in whole KRW, after any coupon.
    async fn amount(&self) -> i64 {
        self.0.amount
    }
    /// What the applied coupon takes off, in whole KRW.
    async fn discount(&self) -> i64 {
        self.0.discount
    }
    /// The buyer's coupon applied to this reservation.
    async fn applied_coupon(&self, ctx: &Context<'_>) -> GqlResult<Option<UserCoupon>> {
        let Some(id) = self.0.user_coupon_id else {
            return Ok(None);
        };
        crate::graphql::coupons::user_coupon(ctx, id).await
    }
    async fn seat_count(&self) -> i32 {
        self.0.seat_count
    }
    /// The order ID to pay with in the payment widget.
    async fn order_id(&self) -> Option<&str> {
        self.0.order_id.as_deref()
    }
    /// The order name to show in the payment widget.
    async fn order_name(&self) -> Option<&str> {
        self.0.order_name.as_deref()
    }
    /// The approved payment, once paid.
    async fn payment(&self, ctx: &Context<'_>) -> GqlResult<Option<crate::graphql::payments::Payment>> {
        crate::graphql::payments::payment_of(ctx, self.0.id).await
    }
    /// When a held reservation lapses if unpaid.
    async fn expires_at(&self) -> DateTime<Utc> {
        self.0.expires_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn session(&self, ctx: &Context<'_>) -> GqlResult<Session> {
        Ok(Session(
            load_required(ctx, SessionKey(self.0.session_id), || {
                format!("reservation {} has no session", self.0.id)
            })
            .await?,
        ))
    }
    /// Who holds it; for the box office, with contact details masked.
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn buyer(&self, ctx: &Context<'_>) -> GqlResult<Account> {
        crate::graphql::accounts::account(ctx, self.0.user_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("user").into())
    }
    /// One per seat once the reservation is confirmed; cancelled ones stay listed. A ticket
    /// transferred to someone else is listed too, without its QR code.
    async fn tickets(&self, ctx: &Context<'_>) -> GqlResult<Vec<crate::graphql::tickets::Ticket>> {
        let tickets = crate::domain::tickets::of_reservation(&app(ctx)?.db, self.0.id).await?;
        Ok(tickets.into_iter().map(crate::graphql::tickets::Ticket).collect())
    }
    async fn seats(&self, ctx: &Context<'_>) -> GqlResult<Vec<ReservedSeat>> {
        let seats = load_list(ctx, SeatsOfReservation(self.0.id)).await?;
        Ok(seats
            .into_iter()
            .map(|s| ReservedSeat {
                id: encode(NodeKind::Seat, s.seat_id),
                grade: s.grade,
                price: s.price,
                active: s.active,
            })
            .collect())
    }
}

/// The seats of a reservation in the order they were held, batched over a page of
/// reservations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SeatsOfReservation(pub i64);

impl async_graphql::dataloader::Loader<SeatsOfReservation> for crate::graphql::loaders::CatalogLoader {
    type Value = Vec<reservation_seat::Model>;
    type Error = crate::graphql::loaders::LoadError;

    async fn load(
        &self,
        keys: &[SeatsOfReservation],
    ) -> Result<std::collections::HashMap<SeatsOfReservation, Self::Value>, Self::Error> {
        let rows = crate::domain::reservations::seats_of_many(&self.db().await?, keys.iter().map(|k| k.0)).await?;
        let mut seats: std::collections::HashMap<SeatsOfReservation, Self::Value> = std::collections::HashMap::new();
        for row in rows {
            seats
                .entry(SeatsOfReservation(row.reservation_id))
                .or_default()
                .push(row);
        }
        Ok(seats)
    }
}

/// A seat of a reservation, priced when it was held.
#[derive(SimpleObject, Debug)]
pub struct ReservedSeat {
    /// The seat's ID, as on the seat map.
    pub id: ID,
    pub grade: String,
    pub price: i32,
    /// False once the seat was given back: the hold ended, or it was cancelled
    /// (`cancelSeats`, `cancelReservation`).
    pub active: bool,
}
