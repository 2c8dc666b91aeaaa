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

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::TestApp;
use crate::fixtures::one_row_session;

const UPDATES: &str = "subscription($s: ID!, $c: Boolean!) { seatMapUpdates(sessionId: $s, coalesce: $c) {
    __typename ... on SeatMapSnapshot { version } ... on SeatMapDelta { version fromVersion changes { seatId status } } } }";
/// Sockets opened at once while subscribing, per client process.
const CONNECTING: usize = 256;
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
    for (instance, mut child, mut lines) in children {
        let report: Report = match lines.recv().await {
            Some(line) => serde_json::from_str(&line).context("a subscriber process's report")?,
            None => bail!("a subscriber process ended without a report"),
        };
        child.0.wait()?;
        reports.push((instance, report));
    }
    let cpu = cpu_seconds()? - cpu_before;
    let elapsed = started.elapsed().as_secs_f64();
    summarize(plan, &reports, (before, during), (cpu, elapsed))
}

/// Makes the planned changes, one task per seat; returns how many were refused.
async fn change_seats(app: &TestApp, session: &str, seats: &[String], plan: Plan, t0: u64) -> usize {
    let tasks: Vec<_> = (0..seats.len())
        .map(|s| {
            let (client, url, token) = (app.client.clone(), app.url("/graphql"), app.admin_token().to_string());
            let (session, seat) = (session.to_string(), seats[s].clone());
            let count = seats.len();
            tokio::spawn(async move {
                let mut failed = 0;
                for i in (s..plan.changes).step_by(count) {
                    let due = t0 + (i as f64 * 1e6 / plan.rate) as u64;
                    let now = micros_now();
                    if due > now {
                        tokio::time::sleep(Duration::from_micros(due - now)).await;
                    }
                    let mutation = if (i / count).is_multiple_of(2) { "blockSeats" } else { "unblockSeats" };
                    let body = json!({
                        "query": format!("mutation($s: ID!, $seats: [ID!]!) {{ {mutation}(sessionId: $s, seatIds: $seats) {{ id }} }}"),
                        "variables": { "s": session, "seats": [seat] },
                    });
                    let response = client.post(&url).bearer_auth(&token).json(&body).send().await;
                    let ok = match response {
                        Ok(response) => response.json::<Value>().await.is_ok_and(|r| r["errors"].is_null()),
                        Err(_) => false,
                    };
                    failed += usize::from(!ok);
                }
                failed
            })
        })
        .collect();
    let mut failed = 0;
    for task in tasks {
        failed += task.await.unwrap_or(1);
    }
    failed
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

fn summarize(
    plan: Plan,
    reports: &[(usize, Report)],
    (before, during): (u64, u64),
    (cpu, elapsed): (f64, f64),
) -> anyhow::Result<Value> {
    let expected = (plan.subscribers * plan.changes) as u64;
    let sum = |f: fn(&Report) -> u64| reports.iter().map(|(_, r)| f(r)).sum::<u64>();
    let (delivered, messages, resyncs, errors) = (
        sum(|r| r.delivered),
        sum(|r| r.messages),
        sum(|r| r.resyncs),
        sum(|r| r.errors),
    );
    let latency = |instance: Option<usize>| {
        let mut histogram = vec![0u64; BUCKETS];
        for (i, report) in reports {
            if instance.is_none_or(|wanted| wanted == *i) {
                for &(bucket, count) in &report.histogram {
                    histogram[bucket as usize] += count;
                }
            }
        }
        [0.5, 0.99, 1.0].map(|q| percentile(&histogram, q))
    };
    let all = latency(None);
    let per_subscriber = during.saturating_sub(before) as f64 / plan.subscribers.max(1) as f64;
    let cpu_per_event_us = cpu * 1e6 / messages.max(1) as f64;
    let goal_p99 = if plan.rate > 1.5 { 500.0 } else { 250.0 };
    println!(
        "\nP4 live seat-map fan-out: {} WebSocket subscribers{}, {} changes at {}/s, {} instance(s)",
        plan.subscribers,
        if plan.coalesce { " (coalescing)" } else { "" },
        plan.changes,
        plan.rate,
        plan.instances
    );
    println!("| measure | curtain | goal |");
    println!("|---|---|---|");
    println!("| changes delivered in order / expected | {delivered} / {expected} | all |");
    println!("| deltas failing the check (gap or wrong seat) | {errors} | 0 |");
    println!("| resyncs (snapshots after the first) | {resyncs} | 0 |");
    println!("| WebSocket messages with deltas | {messages} | |");
    println!(
        "| delivery latency p50 / p99 / max | {:.1} / {:.1} / {:.1} ms | p99 ≤ {goal_p99} ms |",
        all[0], all[1], all[2]
    );
    let mut cross = Value::Null;
    if plan.instances > 1 {
        let (same, other) = (latency(Some(0)), latency(Some(1)));
        println!(
            "| p99 on the instance making the changes / on the other | {:.1} / {:.1} ms | other ≤ same + 100 ms |",
            same[1], other[1]
        );
        cross = json!({ "same_p99_ms": same[1], "other_p99_ms": other[1] });
    }
    println!(
        "| server resident memory before / with subscribers | {} / {} MiB | |",
        before / 1024,
        during / 1024
    );
    println!("| memory per subscriber (server process) | {per_subscriber:.1} KiB | ≤ 12 KiB |");
    println!(
        "| server CPU while changing seats | {:.2} cores, {cpu_per_event_us:.1} µs per message sent | |",
        cpu / elapsed
    );
    for (_, report) in reports {
        for error in &report.first_errors {
            println!("check failed: {error}");
        }
    }
    Ok(json!({
        "bench": "P4",
        "subscribers": plan.subscribers,
        "changes": plan.changes,
        "rate": plan.rate,
        "instances": plan.instances,
        "coalesce": plan.coalesce,
        "delivered": delivered,
        "expected": expected,
        "messages": messages,
        "errors": errors,
        "resyncs": resyncs,
        "p50_ms": all[0],
        "p99_ms": all[1],
        "max_ms": all[2],
        "cross_instance": cross,
        "kib_per_subscriber": per_subscriber,
        "cpu_cores": cpu / elapsed,
        "cpu_us_per_message": cpu_per_event_us,
    }))
}

/// The latency at quantile `q` of a histogram, in ms (the bucket's upper edge).
fn percentile(histogram: &[u64], q: f64) -> f64 {
    let total: u64 = histogram.iter().sum();
    if total == 0 {
        return 0.0;
    }
    let rank = ((total as f64 * q).ceil() as u64).max(1);
    let mut seen = 0;
    for (bucket, count) in histogram.iter().enumerate() {
        seen += count;
        if seen >= rank {
            return ((bucket as u64 + 1) * BUCKET_MICROS) as f64 / 1e3;
        }
    }
    (BUCKETS as u64 * BUCKET_MICROS) as f64 / 1e3
}

/// A child process of a bench (subscribers here, the attacker of P8), killed if the bench
/// stops early.
pub(crate) struct Child(pub(crate) std::process::Child);

impl Child {
    /// Its standard output, line by line, read on a thread of its own.
    pub(crate) fn lines(&mut self) -> anyhow::Result<tokio::sync::mpsc::UnboundedReceiver<String>> {
        let stdout = self.0.stdout.take().context("the child's output")?;
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    return;
                }
            }
        });
        Ok(receiver)
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
    }
}

