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

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement};
use secrecy::SecretString;

use crate::config::DatabaseSettings;
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
    /// Opens a pool per replica in `settings`; none connects until first used, so a replica
    /// that is down at start does not stop the service.
    pub async fn open(
        primary: DatabaseConnection,
        settings: &DatabaseSettings,
        writes: SharedStore,
    ) -> anyhow::Result<Self> {
        let mut members = Vec::with_capacity(settings.replica_urls.len());
        for url in &settings.replica_urls {
            members.push(Member {
                pool: connect_lazy(url, settings, settings.replica_max_connections).await?,
                monitor: connect_lazy(url, settings, 1).await?,
                state: Mutex::new(ReplicaState::UNKNOWN),
            });
        }
        if !members.is_empty() && primary.get_database_backend() != DatabaseBackend::Postgres {
            anyhow::bail!("database.replica_urls needs a PostgreSQL primary (DATABASE_URL)");
        }
        // The lag bound of a caught-up replica grows to a poll (and a check) before each
        // check lowers it again: with a bound that short, it would be skipped half the time.
        if !members.is_empty() && settings.replica_max_lag_ms <= 2 * settings.replica_poll_ms {
            anyhow::bail!(
                "database.replica_max_lag_ms ({} ms) must be more than twice database.replica_poll_ms ({} ms)",
                settings.replica_max_lag_ms,
                settings.replica_poll_ms
            );
        }
        Ok(Self {
            primary,
            members,
            max_lag: Duration::from_millis(settings.replica_max_lag_ms),
            poll_every: Duration::from_millis(settings.replica_poll_ms.max(10)),
            writes,
            next: AtomicUsize::new(0),
            primary_snapshots: Arc::new(tokio::sync::Semaphore::new(
                (settings.max_connections as usize / 2).max(1),
            )),
        })
    }

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

    /// Where the reads of an operation go: `writes` for a mutation, `viewer` the account
    /// calling (anonymous callers have no writes of their own to see).
    pub async fn route(&self, writes: bool, viewer: Option<i64>) -> Route {
        if self.members.is_empty() {
            return Route::Primary(PrimaryReason::NoReplica);
        }
        if writes {
            return Route::Primary(PrimaryReason::Writes);
        }
        let must_have = match viewer {
            None => None,
            Some(user_id) => match self.writes.get(&write_key(user_id)).await {
                Ok(position) => position.and_then(|p| p.parse::<u64>().ok()),
                // Whether this viewer wrote is unknown: read where the write certainly is.
                Err(err) => {
                    tracing::debug!(error = ?err, "reading a viewer's last write position failed");
                    return Route::Primary(PrimaryReason::OwnWrite);
                }
            },
        };
        let count = self.members.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut behind_own_write = false;
        for offset in 0..count {
            let index = (start + offset) % count;
            let state = *self.members[index].state.lock().unwrap_or_else(PoisonError::into_inner);
            if !state.up || state.lag().is_none_or(|lag| lag > self.max_lag) {
                continue;
            }
            if let Some(position) = must_have
                && state.replayed.is_none_or(|replayed| replayed < position)
            {
                behind_own_write = true;
                continue;
            }
            return Route::Replica(index);
        }
        Route::Primary(if behind_own_write {
            PrimaryReason::OwnWrite
        } else {
            PrimaryReason::NoHealthyReplica
        })
    }

    /// Remembers, after `user_id`'s mutation has committed, the primary's WAL position, so
    /// that the viewer's next reads wait for a replica that has replayed it.
    pub async fn wrote(&self, user_id: i64) {
        if self.members.is_empty() {
            return;
        }
        let position = tokio::time::timeout(Duration::from_millis(500), wal_position(&self.primary)).await;
        let remembered = match position.unwrap_or_else(|_| Err(anyhow::anyhow!("no answer within 500 ms"))) {
            Ok(position) => {
                let ttl = self.max_lag + self.poll_every + Duration::from_secs(1);
                self.writes.set(&write_key(user_id), &position.to_string(), ttl).await
            }
            Err(err) => Err(err),
        };
        if let Err(err) = remembered {
            // Reads may then see the replica's older state for up to the lag bound.
            tracing::warn!(error = ?err, user_id, "remembering a viewer's write position failed");
        }
    }

    /// What the monitor last saw of each replica, in configuration order.
    pub fn states(&self) -> Vec<ReplicaState> {
        self.members
            .iter()
            .map(|member| *member.state.lock().unwrap_or_else(PoisonError::into_inner))
            .collect()
    }

    /// Checks every replica each poll interval until the task is aborted.
    pub fn spawn_monitor(self: &Arc<Self>) -> Option<tokio::task::JoinHandle<()>> {
        if self.members.is_empty() {
            return None;
        }
        let replicas = self.clone();
        Some(crate::metrics::spawn_background(async move {
            let mut history = History::default();
            let mut ticks = tokio::time::interval(replicas.poll_every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                replicas.check(&mut history).await;
            }
        }))
    }

    async fn check(&self, history: &mut History) {
        // Taken before asking: the primary had at least this position at this instant.
        let sampled = Instant::now();
        let timeout = self.poll_every.max(Duration::from_secs(1));
        let primary = match tokio::time::timeout(timeout, wal_position(&self.primary)).await {
            Ok(Ok(position)) => Some(position),
            Ok(Err(err)) => {
                tracing::debug!(error = ?err, "reading the primary's WAL position failed");
                None
            }
            Err(_) => None,
        };
        if let Some(position) = primary {
            history.record(sampled, position, self.max_lag * 2 + Duration::from_secs(1));
        }
        // Every replica at once: one that does not answer must not delay the others.
        let checks = self
            .members
            .iter()
            .map(|member| tokio::time::timeout(timeout, replay_position(&member.monitor)));
        let answers = futures::future::join_all(checks).await;
        for (index, (member, answer)) in self.members.iter().zip(answers).enumerate() {
            let (state, why) = match answer {
                Ok(Ok(Some(replayed))) => (
                    ReplicaState {
                        up: true,
                        caught_up_to: primary.and_then(|_| history.caught_up_to(replayed)),
                        replayed: Some(replayed),
                    },
                    "",
                ),
                Ok(Ok(None)) => (
                    ReplicaState::UNKNOWN,
                    "it is not in recovery (promoted, or not a replica)",
                ),
                Ok(Err(err)) => {
                    tracing::debug!(replica = index + 1, error = ?err, "checking a replica failed");
                    (ReplicaState::UNKNOWN, "it does not answer")
                }
                Err(_) => (ReplicaState::UNKNOWN, "it does not answer in time"),
            };
            let mut current = member.state.lock().unwrap_or_else(PoisonError::into_inner);
            if current.up != state.up {
                if state.up {
                    tracing::info!(replica = index + 1, "the replica answers: reading from it");
                } else {
                    tracing::warn!(
                        replica = index + 1,
                        why,
                        "reads go to the primary instead of the replica"
                    );
                }
            }
            *current = state;
        }
    }

    /// Whether the replica behind `route` still answers (a request failed there, or for a
    /// reason of its own); one that does not is taken out of use until the monitor sees it
    /// answer again. True for the primary.
    pub async fn answers(&self, route: Route) -> bool {
        let Route::Replica(index) = route else { return true };
        let member = &self.members[index];
        let ping = tokio::time::timeout(Duration::from_secs(1), member.pool.ping()).await;
        let answers = matches!(ping, Ok(Ok(())));
        if !answers {
            *member.state.lock().unwrap_or_else(PoisonError::into_inner) = ReplicaState::UNKNOWN;
        }
        answers
    }
}

