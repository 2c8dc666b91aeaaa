//! The waiting room: the box office configures it, buyers join it and follow their place
//! in line live (see [`crate::domain::waiting_room`]).

use std::time::Duration;

use async_graphql::{Context, Enum, ID, InputObject, Object, Subscription};
use chrono::{DateTime, Utc};
use entity::{waiting_room, waiting_room_ticket};
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use sea_orm::DatabaseConnection;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::Instant;

use crate::domain::waiting_room::{self as rooms, RoomSettings, TicketView};
use crate::error::ApiResult;
use crate::graphql::audit::AdminWrite;
use crate::graphql::fanout::{self, SharedEvent};
use crate::graphql::guard::{Role, RoleGuard, principal};
use crate::graphql::{GqlResult, app};
use crate::ids::UserId;
use crate::ids::{NodeKind, encode, expect, expect_id};
use crate::live::waiting_rooms::{RoomFrame, RoomSignal};
use crate::state::AppState;

/// A session's waiting room as the box office set it, with its line.
pub struct WaitingRoom(pub waiting_room::Model);

#[Object]
impl WaitingRoom {
    /// While on, holding seats of the session needs an ADMITTED ticket.
    async fn enabled(&self) -> bool {
        self.0.enabled
    }
    async fn admit_per_minute(&self) -> i32 {
        self.0.admit_per_minute
    }
    /// How long an admitted buyer has to hold.
    async fn admission_minutes(&self) -> i32 {
        self.0.admission_minutes
    }
    /// Buyers who join earlier are drawn in random order at this moment.
    async fn opens_at(&self) -> DateTime<Utc> {
        self.0.opens_at
    }
    /// Set while the session has no seat left: everyone in line is SOLD_OUT until seats
    /// come back.
    async fn sold_out(&self) -> bool {
        self.0.sold_out
    }
    /// Buyers in line (WAITING or SOLD_OUT).
    async fn waiting(&self, ctx: &Context<'_>) -> GqlResult<u64> {
        Ok(rooms::head_counts(&app(ctx)?.db, self.0.session_id, Utc::now())
            .await?
            .0)
    }
    /// Buyers admitted whose window to hold is still open.
    async fn admitted(&self, ctx: &Context<'_>) -> GqlResult<u64> {
        Ok(rooms::head_counts(&app(ctx)?.db, self.0.session_id, Utc::now())
            .await?
            .1)
    }
}

/// Where a ticket stands.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum WaitingRoomTicketState {
    /// In line.
    Waiting,
    /// May hold seats until `admittedUntil`.
    Admitted,
    /// The session sold out; the ticket keeps its place and is WAITING again if seats come
    /// back.
    SoldOut,
    /// Admitted, but no hold was made in time; joining again goes to the end of the line.
    Expired,
}

impl From<entity::QueueState> for WaitingRoomTicketState {
    fn from(state: entity::QueueState) -> Self {
        match state {
            entity::QueueState::Waiting => Self::Waiting,
            entity::QueueState::Admitted => Self::Admitted,
            entity::QueueState::SoldOut => Self::SoldOut,
            entity::QueueState::Expired => Self::Expired,
        }
    }
}

/// A buyer's place in a session's waiting room.
#[derive(Clone)]
pub struct WaitingRoomTicket(TicketView);

#[Object]
impl WaitingRoomTicket {
    async fn id(&self) -> ID {
        encode(NodeKind::WaitingRoomTicket, self.0.id)
    }
    async fn session_id(&self) -> ID {
        encode(NodeKind::Session, self.0.session_id)
    }
    async fn state(&self) -> WaitingRoomTicketState {
        self.0.state.into()
    }
    /// 1 for the next buyer admitted. Null until the ticket is placed in line (within a
    /// tick of joining; for buyers who joined before `opensAt`, when the room opens and
    /// their order is drawn) and once it is no longer in line.
    async fn position(&self) -> Option<i64> {
        self.0.position
    }
    /// Buyers ahead in line.
    async fn ahead(&self) -> Option<i64> {
        self.0.ahead()
    }
    /// From the admission rate alone; admission also waits for seats, so it may be longer.
    async fn estimated_wait_seconds(&self) -> Option<i64> {
        self.0.estimated_wait_seconds
    }
    /// For an ADMITTED ticket: holds are accepted until then.
    async fn admitted_until(&self) -> Option<DateTime<Utc>> {
        self.0.admitted_until
    }
}

