use async_graphql::{Context, ID, Object};

use super::types::Reservation;
use crate::domain::holds::{self, HoldPolicy, HoldRequest};
use crate::graphql::guard::{Role, RoleGuard, principal};
use crate::graphql::ids::{NodeKind, expect};
use crate::graphql::{GqlResult, app};

#[derive(Default)]
pub struct BookingMutation;

#[Object]
impl BookingMutation {
    /// Holds all of the chosen seats or none (SEAT_UNAVAILABLE lists the taken ones in
    /// `extensions.seatIds`). Repeating a request with the same `idempotencyKey` returns the
    /// same reservation.
    #[graphql(guard = "RoleGuard(Role::User)")]
    async fn hold_seats(
        &self,
        ctx: &Context<'_>,
        session_id: ID,
        seat_ids: Vec<ID>,
        idempotency_key: String,
    ) -> GqlResult<Reservation> {
        let app = app(ctx)?;
        let request = HoldRequest {
            user_id: principal(ctx)?.user_id,
            session_id: expect(NodeKind::Session, &session_id, "sessionId")?,
            seat_ids: seat_ids
                .iter()
                .map(|id| expect(NodeKind::Seat, id, "seatIds"))
                .collect::<Result<_, _>>()?,
            idempotency_key,
        };
        let booking = &app.settings.booking;
        let policy = HoldPolicy {
            hold_for: chrono::Duration::seconds(booking.hold_seconds),
            max_seats_per_buyer: booking.max_seats_per_buyer,
        };
        Ok(Reservation(holds::hold_seats(&app.db, policy, request).await?))
    }

    /// Lets the seats of a held reservation go.
    #[graphql(guard = "RoleGuard(Role::User)")]
    async fn release_hold(&self, ctx: &Context<'_>, reservation_id: ID) -> GqlResult<Reservation> {
        let id = expect(NodeKind::Reservation, &reservation_id, "reservationId")?;
        Ok(Reservation(
            holds::release_hold(&app(ctx)?.db, id, principal(ctx)?.user_id).await?,
        ))
    }
}
