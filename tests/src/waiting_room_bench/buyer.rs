//! One buyer following its ticket, over a WebSocket or by asking again, and holding its
//! seats once admitted.

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::{HOLD_BEST, JOIN, Outcome, TICKET, post};
use crate::TestApp;

pub(super) struct Buyer<'a> {
    pub(super) app: &'a TestApp,
    pub(super) token: &'a str,
    pub(super) session: &'a str,
    pub(super) index: usize,
    pub(super) started: Instant,
}

impl Buyer<'_> {
    /// Follows the ticket over a WebSocket until admitted (then holds) or sold out.
    pub(super) async fn subscribe(&self, ticket: &str, opening: &Semaphore) -> anyhow::Result<Outcome> {
        let permit = opening.acquire().await?;
        let url = self.app.url("/graphql").replacen("http://", "ws://", 1);
        let mut request = url.into_client_request()?;
        request
            .headers_mut()
            .insert("sec-websocket-protocol", "graphql-transport-ws".parse()?);
        let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
        let init =
            json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {}", self.token) } });
        socket.send(Message::text(init.to_string())).await?;
        let query = format!("subscription($t: ID!) {{ waitingRoomUpdates(ticketId: $t) {{ {TICKET} }} }}");
        let start =
            json!({ "type": "subscribe", "id": "1", "payload": { "query": query, "variables": { "t": ticket } } });
        let mut outcome = Outcome::default();
        let mut answers = 0;
        let mut permit = Some(permit);
        while let Some(message) = socket.next().await {
            let text = match message? {
                Message::Text(text) => text,
                Message::Close(frame) => anyhow::bail!("the server closed the socket: {frame:?}"),
                _ => continue,
            };
            let message: Value = serde_json::from_str(text.as_str())?;
            match message["type"].as_str() {
                Some("connection_ack") => socket.send(Message::text(start.to_string())).await?,
                Some("ping") => {
                    socket
                        .send(Message::text(json!({ "type": "pong" }).to_string()))
                        .await?
                }
                Some("pong") => {}
                Some("next") => {
                    permit.take();
                    answers += 1;
                    outcome.events = answers - 1;
                    let state = &message["payload"]["data"]["waitingRoomUpdates"]["state"];
                    if self.act(state, &mut outcome, true).await? {
                        break;
                    }
                }
                _ => anyhow::bail!("unexpected message {message}"),
            }
        }
        let _ = socket.close(None).await;
        if answers == 0 {
            anyhow::bail!("the socket ended before the first answer");
        }
        Ok(outcome)
    }

    /// Follows the ticket by asking again every `every`.
    pub(super) async fn poll(&self, every: Duration) -> anyhow::Result<Outcome> {
        let mut outcome = Outcome::default();
        loop {
            let answer = post(self.app, JOIN, json!({ "s": self.session }), self.token).await;
            if self
                .act(&answer["data"]["joinWaitingRoom"]["state"], &mut outcome, false)
                .await?
            {
                return Ok(outcome);
            }
            tokio::time::sleep(every).await;
        }
    }

    /// Acts on a ticket state; true when this buyer is done. Anything but a final state
    /// (a busy server's 503 included) means asking again later.
    async fn act(&self, state: &Value, outcome: &mut Outcome, subscribed: bool) -> anyhow::Result<bool> {
        match state.as_str() {
            Some("ADMITTED") => {
                outcome.seats_held = self.hold().await;
                outcome.held_at = (outcome.seats_held > 0).then(|| self.started.elapsed());
                Ok(true)
            }
            Some("SOLD_OUT") => {
                outcome.told_at = Some((subscribed, self.started.elapsed()));
                Ok(true)
            }
            Some("EXPIRED") => Ok(true),
            _ => Ok(false),
        }
    }

    /// Two adjacent seats, or one when two are not to be had; the seats held. Admitted
    /// buyers arrive together and best-available picks the same seats for all of them, so
    /// a buyer who finds them taken tries again a few times, as a person would; a busy
    /// server (SERVER_BUSY, `Retry-After: 1`) is asked again a second later.
    async fn hold(&self) -> usize {
        for count in [2, 1] {
            let mut tries = 0;
            while tries < 10 {
                let key = format!("hold-{}-{count}-{tries}", self.index);
                let variables = json!({ "s": self.session, "n": count, "k": key });
                let answer = post(self.app, HOLD_BEST, variables, self.token).await;
                if answer["data"]["holdBestAvailable"]["id"].is_string() {
                    return count;
                }
                let code = &answer["errors"][0]["extensions"]["code"];
                if code == "SERVER_BUSY" || answer.is_null() {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                } else if code == "SEAT_UNAVAILABLE" {
                    tries += 1;
                    let pause = rand::random_range(20..200);
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                } else {
                    eprintln!("buyer {} could not hold: {code}", self.index);
                    break;
                }
            }
        }
        0
    }
}
