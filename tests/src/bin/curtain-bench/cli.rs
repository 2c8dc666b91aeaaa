//! The command line: each benchmark a subcommand, with its flags and their defaults (the doc
//! comments here are what `--help` prints).

use clap::{Parser, Subcommand};
use curtain_tests::abuse_attacker::Attack;

#[derive(Parser)]
#[command(about = "Curtain benchmarks: print figures side by side with a baseline")]
pub(super) struct Cli {
    #[command(subcommand)]
    pub(super) bench: Bench,
    /// Also write the figures as JSON to this file, to compare across commits.
    #[arg(long, global = true)]
    pub(super) json: Option<std::path::PathBuf>,
}

/// P1's on-sale rush, as `holds` runs it and `abuse` runs it twice.
#[derive(Debug, Clone, Copy, clap::Args)]
pub(super) struct Rush {
    /// Buyers, each with their own account and one attempt per run.
    #[arg(long, default_value_t = 2_000)]
    pub(super) buyers: usize,
    /// Seats in each session (rows of 50).
    #[arg(long, default_value_t = 1_000)]
    pub(super) seats: usize,
    /// Buyers' requests in flight at once (HTTP connections).
    #[arg(long, default_value_t = 256)]
    pub(super) concurrency: usize,
}

#[derive(Subcommand)]
pub(super) enum Bench {
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
        /// Seconds of each saturation run.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Seconds of the paced run at half rate (p50/p99). Long enough that a stall of the
        /// machine's other work (seen here: ~100 ms once a minute) cannot make the p99 alone;
        /// the table also counts the requests over 10 ms and gives the slowest.
        #[arg(long, default_value_t = 60)]
        paced_seconds: u64,
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
