//! The session loop's clocks: periodic ticks and optional deadlines.

use std::time::Duration;

use tokio::time::Instant;

use super::identity::Identity;
use crate::live::sockets::AccountChange;

/// A timer ticking every `ms` (at least every 10 ms), first after one period.
pub(super) fn ticker(ms: u64) -> tokio::time::Interval {
    let period = Duration::from_millis(ms.max(10));
    let mut ticks = tokio::time::interval_at(Instant::now() + period, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks
}

/// Completes at `deadline`, or never without one.
pub(super) async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// The logged-in account's next announced change; never for an anonymous socket.
pub(super) async fn next_change(identity: &mut Option<Identity>) -> AccountChange {
    match identity {
        Some(identity) => identity.changed().await,
        None => std::future::pending().await,
    }
}
