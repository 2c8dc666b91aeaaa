//! Search results in the shared cache (in-process, or Redis when configured).
//!
//! A key names the index and its generation, so any commit makes older entries unreachable:
//! nothing is ever invalidated by hand, and a stale answer cannot be served. The TTL only
//! bounds how long unreachable entries take room.

use search_index::{Facets, Highlight, Hit, Kind, SearchRequest, SearchResults};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::SearchService;
use crate::metrics::CacheLabels;

/// Bump when the cached shape changes, so that instances of two versions sharing a Redis do
/// not read each other's entries.
const VERSION: u32 = 1;

/// The cache key of `request` against generation `generation` of index `index`.
pub(super) fn key(index: &str, generation: u64, request: &SearchRequest) -> String {
    let mut hasher = Sha256::new();
    // `Debug` spells out every field, filters and paging included.
    hasher.update(format!("{request:?}").as_bytes());
    format!(
        "search:v{VERSION}:{index}:{generation}:{}",
        hex::encode(hasher.finalize())
    )
}

#[derive(Serialize, Deserialize)]
struct Cached {
    total: usize,
    hits: Vec<CachedHit>,
    genre: Vec<(String, u64)>,
    kind: Vec<(String, u64)>,
}

#[derive(Serialize, Deserialize)]
struct CachedHit {
    kind: String,
    id: i64,
    score: f32,
    highlights: Vec<(String, String)>,
}

impl Cached {
    fn from_results(results: &SearchResults) -> Self {
        Cached {
            total: results.total,
            hits: results
                .hits
                .iter()
                .map(|hit| CachedHit {
                    kind: hit.kind.as_str().to_string(),
                    id: hit.id,
                    score: hit.score,
                    highlights: hit
                        .highlights
                        .iter()
                        .map(|h| (h.field.clone(), h.snippet.clone()))
                        .collect(),
                })
                .collect(),
            genre: results.facets.genre.clone(),
            kind: results
                .facets
                .kind
                .iter()
                .map(|(kind, count)| (kind.as_str().to_string(), *count))
                .collect(),
        }
    }

    fn into_results(self) -> Option<SearchResults> {
        let hits = self
            .hits
            .into_iter()
            .map(|hit| {
                Some(Hit {
                    kind: Kind::from_name(&hit.kind)?,
                    id: hit.id,
                    score: hit.score,
                    highlights: hit
                        .highlights
                        .into_iter()
                        .map(|(field, snippet)| Highlight { field, snippet })
                        .collect(),
                })
            })
            .collect::<Option<Vec<_>>>()?;
        let kind = self
            .kind
            .into_iter()
            .map(|(name, count)| Some((Kind::from_name(&name)?, count)))
            .collect::<Option<Vec<_>>>()?;
        Some(SearchResults {
            total: self.total,
            hits,
            facets: Facets {
                genre: self.genre,
                kind,
            },
        })
    }
}

impl SearchService {
    /// The cached results under `key`, counting the hit or miss. A cache that fails or holds
    /// something unreadable is a miss: the cache is never needed for an answer.
    pub(super) async fn cached(&self, key: &str) -> Option<SearchResults> {
        let found = match self.cache.get(key).await {
            Ok(found) => found,
            Err(err) => {
                tracing::warn!(error = ?err, "reading the search cache failed; searching the index");
                None
            }
        };
        let results = found
            .and_then(|text| serde_json::from_str::<Cached>(&text).ok())
            .and_then(Cached::into_results);
        let outcome = if results.is_some() { "hit" } else { "miss" };
        self.metrics
            .cache_requests
            .get_or_create(&CacheLabels {
                cache: "search",
                outcome,
            })
            .inc();
        results
    }

    pub(super) async fn store(&self, key: &str, results: &SearchResults) {
        let Ok(text) = serde_json::to_string(&Cached::from_results(results)) else {
            return;
        };
        if let Err(err) = self.cache.set(key, &text, self.cache_ttl).await {
            tracing::warn!(error = ?err, "writing the search cache failed");
        }
    }
}
