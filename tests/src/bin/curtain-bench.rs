//! Benchmarks that print figures (they assert nothing; the test suite does that).
//!
//! `curtain-bench holds` is P1 of shared/BENCHMARKS.md, the on-sale rush: thousands of
//! buyers, each with their own account, try at the same moment to hold two adjacent seats of
//! one session over HTTP GraphQL on PostgreSQL. It reports answers per second and latency,
//! then checks the database for seats sold twice and seats stranded, and runs the same
//! conditional UPDATE through `pgbench` on the same database as the baseline.
//!
//! `curtain-bench search` is P3, keyword search over a generated catalog (see
//! `curtain_tests::search_bench`).
//!
//! `curtain-bench fanout` is P4, the live seat-map fan-out (see
//! `curtain_tests::fanout_bench`).
//!
//! `curtain-bench coupons` is P6, the coupon rush: thousands of buyers claim one copy of a
//! first-come coupon at the same moment; it reports throughput and latency, then counts the
//! copies issued and the buyers holding two.
//!
//! `curtain-bench abuse` is P8, abuse during an on-sale (see `curtain_tests::abuse_bench`):
//! P1's rush alone and under attack.
//!
//! `curtain-bench drill` is the failure drill (see `curtain_tests::drill`): two server
//! processes, one killed, Redis stopped, PostgreSQL restarted, mid-sale.
//!
//! `curtain-bench waiting-room` is P9, the inventory-aware waiting room (see
//! `curtain_tests::waiting_room_bench`).
//!
//! `curtain-bench reads` is P2, the nested catalog read beside PostGraphile v5; `list` is P5,
//! the public list page under a steady load; `footprint` is P7, start-up time and memory (see
//! `curtain_tests::reads_bench`). These three run the real `curtain` binary as a process of
//! its own pinned to one core, with the load pinned to the other.
//!
//! The other benchmarks' server runs in this process (the real one, over loopback HTTP), so load generator
//! and server share the machine's cores, as pgbench and PostgreSQL do in the baseline.

use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use curtain_tests::abuse_attacker::Attack;
use curtain_tests::bench::{hold_rush, on_sale_performance, on_sale_session, percentile_ms, sign_up_buyers};
use curtain_tests::fixtures::create_coupon;
use curtain_tests::{Backend, TestApp};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;
use tokio::sync::Semaphore;

#[derive(Parser)]
#[command(about = "Curtain benchmarks: print figures side by side with a baseline")]
struct Cli {
    #[command(subcommand)]
    bench: Bench,
    /// Also write the figures as JSON to this file, to compare across commits.
    #[arg(long, global = true)]
    json: Option<std::path::PathBuf>,
}

/// P1's on-sale rush, as `holds` runs it and `abuse` runs it twice.
#[derive(Debug, Clone, Copy, clap::Args)]
struct Rush {
    /// Buyers, each with their own account and one attempt per run.
    #[arg(long, default_value_t = 2_000)]
    buyers: usize,
    /// Seats in each session (rows of 50).
    #[arg(long, default_value_t = 1_000)]
    seats: usize,
    /// Buyers' requests in flight at once (HTTP connections).
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
}

