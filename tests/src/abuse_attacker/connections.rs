//! The attacker's connections: slow headers over raw TCP, and WebSockets that idle or send
//! junk. Each reconnects when closed until told to stop.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};

use super::{Stop, Tally};

/// How long something lasted, in coarse buckets.
fn lasted(since: Instant) -> &'static str {
    match since.elapsed().as_secs() {
        0..2 => "< 2 s",
        2..10 => "2–10 s",
        10..30 => "10–30 s",
        _ => "≥ 30 s",
    }
}

/// A connection that sends its request line, then one header byte a second, forever.
pub(super) async fn slow_headers(address: String, stop: Arc<Stop>, tally: Tally, opened: Arc<AtomicUsize>) {
    let kind = "slow headers";
    let mut first = true;
    while !stop.now() {
        let connected = tokio::net::TcpStream::connect(&address).await;
        if std::mem::take(&mut first) {
            opened.fetch_add(1, Ordering::Relaxed);
        }
        let Ok(mut stream) = connected else {
            tally.add(kind, "connection refused");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        let started = Instant::now();
        let head = b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
        let outcome = if stream.write_all(head).await.is_err() {
            "refused at once".to_string()
        } else {
            loop {
                if stop.now() {
                    break "still open at the end".to_string();
                }
                let mut answer = [0u8; 256];
                match tokio::time::timeout(Duration::from_secs(1), stream.read(&mut answer)).await {
                    Err(_) => {
                        if stream.write_all(b"a").await.is_err() {
                            break format!("write refused after {}", lasted(started));
                        }
                    }
                    Ok(Ok(0)) => break format!("closed by the server after {}", lasted(started)),
                    Ok(Ok(n)) => {
                        let status = String::from_utf8_lossy(&answer[..n])
                            .split_whitespace()
                            .nth(1)
                            .unwrap_or("?")
                            .to_string();
                        break format!("answered {status} after {}", lasted(started));
                    }
                    Ok(Err(_)) => break format!("reset after {}", lasted(started)),
                }
            }
        };
        tally.add(kind, outcome);
    }
}

/// A WebSocket that idles without `connection_init` (`junk` is `None`), or sends one and
/// then a junk message every `junk`.
pub(super) struct SocketFlood {
    pub(super) url: String,
    pub(super) session: String,
    pub(super) junk: Option<Duration>,
}

impl SocketFlood {
    pub(super) async fn run(self, stop: Arc<Stop>, tally: Tally, opened: Arc<AtomicUsize>) {
        let kind = if self.junk.is_some() {
            "sockets sending junk"
        } else {
            "idle sockets"
        };
        let mut first = true;
        let mut sent = 0usize;
        while !stop.now() {
            let outcome = self.once(&stop, &mut sent, &mut first, &opened).await;
            tally.add(kind, outcome.unwrap_or_else(|e| e.to_string()));
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// One connection, from handshake to close; returns how it ended.
    async fn once(
        &self,
        stop: &Stop,
        sent: &mut usize,
        first: &mut bool,
        opened: &AtomicUsize,
    ) -> anyhow::Result<String> {
        let mut request = self.url.as_str().into_client_request()?;
        request
            .headers_mut()
            .insert("sec-websocket-protocol", "graphql-transport-ws".parse()?);
        let connected = tokio::time::timeout(Duration::from_secs(5), tokio_tungstenite::connect_async(request)).await;
        if std::mem::take(first) {
            opened.fetch_add(1, Ordering::Relaxed);
        }
        let mut socket = match connected.context("handshake timed out")? {
            Ok((socket, _)) => socket,
            Err(tungstenite::Error::Http(response)) => return Ok(format!("handshake refused {}", response.status())),
            Err(_) => return Ok("handshake failed".into()),
        };
        if self.junk.is_some() {
            socket.send(Message::text(r#"{"type":"connection_init"}"#)).await?;
        }
        loop {
            if stop.now() {
                let _ = socket.close(None).await;
                return Ok("still open at the end".into());
            }
            match tokio::time::timeout(self.junk.unwrap_or(Duration::from_secs(1)), socket.next()).await {
                Err(_) => {
                    if self.junk.is_some() {
                        *sent += 1;
                        if socket.send(self.junk_message(*sent)).await.is_err() {
                            return Ok("send refused".into());
                        }
                    }
                }
                Ok(Some(Ok(Message::Close(frame)))) => {
                    return Ok(format!("closed {}", frame.map_or(0, |f| u16::from(f.code))));
                }
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(_)) | None) => return Ok("dropped without a close frame".into()),
            }
        }
    }

    fn junk_message(&self, n: usize) -> Message {
        match n % 4 {
            0 => Message::text("not json"),
            1 => Message::text(r#"{"type":"ping"}"#),
            2 => Message::text(
                json!({ "type": "subscribe", "id": n.to_string(), "payload": {
                    "query": "subscription($s: ID!) { seatMapUpdates(sessionId: $s) { __typename } }",
                    "variables": { "s": self.session } } })
                .to_string(),
            ),
            _ => Message::binary(vec![0xFF; 64]),
        }
    }
}
