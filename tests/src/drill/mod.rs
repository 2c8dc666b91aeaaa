//! The failure drill: two real server processes on one PostgreSQL and one Redis sell one
//! session to buyers split across them, while the drill kills one instance with SIGKILL,
//! stops Redis, and restarts PostgreSQL. Then it counts what a box office would ask about:
//! seats sold twice, seats stranded, notifications lost or doubled, index updates lost, and
//! how long the survivor's seat-map subscribers took to match the database.
//!
//! The drill runs its own PostgreSQL cluster (`initdb`, as the `postgres` user when run as
//! root) and its own `redis-server`, on free ports, so that stopping and restarting them
//! disturbs nothing else on the machine. The servers are the real serve path (settings from
//! the environment, `Application::build`, `run_until_stopped`), run by the `curtain-bench`
//! binary's hidden `drill-instance` command.

mod buyers;
mod services;
mod subscribers;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};

use buyers::{Api, Fault, Sale, Tally, buy, sign_up};
use services::{Instance, OwnPostgres, OwnRedis};
use subscribers::Subscribers;

/// How long a hold lasts in the drill: short, so that the dead instance's holds lapse
/// within the run.
const HOLD_SECONDS: u64 = 4;
#[derive(Debug, Clone)]
pub struct DrillOptions {
    /// The `curtain-bench` binary, which runs each server with `drill-instance`.
    pub server: PathBuf,
    pub seats: usize,
    pub buyers: usize,
    /// Seat-map subscribers on the instance that survives.
    pub subscribers: usize,
    /// How long each of the three faults lasts, with the sale going on.
    pub phase: Duration,
}

/// What the drill counted.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct DrillReport {
    pub hold_attempts: u64,
    pub holds: u64,
    pub confirmed: u64,
    /// Answers by error code, over the whole sale.
    pub answers: std::collections::BTreeMap<String, u64>,
    /// Requests that got no HTTP answer (the killed instance, before the buyer moved on).
    pub transport_errors: u64,
    pub oversold: i64,
    pub stranded: i64,
    /// The stranded seats by the state of their seat and of their reservation, to say why.
    pub stranded_detail: Vec<String>,
    /// Seats still HELD past their hold's end once the sweeper has had its turn.
    pub lapsed_still_held: i64,
    pub counter_exact: bool,
    pub lost_notifications: i64,
    pub duplicated_notifications: i64,
    pub lost_index_updates: u64,
    pub subscribers: usize,
    pub converged_within_2s: usize,
    pub convergence_ms_max: f64,
    /// Gaps in the version chain a subscriber saw without a snapshot to cover them.
    pub unrepaired_gaps: u64,
    pub redis: FaultFigures,
    pub postgres: FaultFigures,
    pub kill: FaultFigures,
}

/// One fault: what buyers were answered meanwhile, and how long after it ended the first
/// hold went through again.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct FaultFigures {
    pub attempts: u64,
    pub holds: u64,
    pub unavailable: u64,
    /// Answers other than a hold or a clear refusal: INTERNAL_SERVER_ERROR and the like.
    pub unclear: u64,
    /// Those answers by error code.
    pub unclear_codes: std::collections::BTreeMap<String, u64>,
    pub recovered_ms: Option<f64>,
}

impl DrillReport {
    /// The drill's verdict: every invariant held.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut check = |ok: bool, what: String| {
            if !ok {
                problems.push(what);
            }
        };
        check(self.oversold == 0, format!("{} seats sold twice", self.oversold));
        check(
            self.stranded == 0,
            format!("{} seats stranded: {:?}", self.stranded, self.stranded_detail),
        );
        check(
            self.lapsed_still_held == 0,
            format!("{} lapsed holds still held", self.lapsed_still_held),
        );
        check(self.counter_exact, "the available-seat counter is off".into());
        check(
            self.lost_notifications == 0,
            format!("{} notifications lost", self.lost_notifications),
        );
        check(
            self.duplicated_notifications == 0,
            format!("{} notifications doubled", self.duplicated_notifications),
        );
        check(
            self.lost_index_updates == 0,
            format!("{} index updates lost", self.lost_index_updates),
        );
        check(
            self.converged_within_2s == self.subscribers,
            format!(
                "{} of {} subscribers converged within 2 s",
                self.converged_within_2s, self.subscribers
            ),
        );
        check(self.holds > 0, "no hold went through".into());
        for (name, fault) in [
            ("kill", &self.kill),
            ("redis", &self.redis),
            ("postgres", &self.postgres),
        ] {
            check(
                fault.unclear == 0,
                format!(
                    "{} unclear answers during the {name} fault: {:?}",
                    fault.unclear, fault.unclear_codes
                ),
            );
            check(
                fault.recovered_ms.is_some(),
                format!("holds never went through again after the {name} fault"),
            );
        }
        problems
    }

    pub fn print(&self) {
        let ms = |v: Option<f64>| v.map_or("never".to_string(), |v| format!("{v:.0} ms"));
        println!("| | figure | goal |");
        println!("|---|---|---|");
        println!(
            "| hold attempts / holds / confirmed | {} / {} / {} | |",
            self.hold_attempts, self.holds, self.confirmed
        );
        println!("| seats sold twice | {} | 0 |", self.oversold);
        println!(
            "| seats stranded / lapsed holds still held | {} / {} | 0 / 0 |",
            self.stranded, self.lapsed_still_held
        );
        println!("| available-seat counter exact | {} | yes |", self.counter_exact);
        println!(
            "| notifications lost / doubled | {} / {} | 0 / 0 |",
            self.lost_notifications, self.duplicated_notifications
        );
        println!("| index updates lost | {} | 0 |", self.lost_index_updates);
        println!(
            "| survivor's subscribers converged ≤ 2 s | {} of {} (slowest {:.0} ms) | all |",
            self.converged_within_2s, self.subscribers, self.convergence_ms_max
        );
        for (name, fault) in [
            ("kill -9 one instance", &self.kill),
            ("Redis stopped", &self.redis),
            ("PostgreSQL restarted", &self.postgres),
        ] {
            println!(
                "| {name}: attempts / holds / UNAVAILABLE / unclear | {} / {} / {} / {} | unclear 0 |",
                fault.attempts, fault.holds, fault.unavailable, fault.unclear
            );
            println!(
                "| {name}: first hold after it ended | {} | recovers by itself |",
                ms(fault.recovered_ms)
            );
        }
        println!(
            "| requests with no answer (killed instance) | {} | |",
            self.transport_errors
        );
        let answers: Vec<String> = self.answers.iter().map(|(code, n)| format!("{code} {n}")).collect();
        println!("| answers by code | {} | |", answers.join(", "));
    }
}

