//! Keeping the index in step with the catalog: catalog events from the bus are applied as
//! they arrive; the outbox itself is read on a timer for any the bus dropped, and to notice an
//! index that `curtain reindex` swapped in.

use std::sync::Arc;
use std::time::Duration;

use entity::outbox;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tokio::sync::broadcast::error::RecvError;

use super::documents::{self, Refresh};
use super::{SearchService, Slot, rebuild, store};
use crate::domain::catalog_events::{CatalogChange, CatalogObject};
use crate::infra::bus::SharedBus;
use crate::infra::kv::KeyValueStore;
use crate::outbox::{Event, topic};

/// Outbox rows read per statement while catching up.
const CATCH_UP_BATCH: u64 = 1_000;
/// How often the position beside an on-disk index is re-saved when nothing changes, so that
/// a quiet index is not mistaken at the next start for one too old to catch up.
const TOUCH_EVERY: Duration = Duration::from_secs(60);

impl SearchService {
    /// Follows the event bus and the outbox until the task is aborted.
    pub async fn run(self: Arc<Self>, bus: SharedBus) {
        let mut events = bus.subscribe();
        let mut ticks = tokio::time::interval(self.catch_up_every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut touched = tokio::time::Instant::now();
        let mut bus_open = true;
        loop {
            tokio::select! {
                received = events.recv(), if bus_open => match received {
                    Ok(event) => {
                        let mut batch = vec![event];
                        // Take whatever else is already waiting: one commit for a burst.
                        while let Ok(more) = events.try_recv() {
                            batch.push(more);
                        }
                        if let Err(err) = self.apply_events(&batch).await {
                            tracing::warn!(error = ?err, "updating the search index failed; the outbox will be read again");
                        }
                    }
                    Err(RecvError::Lagged(missed)) => {
                        tracing::info!(missed, "the search index fell behind the event bus; reading the outbox");
                        self.catch_up_logged().await;
                    }
                    Err(RecvError::Closed) => bus_open = false,
                },
                _ = ticks.tick() => {
                    self.adopt_swapped_index().await;
                    self.catch_up_logged().await;
                    if touched.elapsed() >= TOUCH_EVERY {
                        touched = tokio::time::Instant::now();
                        let slot = self.slot();
                        if let Err(err) = slot.advance(slot.position()) {
                            tracing::warn!(error = ?err, "saving the search index position failed");
                        }
                    }
                }
            }
        }
    }

    async fn catch_up_logged(&self) {
        if let Err(err) = self.catch_up().await {
            tracing::warn!(error = ?err, "catching the search index up with the outbox failed; will retry");
        }
    }

    /// Applies the catalog events among `events` to the index in use.
    async fn apply_events(&self, events: &[Arc<Event>]) -> anyhow::Result<()> {
        let changes: Vec<CatalogChange> = events.iter().filter_map(|e| CatalogChange::from_event(e)).collect();
        let Some(last) = events.iter().filter(|e| e.topic == topic::CATALOG).map(|e| e.id).max() else {
            return Ok(());
        };
        let _changes = self.changes.lock().await;
        apply(&self.db, &self.slot(), &changes, last, Some(self.cache.as_ref())).await
    }

    /// Applies every catalog event the outbox has past the index's position; returns how
    /// many there were.
    pub async fn catch_up(&self) -> anyhow::Result<usize> {
        let _changes = self.changes.lock().await;
        catch_up_slot(&self.db, &self.slot(), Some(self.cache.as_ref())).await
    }

    /// Switches to the index `curtain reindex` built, when `CURRENT` names another one.
    async fn adopt_swapped_index(&self) {
        let Some(root) = &self.root else { return };
        let Some(name) = store::current(root) else { return };
        if name == self.slot().name {
            return;
        }
        match rebuild::open_dir(root, &name) {
            Ok(slot) => {
                if let Err(err) = self.swap(slot).await {
                    tracing::warn!(error = ?err, index = name, "switching to the rebuilt search index failed");
                }
            }
            Err(err) => tracing::warn!(error = ?err, index = name, "the rebuilt search index cannot be opened yet"),
        }
    }
}

/// Reads the catalog events past `slot`'s position from the outbox and applies them,
/// invalidating `cache` on the way when the slot is the one in use (see [`apply`]).
pub(crate) async fn catch_up_slot(
    db: &DatabaseConnection,
    slot: &Slot,
    cache: Option<&dyn KeyValueStore>,
) -> anyhow::Result<usize> {
    let mut applied = 0;
    loop {
        let rows = outbox::Entity::find()
            .filter(outbox::Column::Topic.eq(topic::CATALOG))
            .filter(outbox::Column::Id.gt(slot.position()))
            .order_by_asc(outbox::Column::Id)
            .limit(CATCH_UP_BATCH)
            .all(db)
            .await?;
        let Some(last) = rows.last().map(|row| row.id) else {
            return Ok(applied);
        };
        let count = rows.len();
        let changes: Vec<CatalogChange> = rows
            .into_iter()
            .filter_map(|row| CatalogChange::from_event(&Event::from_row(row)))
            .collect();
        apply(db, slot, &changes, last, cache).await?;
        applied += count;
        if (count as u64) < CATCH_UP_BATCH {
            return Ok(applied);
        }
    }
}

/// Reloads what `changes` touch, commits it to `slot`'s index and moves its position to
/// `last`. Indexing runs on a blocking thread: a commit waits for the disk.
///
/// The catalog cache is invalidated before the commit makes the change searchable, so that
/// writes made through another instance reach this instance's cache, and so that whoever
/// sees a change in search results never reads the row it changed from an older cache entry.
async fn apply(
    db: &DatabaseConnection,
    slot: &Slot,
    changes: &[CatalogChange],
    last: i64,
    cache: Option<&dyn KeyValueStore>,
) -> anyhow::Result<()> {
    if !changes.is_empty() {
        let Refresh { upsert, remove } = documents::refresh(db, changes).await?;
        // Only performance rows are cached; venues and cast load live.
        if let Some(cache) = cache
            && changes.iter().any(|change| change.object == CatalogObject::Performance)
        {
            crate::catalog_cache::invalidate(cache).await;
        }
        let index = slot.index.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            index.upsert(upsert)?;
            for (kind, id) in remove {
                index.delete(kind, id);
            }
            index.commit()?;
            Ok(())
        })
        .await??;
    }
    slot.advance(last)
}
