//! Where an on-disk index lives and what is kept beside it.
//!
//! `{data_dir}/search/CURRENT` names the directory of the index in use; a rebuild writes a
//! new directory and then replaces `CURRENT` by a rename, which is atomic, so a crash leaves
//! either the old index or the new one in force, never half of one. Beside each index,
//! `position.json` records the last outbox event it has applied, and which events of the
//! look-back window it has applied, so that a restart catches up from there instead of
//! rebuilding, and does not apply the window's events a second time.

use std::path::Path;

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

const CURRENT: &str = "CURRENT";
const POSITION: &str = "position.json";

/// How far an index has followed the outbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Position {
    /// The highest outbox id applied (0 before any).
    pub outbox_id: i64,
    /// When it was recorded: an index that has not heard from the outbox for longer than the
    /// outbox keeps its rows cannot catch up, and is rebuilt instead.
    pub saved_at: DateTime<Utc>,
    /// The catalog events of the look-back window already applied, by id with when each
    /// was written (absent in files written before it was kept: then the window is applied
    /// again, which is harmless).
    #[serde(default)]
    pub seen: Vec<(i64, DateTime<Utc>)>,
}

/// The index directory `CURRENT` names, if any.
pub fn current(root: &Path) -> Option<String> {
    let name = std::fs::read_to_string(root.join(CURRENT)).ok()?;
    let name = name.trim();
    // Only a plain directory name of ours is trusted; anything else means "rebuild".
    let ours = name.starts_with("index-") && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    ours.then(|| name.to_string())
}

/// Makes `name` the index in use, atomically.
pub fn set_current(root: &Path, name: &str) -> anyhow::Result<()> {
    let temporary = root.join(format!("{CURRENT}.{}", uuid::Uuid::new_v4().simple()));
    std::fs::write(&temporary, name).with_context(|| format!("cannot write {}", temporary.display()))?;
    std::fs::rename(&temporary, root.join(CURRENT)).context("cannot replace the search index's CURRENT file")?;
    Ok(())
}

/// A fresh directory name for a new index.
pub fn new_name() -> String {
    format!("index-{}", uuid::Uuid::new_v4().simple())
}

pub fn read_position(dir: &Path) -> Option<Position> {
    let text = std::fs::read_to_string(dir.join(POSITION)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Records the position after a commit. Written after the index commit, so a crash in
/// between only means applying some events again, which is harmless.
pub fn write_position(dir: &Path, outbox_id: i64, seen: Vec<(i64, DateTime<Utc>)>) -> anyhow::Result<()> {
    let position = Position {
        outbox_id,
        saved_at: Utc::now(),
        seen,
    };
    let temporary = dir.join(format!("{POSITION}.tmp"));
    std::fs::write(&temporary, serde_json::to_vec(&position)?)?;
    std::fs::rename(&temporary, dir.join(POSITION))?;
    Ok(())
}

/// Removes an index directory that is no longer in use; failing only leaves litter behind.
pub fn remove(dir: &Path) {
    if let Err(err) = std::fs::remove_dir_all(dir)
        && err.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(dir = %dir.display(), error = %err, "an old search index could not be removed");
    }
}

/// Index directories younger than this are left alone by [`remove_abandoned`]: one may be
/// a `curtain reindex` still being built.
const ABANDONED_AFTER: std::time::Duration = std::time::Duration::from_secs(3600);

/// Removes index directories other than `keep` that nobody has touched for an hour: left
/// behind by a `curtain reindex` run while no server was up to adopt its result and delete
/// the index it replaced, or by a crash during a rebuild.
pub fn remove_abandoned(root: &Path, keep: &str) {
    let Ok(entries) = std::fs::read_dir(root) else { return };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let idle = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|modified| modified.elapsed().ok())
            .is_some_and(|idle| idle > ABANDONED_AFTER);
        if name.starts_with("index-") && name != keep && idle {
            tracing::info!(index = name, "removing an abandoned search index");
            remove(&entry.path());
        }
    }
}
