//! This instance's live waiting rooms: one task reads waiting-room events off the bus,
//! decodes each once, and hands the same `Arc` to every subscriber of that room, who picks
//! out its own ticket. Nothing here queries the database per event; a subscriber re-reads
//! its ticket only when it sees a gap in the room's ticks, or is told to.
//!
//! Room events go straight to the bus, at most once, so the last frame of a quiet spell (a
//! room selling out, an admission) could be lost with no later frame to reveal the gap. A
//! watchdog reads the ticks of the watched rooms every few seconds, one query for all of
//! them, and tells a room's subscribers to re-read when its tick is not the last one heard.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use entity::waiting_room;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect};
use tokio::sync::broadcast::{self, error::RecvError};

use crate::domain::waiting_room::RoomUpdate;
use crate::infra::bus::SharedBus;
use crate::outbox::Event;

/// Room events buffered per subscriber; one that falls further behind re-reads its ticket.
const BUFFER: usize = 64;

/// A decoded room event, with its tickets indexed by id.
#[derive(Debug)]
pub struct RoomFrame {
    pub update: RoomUpdate,
    index: HashMap<i64, usize>,
}

impl RoomFrame {
    pub fn new(update: RoomUpdate) -> Self {
        let index = update.index();
        Self { update, index }
    }

    /// What this tick says about one ticket in particular, if anything.
    pub fn ticket(&self, id: i64) -> Option<&crate::domain::waiting_room::TicketChange> {
        self.index.get(&id).map(|&i| &self.update.tickets[i])
    }
}

/// What a room's subscribers are sent.
#[derive(Debug, Clone)]
pub enum RoomSignal {
    Frame(Arc<RoomFrame>),
    /// A frame may have been lost: read your ticket again.
    Reread,
}

/// How often the watchdog compares the watched rooms' ticks with the database.
const CHECK_EVERY: Duration = Duration::from_secs(5);

struct Room {
    sender: broadcast::Sender<RoomSignal>,
    /// The tick of the last frame heard, or read by the watchdog.
    tick: Option<i64>,
}

pub struct WaitingRoomHub {
    db: DatabaseConnection,
    rooms: Mutex<HashMap<i64, Room>>,
}

impl WaitingRoomHub {
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            db,
            rooms: Mutex::new(HashMap::new()),
        }
    }

    fn rooms(&self) -> MutexGuard<'_, HashMap<i64, Room>> {
        self.rooms.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A receiver of the room's signals from now on.
    pub fn watch(&self, session_id: i64) -> broadcast::Receiver<RoomSignal> {
        self.rooms()
            .entry(session_id)
            .or_insert_with(|| Room {
                sender: broadcast::channel(BUFFER).0,
                tick: None,
            })
            .sender
            .subscribe()
    }

    /// Hears room events on the bus until it closes, and runs the watchdog; run once per
    /// instance. Listens from the call on, before the future is first polled.
    pub fn run(self: Arc<Self>, bus: SharedBus) -> impl Future<Output = ()> + Send + 'static {
        let mut events = bus.subscribe();
        async move {
            let mut watchdog = tokio::time::interval(CHECK_EVERY);
            watchdog.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    received = events.recv() => match received {
                        Ok(event) => self.deliver(&event),
                        Err(RecvError::Lagged(missed)) => {
                            // Subscribers notice the gap in ticks at the next frame, or the
                            // watchdog does.
                            tracing::warn!(missed, "the waiting-room hub fell behind the bus");
                        }
                        Err(RecvError::Closed) => return,
                    },
                    _ = watchdog.tick() => {
                        let ticks = self.read_ticks().await;
                        // Frames heard while the ticks were read are not missing.
                        loop {
                            match events.try_recv() {
                                Ok(event) => self.deliver(&event),
                                Err(broadcast::error::TryRecvError::Lagged(_)) => {}
                                Err(_) => break,
                            }
                        }
                        self.compare(ticks);
                    }
                }
            }
        }
    }

    fn deliver(&self, event: &Event) {
        let Some(update) = RoomUpdate::from_event(event) else {
            return;
        };
        let mut rooms = self.rooms();
        let Some(room) = rooms.get_mut(&update.session_id) else {
            return;
        };
        if room.sender.receiver_count() == 0 {
            rooms.remove(&update.session_id);
            return;
        }
        room.tick = room.tick.max(Some(update.tick));
        let _ = room.sender.send(RoomSignal::Frame(Arc::new(RoomFrame::new(update))));
    }

    /// The subscribers of a room just read its tick: the tick the hub holds for a room it
    /// has not heard of yet, so that the first check does not send them to read again.
    pub fn seen(&self, session_id: i64, tick: i64) {
        if let Some(room) = self.rooms().get_mut(&session_id) {
            room.tick.get_or_insert(tick);
        }
    }

    /// The ticks of the watched rooms, as stored; none when they could not be read.
    async fn read_ticks(&self) -> Vec<(i64, i64)> {
        let watched: Vec<i64> = {
            let mut rooms = self.rooms();
            rooms.retain(|_, room| room.sender.receiver_count() > 0);
            rooms.keys().copied().collect()
        };
        if watched.is_empty() {
            return Vec::new();
        }
        let read = waiting_room::Entity::find()
            .select_only()
            .column(waiting_room::Column::SessionId)
            .column(waiting_room::Column::Tick)
            .filter(waiting_room::Column::SessionId.is_in(watched))
            .into_tuple()
            .all(&self.db)
            .await;
        read.unwrap_or_else(|err| {
            tracing::warn!(error = ?err, "reading the waiting rooms' ticks failed; the next check asks again");
            Vec::new()
        })
    }

    /// Tells the subscribers of each room whose stored tick is not the last one heard to
    /// re-read.
    fn compare(&self, ticks: Vec<(i64, i64)>) {
        let mut rooms = self.rooms();
        for (session_id, tick) in ticks {
            if let Some(room) = rooms.get_mut(&session_id)
                && room.tick != Some(tick)
            {
                room.tick = Some(tick);
                let _ = room.sender.send(RoomSignal::Reread);
            }
        }
    }
}