/// What a subscriber process is told, on its command line.
#[derive(Debug, clap::Args)]
pub struct ClientPlan {
    #[arg(long)]
    pub url: String,
    #[arg(long)]
    pub session: String,
    #[arg(long)]
    pub subscribers: usize,
    #[arg(long)]
    pub changes: usize,
    #[arg(long)]
    pub rate: f64,
    /// Seat ids, comma-separated, in the plan's order.
    #[arg(long, value_delimiter = ',')]
    pub seats: Vec<String>,
    #[arg(long)]
    pub coalesce: bool,
}

/// The child: opens its subscriptions, says `ready`, reads t0 from its input, checks and
/// times every delta until each subscriber has every change (or 10 s of quiet), then prints
/// its report.
pub async fn client(plan: ClientPlan) -> anyhow::Result<()> {
    let plan = Arc::new(plan);
    let gate = Arc::new(tokio::sync::Semaphore::new(CONNECTING));
    let mut opening = Vec::with_capacity(plan.subscribers);
    for _ in 0..plan.subscribers {
        let (gate, plan) = (gate.clone(), plan.clone());
        opening.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await?;
            subscribe(&plan.url, &plan.session, plan.coalesce).await
        }));
    }
    let mut sockets = Vec::with_capacity(plan.subscribers);
    for task in opening {
        sockets.push(task.await??);
    }
    println!("ready");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let t0: u64 = line.trim().parse().context("t0 on standard input")?;
    let shared = Arc::new(Tally::new());
    let readers: Vec<_> = sockets
        .into_iter()
        .map(|(socket, version)| {
            let (plan, shared) = (plan.clone(), shared.clone());
            tokio::spawn(async move { read_deltas(socket, version, &plan, t0, &shared).await })
        })
        .collect();
    let mut report = Report {
        subscribers: plan.subscribers,
        ..Report::default()
    };
    for reader in readers {
        let checked = reader.await?;
        report.delivered += checked.delivered;
        report.messages += checked.messages;
        report.resyncs += checked.resyncs;
        report.errors += checked.errors;
        if report.first_errors.len() < 5 {
            report.first_errors.extend(checked.first_errors);
        }
    }
    report.histogram = shared
        .histogram
        .iter()
        .enumerate()
        .filter_map(|(bucket, count)| {
            let count = u64::from(count.load(Ordering::Relaxed));
            (count > 0).then_some((bucket as u32, count))
        })
        .collect();
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// Latencies of every subscriber of a process together.
struct Tally {
    histogram: Vec<AtomicU32>,
}

