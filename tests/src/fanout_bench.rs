//! P4 of shared/BENCHMARKS.md, the live seat-map fan-out: thousands of WebSocket
//! subscribers watch one session while the box office changes one seat a second; every
//! delta's delivery latency to every subscriber is measured.
//!
//! The subscribers live in a child process (this binary again, `fanout-client`), so that
//! the server's process holds only its own side of each socket: its memory growth per
//! subscriber is then the server's alone, and each process stays within its own limit on
//! open files. Both processes read the same wall clock; a delivery's latency runs from the
//! moment the change was asked for to the moment the subscriber read the delta.

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::bench::percentile_ms;
use crate::fixtures::one_row_session;
use crate::{TestApp, data};

const UPDATES: &str = "subscription($s: ID!) { seatMapUpdates(sessionId: $s) {
    __typename ... on SeatMapDelta { version } ... on SeatMapSnapshot { version } } }";
/// Sockets opened at once while subscribing.
const CONNECTING: usize = 256;

/// Runs the bench against `app`: `subscribers` sockets, `changes` seat changes a second
/// apart. Prints a table and returns the figures.
pub async fn run(app: &TestApp, subscribers: usize, changes: usize) -> anyhow::Result<Value> {
    let row = one_row_session(app, "Fan-out", 50).await;
    let before = resident_kib()?;
    let mut child = Child(
        std::process::Command::new(std::env::current_exe()?)
            .args(["fanout-client", "--url"])
            .arg(app.url("/graphql").replacen("http://", "ws://", 1))
            .args(["--session", &row.session, "--subscribers", &subscribers.to_string()])
            .args(["--changes", &changes.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .context("starting the subscriber process")?,
    );
    let mut lines = child.lines()?;
    eprintln!("opening {subscribers} subscriptions in a child process…");
    match lines.recv().await {
        Some(line) if line == "ready" => {}
        other => bail!("the subscriber process did not get ready: {other:?}"),
    }
    let during = resident_kib()?;
    let cpu_before = cpu_seconds()?;
    let started = std::time::Instant::now();
    eprintln!("changing one seat a second, {changes} times…");
    let mut asked = Vec::with_capacity(changes);
    for change in 0..changes {
        let mutation = if change % 2 == 0 { "blockSeats" } else { "unblockSeats" };
        asked.push(micros_now());
        let response = app
            .admin(
                &format!("mutation($s: ID!, $seats: [ID!]!) {{ {mutation}(sessionId: $s, seatIds: $seats) {{ id }} }}"),
                json!({ "s": row.session, "seats": [&row.seats[0]] }),
            )
            .await;
        data(&response);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let report: Value = match lines.recv().await {
        Some(line) => serde_json::from_str(&line).context("the subscriber process's report")?,
        None => bail!("the subscriber process ended without a report"),
    };
    let cores = (cpu_seconds()? - cpu_before) / started.elapsed().as_secs_f64();
    child.0.wait()?;
    summarize(subscribers, changes, &asked, &report, (before, during), cores)
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

fn summarize(
    subscribers: usize,
    changes: usize,
    asked: &[u64],
    report: &Value,
    (before, during): (u64, u64),
    cores: f64,
) -> anyhow::Result<Value> {
    // The report lists, per subscriber, (version offset, receive time) for each delta.
    let first_version = report["first_version"].as_u64().context("first_version")?;
    let mut latencies = Vec::with_capacity(subscribers * changes);
    for deliveries in report["deliveries"].as_array().context("deliveries")? {
        for pair in deliveries.as_array().context("a subscriber's deliveries")? {
            let version = pair[0].as_u64().context("version")?;
            let at = pair[1].as_u64().context("time")?;
            let Some(asked_at) = version
                .checked_sub(first_version + 1)
                .and_then(|i| asked.get(i as usize))
            else {
                continue;
            };
            latencies.push(Duration::from_micros(at.saturating_sub(*asked_at)));
        }
    }
    let expected = subscribers * changes;
    latencies.sort();
    let per_subscriber = during.saturating_sub(before) as f64 / subscribers as f64;
    let p = |q: f64| percentile_ms(&latencies, q);
    println!("\nP4 live seat-map fan-out: {subscribers} WebSocket subscribers, {changes} changes one second apart");
    println!("| measure | curtain |");
    println!("|---|---|");
    println!("| deliveries received / expected | {} / {expected} |", latencies.len());
    println!("| resyncs (snapshots after the first) | {} |", report["resyncs"]);
    println!(
        "| delivery latency p50 / p99 / max | {:.1} / {:.1} / {:.1} ms |",
        p(0.5),
        p(0.99),
        p(1.0)
    );
    println!(
        "| server resident memory before / with subscribers | {} / {} MiB |",
        before / 1024,
        during / 1024
    );
    println!("| memory per subscriber (server process) | {:.1} KiB |", per_subscriber);
    println!("| server CPU while changing seats | {cores:.2} cores |");
    Ok(json!({
        "bench": "P4",
        "subscribers": subscribers,
        "changes": changes,
        "delivered": latencies.len(),
        "expected": expected,
        "resyncs": report["resyncs"],
        "p50_ms": p(0.5),
        "p99_ms": p(0.99),
        "max_ms": p(1.0),
        "kib_per_subscriber": per_subscriber,
        "cpu_cores": cores,
    }))
}

/// The child: opens `subscribers` subscriptions to `session`, says `ready`, records when
/// each delta arrives until `changes` have (or 10 s of quiet), then prints its report.
pub async fn client(url: &str, session: &str, subscribers: usize, changes: usize) -> anyhow::Result<()> {
    let gate = Arc::new(tokio::sync::Semaphore::new(CONNECTING));
    let mut opening = Vec::with_capacity(subscribers);
    for _ in 0..subscribers {
        let (gate, url, session) = (gate.clone(), url.to_string(), session.to_string());
        opening.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await?;
            subscribe(&url, &session).await
        }));
    }
    let mut sockets = Vec::with_capacity(subscribers);
    let mut first_version = u64::MAX;
    for task in opening {
        let (socket, version) = task.await??;
        first_version = first_version.min(version);
        sockets.push(socket);
    }
    println!("ready");
    let readers: Vec<_> = sockets
        .into_iter()
        .map(|socket| tokio::spawn(read_deltas(socket, changes)))
        .collect();
    let (mut deliveries, mut resyncs) = (Vec::with_capacity(subscribers), 0);
    for reader in readers {
        let (received, resynced) = reader.await?;
        resyncs += resynced;
        deliveries.push(received);
    }
    println!(
        "{}",
        json!({ "first_version": first_version, "resyncs": resyncs, "deliveries": deliveries })
    );
    Ok(())
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens one subscription and reads its snapshot; returns the socket and the version.
async fn subscribe(url: &str, session: &str) -> anyhow::Result<(Socket, u64)> {
    let mut request = url.into_client_request()?;
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "graphql-transport-ws".parse()?);
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
    let init = json!({ "type": "connection_init" });
    socket.send(Message::text(init.to_string())).await?;
    let start =
        json!({ "type": "subscribe", "id": "1", "payload": { "query": UPDATES, "variables": { "s": session } } });
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
                let version = event["version"].as_u64().context("a snapshot version")?;
                return Ok((socket, version));
            }
            _ => bail!("unexpected message while subscribing: {message}"),
        }
    }
    bail!("the socket closed while subscribing")
}

/// Reads until `changes` deltas have arrived or 10 s pass without one; returns
/// (version, receive time in µs) per delta and how many resync snapshots came.
async fn read_deltas(mut socket: Socket, changes: usize) -> (Vec<(u64, u64)>, usize) {
    let (mut received, mut resyncs) = (Vec::with_capacity(changes), 0);
    while received.len() < changes {
        let Ok(Some(Ok(message))) = tokio::time::timeout(Duration::from_secs(10), socket.next()).await else {
            break;
        };
        let at = micros_now();
        let Message::Text(text) = message else { continue };
        let Ok(message) = serde_json::from_str::<Value>(text.as_str()) else {
            continue;
        };
        let event = &message["payload"]["data"]["seatMapUpdates"];
        match (event["__typename"].as_str(), event["version"].as_u64()) {
            (Some("SeatMapDelta"), Some(version)) => received.push((version, at)),
            (Some("SeatMapSnapshot"), _) => resyncs += 1,
            _ => {}
        }
    }
    (received, resyncs)
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
