//! The live seat map: `seatMapUpdates`, a snapshot (or the missed deltas) and then every
//! change in version order.

use std::collections::VecDeque;
use std::sync::Arc;

use async_graphql::{Context, ID, Object, SimpleObject, Subscription, Union};
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use crate::domain::seat_map::{self, SeatMap};
use crate::error::ApiResult;
use crate::graphql::app;
use crate::graphql::catalog::types::{Seat, SeatStatus};
use crate::graphql::fanout::{self, SharedEvent};
use crate::ids::{NodeKind, encode, expect};
use crate::live::seat_maps::{Frame, Run, SeatMapHub};
use crate::state::AppState;

#[derive(Default)]
pub struct BookingSubscription;

#[Subscription]
impl BookingSubscription {
    /// The seat map of a session as it changes. The first event is a `SeatMapSnapshot`;
    /// with `afterVersion` (the last version the client saw) it is instead just the deltas
    /// since then, when the server still has them all. Then come `SeatMapDelta`s with
    /// consecutive versions. A snapshot can come again at any time (a subscriber that fell
    /// behind is resynced): replace the map with it and carry on from its version.
    ///
    /// With `coalesce: true`, a burst of changes comes as a few deltas a second, each
    /// carrying every change since the one before, in order: its `fromVersion` is the
    /// version it applies to (the last one you saw), and can be more than one below its
    /// `version`. Without it, every delta has `fromVersion = version - 1`.
    async fn seat_map_updates(
        &self,
        ctx: &Context<'_>,
        session_id: ID,
        after_version: Option<i64>,
        #[graphql(default = false)] coalesce: bool,
    ) -> async_graphql::Result<BoxStream<'static, SeatMapEvent>> {
        if let Some(event) = fanout::preset(ctx, |event| match event {
            SharedEvent::SeatMap(event) => Some(event),
            _ => None,
        }) {
            expect(NodeKind::Session, &session_id, "sessionId")?;
            return Ok(futures::stream::iter(event).boxed());
        }
        Ok(events(app(ctx)?, &session_id, after_version, coalesce).await?.boxed())
    }
}

/// The events of one subscriber to `session_id`'s seat map, from `after` when given.
pub(crate) async fn events(
    app: &AppState,
    session_id: &ID,
    after: Option<i64>,
    coalesce: bool,
) -> ApiResult<impl Stream<Item = SeatMapEvent> + Send + use<>> {
    let session_id = expect(NodeKind::Session, session_id, "sessionId")?;
    follow(app.seat_maps.clone(), session_id, after, coalesce).await
}

/// Subscribes first, then reads what the client is missing, so nothing falls in between.
async fn follow(
    hub: Arc<SeatMapHub>,
    session_id: i64,
    after: Option<i64>,
    coalesce: bool,
) -> ApiResult<impl Stream<Item = SeatMapEvent> + use<>> {
    let watch = hub.watch(session_id, coalesce).await?;
    let mut pending = VecDeque::new();
    let replay = match after {
        Some(after) if after <= watch.version => hub.deltas(session_id, after, watch.version).await?,
        _ => None,
    };
    let last = match replay {
        Some(deltas) => {
            let last = deltas.last().map_or(after.unwrap_or(watch.version), |d| d.version);
            let deltas = deltas.into_iter().map(Arc::new);
            if coalesce {
                let run: Run = deltas.collect();
                if !run.is_empty() {
                    pending.push_back(SeatMapEvent::Delta(SeatMapDelta(run)));
                }
            } else {
                pending.extend(deltas.map(|d| SeatMapEvent::Delta(SeatMapDelta(Arc::from([d])))));
            }
            last
        }
        None => {
            let snapshot = hub.snapshot(session_id, watch.version).await?;
            let version = snapshot.version;
            pending.push_back(SeatMapEvent::Snapshot(SeatMapSnapshot(snapshot)));
            version
        }
    };
    let mut state = Follower {
        hub,
        session_id,
        receiver: watch.receiver,
        last,
        pending,
        behind: false,
    };
    state.skip_covered();
    Ok(futures::stream::unfold(state, Follower::next))
}

struct Follower {
    hub: Arc<SeatMapHub>,
    session_id: i64,
    receiver: tokio::sync::broadcast::Receiver<Frame>,
    last: i64,
    pending: VecDeque<SeatMapEvent>,
    /// Set when [`Follower::skip_covered`] found this subscriber behind: resync next.
    behind: bool,
}

