//! The transactional outbox.
//!
//! A change that others must hear about (a seat moving, a catalog edit, a reservation
//! changing state) calls [`record`] on the same transaction as the change, so the event
//! exists exactly when the change does: nothing is lost when the process dies between commit
//! and publish. The [`relay`] publishes unpublished rows to the event bus; consumers are
//! idempotent, because a row may be published more than once (at-least-once).

pub mod relay;

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set};
use serde::Serialize;

use crate::error::{ApiError, ApiResult};

pub use crate::infra::bus::{Event, topic};

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
