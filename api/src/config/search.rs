//! Settings of the keyword search index and its result cache.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchSettings {
    /// Keep the index in memory and rebuild it from the database at every start, instead of
    /// under `{data_dir}/search`. Right for tests and small catalogs; a restart then costs a
    /// full rebuild.
    pub in_memory: bool,
    /// How long an identical search is answered from the cache. Any change to the index
    /// makes older entries unreachable at once, so this only bounds memory, not staleness.
    pub cache_ttl_seconds: u64,
    /// How often the index also reads catalog events straight from the outbox, to recover any
    /// the event bus dropped, and looks for an index swapped in by `curtain reindex`.
    pub catch_up_ms: u64,
}

impl Default for SearchSettings {
    fn default() -> Self {
        Self {
            in_memory: false,
            cache_ttl_seconds: 60,
            catch_up_ms: 2_000,
        }
    }
}
