//! The transactional outbox.
//!
//! A change that others must hear about (a seat moving, a catalog edit, a reservation
//! changing state) calls [`record`] on the same transaction as the change, so the event
//! exists exactly when the change does: nothing is lost when the process dies between commit
//! and publish. The [`relay`] publishes unpublished rows to the event bus; consumers are
//! idempotent, because a row may be published more than once (at-least-once).

pub mod relay;

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult};

/// Topics events are filed under; consumers pick theirs.
pub mod topic {
    /// A change to a session's seats; `aggregate_id` is the session, `version` the seat-map
    /// version the change brought it to, the payload a [`crate::domain::seat_map::SeatChanges`].
    pub const SEAT_MAP: &str = "seat_map";
    /// A reservation changed state; `aggregate_id` is the reservation.
    pub const RESERVATION: &str = "reservation";
    /// A catalog object was created, changed or deleted.
    pub const CATALOG: &str = "catalog";
    /// A notification was stored for a user; `aggregate_id` is the user, the payload a
    /// [`crate::notify::Pushed`].
    pub const NOTIFICATION: &str = "notification";
    /// Something about an account changed that its open sockets must check (a log-out, a
    /// revoked session, a new role, dormancy); `aggregate_id` is the user, the payload a
    /// [`crate::live::sockets::AccountChange`]. Published straight to the bus, not through
    /// the outbox: it is a hint, and sockets re-check their token periodically anyway.
    pub const ACCOUNT: &str = "account";
    /// A waiting room's admission tick changed something; `aggregate_id` is the session,
    /// `version` the room's tick, the payload a [`crate::domain::waiting_room::RoomUpdate`].
    /// Published straight to the bus by the instance that ran the tick: the line itself is
    /// in the database, and subscribers re-read their ticket when they see a gap.
    pub const WAITING_ROOM: &str = "waiting_room";
    /// A session's door count changed: tickets were issued, cancelled or checked in;
    /// `aggregate_id` is the session, the payload a [`crate::domain::tickets::DoorChanged`].
    pub const TICKET: &str = "ticket";
}

/// An event as the bus carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The outbox row's id: increasing in insertion order (not strictly in commit order).
    pub id: i64,
    pub topic: String,
    pub aggregate_id: i64,
    pub version: Option<i64>,
    pub payload: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

impl Event {
    pub(crate) fn from_row(row: entity::outbox::Model) -> Self {
        // A payload we wrote ourselves is JSON; should one be damaged, consumers see null
        // rather than the relay stalling on it forever.
        let payload = serde_json::from_str(&row.payload).unwrap_or(serde_json::Value::Null);
        Self {
            id: row.id,
            topic: row.topic,
            aggregate_id: row.aggregate_id,
            version: row.version,
            payload,
            created_at: row.created_at,
        }
    }
}

/// Writes an event in the caller's transaction.
pub async fn record(
    db: &impl ConnectionTrait,
    topic: &str,
    aggregate_id: i64,
    version: Option<i64>,
    payload: &impl Serialize,
) -> ApiResult<()> {
    row(topic, aggregate_id, version, payload)?.insert(db).await?;
    Ok(())
}

/// An event ready to be written with [`record_all`].
pub fn row(
    topic: &str,
    aggregate_id: i64,
    version: Option<i64>,
    payload: &impl Serialize,
) -> ApiResult<entity::outbox::ActiveModel> {
    let payload = serde_json::to_string(payload).map_err(ApiError::internal)?;
    Ok(entity::outbox::ActiveModel {
        topic: Set(topic.to_string()),
        aggregate_id: Set(aggregate_id),
        version: Set(version),
        payload: Set(payload),
        created_at: Set(Utc::now()),
        published_at: Set(None),
        ..Default::default()
    })
}

/// Writes many events in the caller's transaction with one statement, in the order given
/// (their ids increase in that order), for changes that are applied in batches.
pub async fn record_all(
    db: &impl ConnectionTrait,
    rows: impl IntoIterator<Item = entity::outbox::ActiveModel>,
) -> ApiResult<()> {
    entity::outbox::Entity::insert_many(rows)
        .exec_without_returning(db)
        .await?;
    Ok(())
}
