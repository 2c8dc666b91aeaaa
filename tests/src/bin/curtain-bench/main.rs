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

mod baselines;
mod cli;
mod coupons;
mod holds;
mod servers;

use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Parser;
use curtain_tests::{Backend, TestApp};

use self::cli::{Bench, Cli, Rush};
use self::coupons::coupon_rush;
use self::holds::holds;
use self::servers::{bench_server, fanout_server};

/// The allocator of the `curtain` binary, so that the servers run in this process (P4's
/// memory per subscriber above all) measure as the shipped one would.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
            paced_seconds,
            no_postgraphile,
        } => curtain_tests::reads_bench::reads(&connections, seconds, paced_seconds, !no_postgraphile).await?,
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
