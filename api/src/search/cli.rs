//! `curtain reindex`: a fresh index from the database, with a progress bar.

use crate::config::Settings;
use crate::db;
use crate::jobs::Bar;

pub async fn reindex(settings: &Settings) -> anyhow::Result<()> {
    if settings.search.in_memory {
        anyhow::bail!("search.in_memory is set: the index is rebuilt at every start, there is nothing to reindex");
    }
    let db = db::connect(&settings.database_url(), 2, None).await?;
    db::migrate(&db).await?;
    let bar = Bar::new("indexing");
    let written = super::reindex_on_disk(&db, &settings.search_dir(), &bar).await?;
    bar.finish();
    println!(
        "Indexed {written} performances, cast members and venues into {}; a running server switches to it within {} ms.",
        settings.search_dir().display(),
        settings.search.catch_up_ms
    );
    Ok(())
}
