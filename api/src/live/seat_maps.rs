//! The seat-map hub of one instance: one feed per watched session, fed by the event bus and
//! read by every subscription to that session.
//!
//! A delta arrives once from the bus and is shared (as an `Arc`) by every subscriber of its
//! session; nothing is queried per subscriber. The hub forwards deltas strictly in version
//! order. When it sees a gap (the bus is at-most-once, and the relay does not publish in
//! commit order) it reads the missing deltas from the outbox, which holds every delta that
//! was committed. A watchdog compares each watched session's version with the database
//! every few seconds, so a feed converges even when the last message of a burst was lost.
//! Should the deltas needed be gone, subscribers are told to resync with a snapshot.
//!
//! Each feed has two channels. The plain one carries every delta on its own. The coalesced
//! one, for subscribers who asked for it, carries *runs*: during a burst, the deltas of each
//! `events.seat_map_coalesce_ms` go out together, in order, so that a subscriber gets a few
//! messages a second however fast seats change, and still every change. A run made in one
//! place is the same for every subscriber, so its encoding is shared too.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use sea_orm::DatabaseConnection;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use crate::domain::seat_map::{self, SeatMap, SeatMapDelta};
use crate::error::ApiResult;
use crate::infra::bus::SharedBus;
use crate::outbox::topic;

/// Consecutive deltas, oldest first: one on the plain channel, one or more on the
/// coalesced one.
pub type Run = Arc<[Arc<SeatMapDelta>]>;

/// What a feed sends its subscribers.
#[derive(Debug, Clone)]
pub enum Frame {
    Deltas(Run),
    /// Deltas were lost for good: fetch a snapshot.
    Resync,
}

/// Deltas kept after a feed's snapshot, applied when a snapshot is next asked for; beyond
/// this many, reading the map again is cheaper.
const SNAPSHOT_LAG: usize = 256;

struct Feed {
    sender: broadcast::Sender<Frame>,
    /// The coalesced channel (see the module's documentation).
    coalesced: broadcast::Sender<Frame>,
    /// Deltas sent on the plain channel but not yet on the coalesced one.
    pending: Vec<Arc<SeatMapDelta>>,
    /// When the coalesced channel last sent.
    flushed_at: Instant,
    /// The version of the last delta sent (or the version when the feed began).
    last: i64,
    /// A snapshot shared by subscribers that join, and the deltas since it: applied only
    /// when a snapshot is asked for, not at every change of a burst.
    snapshot: Option<(Arc<SeatMap>, Vec<Arc<SeatMapDelta>>)>,
}

impl Feed {
    fn channel(&self, coalesce: bool) -> &broadcast::Sender<Frame> {
        if coalesce { &self.coalesced } else { &self.sender }
    }

    /// Sends the pending deltas as one run on the coalesced channel.
    fn flush(&mut self) {
        if !self.pending.is_empty() {
            let run: Run = std::mem::take(&mut self.pending).into();
            let _ = self.coalesced.send(Frame::Deltas(run));
            self.flushed_at = Instant::now();
        }
    }

    fn resync(&mut self) {
        self.pending.clear();
        self.snapshot = None;
        let _ = self.sender.send(Frame::Resync);
        let _ = self.coalesced.send(Frame::Resync);
    }
}

pub struct SeatMapHub {
    db: DatabaseConnection,
    feeds: Mutex<HashMap<i64, Feed>>,
    buffer: usize,
    /// How long the coalesced channel gathers deltas during a burst.
    coalesce: Duration,
}

/// A subscription's start: a receiver of everything after `version`.
pub struct Watch {
    pub receiver: broadcast::Receiver<Frame>,
    /// The feed's version when the receiver was made: every later delta will arrive.
    pub version: i64,
}

impl SeatMapHub {
    pub fn new(db: DatabaseConnection, buffer: usize, coalesce: Duration) -> Self {
        Self {
            db,
            feeds: Mutex::new(HashMap::new()),
            buffer: buffer.max(1),
            coalesce: coalesce.max(Duration::from_millis(10)),
        }
    }

