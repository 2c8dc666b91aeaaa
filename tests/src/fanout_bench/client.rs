//! The subscriber process (`fanout-client`): opens its subscriptions, waits for t0, then
//! reads every subscriber's deltas and prints its report.

mod deltas;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Context, bail};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use self::deltas::read_deltas;
use super::{BUCKET_MICROS, BUCKETS, Report};

const UPDATES: &str = "subscription($s: ID!, $c: Boolean!) { seatMapUpdates(sessionId: $s, coalesce: $c) {
    __typename ... on SeatMapSnapshot { version } ... on SeatMapDelta { version fromVersion changes { seatId status } } } }";
/// Sockets opened at once while subscribing, per client process.
const CONNECTING: usize = 256;

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
///
/// The sockets stay open (and read) until the parent closes the child's input, which it
/// does once it has every process's report: a subscriber that hung up as soon as it had
/// seen every change would have its socket torn down, on both sides, while the last change
/// is still on its way to the others, and the bench would time those closes instead of the
/// deliveries.
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
    let mut open = Vec::with_capacity(readers.len());
    for reader in readers {
        let (checked, socket) = reader.await?;
        open.push(socket);
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
    // The sockets are still read, so that the server's pings are answered (a socket that
    // does not answer is closed, which is what waiting avoids), until the parent closes our
    // input, or goes (end of file either way). Read on a blocking thread: this process has
    // one worker, which the readers need.
    let draining: Vec<_> = open
        .into_iter()
        .map(|mut socket| tokio::spawn(async move { while let Some(Ok(_)) = socket.next().await {} }))
        .collect();
    let _ = tokio::task::spawn_blocking(move || std::io::stdin().read_line(&mut line)).await;
    for task in draining {
        task.abort();
    }
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
