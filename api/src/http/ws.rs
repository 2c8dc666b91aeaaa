//! GraphQL over WebSocket, written on async-graphql's executor because its stock handler does
//! not close with the codes clients rely on.
//!
//! Speaks `graphql-transport-ws` (the current protocol) to its spec, close codes included:
//! 4400 invalid message, 4401 subscribe before acknowledgement, 4403 refused token, 4406 no
//! acceptable subprotocol, 4408 no `connection_init` in time, 4409 duplicate operation id,
//! 4429 repeated `connection_init`. Also speaks the legacy `graphql-ws`
//! (subscriptions-transport-ws) protocol for older clients.
//!
//! The caller authenticates with its access token in `connection_init`'s payload, as
//! `{"Authorization": "Bearer …"}` or `{"accessToken": "…"}`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::HttpState;
use crate::auth::flows;
use crate::auth::viewer::Viewer;
use crate::graphql::{self, errors};
use crate::state::RequestInfo;

pub const TRANSPORT_WS: &str = "graphql-transport-ws";
pub const LEGACY_WS: &str = "graphql-ws";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    TransportWs,
    Legacy,
}

impl Protocol {
    fn next_type(self) -> &'static str {
        match self {
            Self::TransportWs => "next",
            Self::Legacy => "data",
        }
    }
}

/// Something to send, or the close that ends the connection.
enum Outgoing {
    Message(Value),
    Close(u16, String),
}

/// Bytes read from a socket at a time.
const READ_BUFFER: usize = 4 * 1024;

/// Upgrades to a GraphQL WebSocket; `client_ip` is the caller's address as resolved for HTTP
/// (behind trusted proxies, not the proxy's).
pub fn upgrade(state: HttpState, client_ip: IpAddr, request_id: Option<String>, ws: WebSocketUpgrade) -> Response {
    // Clients send only small protocol messages; tungstenite's default 128 KiB read buffer
    // per socket would make memory, not CPU, the limit on how many can watch a seat map.
    // A longer message still arrives whole: the buffer grows for it.
    let ws = ws.protocols([TRANSPORT_WS, LEGACY_WS]).read_buffer_size(READ_BUFFER);
    let protocol = match ws.selected_protocol().and_then(|p| p.to_str().ok()) {
        Some(TRANSPORT_WS) => Some(Protocol::TransportWs),
        Some(LEGACY_WS) => Some(Protocol::Legacy),
        _ => None,
    };
    let info = RequestInfo { request_id, client_ip };
    ws.on_upgrade(move |socket| async move {
        match protocol {
            Some(protocol) => Connection { state, info, protocol }.run(socket).await,
            None => {
                let mut socket = socket;
                let _ = socket.send(close_message(4406, "Subprotocol not acceptable")).await;
            }
        }
    })
}

fn close_message(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from(reason),
    }))
}

struct Connection {
    state: HttpState,
    info: RequestInfo,
    protocol: Protocol,
}

/// Per-connection state of the protocol.
#[derive(Default)]
struct Session {
    initialised: bool,
    viewer: Viewer,
    operations: HashMap<String, JoinHandle<()>>,
}

