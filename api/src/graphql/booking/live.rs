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
use crate::graphql::ids::{NodeKind, encode, expect};
use crate::live::seat_maps::{Frame, SeatMapHub};

#[derive(Default)]
pub struct BookingSubscription;

#[Subscription]
impl BookingSubscription {
    /// The seat map of a session as it changes. The first event is a `SeatMapSnapshot`;
    /// with `afterVersion` (the last version the client saw) it is instead just the deltas
    /// since then, when the server still has them all. Then come `SeatMapDelta`s with
    /// consecutive versions. A snapshot can come again at any time (a subscriber that fell
    /// behind is resynced): replace the map with it and carry on from its version.
    async fn seat_map_updates(
        &self,
        ctx: &Context<'_>,
        session_id: ID,
        after_version: Option<i64>,
    ) -> async_graphql::Result<BoxStream<'static, SeatMapEvent>> {
        let session_id = expect(NodeKind::Session, &session_id, "sessionId")?;
        let hub = app(ctx)?.seat_maps.clone();
        Ok(follow(hub, session_id, after_version).await?.boxed())
    }
}

/// Subscribes first, then reads what the client is missing, so nothing falls in between.
async fn follow(
    hub: Arc<SeatMapHub>,
    session_id: i64,
    after: Option<i64>,
) -> ApiResult<impl Stream<Item = SeatMapEvent> + use<>> {
    let watch = hub.watch(session_id).await?;
    let mut pending = VecDeque::new();
    let replay = match after {
        Some(after) if after <= watch.version => hub.deltas(session_id, after, watch.version).await?,
        _ => None,
    };
    let last = match replay {
        Some(deltas) => {
            let last = deltas.last().map_or(after.unwrap_or(watch.version), |d| d.version);
            pending.extend(
                deltas
                    .into_iter()
                    .map(|d| SeatMapEvent::Delta(SeatMapDelta(Arc::new(d)))),
            );
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
                let snapshot = self.resync().await?;
                self.last = snapshot.version;
                self.skip_covered();
                return Some((SeatMapEvent::Snapshot(SeatMapSnapshot(snapshot)), self));
            }
        }
    }

    /// Queues `frame`'s delta when it is the next version and drops one already covered;
    /// false when this subscriber must resync (a gap, or the hub's order to).
    fn take(&mut self, frame: Frame) -> bool {
        match frame {
            Frame::Delta(delta) if delta.version <= self.last => true,
            Frame::Delta(delta) if delta.version == self.last + 1 => {
                self.last = delta.version;
                self.pending.push_back(SeatMapEvent::Delta(SeatMapDelta(delta)));
                true
            }
            Frame::Delta(_) | Frame::Resync => false,
        }
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
#[derive(Union)]
pub enum SeatMapEvent {
    Snapshot(SeatMapSnapshot),
    Delta(SeatMapDelta),
}

/// The whole seat map at one version.
pub struct SeatMapSnapshot(Arc<SeatMap>);

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

/// What changed from the version before this one.
pub struct SeatMapDelta(Arc<seat_map::SeatMapDelta>);

#[Object]
impl SeatMapDelta {
    async fn session_id(&self) -> ID {
        encode(NodeKind::Session, self.0.session_id)
    }
    /// Exactly one more than the version before it.
    async fn version(&self) -> i64 {
        self.0.version
    }
    async fn changes(&self) -> Vec<SeatStatusChange> {
        self.0
            .changes
            .iter()
            .map(|change| SeatStatusChange {
                seat_id: encode(NodeKind::Seat, change.seat_id),
                status: change.status.into(),
            })
            .collect()
    }
    async fn available_count(&self) -> i32 {
        self.0.available_count
    }
}

/// A seat's new status.
#[derive(SimpleObject)]
pub struct SeatStatusChange {
    pub seat_id: ID,
    pub status: SeatStatus,
}
