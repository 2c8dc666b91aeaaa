//! Settings of booking: holds, per-buyer limits, the sweeper and waiting rooms.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BookingSettings {
    /// How long seats stay held for an unpaid reservation.
    pub hold_seconds: i64,
    /// Seats one buyer may hold or own in one session.
    pub max_seats_per_buyer: usize,
    /// How often lapsed holds are swept back to AVAILABLE (0 turns the sweeper off).
    pub sweep_interval_seconds: u64,
    /// `holdSeats`/`holdBestAvailable` calls one account may make per minute; beyond it,
    /// RATE_LIMITED (0: no limit).
    pub hold_attempts_per_account_per_minute: u32,
    /// `holdSeats`/`holdBestAvailable` calls from one client address per minute, over all
    /// accounts; beyond it, RATE_LIMITED (0: no limit). Higher than the per-account limit,
    /// because many buyers can share an address (an office, a mobile carrier).
    pub hold_attempts_per_ip_per_minute: u32,
    /// Reservations one account may have waiting for payment (HELD or PAYING) at once,
    /// over all sessions; one more hold is RATE_LIMITED until one is paid, released or
    /// lapses. Counted in the hold's transaction, so it holds under any concurrency.
    pub max_live_reservations_per_buyer: usize,
    /// How often each instance runs the admission of every open waiting room (see
    /// [`crate::domain::waiting_room`]); 0 turns admission off on this instance.
    pub waiting_room_tick_ms: u64,
    /// The least time between two position events of one `waitingRoomUpdates` subscriber;
    /// a change of state (admitted, sold out) is sent at once.
    pub waiting_room_event_interval_ms: u64,
    /// Hold requests for one session applied together in one transaction at most (group
    /// commit; see `domain::holds::combiner`). 1 applies every hold on its own.
    pub hold_batch_max: usize,
}

impl Default for BookingSettings {
    fn default() -> Self {
        Self {
            hold_seconds: 600,
            max_seats_per_buyer: 4,
            sweep_interval_seconds: 5,
            hold_attempts_per_account_per_minute: 10,
            hold_attempts_per_ip_per_minute: 60,
            max_live_reservations_per_buyer: 4,
            waiting_room_tick_ms: 1_000,
            waiting_room_event_interval_ms: 1_000,
            hold_batch_max: 128,
        }
    }
}
