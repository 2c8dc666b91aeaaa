//! Hot catalog reads from the cache: a performance's detail and the first pages of the
//! performance list, the rows every visitor's first page view asks for.
//!
//! Entries are keyed by a catalog version kept in the shared store (in-process, or Redis so
//! that every instance agrees). A performance write bumps it right after committing, and the
//! search indexer bumps it for every catalog event it applies (so writes made through another
//! instance, or by any other writer, invalidate too): older entries become unreachable at
//! once. Cached are the performance rows and, with a list page, what the list page shows of
//! each (its venue, its price tiers), all read in one snapshot; what is live (sessions, seat
//! counts) and the cast still load through the dataloaders, so nothing live is ever served
//! stale. Session writes invalidate too, since price tiers come from session prices.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use entity::{Genre, performance, venue};
use sea_orm::DatabaseConnection;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::domain::paging::{Page, PageRequest};
use crate::domain::performances::{self, PerformanceFilter};
use crate::domain::venues;
use crate::error::ApiResult;
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

/// The loads in flight on this instance, one per entry. When an entry lapses, or a write
/// makes every entry unreachable, the requests that miss it together wait for one load and
/// are served what it loaded, instead of each reading the same rows: on sale day that would
/// be a burst of identical snapshots at the moment the catalog changes.
#[derive(Default)]
pub struct Loads {
    /// Each missed entry's gate, and how many requests hold or wait for it (it goes when the
    /// last lets go).
    gates: Mutex<HashMap<String, (Gate, usize)>>,
}

/// Taken by the request whose turn it is to load an entry; holds how its load went, so that
/// the requests waiting behind it do not each load again in turn: they are served what it
/// loaded (even when storing it failed), or, when it failed, load at once side by side as
/// they would without the gate (one after another, each would wait out the failure in turn).
type Gate = Arc<tokio::sync::Mutex<Option<Loaded>>>;

enum Loaded {
    /// The entry, serialised as it is stored (whether storing it worked or not).
    Text(String),
    Failed,
}

impl Loads {
    fn enter(&self, key: &str) -> InFlight<'_> {
        let mut gates = self.gates.lock().unwrap_or_else(PoisonError::into_inner);
        let (gate, holders) = gates.entry(key.to_owned()).or_default();
        *holders += 1;
        InFlight {
            gate: gate.clone(),
            loads: self,
            key: key.to_owned(),
        }
    }
}

/// A request's hold on an entry's gate; let go when dropped, also when the request is.
struct InFlight<'a> {
    loads: &'a Loads,
    key: String,
    gate: Gate,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut gates = self.loads.gates.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, holders)) = gates.get_mut(&self.key) {
            *holders -= 1;
            if *holders == 0 {
                gates.remove(&self.key);
            }
        }
    }
}

/// A cached read: `key` within the current catalog version, else `load` (stored for
/// [`TTL`]), one load at a time per entry on this instance unless one failed (see [`Loads`]).
pub async fn read_through<T, E, F>(
    kv: &dyn KeyValueStore,
    loads: &Loads,
    metrics: &Metrics,
    key: &str,
    load: F,
) -> Result<T, E>
where
    T: Serialize + DeserializeOwned,
    F: Future<Output = Result<T, E>>,
{
    let version = kv.get(VERSION_KEY).await.ok().flatten().unwrap_or_default();
    let key = format!("catalog:v2:{version}:{key}");
    if let Some(value) = cached(kv, metrics, &key).await {
        return Ok(value);
    }
    let in_flight = loads.enter(&key);
    let mut turn = in_flight.gate.lock().await;
    if matches!(*turn, Some(Loaded::Failed)) {
        drop(turn);
        return load_and_store(kv, metrics, &key, load).await.map(|(value, _)| value);
    }
    // Whoever had the turn before loaded it (and tried to store it before letting go).
    if let Some(Loaded::Text(text)) = turn.as_ref()
        && let Ok(value) = serde_json::from_str(text)
    {
        count(metrics, "hit");
        return Ok(value);
    }
    if let Some(value) = cached(kv, metrics, &key).await {
        return Ok(value);
    }
    let loaded = load_and_store(kv, metrics, &key, load).await;
    match &loaded {
        Ok((_, Some(text))) => *turn = Some(Loaded::Text(text.clone())),
        // Not serialisable (never so for the types cached): the next in turn loads again.
        Ok((_, None)) => {}
        Err(_) => *turn = Some(Loaded::Failed),
    }
    loaded.map(|(value, _)| value)
}

