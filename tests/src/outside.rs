//! Local stand-ins for the outside services notifications go to: an SMTP server that keeps
//! what it receives, and a Slack incoming webhook. Both listen on random ports and can be
//! told to fail their next few requests, to exercise retries.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One email as the SMTP server received it.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    pub from: String,
    pub to: Vec<String>,
    /// The message as sent (headers and MIME body).
    pub data: String,
}

impl ReceivedMail {
    /// The value of a header, as sent (possibly RFC 2047 encoded).
    pub fn header(&self, name: &str) -> Option<String> {
        let prefix = format!("{}:", name.to_lowercase());
        self.data
            .lines()
            .take_while(|line| !line.is_empty())
            .find(|line| line.to_lowercase().starts_with(&prefix))
            .map(|line| line[prefix.len()..].trim().to_string())
    }
}

/// A plain SMTP server (no TLS, no authentication) that stores every message.
#[derive(Clone)]
pub struct SmtpSink {
    pub port: u16,
    received: Arc<Mutex<Vec<ReceivedMail>>>,
    fail_next: Arc<AtomicUsize>,
}

impl SmtpSink {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the SMTP sink");
        let port = listener.local_addr().expect("address").port();
        let sink = Self {
            port,
            received: Arc::default(),
            fail_next: Arc::default(),
        };
        let serving = sink.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let sink = serving.clone();
                tokio::spawn(async move {
                    let _ = sink.converse(stream).await;
                });
            }
        });
        sink
    }

    /// Refuses the next `n` messages with a temporary failure (451).
    pub fn fail_next(&self, n: usize) {
        self.fail_next.store(n, Ordering::SeqCst);
    }

    pub fn received(&self) -> Vec<ReceivedMail> {
        self.received.lock().expect("mails").clone()
    }

    /// Waits up to `within` for at least `n` messages; returns all received.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<ReceivedMail> {
        let deadline = tokio::time::Instant::now() + within;
        while self.received().len() < n && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.received()
    }

    async fn converse(&self, stream: TcpStream) -> std::io::Result<()> {
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        write.write_all(b"220 sink.curtain.test ESMTP\r\n").await?;
        let (mut from, mut to) = (String::new(), Vec::new());
        while let Some(line) = lines.next_line().await? {
            let upper = line.to_uppercase();
            let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                b"250-sink.curtain.test\r\n250 8BITMIME\r\n"
            } else if upper.starts_with("MAIL FROM:") {
                if self
                    .fail_next
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
                {
                    b"451 4.3.0 try again later\r\n"
                } else {
                    from = line[10..].trim().to_string();
                    to.clear();
                    b"250 OK\r\n"
                }
            } else if upper.starts_with("RCPT TO:") {
                to.push(line[8..].trim().trim_matches(['<', '>']).to_string());
                b"250 OK\r\n"
            } else if upper == "DATA" {
                write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
                let mut data = String::new();
                while let Some(line) = lines.next_line().await? {
                    if line == "." {
                        break;
                    }
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                    data.push('\n');
                }
                self.received.lock().expect("mails").push(ReceivedMail {
                    from: from.clone(),
                    to: std::mem::take(&mut to),
                    data,
                });
                b"250 OK queued\r\n"
            } else if upper == "QUIT" {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            } else if upper == "RSET" || upper == "NOOP" {
                b"250 OK\r\n"
            } else {
                b"502 command not implemented\r\n"
            };
            write.write_all(reply).await?;
        }
        Ok(())
    }
}

/// A Slack incoming webhook at `{url}`: keeps the `text` of each accepted post.
#[derive(Clone)]
pub struct SlackStandIn {
    pub url: String,
    accepted: Arc<Mutex<Vec<String>>>,
    refused: Arc<AtomicUsize>,
    fail_next: Arc<AtomicUsize>,
}

impl SlackStandIn {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the Slack stand-in");
        let url = format!(
            "http://{}/services/T000/B000/secret",
            listener.local_addr().expect("address")
        );
        let slack = Self {
            url,
            accepted: Arc::default(),
            refused: Arc::default(),
            fail_next: Arc::default(),
        };
        let app = axum::Router::new()
            .route("/services/T000/B000/secret", axum::routing::post(post))
            .with_state(slack.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        slack
    }

    /// Answers the next `n` posts with 500.
    pub fn fail_next(&self, n: usize) {
        self.fail_next.store(n, Ordering::SeqCst);
    }

    pub fn accepted(&self) -> Vec<String> {
        self.accepted.lock().expect("posts").clone()
    }

    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }

    /// Waits up to `within` for at least `n` accepted posts; returns them all.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + within;
        while self.accepted().len() < n && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.accepted()
    }
}

async fn post(State(slack): State<SlackStandIn>, body: axum::Json<serde_json::Value>) -> StatusCode {
    if slack
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        slack.refused.fetch_add(1, Ordering::SeqCst);
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let text = body["text"].as_str().unwrap_or_default().to_string();
    slack.accepted.lock().expect("posts").push(text);
    StatusCode::OK
}