impl Connection {
    async fn run(self, socket: WebSocket) {
        let (mut sink, mut incoming) = socket.split();
        let (out, mut outgoing) = mpsc::channel::<Outgoing>(64);
        let writer = tokio::spawn(async move {
            while let Some(item) = outgoing.recv().await {
                let (message, last) = match item {
                    Outgoing::Message(value) => (Message::Text(Utf8Bytes::from(value.to_string())), false),
                    Outgoing::Close(code, reason) => (close_message(code, &reason), true),
                };
                if sink.send(message).await.is_err() || last {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        // Operations tell the connection when they end, so their ids can be reused.
        let (done_tx, mut done) = mpsc::unbounded_channel::<String>();
        let mut session = Session::default();
        let init_timeout = tokio::time::sleep(Duration::from_millis(
            self.state.app.settings.graphql.ws_init_timeout_ms,
        ));
        tokio::pin!(init_timeout);

        let close = loop {
            tokio::select! {
                () = &mut init_timeout, if !session.initialised => {
                    break Some((4408, "Connection initialisation timeout".to_string()));
                }
                Some(id) = done.recv() => {
                    session.operations.remove(&id);
                }
                message = incoming.next() => {
                    let text = match message {
                        Some(Ok(Message::Text(text))) => text,
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                        Some(Ok(Message::Binary(_))) => break Some((4400, "Binary messages are not supported".into())),
                        Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break None,
                    };
                    match self.handle(&mut session, text.as_str(), &out, &done_tx).await {
                        Ok(()) => {}
                        Err(close) => break close,
                    }
                }
            }
        };
        for (_, operation) in session.operations.drain() {
            operation.abort();
        }
        if let Some((code, reason)) = close {
            let _ = out.send(Outgoing::Close(code, reason)).await;
        }
        drop(out);
        let _ = writer.await;
    }

    /// Handles one client message; `Err` closes the connection (with a code, or silently).
    async fn handle(
        &self,
        session: &mut Session,
        text: &str,
        out: &mpsc::Sender<Outgoing>,
        done: &mpsc::UnboundedSender<String>,
    ) -> Result<(), Option<(u16, String)>> {
        let invalid = |why: &str| Some((4400, why.to_string()));
        let message: Value = serde_json::from_str(text).map_err(|_| invalid("Invalid message received: not JSON"))?;
        let kind = message["type"]
            .as_str()
            .ok_or_else(|| invalid("Invalid message received: no type"))?;
        match (self.protocol, kind) {
            (_, "connection_init") => {
                if session.initialised {
                    return Err(Some((4429, "Too many initialisation requests".into())));
                }
                session.viewer = self
                    .authenticate(&message["payload"])
                    .await
                    .ok_or(Some((4403, "Forbidden".into())))?;
                session.initialised = true;
                send(out, json!({ "type": "connection_ack" })).await;
                if self.protocol == Protocol::Legacy {
                    send(out, json!({ "type": "ka" })).await;
                }
            }
            (Protocol::TransportWs, "ping") => {
                let mut pong = json!({ "type": "pong" });
                if !message["payload"].is_null() {
                    pong["payload"] = message["payload"].clone();
                }
                send(out, pong).await;
            }
            (Protocol::TransportWs, "pong") => {}
            (Protocol::TransportWs, "subscribe") | (Protocol::Legacy, "start") => {
                if !session.initialised {
                    return Err(Some((4401, "Unauthorized".into())));
                }
                let id = message["id"]
                    .as_str()
                    .filter(|id| !id.is_empty())
                    .ok_or_else(|| invalid("Invalid message received: no id"))?;
                if session.operations.contains_key(id) {
                    return Err(Some((4409, format!("Subscriber for {id} already exists"))));
                }
                let request: async_graphql::Request = serde_json::from_value(message["payload"].clone())
                    .map_err(|_| invalid("Invalid message received: the payload is not a GraphQL request"))?;
                let operation = self.start(
                    id.to_string(),
                    request,
                    session.viewer.clone(),
                    out.clone(),
                    done.clone(),
                );
                session.operations.insert(id.to_string(), operation);
            }
            (Protocol::TransportWs, "complete") | (Protocol::Legacy, "stop") => {
                if let Some(operation) = message["id"].as_str().and_then(|id| session.operations.remove(id)) {
                    operation.abort();
                }
            }
            (Protocol::Legacy, "connection_terminate") => return Err(None),
            (_, other) => return Err(invalid(&format!("Invalid message received: unknown type {other:?}"))),
        }
        Ok(())
    }

    /// Who the connection acts for; `None` when a token was given and refused.
    async fn authenticate(&self, payload: &Value) -> Option<Viewer> {
        let token = ["Authorization", "authorization"]
            .iter()
            .find_map(|key| payload[*key].as_str())
            .map(|value| value.strip_prefix("Bearer ").unwrap_or(value))
            .or_else(|| {
                ["accessToken", "authToken", "token"]
                    .iter()
                    .find_map(|key| payload[*key].as_str())
            });
        match flows::authenticate(&self.state.app, token).await {
            Viewer::Rejected(_) => None,
            viewer => Some(viewer),
        }
    }

    /// Runs one operation, streaming its results until it ends or is cancelled.
    fn start(
        &self,
        id: String,
        request: async_graphql::Request,
        viewer: Viewer,
        out: mpsc::Sender<Outgoing>,
        done: mpsc::UnboundedSender<String>,
    ) -> JoinHandle<()> {
        let request = request.data(viewer).data(self.info.clone());
        let responses = graphql::execute_stream(&self.state.schema, request, &self.state.app.db);
        let (protocol, request_id) = (self.protocol, self.info.request_id.clone());
        tokio::spawn(async move {
            let mut responses = std::pin::pin!(responses);
            let mut first = true;
            while let Some(response) = responses.next().await {
                let response = errors::finalize(response, request_id.as_deref());
                if first && protocol == Protocol::TransportWs && errors::is_request_error(&response) {
                    // A request that could not run gets `error`, and no `complete` after it.
                    send(&out, json!({ "type": "error", "id": id, "payload": response.errors })).await;
                    let _ = done.send(id);
                    return;
                }
                first = false;
                send(
                    &out,
                    json!({ "type": protocol.next_type(), "id": id, "payload": response }),
                )
                .await;
            }
            send(&out, json!({ "type": "complete", "id": id })).await;
            let _ = done.send(id);
        })
    }
}

async fn send(out: &mpsc::Sender<Outgoing>, value: Value) {
    let _ = out.send(Outgoing::Message(value)).await;
}