/// The box office's settings for a session's waiting room.
#[derive(InputObject)]
pub struct WaitingRoomInput {
    pub enabled: bool,
    /// Admissions in any 60 seconds, at most (1 to 1,000,000).
    pub admit_per_minute: i32,
    /// How long an admitted buyer has to hold (1 to 1,440).
    pub admission_minutes: i32,
    /// Buyers who join before it are drawn in random order at it; first come, first
    /// served after.
    pub opens_at: DateTime<Utc>,
}

#[derive(Default)]
pub struct WaitingRoomMutation;

#[Object]
impl WaitingRoomMutation {
    /// Creates or changes a session's waiting room. Turning it off lets anyone hold again;
    /// the line is kept for when it is turned on.
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn configure_waiting_room(
        &self,
        ctx: &Context<'_>,
        session_id: ID,
        input: WaitingRoomInput,
    ) -> GqlResult<WaitingRoom> {
        let session_id = expect(NodeKind::Session, &session_id, "sessionId")?;
        let settings = RoomSettings {
            enabled: input.enabled,
            admit_per_minute: input.admit_per_minute,
            admission_minutes: input.admission_minutes,
            opens_at: input.opens_at,
        };
        let write = AdminWrite::begin(ctx).await?;
        let room = rooms::configure(write.txn(), session_id, settings).await?;
        write
            .commit(ctx, "configureWaitingRoom", NodeKind::Session, Some(session_id))
            .await?;
        Ok(WaitingRoom(room))
    }

    /// Joins the session's waiting room; joining again returns the same ticket (an EXPIRED
    /// one goes back to the end of the line). NOT_FOUND when the session has no waiting
    /// room on.
    #[graphql(guard = "RoleGuard(Role::User)")]
    async fn join_waiting_room(&self, ctx: &Context<'_>, session_id: ID) -> GqlResult<WaitingRoomTicket> {
        let session_id = expect_id(&session_id, "sessionId")?;
        let user_id = principal(ctx)?.user_id;
        Ok(WaitingRoomTicket(
            rooms::join(&app(ctx)?.db, session_id, user_id).await?,
        ))
    }
}

#[derive(Default)]
pub struct WaitingRoomSubscription;

#[Subscription]
impl WaitingRoomSubscription {
    /// The caller's ticket now, then each time it changes: a new position at most once per
    /// `booking.waiting_room_event_interval_ms` (a second by default), a new state at once.
    #[graphql(guard = "RoleGuard(Role::User)")]
    async fn waiting_room_updates(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
    ) -> async_graphql::Result<BoxStream<'static, WaitingRoomTicket>> {
        if let Some(ticket) = fanout::preset(ctx, |event| match event {
            SharedEvent::WaitingRoom(ticket) => Some(ticket),
            _ => None,
        }) {
            expect(NodeKind::WaitingRoomTicket, &ticket_id, "ticketId")?;
            return Ok(futures::stream::iter(ticket).boxed());
        }
        Ok(events(app(ctx)?, &ticket_id, principal(ctx)?.user_id).await?.boxed())
    }
}

/// The ticket `ticket_id` of `user_id` now, then each time it changes.
pub(crate) async fn events(
    app: &AppState,
    ticket_id: &ID,
    user_id: UserId,
) -> ApiResult<impl Stream<Item = WaitingRoomTicket> + Send + use<>> {
    let ticket_id = expect(NodeKind::WaitingRoomTicket, ticket_id, "ticketId")?;
    let (ticket, _) = rooms::ticket_and_room(&app.db, ticket_id, user_id).await?;
    // Watch first, then read, so that nothing falls in between.
    let frames = app.waiting_rooms.watch(ticket.session_id);
    let (ticket, room) = rooms::ticket_and_room(&app.db, ticket_id, user_id).await?;
    app.waiting_rooms.seen(ticket.session_id, room.tick);
    let follower = Follower {
        db: app.db.clone(),
        user_id,
        frames,
        view: TicketView::new(&ticket, room.admitted_through, room.admit_per_minute),
        ticket,
        room,
        sent: None,
        sent_at: None,
        stale: false,
        interval: Duration::from_millis(app.settings.booking.waiting_room_event_interval_ms),
    };
    Ok(futures::stream::unfold(follower, Follower::next))
}

