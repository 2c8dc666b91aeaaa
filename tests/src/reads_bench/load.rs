//! The load generator: closed-loop (saturating) and open-loop (paced) runs of one request,
//! and the latencies and error counts they measured.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::bench::percentile_ms;

/// What a run of requests measured.
#[derive(Debug, Default)]
pub struct Load {
    pub requests: u64,
    pub errors: u64,
    pub seconds: f64,
    pub latencies: Vec<Duration>,
}

impl Load {
    pub fn rate(&self) -> f64 {
        self.requests as f64 / self.seconds
    }
    pub fn p(&self, q: f64) -> f64 {
        percentile_ms(&self.latencies, q)
    }
    pub fn average_ms(&self) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        self.latencies.iter().map(Duration::as_secs_f64).sum::<f64>() * 1e3 / self.latencies.len() as f64
    }
}

pub(super) fn client(connections: usize) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .tcp_nodelay(true)
        .build()?)
}

/// One request; an answer is an error unless it is 200 with data and no `errors`.
pub(super) async fn post(client: &reqwest::Client, url: &str, body: &[u8]) -> bool {
    let Ok(response) = client
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .await
    else {
        return false;
    };
    if !response.status().is_success() {
        return false;
    }
    match response.bytes().await {
        // A body with `"errors"` anywhere is refused: the bench's documents never ask for a
        // field or value containing that word.
        Ok(bytes) => bytes.starts_with(b"{\"data\":") && !contains(&bytes, b"\"errors\""),
        Err(_) => false,
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Closed loop: `connections` clients, each sending its next request when the last is
/// answered, for `duration`.
pub async fn saturate(url: &str, body: Value, connections: usize, duration: Duration) -> anyhow::Result<Load> {
    let client = client(connections)?;
    let body = Arc::<[u8]>::from(serde_json::to_vec(&body)?);
    let url: Arc<str> = url.into();
    // Warm the connections and the server's caches first.
    warm(&client, &url, &body, connections).await;
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (client, url, body) = (client.clone(), url.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let mut load = Load::default();
            while Instant::now() < deadline {
                let sent = Instant::now();
                let ok = post(&client, &url, &body).await;
                load.latencies.push(sent.elapsed());
                load.requests += 1;
                load.errors += u64::from(!ok);
            }
            load
        }));
    }
    let mut total = Load::default();
    for task in tasks {
        let load = task.await?;
        total.requests += load.requests;
        total.errors += load.errors;
        total.latencies.extend(load.latencies);
    }
    total.seconds = started.elapsed().as_secs_f64();
    total.latencies.sort();
    Ok(total)
}

async fn warm(client: &reqwest::Client, url: &str, body: &[u8], connections: usize) {
    for _ in 0..3 {
        futures::future::join_all((0..connections).map(|_| post(client, url, body))).await;
    }
}

/// Open loop: `rate` requests a second for `duration`, each latency counted from when the
/// request was due (so a stalled server cannot hide its queue).
pub async fn paced(url: &str, body: Value, rate: f64, duration: Duration) -> anyhow::Result<Load> {
    let client = client(256)?;
    let body = Arc::<[u8]>::from(serde_json::to_vec(&body)?);
    let url: Arc<str> = url.into();
    warm(&client, &url, &body, 16).await;
    let total = (rate * duration.as_secs_f64()).round() as u64;
    let interval = Duration::from_secs_f64(1.0 / rate);
    let started = Instant::now();
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = started + interval.mul_f64(i as f64);
        tokio::time::sleep_until(due.into()).await;
        let (client, url, body, errors) = (client.clone(), url.clone(), body.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            if !post(&client, &url, &body).await {
                errors.fetch_add(1, Ordering::Relaxed);
            }
            due.elapsed()
        }));
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    for task in tasks {
        latencies.push(task.await?);
    }
    latencies.sort();
    Ok(Load {
        requests: total,
        errors: errors.load(Ordering::Relaxed),
        seconds: started.elapsed().as_secs_f64(),
        latencies,
    })
}