#[derive(Subcommand)]
enum Bench {
    /// P1: concurrent buyers hold 2 seats each in one session (PostgreSQL at
    /// CURTAIN_TEST_DATABASE_URL); baseline: the same UPDATE through pgbench, one
    /// transaction per hold.
    Holds {
        #[command(flatten)]
        rush: Rush,
        /// Run on SQLite in a temporary directory instead of PostgreSQL (baseline: the same
        /// statements, one transaction per hold, from 32 tasks in this process).
        #[arg(long)]
        sqlite: bool,
        /// Also run the rush with every hold in a transaction of its own
        /// (booking.hold_batch_max = 1), side by side with group commit.
        #[arg(long)]
        unbatched: bool,
    },
    /// P3: keyword search over a generated catalog (PostgreSQL at CURTAIN_TEST_DATABASE_URL):
    /// GraphQL beside ILIKE '%q%' and the bare tantivy index.
    Search {
        #[arg(long, default_value_t = 100_000)]
        performances: i64,
        #[arg(long, default_value_t = 20_000)]
        cast: i64,
        #[arg(long, default_value_t = 2_000)]
        venues: i64,
        /// Distinct queries, each run through every path.
        #[arg(long, default_value_t = 300)]
        queries: usize,
    },
    /// P4: WebSocket subscribers watch one session's seat map while its seats change at a
    /// set rate (PostgreSQL at CURTAIN_TEST_DATABASE_URL); every subscriber checks every
    /// delta; reports delivery latency, memory per subscriber and CPU beside the goals.
    Fanout {
        /// Subscribers, each on its own WebSocket (at most what the open-file limit allows).
        #[arg(long, default_value_t = 20_000)]
        subscribers: usize,
        /// Seat changes in all.
        #[arg(long, default_value_t = 30)]
        changes: usize,
        /// Seat changes per second.
        #[arg(long, default_value_t = 1.0)]
        rate: f64,
        /// Server instances on one database and Redis (1 or 2); with 2 the changes go
        /// through the first and half the subscribers watch the second.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=2))]
        instances: u8,
        /// Subscribers ask for coalesced deltas (the default above 20 changes a second).
        #[arg(long)]
        coalesce: Option<bool>,
        /// Execute every subscription on its own, without shared encoding: the plain
        /// GraphQL server, to compare with.
        #[arg(long)]
        own_encoding: bool,
    },
    /// P8: P1's on-sale, alone and then under attack (fragment bombs, alias floods, slow
    /// headers, socket floods from a child process); reports the buyers' hold latency, /healthz
    /// and how the attacks were answered. PostgreSQL at CURTAIN_TEST_DATABASE_URL, or SQLite.
    Abuse {
        #[command(flatten)]
        rush: Rush,
        /// Run on SQLite in a temporary directory instead of PostgreSQL.
        #[arg(long)]
        sqlite: bool,
        #[command(flatten)]
        attack: Attack,
    },
    /// The attacker of `abuse`, run by it in a child process.
    #[command(hide = true)]
    AbuseAttacker {
        #[arg(long)]
        url: String,
        #[arg(long)]
        session: String,
        #[command(flatten)]
        attack: Attack,
    },
    /// The subscribers of `fanout`, run by it in a child process.
    #[command(hide = true)]
    FanoutClient {
        #[command(flatten)]
        plan: curtain_tests::fanout_bench::ClientPlan,
    },
    /// P9: buyers join a session's waiting room at once and are admitted as far as the
    /// seats go until it sells out (PostgreSQL at CURTAIN_TEST_DATABASE_URL, or SQLite).
    WaitingRoom {
        /// Buyers, each with their own account, joining at the same moment.
        #[arg(long, default_value_t = 20_000)]
        buyers: usize,
        /// Seats of the session (rows of 50).
        #[arg(long, default_value_t = 1_000)]
        seats: usize,
        /// Buyers who follow their ticket over a WebSocket; the others ask again.
        #[arg(long, default_value_t = 8_000)]
        subscribers: usize,
        /// How often the buyers without a WebSocket ask.
        #[arg(long, default_value_t = 3)]
        poll_seconds: u64,
        /// Joins in flight at once (HTTP connections).
        #[arg(long, default_value_t = 256)]
        concurrency: usize,
        /// Run on SQLite in a temporary directory instead of PostgreSQL.
        #[arg(long)]
        sqlite: bool,
    },
    /// The failure drill: two server processes on one PostgreSQL and one Redis (the drill's
    /// own, on free ports) sell one session while one instance is killed with SIGKILL, Redis
    /// is stopped and PostgreSQL restarted; reports seats sold twice and stranded,
    /// notifications and index updates lost or doubled, and the survivor's subscribers'
    /// convergence (see `curtain_tests::drill`). Needs PostgreSQL's server binaries and
    /// redis-server; run as root, PostgreSQL runs as the `postgres` user.
    Drill {
        /// Seats of the session (rows of 10).
        #[arg(long, default_value_t = 400)]
        seats: usize,
        /// Buyers, split between the two instances.
        #[arg(long, default_value_t = 100)]
        buyers: usize,
        /// Seat-map subscribers on the instance that is not killed.
        #[arg(long, default_value_t = 200)]
        subscribers: usize,
        /// Seconds each fault lasts, with the sale going on.
        #[arg(long, default_value_t = 6)]
        phase_seconds: u64,
    },
    /// One server of `drill`, configured from the environment, run by it in a child process.
    #[command(hide = true)]
    DrillInstance,
    /// P2: the nested catalog read `performances(first: 20) { venue cast sessions }` on
    /// PostgreSQL (a scratch database on CURTAIN_TEST_DATABASE_URL's server, demo catalog),
    /// Curtain beside PostGraphile v5 (installed with npm from tests/postgraphile's lockfile)
    /// after checking both answer the same; each server on core 0, the load on core 1.
    /// Needs `cargo build --release -p curtain -p curtain-tests`.
    Reads {
        /// Connections of the saturation runs.
        #[arg(long, value_delimiter = ',', default_values_t = [16, 64, 128])]
        connections: Vec<usize>,
        /// Seconds of each run.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Measure Curtain alone.
        #[arg(long)]
        no_postgraphile: bool,
    },
    /// P5: the public performance list page, requests paced evenly over the run, on SQLite
    /// and PostgreSQL (CURTAIN_TEST_DATABASE_URL, when set); server on core 0.
    List {
        #[arg(long, default_value_t = 10_000)]
        requests: u64,
        #[arg(long, default_value_t = 30)]
        seconds: u64,
    },
    /// P7: the `curtain` binary's time from start to ready (first start on an empty
    /// database, loading the demo catalog; then a restart) and its memory at rest, on SQLite
    /// and PostgreSQL (CURTAIN_TEST_DATABASE_URL, when set).
    Footprint,
    /// P6: concurrent buyers claim one coupon of a first-come campaign (PostgreSQL at
    /// CURTAIN_TEST_DATABASE_URL).
    Coupons {
        /// Buyers, each with their own account and one claim.
        #[arg(long, default_value_t = 10_000)]
        buyers: usize,
        /// Copies the campaign gives out.
        #[arg(long, default_value_t = 100)]
        coupons: i32,
        /// Requests in flight at once (HTTP connections).
        #[arg(long, default_value_t = 256)]
        concurrency: usize,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let figures = match cli.bench {
        Bench::Holds {
            rush,
            sqlite,
            unbatched,
        } => holds(&rush, sqlite, unbatched).await?,
        Bench::Reads {
            connections,
            seconds,
            no_postgraphile,
        } => curtain_tests::reads_bench::reads(&connections, seconds, !no_postgraphile).await?,
        Bench::List { requests, seconds } => curtain_tests::reads_bench::list(requests, seconds).await?,
        Bench::Footprint => curtain_tests::reads_bench::footprint().await?,
        Bench::Search {
            performances,
            cast,
            venues,
            queries,
        } => curtain_tests::search_bench::run(performances, cast, venues, queries).await?,
        Bench::Coupons {
            buyers,
            coupons,
            concurrency,
        } => coupon_rush(buyers, coupons, concurrency).await?,
        Bench::Abuse { rush, sqlite, attack } => {
            let Rush {
                buyers,
                seats,
                concurrency,
            } = rush;
            let backend = if sqlite { Backend::Sqlite } else { Backend::Postgres };
            let app = Arc::new(bench_server(backend).await?);
            let figures = curtain_tests::abuse_bench::run(app.clone(), buyers, seats, concurrency, &attack).await?;
            match Arc::try_unwrap(app) {
                Ok(app) => app.stop().await,
                Err(_) => eprintln!("the server is still referenced; its database is left behind"),
            }
            figures
        }
        Bench::AbuseAttacker { url, session, attack } => {
            curtain_tests::abuse_attacker::attacker(&url, &session, &attack).await?;
            return Ok(());
        }
        Bench::WaitingRoom {
            buyers,
            seats,
            subscribers,
            poll_seconds,
            concurrency,
            sqlite,
        } => {
            let backend = if sqlite { Backend::Sqlite } else { Backend::Postgres };
            let app = Arc::new(bench_server(backend).await?);
            let plan = curtain_tests::waiting_room_bench::Plan {
                buyers,
                seats,
                subscribers,
                concurrency,
                poll_seconds,
            };
            let figures = curtain_tests::waiting_room_bench::run(app.clone(), plan).await?;
            match Arc::try_unwrap(app) {
                Ok(app) => app.stop().await,
                Err(_) => eprintln!("the server is still referenced; its database is left behind"),
            }
            figures
        }
        Bench::Fanout {
            subscribers,
            changes,
            rate,
            instances,
            coalesce,
            own_encoding,
        } => {
            if rate <= 0.0 {
                bail!("--rate must be above 0");
            }
            let most = curtain_tests::fanout_bench::max_subscribers();
            let subscribers = if subscribers > most {
                eprintln!(
                    "{subscribers} subscribers would need more open files than this process may have \
                     (`ulimit -n`); running {most}"
                );
                most
            } else {
                subscribers
            };
            let first = fanout_server(instances == 2, own_encoding, None).await?;
            let second = match instances {
                2 => Some(fanout_server(true, own_encoding, Some(&first)).await?),
                _ => None,
            };
            let apps: Vec<&TestApp> = std::iter::once(&first).chain(second.as_ref()).collect();
            let plan = curtain_tests::fanout_bench::Plan {
                subscribers,
                changes,
                rate,
                instances: apps.len(),
                coalesce: coalesce.unwrap_or(rate > 20.0),
            };
            let figures = curtain_tests::fanout_bench::run(&apps, plan).await?;
            if let Some(second) = second {
                second.stop().await;
            }
            first.stop().await;
            figures
        }
        Bench::FanoutClient { plan } => {
            curtain_tests::fanout_bench::client(plan).await?;
            return Ok(());
        }
        Bench::Drill {
            seats,
            buyers,
            subscribers,
            phase_seconds,
        } => {
            let report = curtain_tests::drill::run(curtain_tests::drill::DrillOptions {
                server: std::env::current_exe()?,
                seats,
                buyers,
                subscribers,
                phase: std::time::Duration::from_secs(phase_seconds),
            })
            .await?;
            report.print();
            let problems = report.problems();
            if !problems.is_empty() {
                println!("\nproblems: {}", problems.join("; "));
            }
            serde_json::to_value(&report)?
        }
        Bench::DrillInstance => {
            let settings = curtain::config::Settings::load(None).map_err(|err| anyhow::anyhow!("{err}"))?;
            curtain::telemetry::init(&settings.log);
            curtain::startup::Application::build(settings)
                .await?
                .run_until_stopped()
                .await?;
            return Ok(());
        }
    };
    if let Some(path) = cli.json {
        std::fs::write(&path, serde_json::to_string_pretty(&figures)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// The twin session the baselines use (the newest) and its first seat's id.
async fn twin_session(db: &sea_orm::DatabaseConnection) -> anyhow::Result<(i64, i64)> {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT session_id, MIN(seat_id) FROM session_seats WHERE session_id = (SELECT MAX(id) FROM sessions) GROUP BY session_id"
                .to_string(),
        ))
        .await?
        .context("the twin session")?;
    Ok((row.try_get_by_index(0)?, row.try_get_by_index(1)?))
}

/// pgbench's script on SQLite: the version bump and the conditional UPDATE of two adjacent
/// seats, one write transaction per hold, from 32 tasks over the server's own pool.
async fn sqlite_baseline(db: &sea_orm::DatabaseConnection, seats: usize, transactions: usize) -> anyhow::Result<f64> {
    let (session, base) = twin_session(db).await?;
    let clients = 32.min(transactions).max(1);
    let per_client = (transactions / clients).max(1);
    let started = Instant::now();
    let tasks = (0..clients).map(|_| {
        let db = db.clone();
        tokio::spawn(async move {
            for _ in 0..per_client {
                let a = base + rand::random_range(0..seats.saturating_sub(1).max(1)) as i64;
                let txn = curtain::db::begin_write(&db).await?;
                let backend = txn.get_database_backend();
                txn.execute_raw(Statement::from_string(
                    backend,
                    format!("UPDATE sessions SET seat_map_version = seat_map_version + 1 WHERE id = {session}"),
                ))
                .await?;
                txn.execute_raw(Statement::from_string(
                    backend,
                    format!(
                        "UPDATE session_seats SET status = 'HELD', version = version + 1
                         WHERE session_id = {session} AND seat_id IN ({a}, {}) AND status = 'AVAILABLE'",
                        a + 1
                    ),
                ))
                .await?;
                txn.commit().await?;
            }
            anyhow::Ok(())
        })
    });
    for task in futures::future::join_all(tasks).await {
        task??;
    }
    Ok((clients * per_client) as f64 / started.elapsed().as_secs_f64())
}

/// A server on a fresh database, with log-in limits out of the way.
async fn bench_server(backend: Backend) -> anyhow::Result<TestApp> {
    bench_server_with(backend, None, false).await
}

/// A server for P4: on PostgreSQL, with Redis when there are two instances (the second
/// joining `sibling_of`), encoding per subscriber with `own_encoding`.
async fn fanout_server(redis: bool, own_encoding: bool, sibling_of: Option<&TestApp>) -> anyhow::Result<TestApp> {
    if std::env::var("CURTAIN_TEST_DATABASE_URL").is_err() {
        bail!("set CURTAIN_TEST_DATABASE_URL to a PostgreSQL server, e.g. postgres://postgres@127.0.0.1:5432/postgres");
    }
    if redis && curtain_tests::redis_url().is_none() {
        bail!("two instances talk through Redis: set CURTAIN_TEST_REDIS_URL, e.g. redis://127.0.0.1:6379");
    }
    let configure: fn(&mut curtain::config::Settings) = if own_encoding {
        |settings| {
            settings.websocket.sockets_per_ip = 0;
            settings.websocket.shared_encoding = false;
        }
    } else {
        |settings| settings.websocket.sockets_per_ip = 0
    };
    let (builder, missing) = match sibling_of {
        Some(first) => (first.sibling(), "the second instance"),
        None => (TestApp::builder(Backend::Postgres), "no PostgreSQL"),
    };
    let mut builder = builder.rate_limit_per_minute(1_000_000).configure(configure);
    if redis {
        builder = builder.redis();
    }
    builder.spawn().await.context(missing)
}

/// [`bench_server`] for P1 (`holds`), with `booking.hold_batch_max` set when given.
async fn bench_server_with(backend: Backend, hold_batch_max: Option<usize>, holds: bool) -> anyhow::Result<TestApp> {
    if backend == Backend::Postgres && std::env::var("CURTAIN_TEST_DATABASE_URL").is_err() {
        bail!("set CURTAIN_TEST_DATABASE_URL to a PostgreSQL server, e.g. postgres://postgres@127.0.0.1:5432/postgres");
    }
    let mut builder = TestApp::builder(backend)
        .rate_limit_per_minute(1_000_000)
        // Every fan-out subscriber comes from this machine's one address.
        .configure(|settings| settings.websocket.sockets_per_ip = 0);
    if let Some(batch) = hold_batch_max {
        builder = builder.hold_batch_max(batch);
    }
    if holds {
        // P1 measures holds: a rush with more requests in flight than the server serves
        // at once (256 per core) would measure its 503s instead.
        builder = builder.configure(|settings| settings.server.max_in_flight_requests = Some(8_192));
    }
    builder.spawn().await.context("no PostgreSQL")
}

const CLAIM: &str = "mutation($c: ID!) { claimCoupon(couponId: $c) { id } }";

async fn coupon_rush(buyers: usize, copies: i32, concurrency: usize) -> anyhow::Result<serde_json::Value> {
    let app = Arc::new(bench_server(Backend::Postgres).await?);
    let coupon = create_coupon(&app, copies, json!({ "discountAmount": 5000 })).await;
    let tokens = sign_up_buyers(&app, buyers, "rush").await?;

    eprintln!("{buyers} buyers claim one of {copies} coupons, {concurrency} at a time…");
    let limit = Arc::new(Semaphore::new(concurrency));
    let start_line = Arc::new(tokio::sync::Barrier::new(buyers + 1));
    let mut attempts = Vec::new();
    for token in tokens {
        let (app, limit, start_line, coupon) = (app.clone(), limit.clone(), start_line.clone(), coupon.clone());
        attempts.push(tokio::spawn(async move {
            start_line.wait().await;
            let _permit = limit.acquire().await;
            let started = Instant::now();
            let response = app.post(CLAIM, json!({ "c": coupon }), Some(&token)).await;
            let code = response["errors"][0]["extensions"]["code"].as_str().map(String::from);
            (started.elapsed(), code)
        }));
    }
    start_line.wait().await;
    let began = Instant::now();
    let mut latencies = Vec::new();
    let (mut won, mut sold_out, mut other) = (0usize, 0usize, Vec::new());
    for attempt in attempts {
        let (latency, code) = attempt.await?;
        latencies.push(latency);
        match code.as_deref() {
            None => won += 1,
            Some("COUPON_SOLD_OUT") => sold_out += 1,
            Some(code) => other.push(code.to_string()),
        }
    }
    let elapsed = began.elapsed();
    latencies.sort_unstable();

    let count = |sql: &'static str| {
        let app = app.clone();
        async move {
            let row = app
                .db
                .query_one_raw(Statement::from_string(app.db.get_database_backend(), sql.to_string()))
                .await?
                .context("a row")?;
            anyhow::Ok(row.try_get_by_index::<i64>(0)?)
        }
    };
    let issued = count("SELECT CAST(SUM(issued) AS BIGINT) FROM coupons").await?;
    let copies_held = count("SELECT COUNT(*) FROM user_coupons").await?;
    let users_with_two = count(
        "SELECT COUNT(*) FROM (SELECT user_id FROM user_coupons GROUP BY coupon_id, user_id HAVING COUNT(*) > 1) d",
    )
    .await?;

    let per_second = buyers as f64 / elapsed.as_secs_f64();
    println!("\nP6 coupon rush: {buyers} buyers claim one of {copies} coupons, PostgreSQL, {concurrency} in flight");
    println!("| measure | curtain (HTTP GraphQL) |");
    println!("|---|---|");
    println!("| coupons issued (counter / copies) | {issued} / {copies_held} |");
    println!("| users with two | {users_with_two} |");
    println!(
        "| claims won / COUPON_SOLD_OUT / other errors | {won} / {sold_out} / {} |",
        other.len()
    );
    println!("| claims answered per second | {per_second:.0} |");
    println!(
        "| latency p50 / p99 | {:.1} / {:.1} ms |",
        percentile_ms(&latencies, 0.50),
        percentile_ms(&latencies, 0.99)
    );
    if !other.is_empty() {
        println!("other error codes: {:?}", &other[..other.len().min(10)]);
    }
    let figures = json!({
        "bench": "P6", "buyers": buyers, "coupons": copies, "concurrency": concurrency,
        "issued": issued, "copies": copies_held, "users_with_two": users_with_two,
        "won": won, "sold_out": sold_out, "other_errors": other.len(),
        "claims_per_second": per_second,
        "p50_ms": percentile_ms(&latencies, 0.50),
        "p99_ms": percentile_ms(&latencies, 0.99),
    });
    match Arc::try_unwrap(app) {
        Ok(app) => app.stop().await,
        Err(_) => eprintln!("the server is still referenced; its database is left behind"),
    }
    Ok(figures)
}

/// What one rush measured.
struct RushFigures {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    held: usize,
    unavailable: usize,
    other: Vec<String>,
    checks: curtain_tests::bench::Checks,
    /// Hold requests per transaction, on average (the combiner's own count).
    mean_batch: Option<f64>,
    /// Transactions the combiner ran, and their mean duration in ms.
    batches: Option<(f64, f64)>,
    baseline: anyhow::Result<f64>,
}

impl RushFigures {
    fn json(&self) -> serde_json::Value {
        json!({
            "attempts_per_second": self.per_second,
            "p50_ms": self.p50_ms, "p99_ms": self.p99_ms,
            "held": self.held, "unavailable": self.unavailable, "other_errors": self.other.len(),
            "sold_twice": self.checks.doubly_held, "stranded": self.checks.stranded,
            "counter_ok": self.checks.counter_ok, "mean_batch": self.mean_batch,
            "transactions": self.batches.map(|b| b.0), "transaction_ms": self.batches.map(|b| b.1),
        })
    }
}

async fn holds(rush: &Rush, sqlite: bool, unbatched: bool) -> anyhow::Result<serde_json::Value> {
    let backend = if sqlite { Backend::Sqlite } else { Backend::Postgres };
    let grouped = rush_once(backend, rush, None).await?;
    let single = if unbatched {
        Some(rush_once(backend, rush, Some(1)).await?)
    } else {
        None
    };
    let Rush {
        buyers,
        seats,
        concurrency,
    } = *rush;
    let (name, baseline_name) = if sqlite {
        ("SQLite", "one transaction per hold, in process")
    } else {
        ("PostgreSQL", "pgbench, one transaction per hold")
    };
    let p99_goal = if concurrency >= 1_024 { 250.0 } else { 100.0 };
    println!(
        "\nP1 on-sale contention: {buyers} buyers × 2 seats, {seats}-seat session, {name}, {concurrency} in flight"
    );
    println!(
        "| measure | curtain, group commit | curtain, one hold per transaction | baseline ({baseline_name}) | goal |"
    );
    println!("|---|---|---|---|---|");
    let other = |f: &Option<RushFigures>, show: &dyn Fn(&RushFigures) -> String| {
        f.as_ref().map_or("(--unbatched)".to_string(), show)
    };
    match &grouped.baseline {
        Ok(tps) => println!(
            "| attempts answered per second | {:.0} (**{:.2}×** baseline) | {} | {tps:.0} | ≥ 3× ({:.0}) |",
            grouped.per_second,
            grouped.per_second / tps,
            other(&single, &|f| format!(
                "{:.0} ({:.2}×)",
                f.per_second,
                f.per_second / tps
            )),
            3.0 * tps
        ),
        Err(err) => println!(
            "| attempts answered per second | {:.0} | {} | baseline failed: {err} | ≥ 3× baseline |",
            grouped.per_second,
            other(&single, &|f| format!("{:.0}", f.per_second)),
        ),
    }
    println!(
        "| latency p50 / p99 | {:.1} / **{:.1}** ms | {} | | p99 ≤ {p99_goal:.0} ms |",
        grouped.p50_ms,
        grouped.p99_ms,
        other(&single, &|f| format!("{:.1} / {:.1} ms", f.p50_ms, f.p99_ms)),
    );
    let batch = |f: &RushFigures| match (f.mean_batch, f.batches) {
        (Some(mean), Some((count, ms))) => format!("{mean:.1} ({count:.0} transactions, {ms:.1} ms each)"),
        _ => "?".into(),
    };
    println!(
        "| hold requests per transaction (mean) | {} | {} | 1 | |",
        batch(&grouped),
        other(&single, &|f| batch(f))
    );
    let answers = |f: &RushFigures| format!("{} / {} / {}", f.held, f.unavailable, f.other.len());
    println!(
        "| holds granted / refused (SEAT_UNAVAILABLE) / other errors | {} | {} | | |",
        answers(&grouped),
        other(&single, &|f| answers(f))
    );
    let checks = |f: &RushFigures| {
        format!(
            "{} / {} / {}",
            f.checks.doubly_held,
            f.checks.stranded,
            if f.checks.counter_ok { "yes" } else { "NO" }
        )
    };
    println!(
        "| seats sold twice / stranded / counter exact | {} | {} | | 0 / 0 / yes |",
        checks(&grouped),
        other(&single, &|f| checks(f))
    );
    for figures in std::iter::once(&grouped).chain(&single) {
        if !figures.other.is_empty() {
            println!("other error codes: {:?}", &figures.other[..figures.other.len().min(10)]);
        }
    }
    let mut figures = json!({
        "bench": "P1", "backend": name, "buyers": buyers, "seats": seats, "concurrency": concurrency,
        "pgbench_tps": if sqlite { None } else { grouped.baseline.as_ref().ok() },
        "baseline_tps": grouped.baseline.as_ref().ok(),
        "ratio": grouped.baseline.as_ref().ok().map(|tps| grouped.per_second / tps),
        "p99_goal_ms": p99_goal,
    });
    let object = figures.as_object_mut().expect("an object");
    object.extend(grouped.json().as_object().expect("an object").clone());
    if let Some(single) = &single {
        object.insert("unbatched".into(), single.json());
    }
    Ok(figures)
}

/// One rush on a fresh server (`batch_max` overrides `booking.hold_batch_max`), checked,
/// then the baseline on a twin session of the same database.
async fn rush_once(backend: Backend, rush: &Rush, batch_max: Option<usize>) -> anyhow::Result<RushFigures> {
    let app = bench_server_with(backend, batch_max, true).await?;
    let performance = on_sale_performance(&app, rush.seats).await;
    let sale = on_sale_session(&app, &performance, 2).await?;
    // A twin session for the baseline, so that both start from the same empty hall.
    on_sale_session(&app, &performance, 3).await?;
    let app = Arc::new(app);
    let tokens = sign_up_buyers(&app, rush.buyers, "bench").await?;

    let how = if batch_max == Some(1) {
        "one per transaction"
    } else {
        "group commit"
    };
    eprintln!(
        "{} buyers hold 2 seats each, {} at a time ({how})…",
        rush.buyers, rush.concurrency
    );
    let result = hold_rush(&app, &sale, &tokens, rush.concurrency, "bench").await?;
    let checks = curtain_tests::bench::check_inventory(&app.db).await?;
    let (mean_batch, batches) = match app.metrics_address {
        Some(_) => {
            let sum = app.metric("curtain_hold_batch_size_sum", "").await;
            let count = app.metric("curtain_hold_batch_size_count", "").await;
            let seconds = app.metric("curtain_hold_batch_duration_seconds_sum", "").await;
            (
                (count > 0.0).then(|| sum / count),
                (count > 0.0).then(|| (count, 1000.0 * seconds / count)),
            )
        }
        None => (None, None),
    };
    eprintln!("baseline…");
    let baseline = match backend {
        Backend::Postgres => pgbench_baseline(&app.db, &app.database_url, rush.seats, rush.buyers).await,
        Backend::Sqlite => sqlite_baseline(&app.db, rush.seats, rush.buyers).await,
    };
    let figures = RushFigures {
        per_second: rush.buyers as f64 / result.elapsed.as_secs_f64(),
        p50_ms: percentile_ms(&result.latencies, 0.50),
        p99_ms: percentile_ms(&result.latencies, 0.99),
        held: result.held,
        unavailable: result.unavailable,
        other: result.other,
        checks,
        mean_batch,
        batches,
        baseline,
    };
    match Arc::try_unwrap(app) {
        Ok(app) => app.stop().await,
        Err(_) => eprintln!("the server is still referenced; its database is left behind"),
    }
    Ok(figures)
}

/// The same conditional hold, straight through pgbench on the twin session (same hall, no
/// holds yet) in the same database: version bump, then the conditional UPDATE of two
/// adjacent seats, committed.
async fn pgbench_baseline(
    db: &sea_orm::DatabaseConnection,
    database_url: &str,
    seats: usize,
    transactions: usize,
) -> anyhow::Result<f64> {
    let (session, base) = twin_session(db).await?;
    let script = std::env::temp_dir().join(format!("curtain-p1-{}.sql", std::process::id()));
    std::fs::write(
        &script,
        format!(
            "\\set a random(0, {last})
BEGIN;
UPDATE sessions SET seat_map_version = seat_map_version + 1 WHERE id = {session};
UPDATE session_seats SET status = 'HELD', version = version + 1
 WHERE session_id = {session} AND seat_id IN ({base} + :a, {base} + :a + 1) AND status = 'AVAILABLE';
COMMIT;
",
            last = seats.saturating_sub(2)
        ),
    )?;
    let clients = 32.min(transactions);
    let output = Command::new("pgbench")
        .args([
            "-n",
            "-c",
            &clients.to_string(),
            "-j",
            "2",
            "-t",
            &(transactions / clients).max(1).to_string(),
            "-f",
        ])
        .arg(&script)
        .arg(database_url)
        .output()
        .context("cannot run pgbench (apt-get install postgresql-client)")?;
    let _ = std::fs::remove_file(&script);
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!("pgbench failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    text.lines()
        .find_map(|line| {
            line.strip_prefix("tps = ")?
                .split_whitespace()
                .next()?
                .parse::<f64>()
                .ok()
        })
        .context("no tps in pgbench's output")
}
