//! The load generator: closed-loop (saturating) and open-loop (paced) runs of one request,
//! and the latencies and error counts they measured.
//!
//! It runs on a thread of its own (a current-thread runtime) over plain HTTP/1.1 client
//! connections, one per concurrent request, with the request's bytes prepared once. The
//! bench process is pinned to one core, which it shares with PostgreSQL, so every
//! microsecond it spends per request is taken from the servers it measures: with reqwest's
//! pooled client on the bench's two-worker runtime it reached about three quarters of what
//! `wrk` reached against the same server (1,249 against 1,650–1,713 requests/s).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
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
    /// How many requests took longer than `limit`.
    pub fn over(&self, limit: Duration) -> usize {
        self.latencies.iter().filter(|latency| **latency > limit).count()
    }
    pub fn average_ms(&self) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        self.latencies.iter().map(Duration::as_secs_f64).sum::<f64>() * 1e3 / self.latencies.len() as f64
    }
}

/// A pooled client for the few requests made outside a measured run.
pub(super) fn client(connections: usize) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .tcp_nodelay(true)
        .build()?)
}

/// One request outside a measured run; true when it was answered as [`answered`] wants.
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
    response.bytes().await.is_ok_and(|bytes| answered(&bytes))
}

/// An answer counts when it has data and no `errors` (the status is checked before). A body
/// with `"errors"` anywhere is refused: the bench's documents never ask for a field or value
/// containing that word.
fn answered(body: &[u8]) -> bool {
    body.starts_with(b"{\"data\":") && memchr::memmem::find(body, b"\"errors\"").is_none()
}

/// The one request a run sends, prepared once.
#[derive(Debug)]
struct Target {
    address: SocketAddr,
    host: String,
    path: String,
    body: Bytes,
}

impl Target {
    fn new(url: &str, body: &Value) -> anyhow::Result<Arc<Self>> {
        let parsed = reqwest::Url::parse(url).with_context(|| format!("{url} is not a URL"))?;
        let address = *parsed
            .socket_addrs(|| None)?
            .first()
            .with_context(|| format!("{url} names no address"))?;
        let host = match parsed.port() {
            Some(port) => format!("{}:{port}", parsed.host_str().unwrap_or_default()),
            None => parsed.host_str().unwrap_or_default().to_string(),
        };
        Ok(Arc::new(Self {
            address,
            host,
            path: parsed.path().to_string(),
            body: Bytes::from(serde_json::to_vec(body)?),
        }))
    }

    async fn connect(&self) -> anyhow::Result<SendRequest<Full<Bytes>>> {
        let stream = tokio::net::TcpStream::connect(self.address).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            // Ends when the connection closes; a failed request is counted by its sender.
            let _ = connection.await;
        });
        Ok(sender)
    }

    /// Sends the request on `sender` and reads the whole answer; true when it counts.
    async fn send(&self, sender: &mut SendRequest<Full<Bytes>>) -> bool {
        if sender.ready().await.is_err() {
            return false;
        }
        let Ok(request) = hyper::Request::post(self.path.as_str())
            .header(hyper::header::HOST, self.host.as_str())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(self.body.clone()))
        else {
            return false;
        };
        let Ok(response) = sender.send_request(request).await else {
            return false;
        };
        // Read whole even when refused, so the connection stays usable for the next one.
        let ok = response.status() == hyper::StatusCode::OK;
        match response.into_body().collect().await {
            Ok(body) => ok && answered(&body.to_bytes()),
            Err(_) => false,
        }
    }

    /// Sends the request on `sender`, first opening a connection when there is none or the
    /// last one closed; true when the answer counts.
    async fn send_on(&self, sender: &mut Option<SendRequest<Full<Bytes>>>) -> bool {
        if sender.as_ref().is_none_or(SendRequest::is_closed) {
            *sender = self.connect().await.ok();
        }
        match sender {
            Some(open) => self.send(open).await,
            None => false,
        }
    }
}

/// Runs `run` on a thread of its own with a current-thread runtime and waits for it.
async fn on_own_thread<F, Fut>(run: F) -> anyhow::Result<Load>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<Load>>,
{
    tokio::task::spawn_blocking(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(run())
    })
    .await?
}

/// Opens `connections` connections and sends the request three times on each, warming the
/// server's caches and connections before anything is measured.
async fn warm(target: &Arc<Target>, connections: usize) -> anyhow::Result<Vec<SendRequest<Full<Bytes>>>> {
    let mut senders = Vec::with_capacity(connections);
    for _ in 0..connections {
        senders.push(
            target
                .connect()
                .await
                .with_context(|| format!("cannot connect to {}", target.address))?,
        );
    }
    for _ in 0..3 {
        futures::future::join_all(senders.iter_mut().map(|sender| target.send(sender))).await;
    }
    Ok(senders)
}

/// Closed loop: `connections` clients, each sending its next request when the last is
/// answered, for `duration`.
pub async fn saturate(url: &str, body: Value, connections: usize, duration: Duration) -> anyhow::Result<Load> {
    let target = Target::new(url, &body)?;
    on_own_thread(move || async move {
        let senders = warm(&target, connections).await?;
        let started = Instant::now();
        let deadline = started + duration;
        let mut tasks = Vec::with_capacity(connections);
        for sender in senders {
            let target = target.clone();
            tasks.push(tokio::spawn(async move {
                let mut sender = Some(sender);
                let mut load = Load::default();
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    let ok = target.send_on(&mut sender).await;
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
    })
    .await
}

/// Open loop: `rate` requests a second for `duration`, each latency counted from when the
/// request was due (so a stalled server cannot hide its queue). A request takes an idle
/// connection, or opens one when every connection is busy.
pub async fn paced(url: &str, body: Value, rate: f64, duration: Duration) -> anyhow::Result<Load> {
    let target = Target::new(url, &body)?;
    on_own_thread(move || async move {
        let idle = Arc::new(Mutex::new(warm(&target, 16).await?));
        let total = (rate * duration.as_secs_f64()).round() as u64;
        let interval = Duration::from_secs_f64(1.0 / rate);
        let started = Instant::now();
        let mut tasks = Vec::with_capacity(total as usize);
        for i in 0..total {
            let due = started + interval.mul_f64(i as f64);
            tokio::time::sleep_until(due.into()).await;
            let (target, idle) = (target.clone(), idle.clone());
            tasks.push(tokio::spawn(async move {
                let mut sender = idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
                let ok = target.send_on(&mut sender).await;
                if let Some(open) = sender.filter(|s| !s.is_closed()) {
                    idle.lock().unwrap_or_else(PoisonError::into_inner).push(open);
                }
                (due.elapsed(), ok)
            }));
        }
        let mut load = Load {
            requests: total,
            latencies: Vec::with_capacity(tasks.len()),
            ..Load::default()
        };
        for task in tasks {
            let (latency, ok) = task.await?;
            load.latencies.push(latency);
            load.errors += u64::from(!ok);
        }
        load.seconds = started.elapsed().as_secs_f64();
        load.latencies.sort();
        Ok(load)
    })
    .await
}