/// The primary's recent WAL positions, oldest first.
#[derive(Debug, Default)]
struct History(VecDeque<(Instant, u64)>);

impl History {
    fn record(&mut self, at: Instant, position: u64, keep: Duration) {
        self.0.push_back((at, position));
        while self.0.front().is_some_and(|(t, _)| at.duration_since(*t) > keep) {
            self.0.pop_front();
        }
    }

    /// The instant up to which a replica that replayed up to `replayed` has everything: the
    /// last sample when it has reached it; otherwise the newest remembered position it has
    /// reached (everything it lacks was written after that). `None` when it is behind every
    /// remembered position.
    fn caught_up_to(&self, replayed: u64) -> Option<Instant> {
        self.0
            .iter()
            .rev()
            .find(|(_, position)| *position <= replayed)
            .map(|(at, _)| *at)
    }
}

fn write_key(user_id: i64) -> String {
    format!("replica:wrote:{user_id}")
}

async fn connect_lazy(
    url: &SecretString,
    settings: &DatabaseSettings,
    max_connections: u32,
) -> anyhow::Result<DatabaseConnection> {
    use secrecy::ExposeSecret;
    let url = url.expose_secret();
    if !url.starts_with("postgres") {
        anyhow::bail!("a replica URL must be a PostgreSQL URL, not {}", crate::db::redact(url));
    }
    let timeout = Duration::from_millis(settings.replica_connect_timeout_ms);
    let mut options = sea_orm::ConnectOptions::new(settings.ssl_mode.apply(url));
    options
        .max_connections(max_connections)
        .min_connections(0)
        .connect_timeout(timeout)
        .acquire_timeout(timeout)
        .connect_lazy(true)
        .sqlx_logging(false);
    // A lazy pool only checks its options here; it connects on first use.
    sea_orm::Database::connect(options)
        .await
        .map_err(|err| anyhow::anyhow!("bad replica URL {}: {err}", crate::db::redact(url)))
}

