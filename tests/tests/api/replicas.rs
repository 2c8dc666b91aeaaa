//! Read replicas, on the real streaming replica `.ci/run` makes with `pg_basebackup -R`
//! (`CURTAIN_TEST_REPLICA_URL`): lag-tolerant reads land on it, a viewer reads their own
//! writes while it lags, and every read still succeeds while it is down.
//!
//! These tests pause the replica's replay and stop the replica, which every database on it
//! shares, so they run one at a time.

use std::process::Command;
use std::time::{Duration, Instant};

use curtain_tests::fixtures::{create_venue, small_layout};
use curtain_tests::{Backend, TestApp, data, database_name, replica_url};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::json;
use tokio::sync::Mutex;

static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

async fn spawn() -> Option<TestApp> {
    let app = TestApp::builder(Backend::Postgres).replica().spawn().await?;
    wait_for_replica(&app).await;
    Some(app)
}

/// Waits until the server reads from its replica (it has the test's database, caught up).
async fn wait_for_replica(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let health = app.client.get(app.url("/healthz")).send().await.expect("sent");
        let body = health.text().await.expect("body");
        let lag = body
            .split_once("replica 1: up, lag ")
            .and_then(|(_, rest)| rest.split(' ').next()?.parse::<f64>().ok());
        if lag.is_some_and(|lag| lag < 1.0) {
            return;
        }
        assert!(Instant::now() < deadline, "the replica never caught up: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the replica has replayed everything the primary had written when called.
async fn wait_until_replayed(app: &TestApp) {
    let row = app
        .db
        .query_one_raw(Statement::from_string(
            app.db.get_database_backend(),
            // The flush position ends at a record, as the replica's replay position does.
            "SELECT pg_current_wal_flush_lsn()::text",
        ))
        .await
        .expect("the primary's position")
        .expect("a row");
    let written: String = row.try_get_by_index(0).expect("an LSN");
    let admin = replica_admin().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let row = admin
            .query_one_raw(Statement::from_sql_and_values(
                admin.get_database_backend(),
                "SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn",
                [written.clone().into()],
            ))
            .await
            .expect("the replica's position")
            .expect("a row");
        if row.try_get_by_index::<bool>(0).expect("a bool") {
            return;
        }
        assert!(Instant::now() < deadline, "the replica never replayed up to {written}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The replica cluster, as the PostgreSQL superuser, on its `postgres` database.
async fn replica_admin() -> DatabaseConnection {
    let url = replica_url().expect("replica URL");
    let base = url.trim_end_matches(database_name(&url));
    Database::connect(format!("{base}postgres"))
        .await
        .expect("the replica answers")
}

async fn execute(db: &DatabaseConnection, sql: &str) {
    db.execute_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// What the replica's own backends on `database` last ran: evidence, on the replica's side,
/// of what was read there.
async fn replica_queries(database: &str) -> Vec<String> {
    let admin = replica_admin().await;
    let rows = admin
        .query_all_raw(Statement::from_sql_and_values(
            admin.get_database_backend(),
            "SELECT query FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend'",
            [database.into()],
        ))
        .await
        .expect("pg_stat_activity");
    rows.iter()
        .filter_map(|row| row.try_get_by_index::<String>(0).ok())
        .collect()
}

const VENUES: &str = "{ venues(first: 5) { edges { node { id name } } } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_tolerant_reads_land_on_the_replica_and_writes_never_do() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let Some(app) = spawn().await else { return };
    // A mutation on a replica would fail ("cannot execute INSERT in a read-only
    // transaction"): that it works shows it went to the primary.
    let venue = create_venue(&app, "복제 극장", small_layout(4)).await;
    wait_until_replayed(&app).await;
    wait_for_replica(&app).await;

    let primary_before = app.metric("curtain_db_statements_total", r#"origin="request""#).await;
    for _ in 0..20 {
        let response = app.gql(VENUES, json!({})).await;
        let names: Vec<&str> = data(&response)["venues"]["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .filter_map(|edge| edge["node"]["name"].as_str())
            .collect();
        assert_eq!(names, ["복제 극장"]);
    }
    let primary_after = app.metric("curtain_db_statements_total", r#"origin="request""#).await;
    assert!(
        app.metric("curtain_db_read_routes_total", r#"target="replica""#).await >= 20.0,
        "{}",
        app.metrics_text().await
    );
    assert_eq!(
        primary_after, primary_before,
        "anonymous catalog reads ran no statement on the primary"
    );
    let database = database_name(&app.database_url).to_string();
    let seen = replica_queries(&database).await;
    // pg_stat_activity shows each connection's last statement: a query's reads run in one
    // read-only transaction, so that is its COMMIT (or the venue read itself). With no
    // request statement on the primary, the answers above came from there.
    assert!(
        seen.iter()
            .any(|query| query.contains("\"venues\"") || query == "COMMIT"),
        "the replica ran the venue reads: {seen:?}"
    );
    assert!(
        app.metric("curtain_db_read_routes_total", r#"target="primary_writes""#)
            .await
            >= 1.0
    );

    // The admin's own read after their write may go to the replica only once it has it.
    let response = app
        .admin("query($id: ID!) { venue(id: $id) { name } }", json!({ "id": venue }))
        .await;
    assert_eq!(data(&response)["venue"]["name"], "복제 극장");
    app.stop().await;
}

/// Resumes replay when dropped, so that a failing test does not leave the replica paused.
struct Paused;

impl Drop for Paused {
    fn drop(&mut self) {
        let resume = std::thread::spawn(|| {
            tokio::runtime::Runtime::new().expect("runtime").block_on(async {
                execute(&replica_admin().await, "SELECT pg_wal_replay_resume()").await;
            });
        });
        let _ = resume.join();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_reads_what_they_just_created_while_replay_is_paused() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let Some(app) = spawn().await else { return };
    let admin = replica_admin().await;
    execute(&admin, "SELECT pg_wal_replay_pause()").await;
    let _resume = Paused;

    let venue = create_venue(&app, "멈춘 복제", small_layout(4)).await;
    let own_before = app
        .metric("curtain_db_read_routes_total", r#"target="primary_own_write""#)
        .await;
    // The writer: routed to the primary until the replica has replayed the write.
    let response = app
        .admin("query($id: ID!) { venue(id: $id) { name } }", json!({ "id": venue }))
        .await;
    assert_eq!(data(&response)["venue"]["name"], "멈춘 복제");
    let response = app.admin(VENUES, json!({})).await;
    assert_eq!(data(&response)["venues"]["edges"][0]["node"]["name"], "멈춘 복제");
    assert!(
        app.metric("curtain_db_read_routes_total", r#"target="primary_own_write""#)
            .await
            >= own_before + 2.0
    );

    // Everyone else keeps reading: from the replica (its older state) while it is within the
    // lag bound (5 s here), then from the primary once it is not.
    let started = Instant::now();
    while app
        .metric("curtain_db_read_routes_total", r#"target="primary_no_healthy_replica""#)
        .await
        < 1.0
    {
        let response = app.gql(VENUES, json!({})).await;
        data(&response);
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the lagging replica was never skipped"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let response = app
        .gql("query($id: ID!) { venue(id: $id) { name } }", json!({ "id": venue }))
        .await;
    assert_eq!(
        data(&response)["venue"]["name"],
        "멈춘 복제",
        "past the lag bound, anonymous reads go to the primary"
    );
    assert!(
        app.metric("curtain_db_read_routes_total", r#"target="primary_no_healthy_replica""#)
            .await
            >= 1.0,
        "{}",
        app.metrics_text().await
    );
    let health = app.client.get(app.url("/healthz")).send().await.expect("sent");
    assert_eq!(
        health.status(),
        reqwest::StatusCode::OK,
        "a lagging replica never fails liveness"
    );

    drop(_resume);
    wait_for_replica(&app).await;
    let replica_before = app.metric("curtain_db_read_routes_total", r#"target="replica""#).await;
    let response = app.gql(VENUES, json!({})).await;
    assert_eq!(data(&response)["venues"]["edges"][0]["node"]["name"], "멈춘 복제");
    assert!(
        app.metric("curtain_db_read_routes_total", r#"target="replica""#).await > replica_before,
        "caught up, the replica serves again by itself"
    );
    app.stop().await;
}

/// The replica's cluster, started and stopped with `pg_ctl` as the `postgres` user; `None`
/// (loudly) without `CURTAIN_TEST_REPLICA_DATA_DIR`.
fn replica_cluster() -> Option<(String, String)> {
    let dir = curtain_tests::test_env("CURTAIN_TEST_REPLICA_DATA_DIR", "the stopped-replica test")?;
    let bindir = Command::new("pg_config").arg("--bindir").output().expect("pg_config");
    let bindir = String::from_utf8(bindir.stdout).expect("utf-8").trim().to_string();
    Some((format!("{bindir}/pg_ctl"), dir))
}

fn pg_ctl(pg_ctl: &str, dir: &str, args: &[&str]) {
    let status = Command::new("runuser")
        .args(["-u", "postgres", "--", pg_ctl, "-D", dir, "-w"])
        .args(args)
        .status()
        .expect("runuser pg_ctl");
    assert!(status.success(), "pg_ctl {args:?} failed");
}

/// Starts the replica again when dropped, whatever the test did.
struct Stopped(String, String);

impl Drop for Stopped {
    fn drop(&mut self) {
        let log = format!("{}/replica.log", self.1);
        pg_ctl(&self.0, &self.1, &["-l", &log, "start"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_read_succeeds_with_the_replica_stopped() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let Some((pg_ctl_path, dir)) = replica_cluster() else {
        return;
    };
    let Some(app) = spawn().await else { return };
    let venue = create_venue(&app, "꺼진 복제", small_layout(4)).await;
    wait_until_replayed(&app).await;
    wait_for_replica(&app).await;
    // Pooled connections to the replica exist now: the first reads after the stop find them
    // dead, fail there, and are answered from the primary.
    data(&app.gql(VENUES, json!({})).await);

    pg_ctl(&pg_ctl_path, &dir, &["-m", "fast", "stop"]);
    let started = Stopped(pg_ctl_path, dir);
    for _ in 0..20 {
        let response = app.gql(VENUES, json!({})).await;
        assert_eq!(data(&response)["venues"]["edges"][0]["node"]["name"], "꺼진 복제");
        let response = app
            .gql("query($id: ID!) { venue(id: $id) { name } }", json!({ "id": venue }))
            .await;
        assert_eq!(data(&response)["venue"]["name"], "꺼진 복제");
    }
    let health = app.client.get(app.url("/healthz")).send().await.expect("sent");
    assert_eq!(health.status(), reqwest::StatusCode::OK);
    assert!(health.text().await.expect("body").contains("replica 1: down"));

    drop(started);
    wait_for_replica(&app).await;
    let before = app.metric("curtain_db_read_routes_total", r#"target="replica""#).await;
    data(&app.gql(VENUES, json!({})).await);
    assert!(
        app.metric("curtain_db_read_routes_total", r#"target="replica""#).await > before,
        "back, the replica serves again without a restart"
    );
    app.stop().await;
}
