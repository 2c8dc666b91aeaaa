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
//! `{"Authorization": "Bearer …"}` or `{"accessToken": "…"}`. The socket follows the
//! account: it closes with 4403 when that token expires, and within moments of a log-out, a
//! revoked session, a role change or dormancy (see [`identity`]).
//!
//! Limits (`[websocket]` settings): a message over `max_message_bytes` closes the socket
//! with 1009 unread; a client address over `sockets_per_ip` is refused the upgrade with 429;
//! an account over `sockets_per_account` is closed with 4429 at `connection_init`; an
//! operation over `max_subscriptions` gets an `error` coded TOO_MANY_SUBSCRIPTIONS; a socket
//! running nothing for `idle_timeout_ms` is closed with 1000; one that does not answer the
//! server's ping within `keepalive_timeout_ms` is closed with 1001.

mod identity;
mod timers;
mod wire;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::Instrument;

use self::identity::{Identity, Refusal};
use self::timers::{next_change, ticker, until};
use self::wire::{read_failure, reply, token_of, write};
use super::HttpState;
use crate::auth::viewer::Viewer;
use crate::error::ApiError;
use crate::live::sockets::IpSlot;
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
///
/// Kept small (boxed where large): every socket's queue allocates room for a block of these
/// up front.
enum Outgoing {
    Message(Box<Value>),
    /// An operation's response or errors, encoded already (shared by every subscriber of
    /// its shape): the writer only puts the envelope with the operation id around it.
    Encoded {
        kind: Kind,
        id: Arc<str>,
        payload: Arc<str>,
    },
    Ping,
    Close(u16, Box<str>),
}

/// The type of an operation's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `next` (graphql-transport-ws) or `data` (legacy).
    Next(Protocol),
    Error,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Next(protocol) => protocol.next_type(),
            Self::Error => "error",
        }
    }
}

/// Bytes read from a socket at a time: clients send small protocol messages, and the buffer
/// is kept by every socket (a longer message grows it).
const READ_BUFFER: usize = 1024;
/// Bytes gathered before they are written to the socket (the writer also flushes after each
/// batch). The buffer keeps its size once grown, and holds what a client that stops
/// reading has not taken: kept small, a slow client costs little and falls behind soon.
const WRITE_BUFFER: usize = 8 * 1024;
/// What a client refused for its address's socket count is told to wait.
const RETRY_AFTER_SECONDS: &str = "10";
/// How long a closing socket may take to send what is queued and its close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Upgrades to a GraphQL WebSocket; `client_ip` is the caller's address as resolved for HTTP
/// (behind trusted proxies, not the proxy's).
pub fn upgrade(state: HttpState, client_ip: IpAddr, request_id: Option<String>, ws: WebSocketUpgrade) -> Response {
    // Clients send only small protocol messages; tungstenite's default 128 KiB read buffer
    // per socket would make memory, not CPU, the limit on how many can watch a seat map.
    // A message over the limit is refused by its header, before its body is read.
    let max_message = state.app.settings.websocket.max_message_bytes;
    let ws = ws
        .protocols([TRANSPORT_WS, LEGACY_WS])
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_message_size(max_message)
        .max_frame_size(max_message);
    let protocol = match ws.selected_protocol().and_then(|p| p.to_str().ok()) {
        Some(TRANSPORT_WS) => Some(Protocol::TransportWs),
        Some(LEGACY_WS) => Some(Protocol::Legacy),
        _ => None,
    };
    let info = RequestInfo { request_id, client_ip };
    accept(state, info, protocol, ws)
}

