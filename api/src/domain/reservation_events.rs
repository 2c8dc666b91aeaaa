//! A reservation's change of status as the outbox records it: every transition (a hold, a
//! payment, a release, an offer from the waitlist) writes one, in its own transaction.

use entity::{ReservationStatus, reservation};
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};

use crate::error::ApiResult;
use crate::outbox::{self, topic};

/// The payload of a `reservation` outbox event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservationChanged {
    pub reservation_id: i64,
    pub user_id: i64,
    pub session_id: i64,
    pub status: ReservationStatus,
    pub seat_count: i32,
    pub amount: i64,
}

impl ReservationChanged {
    /// The event that `reservation` is now in its status.
    pub(crate) fn of(reservation: &reservation::Model) -> Self {
        Self {
            reservation_id: reservation.id,
            user_id: reservation.user_id,
            session_id: reservation.session_id,
            status: reservation.status,
            seat_count: reservation.seat_count,
            amount: reservation.amount,
        }
    }
}

/// Writes the event that `reservation` is now in its status, in the caller's transaction.
pub(crate) async fn record_status_change(db: &impl ConnectionTrait, reservation: &reservation::Model) -> ApiResult<()> {
    let event = ReservationChanged::of(reservation);
    outbox::record(db, topic::RESERVATION, reservation.id, None, &event).await
}
