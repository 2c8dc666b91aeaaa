//! The attacker of P8 (see [`crate::abuse_bench`]): fragment bombs and alias floods at a
//! bounded rate with a bounded number in flight, slow-header connections, and WebSockets
//! that idle or send junk, all to one address on 127.0.0.1. Every loop ends when the bench
//! says `stop` on standard input (or closes it), or at the deadline. It then prints, as one
//! JSON line, how the server answered each kind of attack.

mod connections;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::json;

/// How hard to attack; the defaults are meant for a 2-core machine.
#[derive(Debug, Clone, clap::Args)]
pub struct Attack {
    /// Fragment bombs a second: 24 fragments, each spreading the one before twice.
    #[arg(long, default_value_t = 2.0)]
    pub bombs_per_second: f64,
    /// Alias floods a second: 1,200 aliases of `seatMap` of the session on sale.
    #[arg(long, default_value_t = 2.0)]
    pub floods_per_second: f64,
    /// Also select every seat in each alias of a flood (about 1,200 × the hall's seats
    /// objects per request: heavy on memory).
    #[arg(long)]
    pub flood_seats: bool,
    /// Raw TCP connections sending one header byte a second (each reconnects when closed).
    #[arg(long, default_value_t = 200)]
    pub slow_connections: usize,
    /// WebSockets kept open (each reconnects when closed): half idle without
    /// `connection_init`, half send junk.
    #[arg(long, default_value_t = 500)]
    pub sockets: usize,
    /// Junk messages a second, over all the junk-sending sockets.
    #[arg(long, default_value_t = 100.0)]
    pub junk_per_second: f64,
    /// The attack stops by itself after this many seconds, whatever happens.
    #[arg(long, default_value_t = 180)]
    pub max_seconds: u64,
}

impl Attack {
    /// The same attack as command-line flags, for the child process.
    pub fn to_args(&self) -> Vec<String> {
        let mut args = vec![
            format!("--bombs-per-second={}", self.bombs_per_second),
            format!("--floods-per-second={}", self.floods_per_second),
            format!("--slow-connections={}", self.slow_connections),
            format!("--sockets={}", self.sockets),
            format!("--junk-per-second={}", self.junk_per_second),
            format!("--max-seconds={}", self.max_seconds),
        ];
        if self.flood_seats {
            args.push("--flood-seats".into());
        }
        args
    }

    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "bombs_per_second": self.bombs_per_second, "floods_per_second": self.floods_per_second,
            "flood_seats": self.flood_seats, "slow_connections": self.slow_connections,
            "sockets": self.sockets, "junk_per_second": self.junk_per_second,
        })
    }
}

/// Requests of one kind in flight at once; more are not sent (and counted as such).
const IN_FLIGHT: usize = 4;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// When to stop: told so, or past the deadline.
pub(crate) struct Stop {
    told: AtomicBool,
    deadline: Instant,
}

impl Stop {
    pub(crate) fn now(&self) -> bool {
        self.told.load(Ordering::Relaxed) || Instant::now() >= self.deadline
    }
}

