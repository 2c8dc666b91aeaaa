//! P4 of shared/BENCHMARKS.md, the live seat-map fan-out: thousands of WebSocket
//! subscribers watch one session while the box office changes its seats at a set rate;
//! every delta is checked by every subscriber and its delivery latency measured.
//!
//! The subscribers live in child processes (this binary again, `fanout-client`), so that the
//! server's process holds only its own side of each socket: its memory growth per subscriber
//! is then the server's alone, and each process stays within its own limit on open files.
//!
//! The changes follow a plan both sides know: change `i` is due at `t0 + i / rate`, on seat
//! `i % S` of the row's `S` seats, blocking it on even visits and unblocking it on odd ones.
//! One task per seat makes that seat's changes in order, so a subscriber that sees a seat's
//! `k`-th change knows which change it is: it checks the status is the planned one, and
//! measures latency from when the change was *due* (a server that falls behind the plan is
//! charged for it, rather than slowing the plan down). Every delta must also follow on from
//! the one before (`fromVersion` equal to the last version seen).
//!
//! With `--instances 2`, a second server shares the database and Redis; the changes go
//! through the first, half the subscribers watch on each, and latency is reported for both
//! halves: the difference is the cost of crossing instances through Redis.

mod changes;
mod child;
mod client;
mod own_process;
mod summary;

use std::io::Write;
use std::process::Stdio;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use serde::Deserialize;
use serde_json::Value;

use self::changes::change_seats;
use self::own_process::{cpu_seconds, resident_kib};
use self::summary::summarize;
use crate::TestApp;
use crate::fixtures::one_row_session;

pub(crate) use self::child::Child;
pub use self::client::{ClientPlan, client};
pub use self::own_process::max_subscribers;

/// Subscribers per client process: each socket is an open file, and a process may hold
/// at most `ulimit -n` of them.
const PER_CLIENT: usize = 9_000;
/// Seats the changes go round.
const SEATS: i32 = 50;
/// Latency histogram resolution and range: 100 µs buckets up to 30 s.
const BUCKET_MICROS: u64 = 100;
const BUCKETS: usize = 300_000;

/// What to run.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub subscribers: usize,
    pub changes: usize,
    /// Changes per second.
    pub rate: f64,
    /// Server instances (1 or 2).
    pub instances: usize,
    /// Subscribers ask for coalesced deltas.
    pub coalesce: bool,
}

/// Runs the bench against `apps` (one or two instances of one deployment). Prints a table
/// beside the goals and returns the figures.
pub async fn run(apps: &[&TestApp], plan: Plan) -> anyhow::Result<Value> {
    let first = apps.first().context("no server")?;
    let row = one_row_session(first, "Fan-out", SEATS).await;
    let before = resident_kib()?;
    let clients = plan.subscribers.div_ceil(PER_CLIENT).max(apps.len());
    let mut children = Vec::with_capacity(clients);
    eprintln!(
        "opening {} subscriptions in {clients} child processes, on {} instance(s)…",
        plan.subscribers,
        apps.len()
    );
    for client in 0..clients {
        let instance = client % apps.len();
        let share = plan.subscribers / clients + usize::from(client < plan.subscribers % clients);
        let mut child = Child(
            std::process::Command::new(std::env::current_exe()?)
                .args(["fanout-client", "--url"])
                .arg(apps[instance].url("/graphql").replacen("http://", "ws://", 1))
                .args(["--session", &row.session, "--subscribers", &share.to_string()])
                .args(["--changes", &plan.changes.to_string(), "--rate", &plan.rate.to_string()])
                .args(["--seats", &row.seats.join(",")])
                .args(if plan.coalesce { &["--coalesce"][..] } else { &[] })
                // One thread reads all of a process's sockets: it stays busy through a wave
                // of deliveries instead of being woken for each, which leaves the cores the
                // server shares with it to the server.
                .env("TOKIO_WORKER_THREADS", "1")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .context("starting a subscriber process")?,
        );
        let lines = child.lines()?;
        children.push((instance, child, lines));
    }
    for (_, _, lines) in &mut children {
        match lines.recv().await {
            Some(line) if line == "ready" => {}
            other => bail!("a subscriber process did not get ready: {other:?}"),
        }
    }
    let during = resident_kib()?;
    // Due times count from t0, a moment from now, known to both sides.
    let t0 = micros_now() + 200_000;
    for (_, child, _) in &mut children {
        let stdin = child.0.stdin.as_mut().context("a child's input")?;
        writeln!(stdin, "{t0}")?;
        stdin.flush()?;
    }
    let cpu_before = cpu_seconds()?;
    let started = std::time::Instant::now();
    eprintln!("making {} changes at {}/s…", plan.changes, plan.rate);
    let failed = change_seats(first, &row.session, &row.seats, plan, t0).await;
    if failed > 0 {
        bail!("{failed} seat changes were refused");
    }
    let mut reports = Vec::with_capacity(children.len());
    for (instance, _, lines) in &mut children {
        let report: Report = match lines.recv().await {
            Some(line) => serde_json::from_str(&line).context("a subscriber process's report")?,
            None => bail!("a subscriber process ended without a report"),
        };
        reports.push((*instance, report));
    }
    let cpu = cpu_seconds()? - cpu_before;
    let elapsed = started.elapsed().as_secs_f64();
    // Every subscriber has reported: they may hang up now (closing a child's input tells it).
    for (_, mut child, _) in children {
        drop(child.0.stdin.take());
        child.0.wait()?;
    }
    summarize(plan, &reports, (before, during), (cpu, elapsed))
}

/// What a subscriber process found.
#[derive(Debug, Default, serde::Serialize, Deserialize)]
struct Report {
    subscribers: usize,
    /// Changes received in order and as planned, all subscribers together.
    delivered: u64,
    /// WebSocket messages carrying deltas.
    messages: u64,
    /// Snapshots after the first (a subscriber that fell behind).
    resyncs: u64,
    /// Deltas that did not follow on, or carried a change other than the planned one.
    errors: u64,
    first_errors: Vec<String>,
    /// Latency histogram: (bucket, count) for the buckets with any.
    histogram: Vec<(u32, u64)>,
}

fn micros_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}