/// Runs the drill.
pub async fn run(options: DrillOptions) -> anyhow::Result<DrillReport> {
    let work = tempfile::Builder::new().prefix("curtain-drill-").tempdir()?;
    let postgres = OwnPostgres::start(work.path()).await?;
    let mut redis = OwnRedis::start(work.path())?;
    let database_url = postgres.url();
    let redis_url = redis.url();
    let mut a = Instance::start(&options.server, work.path(), "a", &database_url, &redis_url).await?;
    let b = Instance::start(&options.server, work.path(), "b", &database_url, &redis_url).await?;
    let db = Database::connect(&database_url).await?;
    let mut auth = curtain::config::Settings::default().auth;
    auth.argon2_memory_kib = 1024;
    auth.argon2_iterations = 1;
    crate::create_admin(&db, &auth).await;
    let admin = Api::new(&a.base)
        .log_in(crate::ADMIN_EMAIL, crate::ADMIN_PASSWORD)
        .await?;

    let sale = Sale::create(&Api::new(&a.base), &admin, options.seats).await?;
    let buyers = sign_up(&Api::new(&b.base), options.buyers).await?;
    let subscribers = Subscribers::start(&b.base, &sale.session, options.subscribers).await?;
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let nodes = Arc::new([a.base.clone(), b.base.clone()]);
    let mut tasks = Vec::new();
    for (index, token) in buyers.into_iter().enumerate() {
        tasks.push(tokio::spawn(buy(
            nodes.clone(),
            index % 2,
            token,
            sale.clone(),
            tally.clone(),
            stop.clone(),
        )));
    }
    let half = options.phase / 2;
    let mut titles = Vec::new();
    let mut report = DrillReport::default();

    // 1. SIGKILL one instance mid-sale; its buyers move to the other; it comes back.
    tokio::time::sleep(half).await;
    titles.push(sale.rename(&Api::new(&a.base), &admin, "킬 직전").await?);
    tally.begin(Fault::Kill);
    a.kill();
    tokio::time::sleep(half).await;
    a = Instance::start(&options.server, work.path(), "a", &database_url, &redis_url).await?;
    report.kill = tally.end().await;

    // 2. Redis stopped: bookings stay correct, subscribers converge by the version check.
    tokio::time::sleep(half).await;
    tally.begin(Fault::Redis);
    redis.stop();
    tokio::time::sleep(half).await;
    // Sign-ins cannot be checked without Redis (the deny-list fails closed), so the admin API
    // refuses too: the change is made as a job or the CLI would, straight through the domain.
    titles.push(sale.rename_in_database(&db, "레디스 정지 중").await?);
    tokio::time::sleep(half).await;
    tokio::task::block_in_place(|| redis.restart())?;
    report.redis = tally.end().await;

    // 3. PostgreSQL restarted: UNAVAILABLE meanwhile, pools recover by themselves.
    tokio::time::sleep(half).await;
    tally.begin(Fault::Postgres);
    tokio::task::block_in_place(|| postgres.restart())?;
    tokio::time::sleep(half).await;
    report.postgres = tally.end().await;
    titles.push(sale.rename(&Api::new(&a.base), &admin, "마지막 이름").await?);
    tokio::time::sleep(half).await;

    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        let _ = task.await;
    }
    // Every hold lapses and the sweeper (every second) gives the seats back; the relay
    // publishes what is left.
    tokio::time::sleep(Duration::from_secs(HOLD_SECONDS + 2)).await;
    wait_for(
        &db,
        "payments left PAYING to be reconciled",
        "SELECT COUNT(*) FROM reservations WHERE status = 'PAYING'",
    )
    .await?;
    wait_for(
        &db,
        "the outbox to be drained",
        "SELECT COUNT(*) FROM outbox WHERE published_at IS NULL",
    )
    .await?;

    tally.fill(&mut report);
    let checks = crate::bench::check_inventory(&db).await?;
    report.oversold = checks.doubly_held;
    report.stranded = checks.stranded;
    if checks.stranded > 0 {
        report.stranded_detail = stranded_detail(&db).await?;
    }
    report.counter_exact = checks.counter_ok;
    report.lapsed_still_held = count(
        &db,
        "SELECT COUNT(*) FROM session_seats WHERE status = 'HELD' AND hold_expires_at < now() - interval '2 seconds'",
    )
    .await?;
    report.confirmed = count(&db, "SELECT COUNT(*) FROM reservations WHERE status = 'CONFIRMED'").await? as u64;
    report.lost_notifications = count(
        &db,
        "SELECT COUNT(*) FROM reservations r WHERE NOT EXISTS (
             SELECT 1 FROM notifications n WHERE n.dedupe_key = 'reservation:' || r.id || ':HOLD_PLACED')",
    )
    .await?
        + count(
            &db,
            "SELECT COUNT(*) FROM reservations r WHERE r.status = 'CONFIRMED' AND NOT EXISTS (
             SELECT 1 FROM notifications n WHERE n.dedupe_key = 'reservation:' || r.id || ':PAYMENT_CONFIRMED')",
        )
        .await?;
    report.duplicated_notifications = count(
        &db,
        "SELECT COUNT(*) FROM (SELECT 1 FROM notifications GROUP BY user_id, dedupe_key HAVING COUNT(*) > 1) d",
    )
    .await?;
    let last_title = titles.last().cloned().unwrap_or_default();
    for node in [&a.base, &b.base] {
        if !sale.searchable(&Api::new(node), &last_title).await {
            report.lost_index_updates += 1;
        }
    }
    let convergence = subscribers.converge(&db, sale.session_id).await?;
    report.subscribers = convergence.len();
    report.converged_within_2s = convergence
        .iter()
        .filter(|c| c.is_some_and(|d| d <= Duration::from_secs(2)))
        .count();
    report.convergence_ms_max = convergence
        .iter()
        .map(|c| c.map_or(f64::INFINITY, |d| d.as_secs_f64() * 1000.0))
        .fold(0.0, f64::max);
    report.unrepaired_gaps = subscribers.gaps();
    subscribers.stop();
    a.kill();
    drop(b);
    db.close().await.ok();
    drop(postgres);
    Ok(report)
}

