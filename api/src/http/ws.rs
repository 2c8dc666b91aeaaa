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
mod messages;
mod operation;
mod session;
mod timers;
mod wire;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocketUpgrade};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tracing::Instrument;

use self::identity::Refusal;
use super::HttpState;
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
/// Kept small (boxed where large): every socket's queue keeps room for as many of these as
/// it has held at once (rounded up to a power of two, at most about twice
/// `websocket.queue_messages`).
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
/// is kept by every socket (a longer message grows it as it arrives). A subscriber that has
/// subscribed sends nothing but pongs: room for those is enough.
const READ_BUFFER: usize = 256;
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

/// Why the session loop ended: a close to send, or nothing (the client went away).
type Ending = Option<Refusal>;
