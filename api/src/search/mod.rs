//! Keyword search over the catalog: this instance's index (the `search-index` crate), kept
//! in step with the database through the outbox, with its results cached.
//!
//! - [`SearchService::open`] opens the index at start-up: in memory, or the one named in
//!   `{data_dir}/search/CURRENT`, caught up from the outbox position stored beside it. An
//!   unknown position, or one older than the outbox keeps its rows, means a rebuild.
//! - [`SearchService::run`] (a background task) applies catalog events from the event bus
//!   as they come, and also reads the outbox every `search.catch_up_ms` in case the bus
//!   dropped one (it is at-most-once).
//! - [`SearchService::rebuild`] and `curtain reindex` build a fresh index from the database
//!   and swap it in while searches go on being served from the old one.

mod cache;
pub mod cli;
mod documents;
mod indexer;
mod rebuild;
mod store;

use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use anyhow::Context;
use sea_orm::DatabaseConnection;
use search_index::{SearchError, SearchIndex, SearchRequest, SearchResults};

pub use rebuild::reindex_on_disk;

use crate::config::Settings;
use crate::error::{ApiError, ApiResult};
use crate::infra::kv::SharedStore;
use crate::jobs::Progress;
use crate::metrics::Metrics;

/// Longest query text searched; the rest is ignored (the index caps words anyway). Keeps
/// cache keys and tokenizing cheap whatever a client sends.
const MAX_QUERY_CHARS: usize = 256;
/// Suggestions a type-ahead box gets.
pub const SUGGESTIONS: usize = 10;

/// One index and how far it has followed the outbox.
pub(crate) struct Slot {
    index: Arc<SearchIndex>,
    /// Names this index in cache keys: its directory, or a random name in memory. Two
    /// indexes' generation numbers are unrelated, so the name must come with them.
    name: String,
    dir: Option<PathBuf>,
    /// The highest outbox id applied. Not every id below it is applied: see `seen`.
    position: AtomicI64,
    /// The catalog events of the last [`indexer::LOOK_BACK`] that were applied (or, for a
    /// fresh build, were committed before it read the catalog), by id, with when they were
    /// written. Outbox ids are handed out at insert, not at commit, so an
    /// event can become visible after one with a higher id has moved `position` past it;
    /// each catch-up also re-reads the look-back window and applies what is not in here.
    seen: std::sync::Mutex<std::collections::BTreeMap<i64, chrono::DateTime<chrono::Utc>>>,
}

