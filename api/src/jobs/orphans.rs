//! Stored files no performance refers to: a poster whose delete failed after it was
//! replaced, an upload URL used but never attached, a multipart upload whose database
//! write failed. Each is deleted once it is older than the grace period, which leaves
//! uploads in progress (their URLs live for minutes) alone.

use std::collections::HashSet;

use chrono::{Duration, Utc};
use entity::performance;
use futures::{StreamExt, TryStreamExt};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

use super::{JobEnv, Progress};
use crate::storage::Listed;

/// Where posters are stored; every key there is a performance's `poster_key` or an orphan.
const POSTERS: &str = "posters/";

/// Deletes the orphaned posters; returns how many.
pub async fn sweep_orphan_files(env: &JobEnv, progress: &dyn Progress) -> anyhow::Result<u64> {
    let cutoff = Utc::now() - Duration::hours(env.settings.jobs.orphan_grace_hours);
    let batch = usize::try_from(env.settings.jobs.batch_size.max(1))?;
    let mut pages = env.storage.list(POSTERS).try_chunks(batch);
    let mut deleted = 0;
    while let Some(page) = pages.next().await {
        let page = page.map_err(|err| err.1)?;
        progress.add_total(page.len() as u64);
        let old: Vec<Listed> = page.iter().filter(|o| o.modified < cutoff).cloned().collect();
        let used = referenced(env, &old).await?;
        for object in old.into_iter().filter(|o| !used.contains(&o.key)) {
            env.storage.delete(&object.key).await?;
            tracing::info!(key = object.key, "deleted a stored file no performance refers to");
            deleted += 1;
        }
        progress.advance(page.len() as u64);
    }
    Ok(deleted)
}

/// Which of `objects` some performance's poster is.
async fn referenced(env: &JobEnv, objects: &[Listed]) -> anyhow::Result<HashSet<String>> {
    if objects.is_empty() {
        return Ok(HashSet::new());
    }
    let keys: Vec<Option<String>> = performance::Entity::find()
        .select_only()
        .column(performance::Column::PosterKey)
        .filter(performance::Column::PosterKey.is_in(objects.iter().map(|o| o.key.clone())))
        .into_tuple()
        .all(&env.db)
        .await?;
    Ok(keys.into_iter().flatten().collect())
}
