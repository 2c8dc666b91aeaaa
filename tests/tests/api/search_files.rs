//! The search index on disk: caught up from its saved position at start-up rather than
//! rebuilt, and replaced by `curtain reindex` under a running server.

use std::path::Path;
use std::time::{Duration, Instant};

use curtain::config::Settings;
use curtain::domain::cast::{self, CastMemberFields};
use curtain::search::SearchService;
use curtain_tests::fixtures::{self, small_layout};
use curtain_tests::{Backend, TestApp, data};
use search_index::{Kind, SearchRequest};
use serde_json::json;

fn index_dirs(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|name| name.starts_with("index-"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn current(root: &Path) -> String {
    std::fs::read_to_string(root.join("CURRENT"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

async fn member(db: &sea_orm::DatabaseConnection, name: &str) {
    let fields = CastMemberFields {
        name: Some(name.into()),
        ..CastMemberFields::default()
    };
    assert!(cast::create_cast_member(db, fields).await.is_ok());
}

async fn finds(service: &SearchService, query: &str) -> usize {
    let today = chrono::Utc::now().date_naive();
    let mut request = SearchRequest::new(query, today);
    request.kinds = Some(vec![Kind::CastMember]);
    match service.search(request).await {
        Ok(results) => results.total,
        Err(_) => panic!("searching {query:?} failed"),
    }
}

/// Settings keeping their files (SQLite database, search index) in `dir`, and that
/// database, migrated.
async fn migrated_in(dir: &Path) -> (Settings, sea_orm::DatabaseConnection) {
    let settings = Settings {
        data_dir: dir.to_path_buf(),
        ..Settings::default()
    };
    let db = curtain::db::connect(&settings.database_url(), 2, None)
        .await
        .expect("SQLite");
    curtain::db::migrate(&db).await.expect("migrated");
    (settings, db)
}

/// Opens the on-disk index as a server's start does.
async fn open_index(db: &sea_orm::DatabaseConnection, settings: &Settings) -> SearchService {
    let kv = curtain::infra::kv::connect(None, "").await.expect("in-process store");
    SearchService::open(db.clone(), settings, kv, Default::default())
        .await
        .expect("the index opens")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_index_catches_up_from_its_saved_position_instead_of_rebuilding() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (settings, db) = migrated_in(dir.path()).await;
    let open = || open_index(&db, &settings);
    let root = settings.search_dir();

    member(&db, "첫째배우").await;
    let first = open().await;
    assert_eq!(finds(&first, "첫째배우").await, 1, "built from the database");
    let built = current(&root);
    assert_eq!(index_dirs(&root), vec![built.clone()]);
    drop(first);

    member(&db, "둘째배우").await;
    let second = open().await;
    assert_eq!(
        finds(&second, "둘째배우").await,
        1,
        "a change made while it was closed is caught up"
    );
    assert_eq!(finds(&second, "첫째배우").await, 1);
    assert_eq!(current(&root), built, "the same index, not a rebuild");
    drop(second);

    let abandoned = root.join("index-abandoned");
    std::fs::create_dir(&abandoned).expect("an abandoned index");
    let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(7200);
    std::fs::File::open(&abandoned)
        .and_then(|dir| dir.set_modified(two_hours_ago))
        .expect("aged");
    let fresh = root.join("index-being-built");
    std::fs::create_dir(&fresh).expect("an index being built");
    let reopened = open().await;
    let mut expected = vec![built.clone(), "index-being-built".to_string()];
    expected.sort();
    assert_eq!(
        index_dirs(&root),
        expected,
        "abandoned indexes are removed, recent ones kept"
    );
    drop(reopened);
    std::fs::remove_dir(&fresh).expect("removed");

    std::fs::remove_file(root.join(&built).join("position.json")).expect("position removed");
    let third = open().await;
    assert_eq!(finds(&third, "둘째배우").await, 1);
    assert_ne!(current(&root), built, "an index without a position is rebuilt");
    drop(third);
    db.close().await.ok();
}

/// The catalog events of the last minutes are applied once: not again by the catch-up that
/// follows a build (the build read what they changed), nor at a restart (the position file
/// says which were applied). Either would re-index documents and commit, which shows as a
/// higher generation than an index built straight from the same database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recent_events_a_build_or_a_restart_already_has_are_not_applied_again() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (settings, db) = migrated_in(dir.path()).await;
    let open = || open_index(&db, &settings);
    for name in ["첫째배우", "둘째배우", "셋째배우"] {
        member(&db, name).await;
    }

    let reference = dir.path().join("reference");
    curtain::search::reindex_on_disk(&db, &reference, &curtain::jobs::NoProgress)
        .await
        .expect("a plain build");
    let built = search_index::SearchIndex::open_in_dir(reference.join(current(&reference)))
        .expect("the plain build opens")
        .generation();

    let first = open().await;
    assert_eq!(finds(&first, "둘째배우").await, 1);
    let opened = first.current_index().generation();
    assert_eq!(
        opened, built,
        "the first start applied the recent events again after its build"
    );
    drop(first);

    let again = open().await;
    assert_eq!(
        again.current_index().generation(),
        opened,
        "the restart applied events the index already had"
    );
    member(&db, "넷째배우").await;
    assert_eq!(again.catch_up().await.expect("caught up"), 1, "a new event is applied");
    assert_eq!(finds(&again, "넷째배우").await, 1);
    drop(again);

    let third = open().await;
    assert_eq!(finds(&third, "넷째배우").await, 1);
    assert_eq!(third.catch_up().await.expect("caught up"), 0);
    drop(third);
    db.close().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_server_switches_to_the_index_curtain_reindex_builds() {
    let app = TestApp::builder(Backend::Sqlite)
        .search_on_disk()
        .spawn()
        .await
        .expect("SQLite");
    let root = app.state.settings.search_dir();
    let before = current(&root);
    fixtures::create_venue(&app, "교체 전 극장", small_layout(2)).await;
    searchable(&app, 1).await;

    let indexed = curtain::search::reindex_on_disk(&app.db, &root, &curtain::jobs::NoProgress)
        .await
        .expect("reindexed");
    assert_eq!(indexed, 1);
    let rebuilt = current(&root);
    assert_ne!(rebuilt, before);

    let started = Instant::now();
    while index_dirs(&root) != vec![rebuilt.clone()] && started.elapsed() < Duration::from_secs(3) {
        let response = app.gql("{ search(query: \"교체\") { totalCount } }", json!(null)).await;
        assert_eq!(
            data(&response)["search"]["totalCount"],
            1,
            "searches go on during the swap"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        index_dirs(&root),
        vec![rebuilt],
        "the server took the new index and removed the old one"
    );

    fixtures::create_venue(&app, "교체 후 극장", small_layout(2)).await;
    searchable(&app, 2).await;
    app.stop().await;
}

/// Waits up to two seconds for `count` venues to match.
async fn searchable(app: &TestApp, count: i64) {
    let started = Instant::now();
    loop {
        let response = app.gql("{ search(query: \"교체\") { totalCount } }", json!(null)).await;
        if data(&response)["search"]["totalCount"] == count {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{count} venues become searchable"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
