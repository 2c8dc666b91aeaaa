//! This instance's live waiting rooms: one task reads waiting-room events off the bus,
//! decodes each once, and hands the same `Arc` to every subscriber of that room, who picks
//! out its own ticket. Nothing here queries the database per event; a subscriber re-reads
//! its ticket only when it sees a gap in the room's ticks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

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

#[derive(Default)]
pub struct WaitingRoomHub {
    rooms: Mutex<HashMap<i64, broadcast::Sender<Arc<RoomFrame>>>>,
}

impl WaitingRoomHub {
    pub fn new() -> Self {
        Self::default()
    }

    /// A receiver of the room's frames from now on.
    pub fn watch(&self, session_id: i64) -> broadcast::Receiver<Arc<RoomFrame>> {
        let mut rooms = self.rooms.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        rooms
            .entry(session_id)
            .or_insert_with(|| broadcast::channel(BUFFER).0)
            .subscribe()
    }

    /// Hears room events on the bus until it closes; run once per instance. Listens from the
    /// call on, before the future is first polled.
    pub fn run(self: Arc<Self>, bus: SharedBus) -> impl Future<Output = ()> + Send + 'static {
        let mut events = bus.subscribe();
        async move {
            loop {
                match events.recv().await {
                    Ok(event) => self.deliver(&event),
                    Err(RecvError::Lagged(missed)) => {
                        // Subscribers notice the gap in ticks at the next frame and re-read.
                        tracing::warn!(missed, "the waiting-room hub fell behind the bus");
                    }
                    Err(RecvError::Closed) => return,
                }
            }
        }
    }

    fn deliver(&self, event: &Event) {
        let Some(update) = RoomUpdate::from_event(event) else {
            return;
        };
        let mut rooms = self.rooms.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(sender) = rooms.get(&update.session_id) else {
            return;
        };
        if sender.receiver_count() == 0 {
            rooms.remove(&update.session_id);
            return;
        }
        let _ = sender.send(Arc::new(RoomFrame::new(update)));
    }
}