    fn feeds(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Feed>> {
        // The map stays consistent whatever panicked while holding it.
        self.feeds.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts watching a session (NOT_FOUND when there is none), on the coalesced channel
    /// with `coalesce`.
    pub async fn watch(&self, session_id: i64, coalesce: bool) -> ApiResult<Watch> {
        if let Some(watch) = self.join(session_id, coalesce) {
            return Ok(watch);
        }
        let version = seat_map::current_version(&self.db, session_id).await?;
        let mut feeds = self.feeds();
        let feed = feeds.entry(session_id).or_insert_with(|| Feed {
            sender: broadcast::channel(self.buffer).0,
            coalesced: broadcast::channel(self.buffer).0,
            pending: Vec::new(),
            // A new feed is quiet: its first change goes at once.
            flushed_at: Instant::now().checked_sub(self.coalesce).unwrap_or_else(Instant::now),
            last: version,
            snapshot: None,
        });
        Ok(Watch {
            receiver: feed.channel(coalesce).subscribe(),
            version: feed.last,
        })
    }

    fn join(&self, session_id: i64, coalesce: bool) -> Option<Watch> {
        let feeds = self.feeds();
        let feed = feeds.get(&session_id)?;
        Some(Watch {
            receiver: feed.channel(coalesce).subscribe(),
            version: feed.last,
        })
    }

    /// A snapshot at least as new as `at_least`: the shared one when it is, else read fresh.
    pub async fn snapshot(&self, session_id: i64, at_least: i64) -> ApiResult<Arc<SeatMap>> {
        if let Some(snapshot) = self.shared_snapshot(session_id).filter(|s| s.version >= at_least) {
            return Ok(snapshot);
        }
        let fresh = Arc::new(seat_map::load_seat_map(&self.db, session_id).await?);
        if let Some(feed) = self.feeds().get_mut(&session_id)
            && feed
                .snapshot
                .as_ref()
                .is_none_or(|(s, since)| s.version + (since.len() as i64) < fresh.version)
            && fresh.version == feed.last
        {
            feed.snapshot = Some((fresh.clone(), Vec::new()));
        }
        Ok(fresh)
    }

    /// The feed's snapshot brought up to date with the deltas since it, if it has one.
    fn shared_snapshot(&self, session_id: i64) -> Option<Arc<SeatMap>> {
        let mut feeds = self.feeds();
        let (snapshot, since) = feeds.get_mut(&session_id)?.snapshot.as_mut()?;
        if !since.is_empty() {
            let mut map = SeatMap::clone(snapshot);
            for delta in since.drain(..) {
                map.apply(&delta);
            }
            *snapshot = Arc::new(map);
        }
        Some(snapshot.clone())
    }

    /// The deltas after `after` up to `upto`, when the outbox still has them all.
    pub async fn deltas(&self, session_id: i64, after: i64, upto: i64) -> ApiResult<Option<Vec<SeatMapDelta>>> {
        seat_map::load_deltas(&self.db, session_id, after, upto).await
    }

    /// Feeds the hub from the bus until the bus closes; run once per instance.
    pub async fn run(self: Arc<Self>, bus: SharedBus, check_every: Duration) {
        let mut events = bus.subscribe();
        let mut watchdog = tokio::time::interval(check_every);
        watchdog.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut coalescing = tokio::time::interval(self.coalesce);
        coalescing.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                received = events.recv() => match received {
                    Ok(event) if event.topic == topic::SEAT_MAP => {
                        if let Some(delta) = SeatMapDelta::from_event(&event) {
                            self.offer(delta).await;
                        }
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "the seat-map hub fell behind the bus; catching up from the database");
                        self.check_all().await;
                    }
                    Err(RecvError::Closed) => return,
                },
                _ = watchdog.tick() => self.check_all().await,
                _ = coalescing.tick() => self.flush_all(),
            }
        }
    }

    /// Takes one delta from the bus: sends it when it is the next, fills the gap first when
    /// it is ahead, drops it when it is old.
    async fn offer(&self, delta: SeatMapDelta) {
        let Some(last) = self.feeds().get(&delta.session_id).map(|feed| feed.last) else {
            return;
        };
        if delta.version <= last {
            return;
        }
        if delta.version > last + 1 {
            self.fill(delta.session_id, last, delta.version - 1).await;
        }
        self.send(delta);
    }

    /// Sends `delta` if it is the feed's next version: at once on the plain channel, and on
    /// the coalesced one at once after a quiet spell, else with the next flush.
    fn send(&self, delta: SeatMapDelta) {
        let mut feeds = self.feeds();
        let Some(feed) = feeds.get_mut(&delta.session_id) else {
            return;
        };
        if delta.version != feed.last + 1 {
            return;
        }
        feed.last = delta.version;
        let delta = Arc::new(delta);
        let snapshot_lags = match &mut feed.snapshot {
            Some((_, since)) => {
                since.push(delta.clone());
                since.len() > SNAPSHOT_LAG
            }
            None => false,
        };
        if snapshot_lags {
            feed.snapshot = None;
        }
        let _ = feed.sender.send(Frame::Deltas(Arc::from([delta.clone()])));
        if feed.coalesced.receiver_count() > 0 {
            feed.pending.push(delta);
            if feed.pending.len() == 1 && feed.flushed_at.elapsed() >= self.coalesce {
                feed.flush();
            }
        }
    }

    /// Sends every feed's pending deltas on its coalesced channel.
    fn flush_all(&self) {
        for feed in self.feeds().values_mut() {
            feed.flush();
        }
    }

    /// Reads the deltas after `after` up to `upto` from the outbox and sends them, or tells
    /// subscribers to resync when they are gone.
    async fn fill(&self, session_id: i64, after: i64, upto: i64) {
        match seat_map::load_deltas(&self.db, session_id, after, upto).await {
            Ok(Some(deltas)) => deltas.into_iter().for_each(|delta| self.send(delta)),
            Ok(None) => {
                let mut feeds = self.feeds();
                if let Some(feed) = feeds.get_mut(&session_id) {
                    feed.last = feed.last.max(upto);
                    feed.resync();
                }
            }
            Err(err) => {
                tracing::warn!(session_id, error = ?err.into_anyhow(), "filling a seat-map gap failed; the watchdog will retry")
            }
        }
    }

    /// Drops feeds nobody watches and brings the others up to the database's version.
    async fn check_all(&self) {
        let watched: Vec<(i64, i64)> = {
            let mut feeds = self.feeds();
            feeds.retain(|_, feed| feed.sender.receiver_count() + feed.coalesced.receiver_count() > 0);
            feeds.iter().map(|(id, feed)| (*id, feed.last)).collect()
        };
        for (session_id, last) in watched {
            match seat_map::current_version(&self.db, session_id).await {
                Ok(current) if current > last => self.fill(session_id, last, current).await,
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(session_id, error = ?err.into_anyhow(), "checking a seat map's version failed")
                }
            }
        }
    }
}
