//! The survivor's seat-map subscribers: each follows `seatMapUpdates` on a socket of its own
//! and keeps what it believes the seat map is, to be compared with the database at the end.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::{SinkExt, StreamExt};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const UPDATES: &str = "subscription($s: ID!) { seatMapUpdates(sessionId: $s) {
    __typename
    ... on SeatMapSnapshot { version seats { id status } }
    ... on SeatMapDelta { version fromVersion changes { seatId status } } } }";

/// What one subscriber believes the seat map is.
#[derive(Default)]
struct Belief {
    version: i64,
    seats: HashMap<String, String>,
    gaps: u64,
}

/// Seat-map subscribers of one instance, each on its own socket; a socket that drops is
/// opened again, as a client would.
pub(super) struct Subscribers {
    beliefs: Vec<Arc<Mutex<Belief>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Subscribers {
    pub(super) async fn start(base: &str, session: &str, count: usize) -> anyhow::Result<Self> {
        let connected = Arc::new(AtomicUsize::new(0));
        let mut beliefs = Vec::with_capacity(count);
        let mut tasks = Vec::with_capacity(count);
        for _ in 0..count {
            let belief = Arc::new(Mutex::new(Belief::default()));
            beliefs.push(belief.clone());
            tasks.push(tokio::spawn(watch(
                base.to_string(),
                session.to_string(),
                belief,
                connected.clone(),
            )));
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while connected.load(Ordering::Relaxed) < count {
            if Instant::now() > deadline {
                bail!("subscribers did not all get their snapshot");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Self { beliefs, tasks })
    }

    /// For each subscriber, how long after the database was read it matched it (`None`: not
    /// within 10 s).
    pub(super) async fn converge(
        &self,
        db: &DatabaseConnection,
        session_id: i64,
    ) -> anyhow::Result<Vec<Option<Duration>>> {
        let row = db
            .query_one_raw(Statement::from_sql_and_values(
                db.get_database_backend(),
                "SELECT seat_map_version FROM sessions WHERE id = $1",
                [session_id.into()],
            ))
            .await?
            .context("the session")?;
        let version: i64 = row.try_get_by_index(0)?;
        let rows = db
            .query_all_raw(Statement::from_sql_and_values(
                db.get_database_backend(),
                "SELECT seat_id, CAST(status AS TEXT) FROM session_seats WHERE session_id = $1",
                [session_id.into()],
            ))
            .await?;
        let mut truth = HashMap::new();
        for row in rows {
            let seat: i64 = row.try_get_by_index(0)?;
            let status: String = row.try_get_by_index(1)?;
            let id = curtain::ids::encode(curtain::ids::NodeKind::Seat, seat).to_string();
            truth.insert(id, status);
        }
        let read = Instant::now();
        let mut times = vec![None; self.beliefs.len()];
        while read.elapsed() < Duration::from_secs(10) && times.iter().any(Option::is_none) {
            for (belief, time) in self.beliefs.iter().zip(times.iter_mut()) {
                if time.is_none() {
                    let belief = belief.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    if belief.version == version && belief.seats == truth {
                        *time = Some(read.elapsed());
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(times)
    }

    pub(super) fn gaps(&self) -> u64 {
        self.beliefs
            .iter()
            .map(|b| b.lock().unwrap_or_else(std::sync::PoisonError::into_inner).gaps)
            .sum()
    }

    pub(super) fn stop(&self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

async fn watch(base: String, session: String, belief: Arc<Mutex<Belief>>, connected: Arc<AtomicUsize>) {
    let mut first = true;
    loop {
        let _ = follow(&base, &session, &belief, &connected, &mut first).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn follow(
    base: &str,
    session: &str,
    belief: &Mutex<Belief>,
    connected: &AtomicUsize,
    first: &mut bool,
) -> anyhow::Result<()> {
    let url = format!("{}/graphql", base.replacen("http://", "ws://", 1));
    let mut request = url.into_client_request()?;
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "graphql-transport-ws".parse()?);
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
    socket
        .send(Message::text(json!({ "type": "connection_init" }).to_string()))
        .await?;
    let subscribe =
        json!({ "type": "subscribe", "id": "1", "payload": { "query": UPDATES, "variables": { "s": session } } });
    socket.send(Message::text(subscribe.to_string())).await?;
    while let Some(message) = socket.next().await {
        let text = match message? {
            Message::Text(text) => text,
            Message::Ping(data) => {
                socket.send(Message::Pong(data)).await?;
                continue;
            }
            Message::Close(_) => break,
            _ => continue,
        };
        let message: Value = serde_json::from_str(text.as_str())?;
        match message["type"].as_str() {
            Some("ping") => {
                socket
                    .send(Message::text(json!({ "type": "pong" }).to_string()))
                    .await?
            }
            Some("next") => {
                let event = &message["payload"]["data"]["seatMapUpdates"];
                let mut belief = belief.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if event["__typename"] == "SeatMapSnapshot" {
                    belief.version = event["version"].as_i64().unwrap_or_default();
                    belief.seats = event["seats"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|seat| {
                            Some((seat["id"].as_str()?.to_string(), seat["status"].as_str()?.to_string()))
                        })
                        .collect();
                    if std::mem::take(first) {
                        connected.fetch_add(1, Ordering::Relaxed);
                    }
                } else {
                    if event["fromVersion"].as_i64() != Some(belief.version) {
                        belief.gaps += 1;
                    }
                    belief.version = event["version"].as_i64().unwrap_or_default();
                    for change in event["changes"].as_array().into_iter().flatten() {
                        if let (Some(seat), Some(status)) = (change["seatId"].as_str(), change["status"].as_str()) {
                            belief.seats.insert(seat.to_string(), status.to_string());
                        }
                    }
                }
            }
            Some("error" | "complete") => break,
            _ => {}
        }
    }
    Ok(())
}