impl Follower {
    async fn next(mut self) -> Option<(SeatMapEvent, Self)> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some((event, self));
            }
            let in_step = !std::mem::take(&mut self.behind)
                && match self.receiver.recv().await {
                    Ok(frame) => self.take(frame),
                    Err(RecvError::Lagged(_)) => false,
                    Err(RecvError::Closed) => return None,
                };
            if !in_step {
                // A fresh snapshot puts this subscriber right without holding anyone up.
                // Boxed: the follower's future lives as long as the subscription, and would
                // otherwise keep room for a database read all along.
                let snapshot = Box::pin(self.resync()).await?;
                self.last = snapshot.version;
                self.skip_covered();
                return Some((SeatMapEvent::Snapshot(SeatMapSnapshot(snapshot)), self));
            }
        }
    }

    /// Queues `frame`'s deltas that are new to this subscriber when they follow on from what
    /// it has (a run that began before is cut to what comes after); false when it must
    /// resync (a gap, or the hub's order to).
    fn take(&mut self, frame: Frame) -> bool {
        let Frame::Deltas(run) = frame else {
            return false;
        };
        let (Some(first), Some(newest)) = (run.first(), run.last()) else {
            return true;
        };
        let (first, newest) = (first.version, newest.version);
        if newest <= self.last {
            return true;
        }
        if first > self.last + 1 {
            return false;
        }
        let run = if first == self.last + 1 {
            run
        } else {
            run.iter().filter(|d| d.version > self.last).cloned().collect()
        };
        self.last = newest;
        self.pending.push_back(SeatMapEvent::Delta(SeatMapDelta(run)));
        true
    }

    /// Takes at once the frames already buffered that a snapshot covers. Left in the
    /// buffer, they would take the room of the deltas that follow and make this subscriber
    /// fall behind, and resync, a second time. Deltas just past the snapshot are queued.
    fn skip_covered(&mut self) {
        loop {
            let in_step = match self.receiver.try_recv() {
                Ok(frame) => self.take(frame),
                Err(TryRecvError::Lagged(_)) => false,
                Err(TryRecvError::Empty | TryRecvError::Closed) => return,
            };
            if !in_step {
                self.behind = true;
                return;
            }
        }
    }

    /// A snapshot newer than anything sent; retried briefly, else the stream ends (the
    /// client resubscribes with `afterVersion`).
    async fn resync(&mut self) -> Option<Arc<SeatMap>> {
        for attempt in 0..3 {
            match self.hub.snapshot(self.session_id, self.last).await {
                Ok(snapshot) => return Some(snapshot),
                Err(err) => {
                    tracing::warn!(session_id = self.session_id, attempt, error = ?err.into_anyhow(), "a seat-map resync failed");
                    tokio::time::sleep(std::time::Duration::from_millis(200 << attempt)).await;
                }
            }
        }
        None
    }
}

/// One event of `seatMapUpdates`.
#[derive(Union, Clone)]
pub enum SeatMapEvent {
    Snapshot(SeatMapSnapshot),
    Delta(SeatMapDelta),
}

/// The whole seat map at one version.
#[derive(Clone)]
pub struct SeatMapSnapshot(Arc<SeatMap>);

impl SeatMapSnapshot {
    pub(crate) fn version_number(&self) -> i64 {
        self.0.version
    }
}

#[Object]
impl SeatMapSnapshot {
    async fn session_id(&self) -> ID {
        encode(NodeKind::Session, self.0.session_id)
    }
    async fn version(&self) -> i64 {
        self.0.version
    }
    async fn available_count(&self) -> i32 {
        self.0.available_count
    }
    async fn seats(&self) -> Vec<Seat> {
        self.0.seats.iter().cloned().map(Seat).collect()
    }
}

/// What changed since the version before it: one version's change, or with `coalesce`
/// the changes of several versions in order.
#[derive(Clone)]
pub struct SeatMapDelta(Run);

impl SeatMapDelta {
    pub(crate) fn version_number(&self) -> i64 {
        self.0.last().map_or(0, |d| d.version)
    }

    /// The version this delta applies to.
    pub(crate) fn applies_to_version(&self) -> i64 {
        self.0.first().map_or(0, |d| d.version - 1)
    }

    fn newest(&self) -> Option<&seat_map::SeatMapDelta> {
        self.0.last().map(|d| &**d)
    }
}

#[Object]
impl SeatMapDelta {
    async fn session_id(&self) -> ID {
        encode(NodeKind::Session, self.newest().map_or(0, |d| d.session_id))
    }
    /// The version this delta brings the map to.
    async fn version(&self) -> i64 {
        self.version_number()
    }
    /// The version this delta applies to: the version of the event before it. One less
    /// than `version`, unless the subscription coalesces.
    async fn from_version(&self) -> i64 {
        self.applies_to_version()
    }
    /// Every change, oldest first: a seat can appear more than once in a coalesced delta,
    /// and its last status is the one that stands.
    async fn changes(&self) -> Vec<SeatStatusChange> {
        self.0
            .iter()
            .flat_map(|delta| delta.changes.iter())
            .map(|change| SeatStatusChange {
                seat_id: encode(NodeKind::Seat, change.seat_id),
                status: change.status.into(),
            })
            .collect()
    }
    async fn available_count(&self) -> i32 {
        self.newest().map_or(0, |d| d.available_count)
    }
}

/// A seat's new status.
#[derive(SimpleObject)]
pub struct SeatStatusChange {
    pub seat_id: ID,
    pub status: SeatStatus,
}
