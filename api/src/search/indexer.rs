//! Keeping the index in step with the catalog: catalog events from the bus are applied as
//! they arrive; the outbox itself is read on a timer for any the bus dropped, and to notice an
//! index that `curtain reindex` swapped in.
//!
//! The index keeps a position (the highest outbox id applied), but a position alone skips
//! events: ids are handed out when a row is inserted, not when its transaction commits, so
//! an event numbered 10 can become visible after event 11 has moved the position to 11, and
//! the bus may have dropped it meanwhile (Redis pub/sub loses messages while reconnecting).
//! So every catch-up also re-reads the ids of the last [`LOOK_BACK`] of catalog events and
//! applies those it has not seen. SQLite has one writer at a time, so there ids are always
//! committed in order; the look-back costs one indexed read of ids there too.

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
/// How far back each catch-up looks for catalog events committed out of id order. An event
/// whose transaction stayed open longer than this between writing it and committing would be
/// missed until the next `curtain reindex`; catalog writes take milliseconds.
pub(crate) const LOOK_BACK: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

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
        let _changes = self.changes.lock().await;
        // Under the lock: a swap to a rebuilt index must not come between.
        let slot = self.slot();
        let fresh: Vec<Event> = events
            .iter()
            .filter(|e| e.topic == topic::CATALOG && !slot.has_seen(e.id))
            .map(|e| Event::clone(e))
            .collect();
        apply(&self.db, &slot, &fresh, Some(self.cache.as_ref())).await
    }

    /// How long the oldest catalog event past the index's position has been waiting (zero
    /// when there is none), for the metrics.
    pub async fn lag(&self) -> anyhow::Result<Duration> {
        let oldest: Option<chrono::DateTime<chrono::Utc>> = outbox::Entity::find()
            .select_only()
            .column_as(outbox::Column::CreatedAt.min(), "oldest")
            .filter(outbox::Column::Topic.eq(topic::CATALOG))
            .filter(outbox::Column::Id.gt(self.slot().position()))
            .into_tuple()
            .one(&self.db)
            .await?
            .flatten();
        Ok(oldest.map_or(Duration::ZERO, |at| {
            (chrono::Utc::now() - at).to_std().unwrap_or_default()
        }))
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

/// Reads the catalog events past `slot`'s position from the outbox and applies them, and
/// those of the last [`LOOK_BACK`] behind it that it has not applied (committed out of id
/// order), invalidating `cache` on the way when the slot is the one in use (see [`apply`]).
pub(crate) async fn catch_up_slot(
    db: &DatabaseConnection,
    slot: &Slot,
    cache: Option<&dyn KeyValueStore>,
) -> anyhow::Result<usize> {
    let cutoff = chrono::Utc::now() - LOOK_BACK;
    slot.forget_before(cutoff);
    let behind = window(db, cutoff, slot.position()).await?;
    let missed: Vec<i64> = behind
        .into_iter()
        .map(|(id, _)| id)
        .filter(|id| !slot.has_seen(*id))
        .collect();
    let mut applied = 0;
    for ids in missed.chunks(CATCH_UP_BATCH as usize) {
        let rows = outbox::Entity::find()
            .filter(outbox::Column::Id.is_in(ids.iter().copied()))
            .order_by_asc(outbox::Column::Id)
            .all(db)
            .await?;
        // After a start or a swap every event of the window is new to the slot: routine.
        tracing::debug!(
            events = rows.len(),
            "applying catalog events behind the index's position"
        );
        applied += rows.len();
        let events: Vec<Event> = rows.into_iter().map(Event::from_row).collect();
        apply(db, slot, &events, cache).await?;
    }
    loop {
        let rows = outbox::Entity::find()
            .filter(outbox::Column::Topic.eq(topic::CATALOG))
            .filter(outbox::Column::Id.gt(slot.position()))
            .order_by_asc(outbox::Column::Id)
            .limit(CATCH_UP_BATCH)
            .all(db)
            .await?;
        if rows.is_empty() {
            return Ok(applied);
        }
        let count = rows.len();
        let events: Vec<Event> = rows.into_iter().map(Event::from_row).collect();
        apply(db, slot, &events, cache).await?;
        applied += count;
        if (count as u64) < CATCH_UP_BATCH {
            return Ok(applied);
        }
    }
}

/// The catalog events committed so far that were written since `cutoff`, up to the outbox
/// id `up_to`: id and when each was written.
pub(crate) async fn window(
    db: &DatabaseConnection,
    cutoff: chrono::DateTime<chrono::Utc>,
    up_to: i64,
) -> anyhow::Result<Vec<(i64, chrono::DateTime<chrono::Utc>)>> {
    Ok(outbox::Entity::find()
        .select_only()
        .column(outbox::Column::Id)
        .column(outbox::Column::CreatedAt)
        .filter(outbox::Column::Topic.eq(topic::CATALOG))
        .filter(outbox::Column::CreatedAt.gte(cutoff))
        .filter(outbox::Column::Id.lte(up_to))
        .into_tuple()
        .all(db)
        .await?)
}

/// Reloads what the catalog `events` touch, commits it to `slot`'s index, marks the events
/// seen and moves the position to the highest of them. Indexing runs on a blocking thread:
/// a commit waits for the disk.
///
/// The catalog cache is invalidated before the commit makes the change searchable, so that
/// writes made through another instance reach this instance's cache, and so that whoever
/// sees a change in search results never reads the row it changed from an older cache entry.
async fn apply(
    db: &DatabaseConnection,
    slot: &Slot,
    events: &[Event],
    cache: Option<&dyn KeyValueStore>,
) -> anyhow::Result<()> {
    let Some(last) = events.iter().map(|e| e.id).max() else {
        return Ok(());
    };
    let changes: Vec<CatalogChange> = events.iter().filter_map(CatalogChange::from_event).collect();
    if !changes.is_empty() {
        let Refresh { upsert, remove } = documents::refresh(db, &changes).await?;
        // Performance rows are cached, and venues with the list pages; cast loads live.
        if let Some(cache) = cache
            && changes
                .iter()
                .any(|change| matches!(change.object, CatalogObject::Performance | CatalogObject::Venue))
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
    slot.saw(events.iter().map(|e| (e.id, e.created_at)));
    slot.advance(last)
}