impl Slot {
    fn position(&self) -> i64 {
        self.position.load(Ordering::SeqCst)
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, std::collections::BTreeMap<i64, chrono::DateTime<chrono::Utc>>> {
        self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the event `outbox_id` was applied within the look-back window.
    fn has_seen(&self, outbox_id: i64) -> bool {
        self.seen().contains_key(&outbox_id)
    }

    fn saw(&self, events: impl Iterator<Item = (i64, chrono::DateTime<chrono::Utc>)>) {
        self.seen().extend(events);
    }

    /// Forgets the events written before `cutoff`: the look-back no longer reads them.
    fn forget_before(&self, cutoff: chrono::DateTime<chrono::Utc>) {
        self.seen().retain(|_, at| *at >= cutoff);
    }

    /// Moves the position forward (never back) and records it, with the window's events
    /// applied, beside an on-disk index.
    fn advance(&self, outbox_id: i64) -> anyhow::Result<()> {
        let previous = self.position.fetch_max(outbox_id, Ordering::SeqCst);
        if let Some(dir) = &self.dir {
            let seen = self.seen().iter().map(|(id, at)| (*id, *at)).collect();
            store::write_position(dir, previous.max(outbox_id), seen)?;
        }
        Ok(())
    }
}

/// This instance's search index, shared by every request.
pub struct SearchService {
    db: DatabaseConnection,
    /// `None` when the index is kept in memory.
    root: Option<PathBuf>,
    live: RwLock<Arc<Slot>>,
    /// Serialises changes to the index in use (applying events, swapping), so that an event
    /// is never applied to an index about to be replaced without being applied to its
    /// successor too.
    changes: tokio::sync::Mutex<()>,
    cache: SharedStore,
    cache_ttl: Duration,
    catch_up_every: Duration,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for SearchService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchService")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl SearchService {
    /// Opens (or builds) the index and brings it up to date with the database.
    pub async fn open(
        db: DatabaseConnection,
        settings: &Settings,
        cache: SharedStore,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Self> {
        let root = (!settings.search.in_memory).then(|| settings.search_dir());
        if let Some(root) = &root {
            std::fs::create_dir_all(root)
                .with_context(|| format!("cannot create the search index directory {}", root.display()))?;
        }
        // Half the outbox retention: rows newer than the saved position cannot have been
        // purged yet, with room for clocks that disagree.
        let retention = chrono::Duration::hours(settings.events.outbox_retention_hours.max(1)) / 2;
        let slot = match &root {
            Some(root) => rebuild::open_current(&db, root, retention).await?,
            None => None,
        };
        let slot = match slot {
            Some(slot) => slot,
            None => {
                tracing::info!("building the search index from the database");
                let (slot, _) = rebuild::build(&db, root.as_deref(), &crate::jobs::NoProgress).await?;
                make_current(root.as_deref(), &slot)?;
                // The build counts the recent catalog events as applied without applying
                // them, and applying is what invalidates the catalog cache: do it once here.
                crate::catalog_cache::invalidate(cache.as_ref()).await;
                slot
            }
        };
        if let Some(root) = &root {
            store::remove_abandoned(root, &slot.name);
        }
        let service = Self {
            db,
            root,
            live: RwLock::new(Arc::new(slot)),
            changes: tokio::sync::Mutex::new(()),
            cache,
            cache_ttl: Duration::from_secs(settings.search.cache_ttl_seconds),
            catch_up_every: Duration::from_millis(settings.search.catch_up_ms.max(50)),
            metrics,
        };
        let applied = service.catch_up().await?;
        tracing::info!(
            applied,
            position = service.slot().position(),
            on_disk = service.root.is_some(),
            "the search index is ready"
        );
        Ok(service)
    }

    /// The index in use right now.
    pub(crate) fn slot(&self) -> Arc<Slot> {
        self.live.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Swaps `slot` in; searches already running finish on the old one.
    fn install(&self, slot: Slot) -> Arc<Slot> {
        let mut live = self.live.write().unwrap_or_else(PoisonError::into_inner);
        std::mem::replace(&mut *live, Arc::new(slot))
    }

    /// The index in use, for benchmarks and diagnostics that must bypass the cache.
    pub fn current_index(&self) -> Arc<SearchIndex> {
        self.slot().index.clone()
    }

    /// The last outbox event the index in use has applied.
    pub fn position(&self) -> i64 {
        self.slot().position()
    }

    /// Runs a search, from the cache when the same request was answered since the index
    /// last changed. Only an empty or blank query is an error (BAD_USER_INPUT); any other
    /// text is taken literally.
    pub async fn search(&self, mut request: SearchRequest) -> ApiResult<SearchResults> {
        if request.query.trim().is_empty() {
            return Err(ApiError::bad_input("query", "type something to search for"));
        }
        if let Some((cut, _)) = request.query.char_indices().nth(MAX_QUERY_CHARS) {
            request.query.truncate(cut);
        }
        let started = std::time::Instant::now();
        // Read the slot (and so its generation) before searching: the cached results are
        // then at least as new as their key says.
        let slot = self.slot();
        let key = cache::key(&slot.name, slot.index.generation(), &request);
        let results = match self.cached(&key).await {
            Some(results) => results,
            None => {
                let results = slot.index.search(&request).map_err(search_error)?;
                self.store(&key, &results).await;
                results
            }
        };
        self.metrics.search_duration.observe(started.elapsed().as_secs_f64());
        Ok(results)
    }

    /// Titles and names starting a type-ahead box: at most [`SUGGESTIONS`], each once.
    pub fn suggest(&self, prefix: &str) -> ApiResult<Vec<String>> {
        let prefix: String = prefix.chars().take(MAX_QUERY_CHARS).collect();
        let suggestions = self
            .slot()
            .index
            .suggest(&prefix, SUGGESTIONS * 3)
            .map_err(search_error)?;
        let mut texts: Vec<String> = Vec::with_capacity(SUGGESTIONS);
        for suggestion in suggestions {
            if texts.len() == SUGGESTIONS {
                break;
            }
            if !texts.contains(&suggestion.text) {
                texts.push(suggestion.text);
            }
        }
        Ok(texts)
    }

    /// Builds a fresh index from the database and swaps it in; searches keep being served
    /// from the old index meanwhile. Returns the number of documents indexed.
    pub async fn rebuild(&self, progress: &dyn Progress) -> anyhow::Result<u64> {
        let (slot, documents) = rebuild::build(&self.db, self.root.as_deref(), progress).await?;
        make_current(self.root.as_deref(), &slot)?;
        self.swap(slot).await?;
        Ok(documents)
    }

    /// Replaces the index in use by `slot`, after catching `slot` up with the outbox.
    async fn swap(&self, slot: Slot) -> anyhow::Result<()> {
        let _changes = self.changes.lock().await;
        // The database did not change, so neither did what the catalog cache holds.
        indexer::catch_up_slot(&self.db, &slot, None).await?;
        let old = self.install(slot);
        tracing::info!(position = self.position(), "a rebuilt search index is now in use");
        if let Some(dir) = &old.dir {
            store::remove(dir);
        }
        Ok(())
    }
}

/// Names an on-disk `slot` in `CURRENT`, so that the next start opens it.
fn make_current(root: Option<&std::path::Path>, slot: &Slot) -> anyhow::Result<()> {
    match (root, &slot.dir) {
        (Some(root), Some(_)) => store::set_current(root, &slot.name),
        _ => Ok(()),
    }
}

fn search_error(err: SearchError) -> ApiError {
    match err {
        SearchError::EmptyQuery => ApiError::bad_input("query", "type something to search for"),
        other => ApiError::internal(other),
    }
}