/// The primary's current WAL insert position, in bytes: past every commit that has returned
/// (the write position may lag it with `synchronous_commit = off`).
async fn wal_position(db: &DatabaseConnection) -> anyhow::Result<u64> {
    let row = db
        .query_one_raw(Statement::from_string(
            DatabaseBackend::Postgres,
            "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::bigint",
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no WAL position"))?;
    Ok(record_end(u64::try_from(row.try_get_by_index::<i64>(0)?)?))
}

/// The insert position as a replica's replay position would show it. With nothing written
/// since a record that ended exactly on a WAL page, the insert position points past the next
/// page's header (24 bytes; 40 at the start of a segment) while a replica that has everything
/// reports the page boundary: without this, a caught-up replica of an idle primary would look
/// behind for good. No record ends at those offsets, so the correction is exact. (PostgreSQL's
/// default 8 KiB WAL pages and 16 MiB segments.)
fn record_end(position: u64) -> u64 {
    const PAGE: u64 = 8 * 1024;
    const SEGMENT: u64 = 16 * 1024 * 1024;
    if position % SEGMENT == 40 {
        position - 40
    } else if position % PAGE == 24 {
        position - 24
    } else {
        position
    }
}

/// A replica's replay position, in bytes; `None` when it is not in recovery.
async fn replay_position(db: &DatabaseConnection) -> anyhow::Result<Option<u64>> {
    let row = db
        .query_one_raw(Statement::from_string(
            DatabaseBackend::Postgres,
            "SELECT pg_is_in_recovery(), pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')::bigint",
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no replay position"))?;
    if !row.try_get_by_index::<bool>(0)? {
        return Ok(None);
    }
    let replayed: Option<i64> = row.try_get_by_index(1)?;
    Ok(replayed.and_then(|r| u64::try_from(r).ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replica_has_what_the_primary_had_at_the_newest_position_it_reached() {
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        let mut history = History::default();
        let keep = Duration::from_secs(10);
        history.record(at(0), 100, keep);
        history.record(at(250), 200, keep);
        history.record(at(500), 300, keep);
        assert_eq!(
            history.caught_up_to(300),
            Some(at(500)),
            "caught up with the last sample"
        );
        assert_eq!(history.caught_up_to(350), Some(at(500)), "ahead of the last sample");
        assert_eq!(history.caught_up_to(250), Some(at(250)));
        assert_eq!(history.caught_up_to(100), Some(at(0)));
        assert_eq!(history.caught_up_to(99), None, "behind everything remembered");
    }

    #[test]
    fn an_insert_position_past_a_page_header_is_the_record_end_before_it() {
        assert_eq!(record_end(3 * 8192 + 24), 3 * 8192);
        assert_eq!(record_end(2 * 16 * 1024 * 1024 + 40), 2 * 16 * 1024 * 1024);
        assert_eq!(record_end(3 * 8192 + 100), 3 * 8192 + 100);
        assert_eq!(record_end(3 * 8192), 3 * 8192);
    }

    #[test]
    fn old_positions_are_forgotten() {
        let start = Instant::now();
        let mut history = History::default();
        let keep = Duration::from_secs(1);
        history.record(start, 1, keep);
        history.record(start + Duration::from_secs(2), 2, keep);
        assert_eq!(history.0.len(), 1);
        assert_eq!(history.caught_up_to(1), None);
    }

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