/// Seat status, reservation status and reservation-seat activity of every seat whose seat
/// row and reservation rows disagree, with how many are so.
async fn stranded_detail(db: &DatabaseConnection) -> anyhow::Result<Vec<String>> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT CAST(ss.status AS TEXT), COALESCE(CAST(r.status AS TEXT), '-'), rs.active,
                    ss.reservation_id IS NOT DISTINCT FROM rs.reservation_id, COUNT(*)
             FROM reservation_seats rs
             JOIN session_seats ss ON ss.session_id = rs.session_id AND ss.seat_id = rs.seat_id
             LEFT JOIN reservations r ON r.id = rs.reservation_id
             WHERE rs.active AND (ss.reservation_id IS DISTINCT FROM rs.reservation_id OR ss.status = 'AVAILABLE')
             GROUP BY 1, 2, 3, 4
             UNION ALL
             SELECT CAST(ss.status AS TEXT), COALESCE(CAST(r.status AS TEXT), '-'), NULL, NULL, COUNT(*)
             FROM session_seats ss LEFT JOIN reservations r ON r.id = ss.reservation_id
             WHERE ss.status = 'HELD' AND (r.id IS NULL OR r.status <> 'HELD')
             GROUP BY 1, 2"
                .to_string(),
        ))
        .await?;
    rows.iter()
        .map(|row| {
            let seat: String = row.try_get_by_index(0)?;
            let reservation: String = row.try_get_by_index(1)?;
            let active: Option<bool> = row.try_get_by_index(2)?;
            let same: Option<bool> = row.try_get_by_index(3)?;
            let n: i64 = row.try_get_by_index(4)?;
            Ok(format!(
                "seat {seat}, reservation {reservation}, reservation seat active {active:?}, same reservation {same:?}: {n}"
            ))
        })
        .collect()
}

async fn count(db: &DatabaseConnection, sql: &str) -> anyhow::Result<i64> {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql.to_string()))
        .await?
        .context("a row")?;
    Ok(row.try_get_by_index::<i64>(0)?)
}

/// Waits up to 20 s for `sql` to count nothing.
async fn wait_for(db: &DatabaseConnection, what: &str, sql: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while count(db, sql).await? > 0 {
        if Instant::now() > deadline {
            bail!("waited 20 s for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}