impl Tally {
    fn new() -> Self {
        Self {
            histogram: (0..BUCKETS).map(|_| AtomicU32::new(0)).collect(),
        }
    }

    fn record(&self, micros: u64) {
        let bucket = ((micros / BUCKET_MICROS) as usize).min(BUCKETS - 1);
        self.histogram[bucket].fetch_add(1, Ordering::Relaxed);
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens one subscription and reads its snapshot; returns the socket and the version.
async fn subscribe(url: &str, session: &str, coalesce: bool) -> anyhow::Result<(Socket, i64)> {
    let mut request = url.into_client_request()?;
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "graphql-transport-ws".parse()?);
    // tungstenite's default read buffer (128 KiB) is zeroed at every read: with thousands of
    // sockets, the subscribers would spend their time in memset, not in reading.
    let config = WebSocketConfig::default().read_buffer_size(4 * 1024);
    let (mut socket, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), true).await?;
    let init = json!({ "type": "connection_init" });
    socket.send(Message::text(init.to_string())).await?;
    let start = json!({ "type": "subscribe", "id": "1",
        "payload": { "query": UPDATES, "variables": { "s": session, "c": coalesce } } });
    let mut sent = false;
    while let Some(message) = socket.next().await {
        let Message::Text(text) = message? else { continue };
        let message: Value = serde_json::from_str(text.as_str())?;
        match message["type"].as_str() {
            Some("connection_ack") if !sent => {
                socket.send(Message::text(start.to_string())).await?;
                sent = true;
            }
            Some("next") => {
                let event = &message["payload"]["data"]["seatMapUpdates"];
                let version = event["version"].as_i64().context("a snapshot version")?;
                return Ok((socket, version));
            }
            _ => bail!("unexpected message while subscribing: {message}"),
        }
    }
    bail!("the socket closed while subscribing")
}

#[derive(Deserialize)]
struct Incoming<'a> {
    #[serde(borrow)]
    payload: Option<Payload<'a>>,
}

