//! Read replicas: PostgreSQL streaming replicas that take lag-tolerant reads off the primary.
//!
//! A monitor reads, every `database.replica_poll_ms`, the primary's WAL position and each
//! replica's replay position. From the primary's recent positions it bounds each replica's
//! lag in time without trusting either clock: a replica that has replayed past the position
//! the primary had at instant `t` is at most `now - t` behind. A replica that is down, not in
//! recovery (promoted, or not a replica at all), or further behind than
//! `database.replica_max_lag_ms` is skipped, and used again once it answers and catches up.
//!
//! **Read-your-writes** is by position, not by a fixed window: after a viewer's mutation the
//! primary's WAL position (past the mutation's commit) is kept for that viewer, in Redis when
//! it is configured so that every instance sees it; that viewer's reads go to a replica only
//! once the replica has replayed past it. The entry lives as long as the lag bound (plus one
//! poll): by then any replica still in use has replayed the write, since it is less than the
//! bound behind.

mod connect;
mod monitor;
mod positions;
mod routing;

use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sea_orm::DatabaseConnection;

use crate::infra::kv::SharedStore;

/// Where one read goes, and why: the reason is counted in the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// To the replica at this index.
    Replica(usize),
    Primary(PrimaryReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrimaryReason {
    /// No replica is configured.
    NoReplica,
    /// The operation writes (a mutation): everything it reads is on the primary.
    Writes,
    /// The viewer wrote recently and no replica has replayed that write yet.
    OwnWrite,
    /// Every replica is down or too far behind.
    NoHealthyReplica,
}

impl Route {
    /// The metrics label.
    pub fn label(self) -> &'static str {
        match self {
            Route::Replica(_) => "replica",
            Route::Primary(PrimaryReason::NoReplica) => "primary",
            Route::Primary(PrimaryReason::Writes) => "primary_writes",
            Route::Primary(PrimaryReason::OwnWrite) => "primary_own_write",
            Route::Primary(PrimaryReason::NoHealthyReplica) => "primary_no_healthy_replica",
        }
    }
}

/// What the monitor last saw of one replica, for routing, `/healthz` and `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReplicaState {
    /// It answered the last check and is a replica in recovery.
    pub up: bool,
    /// The replica had replayed everything the primary had written at this instant (the
    /// newest primary position it has reached, or the last one sampled when it has all of
    /// them). `None` when unknown: down, or behind every position the monitor remembers.
    pub caught_up_to: Option<Instant>,
    /// Its replay position (bytes of WAL), when up.
    pub replayed: Option<u64>,
}

impl ReplicaState {
    const UNKNOWN: Self = Self {
        up: false,
        caught_up_to: None,
        replayed: None,
    };

    /// How far behind the primary it may be now, at most: the bound ages by itself between
    /// checks, so a monitor that stalls never makes a replica look fresher than it is.
    pub fn lag(&self) -> Option<Duration> {
        self.caught_up_to.map(|at| at.elapsed())
    }
}

struct Member {
    /// Requests' reads.
    pool: DatabaseConnection,
    /// The monitor's own connection, so that its checks never wait behind requests (nor
    /// show up as a request's statement on the replica).
    monitor: DatabaseConnection,
    state: Mutex<ReplicaState>,
}

/// The primary and its replicas.
pub struct Replicas {
    primary: DatabaseConnection,
    members: Vec<Member>,
    max_lag: Duration,
    poll_every: Duration,
    /// The last write position of each viewer who wrote recently.
    writes: SharedStore,
    next: AtomicUsize,
    /// Queries reading the primary through a snapshot at once (see [`Self::snapshots`]).
    primary_snapshots: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for Replicas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replicas").field("count", &self.members.len()).finish()
    }
}

impl Replicas {
    /// How many queries may hold a snapshot of `route`'s pool at once, when limited. A
    /// query's snapshot keeps one of the primary's connections for the whole request, while
    /// some of its fields read the primary statement by statement (a buyer's own
    /// reservations, a waiting room's head counts): with every connection held by a
    /// snapshot, those would wait for each other until the pool's timeout. Half the pool
    /// stays for them. A replica is only read through the snapshot, so it needs no limit.
    pub fn snapshots(&self, route: Route) -> Option<Arc<tokio::sync::Semaphore>> {
        match route {
            Route::Primary(_) => Some(self.primary_snapshots.clone()),
            Route::Replica(_) => None,
        }
    }

    /// No replica: every read goes to the primary.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn primary(&self) -> &DatabaseConnection {
        &self.primary
    }

    /// The pool a route reads from.
    pub fn pool(&self, route: Route) -> &DatabaseConnection {
        match route {
            Route::Replica(index) => &self.members[index].pool,
            Route::Primary(_) => &self.primary,
        }
    }

    /// What the monitor last saw of each replica, in configuration order.
    pub fn states(&self) -> Vec<ReplicaState> {
        self.members
            .iter()
            .map(|member| *member.state.lock().unwrap_or_else(PoisonError::into_inner))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lag_bound_ages_between_checks() {
        let state = ReplicaState {
            up: true,
            caught_up_to: Instant::now().checked_sub(Duration::from_secs(3)),
            replayed: Some(1),
        };
        if state.caught_up_to.is_some() {
            assert!(state.lag().is_some_and(|lag| lag >= Duration::from_secs(3)));
        }
        assert_eq!(ReplicaState::UNKNOWN.lag(), None);
    }
}