/// Upgrades when the client's address has a socket left on this instance; 429 otherwise.
fn accept(state: HttpState, info: RequestInfo, protocol: Option<Protocol>, ws: WebSocketUpgrade) -> Response {
    let Some(slot) = state.app.sockets.admit_ip(info.client_ip) else {
        tracing::info!(client_ip = %info.client_ip, "a WebSocket was refused: its address holds too many");
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, RETRY_AFTER_SECONDS)],
            "too many WebSocket connections from this address",
        )
            .into_response();
    };
    // The socket outlives the HTTP request and its span: it gets one of its own, with the
    // upgrade request's id, which each operation's span (and so every log line) carries.
    let span = tracing::info_span!(
        "websocket",
        request_id = info.request_id.as_deref().unwrap_or("-"),
        client_ip = %info.client_ip
    );
    ws.on_upgrade(move |socket| {
        async move {
            match protocol {
                Some(protocol) => {
                    Connection {
                        state,
                        info,
                        protocol,
                        _slot: slot,
                    }
                    .run(socket)
                    .await
                }
                None => {
                    let mut socket = socket;
                    let _ = socket.send(close_message(4406, "Subprotocol not acceptable")).await;
                }
            }
        }
        .instrument(span)
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
    /// The client address's place, given back when the connection ends.
    _slot: IpSlot,
}

/// Per-connection state of the protocol.
struct Session {
    initialised: bool,
    viewer: Viewer,
    /// The logged-in caller's token and place, checked again while the socket lives.
    identity: Option<Identity>,
    /// Running operations by id, each with its serial number: an id can be reused once its
    /// operation is completed, so an operation's `done` names the serial it ended.
    operations: HashMap<String, Operation>,
    /// The serial number of the next operation started.
    next_serial: u64,
    /// When the client last started or ended something; idleness counts from here.
    last_active: Instant,
}

/// A running operation: its task, and the serial number that tells it from an earlier or
/// later operation under the same id.
struct Operation {
    serial: u64,
    task: JoinHandle<()>,
}

/// What an operation's task sends when it ends: its serial number.
type Done = u64;

/// Forgets the operation numbered `serial` that ended, if it is still tracked; true if so.
/// A `done` read late may be of an operation the client completed since, whose id now
/// names a newer one: that one stays tracked (counted, completable, aborted at the close).
fn ended(operations: &mut HashMap<String, Operation>, serial: u64) -> bool {
    let id = operations
        .iter()
        .find_map(|(id, op)| (op.serial == serial).then(|| id.clone()));
    id.is_some_and(|id| operations.remove(&id).is_some())
}

/// Why the session loop ended: a close to send, or nothing (the client went away).
type Ending = Option<Refusal>;

impl Connection {
    async fn run(self, socket: WebSocket) {
        let settings = &self.state.app.settings;
        let limits = &settings.websocket;
        let (sink, mut incoming) = socket.split();
        let (out, outgoing) = mpsc::channel::<Outgoing>(limits.queue_messages.max(1));
        let mut writer = tokio::spawn(write(sink, outgoing).in_current_span());
        // Operations tell the connection when they end, so their ids can be reused.
        let (done_tx, mut done) = mpsc::unbounded_channel::<Done>();
        let mut session = Session {
            initialised: false,
            viewer: Viewer::Anonymous,
            identity: None,
            operations: HashMap::new(),
            next_serial: 0,
            last_active: Instant::now(),
        };
        let init_deadline = Instant::now() + Duration::from_millis(settings.graphql.ws_init_timeout_ms);
        let idle_timeout = Duration::from_millis(limits.idle_timeout_ms);
        let keepalive_timeout = Duration::from_millis(limits.keepalive_timeout_ms);
        let mut keepalive = ticker(limits.keepalive_interval_ms);
        let mut identity_checks = ticker(limits.identity_check_ms);
        // Set while a ping waits for its answer: when the socket is given up.
        let mut unanswered: Option<Instant> = None;

        let close: Ending = loop {
            let idle_at =
                (session.initialised && session.operations.is_empty()).then(|| session.last_active + idle_timeout);
            let expires_at = session.identity.as_ref().map(|identity| identity.expires_at);
            tokio::select! {
                () = tokio::time::sleep_until(init_deadline), if !session.initialised => {
                    break Some((4408, "Connection initialisation timeout".to_string()));
                }
                () = until(idle_at) => break Some((1000, "Idle timeout".into())),
                () = until(unanswered) => break Some((1001, "Keep-alive timeout".into())),
                () = until(expires_at) => break Some((4403, "Forbidden: the token expired".into())),
                _ = keepalive.tick() => {
                    if unanswered.is_none() {
                        unanswered = Some(Instant::now() + keepalive_timeout);
                        // A full queue means the client is not reading: the ping's deadline
                        // still runs.
                        let _ = out.try_send(Outgoing::Ping);
                    }
                }
                change = next_change(&mut session.identity) => {
                    if let Err(close) = Box::pin(self.recheck(&session, Some(&change))).await {
                        break Some(close);
                    }
                }
                _ = identity_checks.tick(), if session.identity.is_some() => {
                    if let Err(close) = Box::pin(self.recheck(&session, None)).await {
                        break Some(close);
                    }
                }
                Some(serial) = done.recv() => {
                    if ended(&mut session.operations, serial) {
                        session.last_active = Instant::now();
                    }
                }
                message = incoming.next() => {
                    // Whatever arrives shows the client is there.
                    unanswered = None;
                    // An operation that ended may have told the client before this loop
                    // heard of it: its id is free for the message just read.
                    while let Ok(serial) = done.try_recv() {
                        if ended(&mut session.operations, serial) {
                            session.last_active = Instant::now();
                        }
                    }
                    let text = match message {
                        Some(Ok(Message::Text(text))) => text,
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                        Some(Ok(Message::Binary(_))) => break Some((4400, "Binary messages are not supported".into())),
                        Some(Ok(Message::Close(_))) | None => break None,
                        Some(Err(err)) => break read_failure(&err),
                    };
                    // Boxed, like the re-checks: the loop's future lives as long as the socket,
                    // and would otherwise keep room for the largest of them all along.
                    match Box::pin(self.handle(&mut session, text.as_str(), &out, &done_tx)).await {
                        Ok(()) => {}
                        Err(close) => break close,
                    }
                }
            }
        };
        for (_, operation) in session.operations.drain() {
            operation.task.abort();
        }
        if let Some((code, reason)) = close {
            let _ = out
                .send_timeout(Outgoing::Close(code, reason.into()), CLOSE_GRACE)
                .await;
        }
        drop(out);
        // A client that reads nothing must not keep the writer, and the socket, forever.
        if tokio::time::timeout(CLOSE_GRACE, &mut writer).await.is_err() {
            writer.abort();
        }
    }

    /// Checks the logged-in caller's token again; `Err` closes the socket.
    async fn recheck(
        &self,
        session: &Session,
        change: Option<&crate::live::sockets::AccountChange>,
    ) -> Result<(), Refusal> {
        match &session.identity {
            Some(identity) => identity.check(&self.state.app, change).await,
            None => Ok(()),
        }
    }

    /// Handles one client message; `Err` closes the connection (with a code, or silently).
    async fn handle(
        &self,
        session: &mut Session,
        text: &str,
        out: &mpsc::Sender<Outgoing>,
        done: &mpsc::UnboundedSender<Done>,
    ) -> Result<(), Ending> {
        let invalid = |why: &str| Some((4400, why.to_string()));
        let message: Value = serde_json::from_str(text).map_err(|_| invalid("Invalid message received: not JSON"))?;
        let kind = message["type"]
            .as_str()
            .ok_or_else(|| invalid("Invalid message received: no type"))?;
        // The protocol's payloads of these are an object, or absent (graphql-transport-ws:
        // anything else is an invalid message).
        let payload_is_object = message["payload"].is_object() || message["payload"].is_null();
        if self.protocol == Protocol::TransportWs
            && matches!(kind, "connection_init" | "ping" | "pong")
            && !payload_is_object
        {
            return Err(invalid(&format!(
                "Invalid message received: {kind}'s payload must be an object"
            )));
        }
        match (self.protocol, kind) {
            (_, "connection_init") => {
                if session.initialised {
                    return Err(Some((4429, "Too many initialisation requests".into())));
                }
                if let Some(token) = token_of(&message["payload"]) {
                    let identity = Identity::establish(&self.state.app, token).await.map_err(Some)?;
                    session.viewer = Viewer::User(identity.principal.clone());
                    session.identity = Some(identity);
                }
                session.initialised = true;
                session.last_active = Instant::now();
                reply(out, json!({ "type": "connection_ack" })).await?;
                if self.protocol == Protocol::Legacy {
                    reply(out, json!({ "type": "ka" })).await?;
                }
            }
            (Protocol::TransportWs, "ping") => {
                let mut pong = json!({ "type": "pong" });
                if !message["payload"].is_null() {
                    pong["payload"] = message["payload"].clone();
                }
                reply(out, pong).await?;
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
                let mut request: async_graphql::Request = serde_json::from_value(message["payload"].clone())
                    .map_err(|_| invalid("Invalid message received: the payload is not a GraphQL request"))?;
                // A document, or a persisted query's hash in its place (as over HTTP).
                if request.query.is_empty() && !crate::graphql::persisted::names_a_document(&request) {
                    // The legacy protocol has no such close: its clients would reconnect and
                    // send the same again. They get an `error` for the operation instead.
                    if self.protocol == Protocol::Legacy {
                        let error =
                            json!({ "message": "the payload has no query", "extensions": { "code": "BAD_REQUEST" } });
                        return reply(out, json!({ "type": "error", "id": id, "payload": [error] })).await;
                    }
                    return Err(invalid("Invalid message received: the payload has no query"));
                }
                session.last_active = Instant::now();
                // Persisted queries by hash, and trusted documents, hold here as over HTTP.
                let caller = crate::graphql::persisted::Caller {
                    ip: self.info.client_ip,
                    may_register: true,
                };
                if let Err(error) = self.state.persisted.resolve(&mut request, caller).await {
                    return reply(out, json!({ "type": "error", "id": id, "payload": [error] })).await;
                }
                let limit = self.state.app.settings.websocket.max_subscriptions;
                if session.operations.len() >= limit {
                    let error = async_graphql::Error::from(ApiError::TooManySubscriptions(limit))
                        .into_server_error(async_graphql::Pos::default());
                    return reply(out, json!({ "type": "error", "id": id, "payload": [error] })).await;
                }
                let serial = session.next_serial;
                session.next_serial += 1;
                let task = self.start(
                    (id.to_string(), serial),
                    request,
                    session.viewer.clone(),
                    out.clone(),
                    done.clone(),
                );
                session.operations.insert(id.to_string(), Operation { serial, task });
            }
            (Protocol::TransportWs, "complete") | (Protocol::Legacy, "stop") => {
                if let Some(operation) = message["id"].as_str().and_then(|id| session.operations.remove(id)) {
                    operation.task.abort();
                    session.last_active = Instant::now();
                }
            }
            (Protocol::Legacy, "connection_terminate") => return Err(None),
            (_, other) => return Err(invalid(&format!("Invalid message received: unknown type {other:?}"))),
        }
        Ok(())
    }

    /// Runs one operation, streaming its results until it ends, is cancelled, or the socket's
    /// outgoing queue is closed (nobody would read what it sends).
    fn start(
        &self,
        (id, serial): (String, u64),
        request: async_graphql::Request,
        viewer: Viewer,
        out: mpsc::Sender<Outgoing>,
        done: mpsc::UnboundedSender<Done>,
    ) -> JoinHandle<()> {
        // The operation's name as the request gives it (the document's own name is known
        // only once it is parsed, inside the execution).
        let span = tracing::info_span!(
            "operation",
            operation_id = %id,
            operation.name = request.operation_name.as_deref().unwrap_or("")
        );
        let responses = self.state.fanout.open(request, viewer, self.info.clone());
        let protocol = self.protocol;
        let counted = self.state.app.sockets.operation_started();
        tokio::spawn(
            async move {
                // Given back when the task ends or is aborted.
                let _counted = counted;
                // The id as a JSON string, made once for every message of the operation.
                let id_json: Arc<str> = serde_json::to_string(&id).unwrap_or_default().into();
                let mut responses = std::pin::pin!(responses);
                let mut first = true;
                while let Some(encoded) = responses.next().await {
                    let (kind, payload) = match encoded.refused {
                        // A request that could not run gets `error`, and no `complete` after it.
                        Some(errors) if first && protocol == Protocol::TransportWs => (Kind::Error, errors),
                        _ => (Kind::Next(protocol), encoded.payload),
                    };
                    first = false;
                    let sent = out
                        .send(Outgoing::Encoded {
                            kind,
                            id: id_json.clone(),
                            payload,
                        })
                        .await
                        .is_ok();
                    // The socket is gone, or the request was refused: nothing more to send.
                    if !sent || kind == Kind::Error {
                        let _ = done.send(serial);
                        return;
                    }
                }
                let _ = out
                    .send(Outgoing::Message(Box::new(json!({ "type": "complete", "id": id }))))
                    .await;
                let _ = done.send(serial);
            }
            .instrument(span),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_late_end_does_not_untrack_a_newer_operation_under_the_same_id() {
        let mut operations = HashMap::new();
        let newer = tokio::spawn(std::future::pending::<()>());
        // "1" was started (serial 0), completed by the client, and started again (serial 1).
        operations.insert("1".to_string(), Operation { serial: 1, task: newer });
        assert!(!ended(&mut operations, 0), "the first operation's late done");
        assert!(operations.contains_key("1"), "the newer operation is still tracked");
        assert!(ended(&mut operations, 1));
        assert!(operations.is_empty());
        assert!(!ended(&mut operations, 1), "an unknown serial is ignored");
    }
}
