//! Catalog changes announced through the outbox, so that every instance's search index (and
//! cache) hears about them. Written by the domain functions themselves, inside the caller's
//! transaction, so that no writer (admin API, demo loader, jobs) can forget one.

use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};

use crate::error::ApiResult;
use crate::outbox::{self, topic};

/// Which catalog object changed. A consumer reloads it (and what embeds it) from the database,
/// so the event carries no copy of the data that could go stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CatalogObject {
    Performance,
    CastMember,
    Venue,
}

/// The payload of a [`topic::CATALOG`] event; `aggregate_id` is the object's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogChange {
    pub object: CatalogObject,
    pub id: i64,
}

impl CatalogChange {
    /// Reads the change an outbox event describes; `None` for other topics or a payload this
    /// version does not understand (a newer instance's, during a rolling upgrade).
    pub fn from_event(event: &outbox::Event) -> Option<Self> {
        if event.topic != topic::CATALOG {
            return None;
        }
        serde_json::from_value(event.payload.clone()).ok()
    }
}

/// Records that `object` `id` was created, changed or deleted, in the caller's transaction.
pub async fn record_change(db: &impl ConnectionTrait, object: CatalogObject, id: i64) -> ApiResult<()> {
    outbox::record(db, topic::CATALOG, id, None, &CatalogChange { object, id }).await
}
