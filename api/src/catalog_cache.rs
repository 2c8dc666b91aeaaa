//! Hot catalog reads from the cache: a performance's detail and the first pages of the
//! performance list, the rows every visitor's first page view asks for.
//!
//! Entries are keyed by a catalog version kept in the shared store (in-process, or Redis so
//! that every instance agrees). A performance write bumps it right after committing, and the
//! search indexer bumps it for every catalog event it applies (so writes made through another
//! instance, or by any other writer, invalidate too): older entries become unreachable at
//! once. Only the performance rows are cached; what hangs off them (sessions, seat counts,
//! cast) still loads live through the dataloaders, so nothing live is ever served stale.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use entity::{Genre, performance};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::domain::paging::Page;
use crate::infra::kv::KeyValueStore;
use crate::metrics::{CacheLabels, Metrics};

const VERSION_KEY: &str = "catalog:version";
/// How long an entry lives. Writes invalidate at once; this only bounds memory, and how long
/// a change can take to show should its invalidation fail.
pub const TTL: Duration = Duration::from_secs(30);
/// The version counter's own expiry; far longer than any entry lives, so a counter that
/// expires and starts again cannot meet an entry from its previous run.
const VERSION_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// Makes every cached catalog read unreachable. Failing only costs freshness until the TTL,
/// so it is logged rather than returned.
pub async fn invalidate(kv: &dyn KeyValueStore) {
    if let Err(err) = kv.increment(VERSION_KEY, VERSION_LIFETIME).await {
        tracing::warn!(error = ?err, "invalidating the catalog cache failed; entries expire on their own");
    }
}

/// A cached read: `key` within the current catalog version, else `load` (stored for [`TTL`]).
pub async fn read_through<T, E, F>(kv: &dyn KeyValueStore, metrics: &Metrics, key: &str, load: F) -> Result<T, E>
where
    T: Serialize + DeserializeOwned,
    F: Future<Output = Result<T, E>>,
{
    let version = kv.get(VERSION_KEY).await.ok().flatten().unwrap_or_default();
    let key = format!("catalog:v1:{version}:{key}");
    let cached = kv
        .get(&key)
        .await
        .ok()
        .flatten()
        .and_then(|text| serde_json::from_str(&text).ok());
    let outcome = if cached.is_some() { "hit" } else { "miss" };
    metrics
        .cache_requests
        .get_or_create(&CacheLabels {
            cache: "catalog",
            outcome,
        })
        .inc();
    if let Some(value) = cached {
        return Ok(value);
    }
    let value = load.await?;
    if let Ok(text) = serde_json::to_string(&value)
        && let Err(err) = kv.set(&key, &text, TTL).await
    {
        tracing::warn!(error = ?err, "writing the catalog cache failed");
    }
    Ok(value)
}

/// A performance row as cached. The entity model is data-only and not serialisable, and
/// the cache must not depend on its layout staying the same.
#[derive(Serialize, Deserialize)]
pub struct CachedPerformance {
    id: i64,
    title: String,
    english_title: Option<String>,
    description: String,
    genre: Genre,
    minimum_age: i32,
    running_minutes: i32,
    start_date: NaiveDate,
    end_date: NaiveDate,
    poster_key: Option<String>,
    venue_id: i64,
    purged_at: Option<DateTime<Utc>>,
    rating_sum: i64,
    review_count: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<performance::Model> for CachedPerformance {
    fn from(m: performance::Model) -> Self {
        Self {
            id: m.id,
            title: m.title,
            english_title: m.english_title,
            description: m.description,
            genre: m.genre,
            minimum_age: m.minimum_age,
            running_minutes: m.running_minutes,
            start_date: m.start_date,
            end_date: m.end_date,
            poster_key: m.poster_key,
            venue_id: m.venue_id,
            purged_at: m.purged_at,
            rating_sum: m.rating_sum,
            review_count: m.review_count,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

impl From<CachedPerformance> for performance::Model {
    fn from(c: CachedPerformance) -> Self {
        Self {
            id: c.id,
            title: c.title,
            english_title: c.english_title,
            description: c.description,
            genre: c.genre,
            minimum_age: c.minimum_age,
            running_minutes: c.running_minutes,
            start_date: c.start_date,
            end_date: c.end_date,
            poster_key: c.poster_key,
            venue_id: c.venue_id,
            purged_at: c.purged_at,
            rating_sum: c.rating_sum,
            review_count: c.review_count,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// A page of the performance list as cached.
#[derive(Serialize, Deserialize)]
pub struct CachedPage {
    items: Vec<CachedPerformance>,
    has_next_page: bool,
}

impl From<Page<performance::Model>> for CachedPage {
    fn from(page: Page<performance::Model>) -> Self {
        Self {
            items: page.items.into_iter().map(Into::into).collect(),
            has_next_page: page.has_next_page,
        }
    }
}

impl From<CachedPage> for Page<performance::Model> {
    fn from(page: CachedPage) -> Self {
        Self {
            items: page.items.into_iter().map(Into::into).collect(),
            has_next_page: page.has_next_page,
        }
    }
}