#[derive(Deserialize)]
struct Payload<'a> {
    #[serde(borrow)]
    data: Option<Updates<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Updates<'a> {
    #[serde(borrow)]
    seat_map_updates: Event<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Event<'a> {
    #[serde(rename = "__typename")]
    typename: &'a str,
    version: i64,
    from_version: Option<i64>,
    #[serde(borrow, default)]
    changes: Vec<Change<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Change<'a> {
    seat_id: &'a str,
    status: &'a str,
}

/// What one subscriber saw.
#[derive(Default)]
struct Checked {
    delivered: u64,
    messages: u64,
    resyncs: u64,
    errors: u64,
    first_errors: Vec<String>,
}

impl Checked {
    fn failed(&mut self, why: String) {
        self.errors += 1;
        if self.first_errors.len() < 5 {
            self.first_errors.push(why);
        }
    }
}

/// Reads, checks and times deltas until every planned change has arrived or 10 s pass
/// without a message.
async fn read_deltas(mut socket: Socket, mut version: i64, plan: &ClientPlan, t0: u64, tally: &Tally) -> Checked {
    let mut checked = Checked::default();
    // Visits seen per seat, to know which planned change a seat's next change is.
    let mut visits = vec![0usize; plan.seats.len()];
    // After a resync the visits are unknown: the rest is checked for order only.
    let mut lost_track = false;
    while checked.delivered < plan.changes as u64 {
        let Ok(Some(Ok(message))) = tokio::time::timeout(Duration::from_secs(10), socket.next()).await else {
            break;
        };
        let at = micros_now();
        let Message::Text(text) = message else { continue };
        let Ok(Incoming {
            payload: Some(Payload { data: Some(updates) }),
        }) = serde_json::from_str::<Incoming>(text.as_str())
        else {
            checked.failed(format!("not a seat-map event: {text}"));
            continue;
        };
        let event = updates.seat_map_updates;
        if event.typename == "SeatMapSnapshot" {
            checked.resyncs += 1;
            version = event.version;
            lost_track = true;
            continue;
        }
        checked.messages += 1;
        let from = event.from_version.unwrap_or(event.version - 1);
        if from != version || (!plan.coalesce && event.version != version + 1) {
            checked.failed(format!("delta {from}→{} after version {version}", event.version));
        }
        version = event.version;
        for change in event.changes {
            let Some(seat) = plan.seats.iter().position(|s| s == change.seat_id) else {
                checked.failed(format!("a change to a seat not in the plan: {}", change.seat_id));
                continue;
            };
            checked.delivered += 1;
            if lost_track {
                continue;
            }
            let visit = visits[seat];
            visits[seat] += 1;
            let i = seat + visit * plan.seats.len();
            let planned = if visit.is_multiple_of(2) {
                "BLOCKED"
            } else {
                "AVAILABLE"
            };
            if i >= plan.changes || change.status != planned {
                checked.failed(format!(
                    "change {i} of seat {seat} is {}, planned {planned}",
                    change.status
                ));
                continue;
            }
            let due = t0 + (i as f64 * 1e6 / plan.rate) as u64;
            tally.record(at.saturating_sub(due));
        }
    }
    checked
}

fn micros_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// This process's resident memory, from /proc.
fn resident_kib() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .context("no VmRSS in /proc/self/status")
}

/// CPU time this process has used, from /proc.
fn cpu_seconds() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .context("malformed /proc/self/stat")?
        .1
        .split_whitespace()
        .collect();
    let ticks: f64 = fields
        .get(11..13)
        .context("short /proc/self/stat")?
        .iter()
        .map(|f| f.parse::<f64>().unwrap_or(0.0))
        .sum();
    Ok(ticks / 100.0)
}

/// Subscribers one process can hold: its limit on open files, less what it has open and a
/// margin for the database, Redis and the listener.
pub fn max_subscribers() -> usize {
    let limit = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            limits
                .lines()
                .find(|line| line.starts_with("Max open files"))
                .and_then(|line| line.split_whitespace().nth(3)?.parse::<usize>().ok())
        })
        .unwrap_or(1024);
    let open = std::fs::read_dir("/proc/self/fd").map_or(64, |fds| fds.count());
    limit.saturating_sub(open + 128)
}
