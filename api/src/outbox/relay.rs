//! The outbox relay: publishes unpublished outbox rows to the event bus, then stamps them.
//!
//! It runs on every instance. On PostgreSQL a relay claims its batch with
//! `FOR UPDATE SKIP LOCKED`, so two instances do not publish the same rows at the same time;
//! SQLite has one writer anyway. A crash between publishing and stamping publishes the rows
//! again, which consumers tolerate (they are idempotent). Published rows are kept for a
//! retention period: seat-map rows are the delta log that subscribers resume from.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use entity::outbox;
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use tokio::sync::Notify;

use super::Event;
use crate::infra::bus::SharedBus;

/// Rows published per round trip.
const BATCH: u64 = 200;

/// A consumer that must see every event exactly as often as the outbox row is published:
/// it runs inside the relay's transaction, before the rows are marked published, so what
/// it writes commits with that mark (and is rolled back, to be redone, without it). It must
/// be idempotent: a crash after publishing but before the commit publishes the rows again.
#[async_trait::async_trait]
pub trait DurableConsumer: Send + Sync {
    async fn consume(&self, txn: &DatabaseTransaction, events: &[Event]) -> anyhow::Result<()>;
}

pub type Consumers = Arc<Vec<Box<dyn DurableConsumer>>>;

/// Wakes the relay as soon as a transaction with outbox rows has committed, instead of
/// waiting for its next poll. Cheap to clone.
#[derive(Clone, Default)]
pub struct RelayWaker(Arc<Notify>);

impl RelayWaker {
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

#[derive(Debug, Clone, Copy)]
pub struct RelaySettings {
    /// How often to look for rows written by other instances (or missed wake-ups).
    pub poll_every: Duration,
    /// How long published rows are kept.
    pub retention: chrono::Duration,
}

/// Runs the relay until the task is aborted.
pub fn spawn(
    db: DatabaseConnection,
    bus: SharedBus,
    consumers: Consumers,
    waker: RelayWaker,
    settings: RelaySettings,
) -> tokio::task::JoinHandle<()> {
    crate::metrics::spawn_background(async move {
        let mut last_purge = tokio::time::Instant::now();
        loop {
            tokio::select! {
                () = waker.0.notified() => {}
                () = tokio::time::sleep(settings.poll_every) => {}
            }
            loop {
                match publish_batch(&db, &bus, &consumers).await {
                    Ok(n) if n as u64 == BATCH => continue,
                    Ok(_) => break,
                    Err(err) => {
                        tracing::warn!(error = ?err, "publishing outbox events failed; will retry");
                        tokio::time::sleep(settings.poll_every.max(Duration::from_millis(500))).await;
                        break;
                    }
                }
            }
            if last_purge.elapsed() > Duration::from_secs(60) {
                last_purge = tokio::time::Instant::now();
                if let Err(err) = purge(&db, settings.retention).await {
                    tracing::warn!(error = ?err, "purging old outbox rows failed; will retry");
                }
            }
        }
    })
}

/// Publishes one batch of unpublished rows; returns how many.
pub async fn publish_batch(db: &DatabaseConnection, bus: &SharedBus, consumers: &Consumers) -> anyhow::Result<usize> {
    let txn = crate::db::begin_write(db).await?;
    let rows = outbox::Entity::find()
        .filter(outbox::Column::PublishedAt.is_null())
        .order_by_asc(outbox::Column::Id)
        .limit(BATCH)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .all(&txn)
        .await?;
    if rows.is_empty() {
        txn.rollback().await?;
        return Ok(0);
    }
    let ids: Vec<i64> = rows.iter().map(|row| row.id).collect();
    let events: Vec<Event> = rows.into_iter().map(Event::from_row).collect();
    for consumer in consumers.iter() {
        consumer.consume(&txn, &events).await?;
    }
    bus.publish(&events).await?;
    outbox::Entity::update_many()
        .col_expr(outbox::Column::PublishedAt, Expr::value(Utc::now()))
        .filter(outbox::Column::Id.is_in(ids))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(events.len())
}

/// How long the oldest unpublished event has been waiting (zero when there is none): how far
/// the relay, and the notifications written with it, are behind.
pub async fn lag(db: &DatabaseConnection) -> anyhow::Result<Duration> {
    let oldest: Option<chrono::DateTime<Utc>> = outbox::Entity::find()
        .select_only()
        .column_as(outbox::Column::CreatedAt.min(), "oldest")
        .filter(outbox::Column::PublishedAt.is_null())
        .into_tuple()
        .one(db)
        .await?
        .flatten();
    Ok(oldest.map_or(Duration::ZERO, |at| (Utc::now() - at).to_std().unwrap_or_default()))
}

async fn purge(db: &DatabaseConnection, retention: chrono::Duration) -> anyhow::Result<()> {
    let removed = outbox::Entity::delete_many()
        .filter(outbox::Column::PublishedAt.is_not_null())
        .filter(outbox::Column::CreatedAt.lt(Utc::now() - retention))
        .exec(db)
        .await?
        .rows_affected;
    if removed > 0 {
        tracing::info!(removed, "old outbox rows purged");
    }
    Ok(())
}