/// Counts a miss, loads, and stores what it loaded; returns it with its serialised text.
async fn load_and_store<T, E>(
    kv: &dyn KeyValueStore,
    metrics: &Metrics,
    key: &str,
    load: impl Future<Output = Result<T, E>>,
) -> Result<(T, Option<String>), E>
where
    T: Serialize,
{
    count(metrics, "miss");
    let value = load.await?;
    let text = serde_json::to_string(&value).ok();
    if let Some(text) = &text {
        store(kv, key, text).await;
    }
    Ok((value, text))
}

/// The entry at `key`, counted as a hit when there is one (a miss is counted by the load).
async fn cached<T: DeserializeOwned>(kv: &dyn KeyValueStore, metrics: &Metrics, key: &str) -> Option<T> {
    let value = kv
        .get(key)
        .await
        .ok()
        .flatten()
        .and_then(|text| serde_json::from_str(&text).ok())?;
    count(metrics, "hit");
    Some(value)
}

fn count(metrics: &Metrics, outcome: &'static str) {
    metrics
        .cache_requests
        .get_or_create(&CacheLabels {
            cache: "catalog",
            outcome,
        })
        .inc();
}

/// Stores a loaded entry. Failing only costs later requests a load, so it is logged.
async fn store(kv: &dyn KeyValueStore, key: &str, text: &str) {
    if let Err(err) = kv.set(key, text, TTL).await {
        tracing::warn!(error = ?err, "writing the catalog cache failed");
    }
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

/// A venue row as cached.
#[derive(Serialize, Deserialize)]
struct CachedVenue {
    id: i64,
    name: String,
    address: String,
    region: String,
    seat_count: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<venue::Model> for CachedVenue {
    fn from(m: venue::Model) -> Self {
        Self {
            id: m.id,
            name: m.name,
            address: m.address,
            region: m.region,
            seat_count: m.seat_count,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

impl From<CachedVenue> for venue::Model {
    fn from(c: CachedVenue) -> Self {
        Self {
            id: c.id,
            name: c.name,
            address: c.address,
            region: c.region,
            seat_count: c.seat_count,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// A first page of the performance list as cached: the rows, and the venues and price tiers
/// of those performances, all read in one snapshot.
#[derive(Serialize, Deserialize)]
pub struct CachedPage {
    items: Vec<CachedPerformance>,
    has_next_page: bool,
    venues: Vec<CachedVenue>,
    /// Each performance's price tiers; a performance without sessions has none listed.
    price_tiers: Vec<(i64, Vec<(String, i32)>)>,
}

/// A list page with what its rows came with: see [`CachedPage`].
pub struct ListedPage {
    pub page: Page<performance::Model>,
    pub venues: HashMap<i64, venue::Model>,
    pub price_tiers: HashMap<i64, Vec<(String, i32)>>,
}

impl From<CachedPage> for ListedPage {
    fn from(cached: CachedPage) -> Self {
        Self {
            page: Page {
                items: cached.items.into_iter().map(Into::into).collect(),
                has_next_page: cached.has_next_page,
            },
            venues: cached
                .venues
                .into_iter()
                .map(|venue| (venue.id, venue.into()))
                .collect(),
            price_tiers: cached.price_tiers.into_iter().collect(),
        }
    }
}

/// Reads a first page of the performance list with its rows' venues and price tiers, in one
/// snapshot of the primary (an entry is never older than the event that cleared the last).
pub async fn load_first_page(
    db: &DatabaseConnection,
    filter: &PerformanceFilter,
    page: PageRequest<NaiveDate>,
) -> ApiResult<CachedPage> {
    let snapshot = crate::db::begin_snapshot(db).await?;
    let rows = performances::list_performances(&snapshot, filter, page).await?;
    let venue_ids: HashSet<i64> = rows.items.iter().map(|row| row.venue_id).collect();
    let venues = venues::find_venues(&snapshot, venue_ids).await?;
    let price_tiers = performances::price_tiers(&snapshot, rows.items.iter().map(|row| row.id)).await?;
    if let Err(err) = snapshot.commit().await {
        // Nothing was written; what was read stands.
        tracing::debug!(error = %err, "ending a read snapshot failed");
    }
    Ok(CachedPage {
        items: rows.items.into_iter().map(Into::into).collect(),
        has_next_page: rows.has_next_page,
        venues: venues.into_iter().map(Into::into).collect(),
        price_tiers: price_tiers.into_iter().collect(),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::infra::kv::MemoryStore;

    fn gates(loads: &Loads) -> usize {
        loads.gates.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    #[tokio::test]
    async fn an_entrys_gate_goes_with_its_last_holder_also_when_a_request_is_dropped() {
        let loads = Loads::default();
        let first = loads.enter("k");
        let turn = first.gate.lock().await;
        let second = loads.enter("k");
        assert!(Arc::ptr_eq(&first.gate, &second.gate), "one gate per entry");
        let other = loads.enter("other");
        drop(other);
        assert_eq!(gates(&loads), 1, "a gate nobody holds is gone");
        // A request dropped while it waits for its turn lets go of the gate.
        let mut waiting = Box::pin(second.gate.lock());
        assert!(futures::poll!(waiting.as_mut()).is_pending());
        drop(waiting);
        drop(second);
        assert_eq!(gates(&loads), 1, "the load in flight keeps it");
        drop(turn);
        drop(first);
        assert_eq!(gates(&loads), 0);
    }

    /// A load that takes a while, counting the loads run and the most at once.
    async fn load(running: &AtomicUsize, most: &AtomicUsize, outcome: Result<u32, ()>) -> Result<u32, ()> {
        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
        most.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(20)).await;
        running.fetch_sub(1, Ordering::SeqCst);
        outcome
    }

    /// Eight requests missing "k" at once: what each was served, and how many loads ran.
    async fn eight_misses(kv: &dyn KeyValueStore, loads: &Loads, metrics: &Metrics) -> (Vec<Result<u32, ()>>, usize) {
        let (running, most, started) = (AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(0));
        let reads = (0..8).map(|_| {
            read_through(kv, loads, metrics, "k", async {
                started.fetch_add(1, Ordering::SeqCst);
                load(&running, &most, Ok(7)).await
            })
        });
        let values = futures::future::join_all(reads).await;
        (values, started.load(Ordering::SeqCst))
    }

    #[tokio::test]
    async fn requests_missing_together_wait_for_one_load_and_share_it() {
        let (kv, loads, metrics) = (MemoryStore::new(100), Loads::default(), Metrics::default());
        let (values, loaded) = eight_misses(&kv, &loads, &metrics).await;
        assert!(values.iter().all(|value| *value == Ok(7)), "{values:?}");
        assert_eq!(loaded, 1, "one load for all");
        assert_eq!(gates(&loads), 0);
        assert_eq!(
            read_through(&kv, &loads, &metrics, "k", async { Err::<u32, ()>(()) }).await,
            Ok(7),
            "and it was stored"
        );
    }

    #[tokio::test]
    async fn after_a_failed_load_the_waiting_requests_load_side_by_side() {
        let (kv, loads, metrics) = (MemoryStore::new(100), Loads::default(), Metrics::default());
        let (running, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let failing = read_through(&kv, &loads, &metrics, "k", load(&running, &most, Err(())));
        let waiting = (0..4).map(|_| read_through(&kv, &loads, &metrics, "k", load(&running, &most, Ok(7))));
        let (failed, values) = futures::join!(failing, futures::future::join_all(waiting));
        assert_eq!(failed, Err(()));
        assert!(values.iter().all(|value| *value == Ok(7)), "{values:?}");
        // One after another, each would wait out its own load in turn.
        assert_eq!(most.load(Ordering::SeqCst), 4, "the four waiting load at once");
        assert_eq!(gates(&loads), 0);
    }

    /// A store that is down: every call fails, as Redis's do when it cannot be reached.
    struct Down;

    #[async_trait::async_trait]
    impl KeyValueStore for Down {
        async fn set(&self, _: &str, _: &str, _: Duration) -> anyhow::Result<()> {
            anyhow::bail!("down")
        }
        async fn get(&self, _: &str) -> anyhow::Result<Option<String>> {
            anyhow::bail!("down")
        }
        async fn take(&self, _: &str) -> anyhow::Result<Option<String>> {
            anyhow::bail!("down")
        }
        async fn delete(&self, _: &str) -> anyhow::Result<()> {
            anyhow::bail!("down")
        }
        async fn increment(&self, _: &str, _: Duration) -> anyhow::Result<(u64, Duration)> {
            anyhow::bail!("down")
        }
        fn backend(&self) -> &'static str {
            "down"
        }
    }

    #[tokio::test]
    async fn with_the_store_down_the_waiting_requests_are_served_what_was_loaded() {
        let (loads, metrics) = (Loads::default(), Metrics::default());
        let (values, loaded) = eight_misses(&Down, &loads, &metrics).await;
        assert!(values.iter().all(|value| *value == Ok(7)), "{values:?}");
        assert_eq!(loaded, 1, "one load, though it could not be stored");
        assert_eq!(gates(&loads), 0);
    }
}
