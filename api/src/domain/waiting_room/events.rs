//! What one admission tick tells subscribers: one event per room and tick, serialised once
//! onto the bus and decoded once per instance (see [`crate::live::waiting_rooms`]); each
//! subscriber then reads its own ticket out of the shared, already decoded event.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::QueueState;
use serde::{Deserialize, Serialize};

use crate::outbox::{Event, topic};

/// A room after one tick. Tickets not listed in `tickets` changed only as the summary says:
/// a waiting ticket's position is `sequence − admitted_through`, and every ticket in line is
/// SOLD_OUT exactly when `sold_out` is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoomUpdate {
    pub session_id: i64,
    /// Consecutive per room: a subscriber that sees a gap re-reads its ticket.
    pub tick: i64,
    /// When the tick committed (the benchmark measures how long telling everyone takes).
    pub at: DateTime<Utc>,
    pub sold_out: bool,
    pub admitted_through: i64,
    pub admit_per_minute: i32,
    /// Tickets placed, admitted or expired in this tick.
    pub tickets: Vec<TicketChange>,
}

/// One ticket's new facts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketChange {
    pub id: i64,
    pub state: QueueState,
    pub sequence: Option<i64>,
    pub admitted_until: Option<DateTime<Utc>>,
}

impl RoomUpdate {
    pub fn to_event(&self) -> Event {
        Event {
            // Not an outbox row: consumers of outbox ids ignore this topic.
            id: 0,
            topic: topic::WAITING_ROOM.into(),
            aggregate_id: self.session_id,
            version: Some(self.tick),
            payload: serde_json::to_value(self).unwrap_or_default(),
            created_at: self.at,
        }
    }

    pub fn from_event(event: &Event) -> Option<Self> {
        if event.topic != topic::WAITING_ROOM {
            return None;
        }
        serde_json::from_value(event.payload.clone()).ok()
    }

    /// The listed changes by ticket, so that each subscriber finds its own in O(1).
    pub fn index(&self) -> HashMap<i64, usize> {
        self.tickets
            .iter()
            .enumerate()
            .map(|(i, change)| (change.id, i))
            .collect()
    }
}
