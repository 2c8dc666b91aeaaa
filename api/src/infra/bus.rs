//! The event bus: how an event published on one instance reaches the consumers of every
//! instance (seat-map subscriptions, the search indexer, the notification dispatcher).
//!
//! In-process (a tokio broadcast channel) by default; Redis pub/sub when configured. Either
//! way consumers read a local broadcast channel, so a slow consumer lags (and is told so by
//! [`broadcast::error::RecvError::Lagged`]) instead of holding anyone up. Delivery is
//! at-most-once per consumer: consumers that must not miss anything (they all must) fill
//! gaps from the database, which is where the truth is.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

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
    /// [`crate::domain::notify::Pushed`].
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

/// Events buffered per consumer before it lags.
const LOCAL_CAPACITY: usize = 4096;

#[async_trait]
pub trait EventBus: Send + Sync {
    /// Sends events to every instance's consumers, in the order given.
    async fn publish(&self, events: &[Event]) -> anyhow::Result<()>;
    /// A receiver of every event from now on.
    fn subscribe(&self) -> broadcast::Receiver<Arc<Event>>;
    /// Which backend this is, for logs.
    fn backend(&self) -> &'static str;
}

pub type SharedBus = Arc<dyn EventBus>;

/// Connects to Redis when a URL is given, else keeps events in this process.
pub async fn connect(redis_url: Option<&str>, key_prefix: &str) -> anyhow::Result<SharedBus> {
    match redis_url {
        Some(url) => Ok(Arc::new(RedisBus::connect(url, key_prefix).await?)),
        None => Ok(Arc::new(LocalBus::new())),
    }
}

/// Events stay in this process: right for one instance.
pub struct LocalBus {
    sender: broadcast::Sender<Arc<Event>>,
}

impl LocalBus {
    pub fn new() -> Self {
        Self {
            sender: broadcast::channel(LOCAL_CAPACITY).0,
        }
    }
}

impl Default for LocalBus {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl EventBus for LocalBus {
    async fn publish(&self, events: &[Event]) -> anyhow::Result<()> {
        for event in events {
            // No receiver is not an error: nobody is listening yet.
            let _ = self.sender.send(Arc::new(event.clone()));
        }
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.sender.subscribe()
    }

    fn backend(&self) -> &'static str {
        "in-process"
    }
}

/// Events go through one Redis pub/sub channel, so every instance sees every event. A task
/// listens on it and feeds this instance's local channel, reconnecting when Redis goes away.
pub struct RedisBus {
    connection: ConnectionManager,
    channel: String,
    local: broadcast::Sender<Arc<Event>>,
    listener: tokio::task::JoinHandle<()>,
}

impl RedisBus {
    pub async fn connect(url: &str, key_prefix: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url).context("the Redis URL is malformed")?;
        let connection = super::kv::connection_manager(client.clone())
            .await
            .context("cannot connect to Redis; check REDIS_URL and that the server is running")?;
        let channel = format!("{key_prefix}events");
        let local = broadcast::channel(LOCAL_CAPACITY).0;
        // Subscribe before returning, so that nothing published after `connect` is missed.
        let pubsub = subscribe(&client, &channel).await?;
        let listener = tokio::spawn(listen(client, channel.clone(), pubsub, local.clone()));
        Ok(Self {
            connection,
            channel,
            local,
            listener,
        })
    }
}

impl Drop for RedisBus {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

async fn subscribe(client: &redis::Client, channel: &str) -> anyhow::Result<redis::aio::PubSub> {
    let mut pubsub = client
        .get_async_pubsub()
        .await
        .context("cannot open a Redis pub/sub connection")?;
    pubsub
        .subscribe(channel)
        .await
        .context("cannot subscribe to the event channel")?;
    Ok(pubsub)
}

async fn listen(
    client: redis::Client,
    channel: String,
    mut pubsub: redis::aio::PubSub,
    local: broadcast::Sender<Arc<Event>>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let mut messages = pubsub.into_on_message();
        while let Some(message) = messages.next().await {
            backoff = Duration::from_millis(100);
            let decoded = message
                .get_payload::<String>()
                .map_err(anyhow::Error::from)
                .and_then(|text| serde_json::from_str::<Event>(&text).map_err(anyhow::Error::from));
            match decoded {
                Ok(event) => {
                    let _ = local.send(Arc::new(event));
                }
                Err(err) => tracing::warn!(error = %err, "an event on the Redis bus could not be read; skipped"),
            }
        }
        // Events published while we were away are missed here; consumers fill such gaps from
        // the database.
        tracing::warn!("the Redis event subscription ended; reconnecting");
        loop {
            tokio::time::sleep(backoff).await;
            match subscribe(&client, &channel).await {
                Ok(fresh) => {
                    pubsub = fresh;
                    break;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "reconnecting to the Redis event channel failed; retrying");
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}

#[async_trait]
impl EventBus for RedisBus {
    async fn publish(&self, events: &[Event]) -> anyhow::Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for event in events {
            pipe.cmd("PUBLISH")
                .arg(&self.channel)
                .arg(serde_json::to_string(event)?)
                .ignore();
        }
        let mut conn = self.connection.clone();
        pipe.query_async::<()>(&mut conn).await?;
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.local.subscribe()
    }

    fn backend(&self) -> &'static str {
        "redis"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: i64) -> Event {
        Event {
            id,
            topic: "seat_map".into(),
            aggregate_id: 7,
            version: Some(id),
            payload: serde_json::json!({ "n": id }),
            created_at: chrono::Utc::now(),
        }
    }

    #[tokio::test]
    async fn the_local_bus_delivers_in_order_to_every_subscriber() {
        let bus = LocalBus::new();
        let mut first = bus.subscribe();
        let mut second = bus.subscribe();
        bus.publish(&[event(1), event(2)]).await.expect("publish");
        for receiver in [&mut first, &mut second] {
            assert_eq!(receiver.recv().await.expect("event").id, 1);
            assert_eq!(receiver.recv().await.expect("event").id, 2);
        }
    }
}
