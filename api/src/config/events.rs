//! Settings of the outbox relay and the live seat map.

use serde::Deserialize;

/// The outbox relay and the live seat map.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventSettings {
    /// How often the outbox relay looks for events written by other instances. Events
    /// written by this instance are relayed at once.
    pub relay_poll_ms: u64,
    /// How long published events are kept; seat-map subscribers can resume from
    /// `afterVersion` within this window.
    pub outbox_retention_hours: i64,
    /// Seat-map events buffered per subscriber; one that falls further behind gets a fresh
    /// snapshot instead.
    pub seat_map_buffer: usize,
    /// How often each watched session's version is compared with the database, so that a
    /// seat map converges even when a bus message was lost.
    pub seat_map_check_ms: u64,
    /// For subscribers that ask to `coalesce`: during a burst, the deltas of each period this
    /// long go out merged into one (the first change of a quiet spell goes at once).
    pub seat_map_coalesce_ms: u64,
}

impl Default for EventSettings {
    fn default() -> Self {
        Self {
            relay_poll_ms: 100,
            outbox_retention_hours: 24,
            seat_map_buffer: 256,
            seat_map_check_ms: 2_000,
            seat_map_coalesce_ms: 250,
        }
    }
}
