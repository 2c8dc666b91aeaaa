//! `curtain reindex`: a fresh index from the database, with a progress bar.

use indicatif::{ProgressBar, ProgressStyle};

use crate::config::Settings;
use crate::db;
use crate::jobs::Progress;

pub async fn reindex(settings: &Settings) -> anyhow::Result<()> {
    if settings.search.in_memory {
        anyhow::bail!("search.in_memory is set: the index is rebuilt at every start, there is nothing to reindex");
    }
    let db = db::connect(&settings.database_url(), 2, None).await?;
    db::migrate(&db).await?;
    let bar = Bar::new();
    let written = super::reindex_on_disk(&db, &settings.search_dir(), &bar).await?;
    bar.0.finish_and_clear();
    println!(
        "Indexed {written} performances, cast members and venues into {}; a running server switches to it within {} ms.",
        settings.search_dir().display(),
        settings.search.catch_up_ms
    );
    Ok(())
}

/// A progress bar on standard error (hidden when that is not a terminal).
struct Bar(ProgressBar);

impl Bar {
    fn new() -> Self {
        let bar = ProgressBar::new(0);
        if let Ok(style) = ProgressStyle::with_template("indexing [{bar:40}] {pos}/{len} ({elapsed})") {
            bar.set_style(style.progress_chars("=> "));
        }
        Self(bar)
    }
}

impl Progress for Bar {
    fn add_total(&self, n: u64) {
        self.0.inc_length(n);
    }
    fn advance(&self, n: u64) {
        self.0.inc(n);
    }
}
