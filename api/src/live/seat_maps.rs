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

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sea_orm::DatabaseConnection;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use crate::domain::seat_map::{self, SeatMap, SeatMapDelta};
use crate::error::ApiResult;
use crate::infra::bus::SharedBus;
use crate::outbox::topic;

/// What a feed sends its subscribers.
#[derive(Debug, Clone)]
pub enum Frame {
    Delta(Arc<SeatMapDelta>),
    /// Deltas were lost for good: fetch a snapshot.
    Resync,
}

struct Feed {
    sender: broadcast::Sender<Frame>,
    /// The version of the last delta sent (or the version when the feed began).
    last: i64,
    /// The newest snapshot, shared by subscribers that join; kept current by applying deltas.
    snapshot: Option<Arc<SeatMap>>,
}

pub struct SeatMapHub {
    db: DatabaseConnection,
    feeds: Mutex<HashMap<i64, Feed>>,
    buffer: usize,
}

/// A subscription's start: a receiver of everything after `version`.
pub struct Watch {
    pub receiver: broadcast::Receiver<Frame>,
    /// The feed's version when the receiver was made: every later delta will arrive.
    pub version: i64,
}

impl SeatMapHub {
    pub fn new(db: DatabaseConnection, buffer: usize) -> Self {
        Self {
            db,
            feeds: Mutex::new(HashMap::new()),
            buffer: buffer.max(1),
        }
    }

    fn feeds(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Feed>> {
        // The map stays consistent whatever panicked while holding it.
        self.feeds.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts watching a session (NOT_FOUND when there is none).
    pub async fn watch(&self, session_id: i64) -> ApiResult<Watch> {
        if let Some(watch) = self.join(session_id) {
            return Ok(watch);
        }
        let version = seat_map::current_version(&self.db, session_id).await?;
        let mut feeds = self.feeds();
        let feed = feeds.entry(session_id).or_insert_with(|| Feed {
            sender: broadcast::channel(self.buffer).0,
            last: version,
            snapshot: None,
        });
        Ok(Watch {
            receiver: feed.sender.subscribe(),
            version: feed.last,
        })
    }

    fn join(&self, session_id: i64) -> Option<Watch> {
        let feeds = self.feeds();
        let feed = feeds.get(&session_id)?;
        Some(Watch {
            receiver: feed.sender.subscribe(),
            version: feed.last,
        })
    }

    /// A snapshot at least as new as `at_least`: the shared one when it is, else read fresh.
    pub async fn snapshot(&self, session_id: i64, at_least: i64) -> ApiResult<Arc<SeatMap>> {
        let cached = self
            .feeds()
            .get(&session_id)
            .and_then(|feed| feed.snapshot.clone())
            .filter(|snapshot| snapshot.version >= at_least);
        if let Some(snapshot) = cached {
            return Ok(snapshot);
        }
        let fresh = Arc::new(seat_map::load_seat_map(&self.db, session_id).await?);
        if let Some(feed) = self.feeds().get_mut(&session_id)
            && feed.snapshot.as_ref().is_none_or(|s| s.version < fresh.version)
            && fresh.version >= feed.last
        {
            feed.snapshot = Some(fresh.clone());
        }
        Ok(fresh)
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

    /// Sends `delta` if it is the feed's next version.
    fn send(&self, delta: SeatMapDelta) {
        let mut feeds = self.feeds();
        let Some(feed) = feeds.get_mut(&delta.session_id) else {
            return;
        };
        if delta.version != feed.last + 1 {
            return;
        }
        feed.last = delta.version;
        feed.snapshot = feed
            .snapshot
            .take()
            .filter(|s| s.version + 1 == delta.version)
            .map(|s| Arc::new(s.apply(&delta)));
        let _ = feed.sender.send(Frame::Delta(Arc::new(delta)));
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
                    feed.snapshot = None;
                    let _ = feed.sender.send(Frame::Resync);
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
            feeds.retain(|_, feed| feed.sender.receiver_count() > 0);
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