/// Outcomes by attack and by answer.
#[derive(Clone, Default)]
pub(crate) struct Tally(Arc<Mutex<BTreeMap<&'static str, BTreeMap<String, u64>>>>);

impl Tally {
    pub(crate) fn add(&self, attack: &'static str, outcome: impl Into<String>) {
        if let Ok(mut tally) = self.0.lock() {
            *tally.entry(attack).or_default().entry(outcome.into()).or_default() += 1;
        }
    }
}

/// Runs the attack on the server at `url` (`http://127.0.0.1:port`), flooding the seat map
/// of `session`.
pub async fn attacker(url: &str, session: &str, attack: &Attack) -> anyhow::Result<()> {
    let Some(address) = url
        .strip_prefix("http://127.0.0.1:")
        .map(|port| format!("127.0.0.1:{port}"))
    else {
        bail!("the attacker only attacks 127.0.0.1, not {url}");
    };
    let stop = Arc::new(Stop {
        told: AtomicBool::new(false),
        deadline: Instant::now() + Duration::from_secs(attack.max_seconds),
    });
    let listener = stop.clone();
    std::thread::spawn(move || {
        let mut line = String::new();
        // "stop", end of input or an error all mean stop.
        let _ = std::io::stdin().read_line(&mut line);
        listener.told.store(true, Ordering::Relaxed);
    });
    let tally = Tally::default();
    let opened = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..attack.slow_connections {
        tasks.push(tokio::spawn(connections::slow_headers(
            address.clone(),
            stop.clone(),
            tally.clone(),
            opened.clone(),
        )));
    }
    let ws_url = format!("ws://{address}/graphql");
    let junk_sockets = attack.sockets / 2;
    let junk_every = (attack.junk_per_second > 0.0 && junk_sockets > 0)
        .then(|| Duration::from_secs_f64(junk_sockets as f64 / attack.junk_per_second));
    for i in 0..attack.sockets {
        let junk = if i % 2 == 1 { junk_every } else { None };
        let flood = connections::SocketFlood {
            url: ws_url.clone(),
            session: session.to_string(),
            junk,
        };
        tasks.push(tokio::spawn(flood.run(stop.clone(), tally.clone(), opened.clone())));
    }
    let expected = attack.slow_connections + attack.sockets;
    let waiting = Instant::now();
    while opened.load(Ordering::Relaxed) < expected && waiting.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!("ready");
    let client = reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build()?;
    let graphql = format!("http://{address}/graphql");
    let bomb = Requests {
        kind: "fragment bombs",
        body: bomb(),
        per_second: attack.bombs_per_second,
    };
    tasks.push(tokio::spawn(bomb.run(
        client.clone(),
        graphql.clone(),
        stop.clone(),
        tally.clone(),
    )));
    let flood = Requests {
        kind: "alias floods",
        body: alias_flood(session, attack.flood_seats),
        per_second: attack.floods_per_second,
    };
    tasks.push(tokio::spawn(flood.run(client, graphql, stop.clone(), tally.clone())));
    while !stop.now() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.told.store(true, Ordering::Relaxed);
    let winding_up = Instant::now() + REQUEST_TIMEOUT + Duration::from_secs(2);
    for task in tasks {
        let left = winding_up.saturating_duration_since(Instant::now());
        if tokio::time::timeout(left, task).await.is_err() {
            tally.add("attacker", "a task did not wind up in time");
        }
    }
    let report = tally.0.lock().map(|t| json!(*t)).unwrap_or_default();
    println!("{report}");
    Ok(())
}

/// 24 fragments, each spreading the one before twice: 2^23 spreads of `__typename`.
fn bomb() -> String {
    let mut document = "query Bomb { ...F23 } fragment F0 on QueryRoot { __typename }".to_string();
    for i in 1..24 {
        document.push_str(&format!(" fragment F{i} on QueryRoot {{ ...F{p} ...F{p} }}", p = i - 1));
    }
    json!({ "query": document }).to_string()
}

/// 1,200 aliases of `seatMap` of `session`.
fn alias_flood(session: &str, seats: bool) -> String {
    let selection = if seats {
        "version availableCount seats { id status }"
    } else {
        "version availableCount"
    };
    let aliases: String = (0..1200)
        .map(|i| format!(" a{i}: seatMap(sessionId: $s) {{ {selection} }}"))
        .collect();
    json!({ "query": format!("query Flood($s: ID!) {{{aliases} }}"), "variables": { "s": session } }).to_string()
}

/// One kind of expensive request, sent `per_second` with at most [`IN_FLIGHT`] unanswered.
struct Requests {
    kind: &'static str,
    body: String,
    per_second: f64,
}

impl Requests {
    async fn run(self, client: reqwest::Client, url: String, stop: Arc<Stop>, tally: Tally) {
        if self.per_second <= 0.0 {
            return;
        }
        let in_flight = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
        let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / self.per_second));
        let body = Arc::new(self.body);
        while !stop.now() {
            ticks.tick().await;
            let Ok(permit) = in_flight.clone().try_acquire_owned() else {
                tally.add(self.kind, format!("not sent: {IN_FLIGHT} unanswered"));
                continue;
            };
            let (client, url, body, tally, kind) =
                (client.clone(), url.clone(), body.clone(), tally.clone(), self.kind);
            tokio::spawn(async move {
                let sent = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.as_str().to_owned())
                    .send()
                    .await;
                let outcome = match sent {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let text = response.text().await.unwrap_or_default();
                        let code = serde_json::from_str::<serde_json::Value>(&text)
                            .ok()
                            .and_then(|v| v["errors"][0]["extensions"]["code"].as_str().map(String::from))
                            .unwrap_or_else(|| "answered".into());
                        format!("{status} {code}")
                    }
                    Err(error) if error.is_timeout() => format!("no answer in {} s", REQUEST_TIMEOUT.as_secs()),
                    Err(error) if error.is_connect() => "connection refused".into(),
                    Err(_) => "connection dropped".into(),
                };
                tally.add(kind, outcome);
                drop(permit);
            });
        }
    }
}