/// One subscriber: its ticket as last known, kept up to date from the room's shared
/// frames.
struct Follower {
    db: DatabaseConnection,
    user_id: UserId,
    frames: broadcast::Receiver<RoomSignal>,
    ticket: waiting_room_ticket::Model,
    room: waiting_room::Model,
    view: TicketView,
    sent: Option<TicketView>,
    sent_at: Option<Instant>,
    interval: Duration,
    /// Set when a re-read failed: what we have may be stale, so it is tried again soon
    /// rather than at a frame that may never come.
    stale: bool,
}

/// How soon a failed re-read is tried again.
const RETRY_REREAD: Duration = Duration::from_secs(1);

impl Follower {
    async fn next(mut self) -> Option<(WaitingRoomTicket, Self)> {
        loop {
            if self.sent.as_ref() != Some(&self.view) {
                let state_changed = self.sent.as_ref().is_none_or(|sent| sent.state != self.view.state);
                let due = self.sent_at.map_or(Instant::now(), |at| at + self.interval);
                if state_changed || Instant::now() >= due {
                    self.sent = Some(self.view.clone());
                    self.sent_at = Some(Instant::now());
                    return Some((WaitingRoomTicket(self.view.clone()), self));
                }
                // A position change waits for its turn, or for a newer frame to replace it.
                tokio::select! {
                    frame = self.frames.recv() => self.take(frame).await?,
                    () = tokio::time::sleep_until(due) => {}
                }
            } else if self.stale {
                tokio::select! {
                    frame = self.frames.recv() => self.take(frame).await?,
                    () = tokio::time::sleep(RETRY_REREAD) => Box::pin(self.reread()).await,
                }
            } else {
                let frame = self.frames.recv().await;
                self.take(frame).await?;
            }
        }
    }

    /// Applies one frame; `None` ends the stream (the hub is gone).
    async fn take(&mut self, signal: Result<RoomSignal, RecvError>) -> Option<()> {
        match signal {
            Ok(RoomSignal::Frame(frame)) if frame.update.tick <= self.room.tick => {}
            Ok(RoomSignal::Frame(frame)) if frame.update.tick == self.room.tick + 1 => self.apply(&frame),
            // A gap, a lag, or the hub's watchdog saw a tick we did not hear: the database
            // has the truth.
            Ok(RoomSignal::Frame(_) | RoomSignal::Reread) | Err(RecvError::Lagged(_)) => Box::pin(self.reread()).await,
            Err(RecvError::Closed) => return None,
        }
        Some(())
    }

    fn apply(&mut self, frame: &RoomFrame) {
        let update = &frame.update;
        self.room.tick = update.tick;
        self.room.sold_out = update.sold_out;
        self.room.admitted_through = update.admitted_through;
        self.room.admit_per_minute = update.admit_per_minute;
        if let Some(change) = frame.ticket(self.ticket.id) {
            self.ticket.state = change.state;
            self.ticket.sequence = change.sequence;
            self.ticket.admitted_until = change.admitted_until;
        } else if matches!(
            self.ticket.state,
            entity::QueueState::Waiting | entity::QueueState::SoldOut
        ) {
            self.ticket.state = if update.sold_out {
                entity::QueueState::SoldOut
            } else {
                entity::QueueState::Waiting
            };
        }
        self.view = TicketView::new(&self.ticket, self.room.admitted_through, self.room.admit_per_minute);
    }

    /// A frame was missed: the database has the truth. On failure, keep what we have and
    /// try again in a moment.
    async fn reread(&mut self) {
        match reread(&self.db, self.ticket.id, self.user_id).await {
            Ok((ticket, room)) => {
                self.view = TicketView::new(&ticket, room.admitted_through, room.admit_per_minute);
                self.ticket = ticket;
                self.room = room;
                self.stale = false;
            }
            Err(err) => {
                self.stale = true;
                tracing::warn!(error = ?err.into_anyhow(), "re-reading a waiting-room ticket failed; trying again shortly")
            }
        }
    }
}

async fn reread(
    db: &DatabaseConnection,
    ticket_id: i64,
    user_id: UserId,
) -> ApiResult<(waiting_room_ticket::Model, waiting_room::Model)> {
    rooms::ticket_and_room(db, ticket_id, user_id).await
}
