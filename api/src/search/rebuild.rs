//! Building an index from the database, and opening the one on disk.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;

use anyhow::Context;
use entity::outbox;
use sea_orm::{DatabaseConnection, EntityTrait, QueryOrder};
use search_index::{Kind, SearchIndex};

use super::{Slot, documents, indexer, store};
use crate::jobs::Progress;

/// Builds a new index holding every performance, cast member and venue: in a new directory
/// under `root`, or in memory. Returns it with the number of documents written. Its position
/// is the outbox's last event before reading began, so whatever changed during the build is
/// applied again afterwards. The window's events already committed before reading began are
/// in what the build reads, so they count as applied: the catch-up that follows applies only
/// those committed since (a fresh demo catalog's hundreds of events are not applied twice).
pub(crate) async fn build(
    db: &DatabaseConnection,
    root: Option<&Path>,
    progress: &dyn Progress,
) -> anyhow::Result<(Slot, u64)> {
    let position = last_outbox_id(db).await?;
    let applied = indexer::window(db, chrono::Utc::now() - indexer::LOOK_BACK, position).await?;
    let (index, name, dir) = match root {
        Some(root) => {
            let name = store::new_name();
            let dir = root.join(&name);
            let index = SearchIndex::open_in_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
            (index, name, Some(dir))
        }
        None => (
            SearchIndex::in_memory()?,
            format!("memory-{}", uuid::Uuid::new_v4().simple()),
            None,
        ),
    };
    let index = Arc::new(index);
    progress.add_total(documents::count_all(db).await?);
    let mut written = 0;
    for kind in Kind::ALL {
        let mut after = 0;
        while let Some((docs, last)) = documents::page(db, kind, after).await? {
            after = last;
            let count = docs.len() as u64;
            let batch = index.clone();
            tokio::task::spawn_blocking(move || batch.upsert(docs)).await??;
            written += count;
            progress.advance(count);
        }
    }
    let committing = index.clone();
    tokio::task::spawn_blocking(move || committing.commit()).await??;
    if let Some(dir) = &dir {
        store::write_position(dir, position, applied.clone())?;
    }
    let slot = Slot {
        index,
        name,
        dir,
        position: AtomicI64::new(position),
        seen: std::sync::Mutex::new(applied.into_iter().collect()),
    };
    Ok((slot, written))
}

/// Opens the index `CURRENT` names, unless there is none or it cannot catch up (its
/// position is unknown or older than `too_old`); `None` means "rebuild".
pub(crate) async fn open_current(
    db: &DatabaseConnection,
    root: &Path,
    too_old: chrono::Duration,
) -> anyhow::Result<Option<Slot>> {
    let Some(name) = store::current(root) else {
        return Ok(None);
    };
    let Some(position) = store::read_position(&root.join(&name)) else {
        tracing::info!(index = name, "the search index has no position; rebuilding it");
        return Ok(None);
    };
    if position.saved_at < chrono::Utc::now() - too_old {
        tracing::info!(index = name, saved_at = %position.saved_at, "the search index is too old to catch up; rebuilding it");
        return Ok(None);
    }
    // A newer database than the index (restored from a backup, or another database) shows
    // as a position past the outbox's end: the index cannot be trusted then either.
    if position.outbox_id > last_outbox_id(db).await? {
        tracing::info!(index = name, "the search index is ahead of the database; rebuilding it");
        return Ok(None);
    }
    match open_dir(root, &name) {
        Ok(slot) => Ok(Some(slot)),
        Err(err) => {
            tracing::warn!(error = ?err, index = name, "the search index cannot be opened; rebuilding it");
            Ok(None)
        }
    }
}

/// Opens the index in `root/name` at the position saved beside it.
pub(crate) fn open_dir(root: &Path, name: &str) -> anyhow::Result<Slot> {
    let dir = root.join(name);
    let position = store::read_position(&dir).context("the index has no saved position")?;
    let index = SearchIndex::open_in_dir(&dir)?;
    Ok(Slot {
        index: Arc::new(index),
        name: name.to_string(),
        dir: Some(dir),
        position: AtomicI64::new(position.outbox_id),
        seen: std::sync::Mutex::new(position.seen.into_iter().collect()),
    })
}

/// `curtain reindex`: builds a new index under `root` and makes it current. A server using
/// this directory notices within `search.catch_up_ms`, catches the new index up and swaps it
/// in, serving searches from the old one until then; it then deletes the old one. Returns
/// the number of documents indexed.
pub async fn reindex_on_disk(db: &DatabaseConnection, root: &Path, progress: &dyn Progress) -> anyhow::Result<u64> {
    std::fs::create_dir_all(root).with_context(|| format!("cannot create {}", root.display()))?;
    let (slot, written) = build(db, Some(root), progress).await?;
    // The writer's lock must be gone before a server tries to open the index.
    drop(slot.index);
    store::set_current(root, &slot.name)?;
    Ok(written)
}

async fn last_outbox_id(db: &DatabaseConnection) -> anyhow::Result<i64> {
    Ok(outbox::Entity::find()
        .order_by_desc(outbox::Column::Id)
        .one(db)
        .await?
        .map_or(0, |row| row.id))
}
