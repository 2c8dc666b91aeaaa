//! Sends the malformed WebSocket conversations, a few sockets at a time, and checks what
//! comes back: the handshake's status, every message, and the close frame's reason.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use rand::rngs::StdRng;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};

use super::frames::{self, Frame, SocketCase};
use super::schema::Schema;
use super::values::KnownIds;
use super::{FuzzSettings, Report, leak, shorten};
use crate::TestApp;

/// Sockets open at once.
const AT_ONCE: usize = 8;
/// How long a socket may stay quiet before the conversation is over.
const QUIET: Duration = Duration::from_millis(300);
/// The longest one conversation may take.
const LONGEST: Duration = Duration::from_secs(3);

pub(super) async fn run(
    app: &TestApp,
    schema: &Schema,
    known: &KnownIds,
    tokens: (&str, &str),
    settings: &FuzzSettings,
    rng: &mut StdRng,
    report: &mut Report,
) {
    let cases: Vec<SocketCase> = (0..settings.sockets)
        .map(|_| frames::socket_case(schema, known, tokens, rng))
        .collect();
    let url = app.url("/graphql").replacen("http://", "ws://", 1);
    let outcomes: Vec<(usize, Result<String, String>)> = futures::stream::iter(cases.iter().enumerate())
        .map(|(index, case)| {
            let url = url.clone();
            async move {
                let outcome = match tokio::time::timeout(LONGEST, converse(&url, case)).await {
                    Ok(outcome) => outcome,
                    Err(_) => Ok("still talking".to_string()),
                };
                (index, outcome)
            }
        })
        .buffer_unordered(AT_ONCE)
        .collect()
        .await;
    let mut outcomes = outcomes;
    outcomes.sort_by_key(|(index, _)| *index);
    for (index, outcome) in outcomes {
        let case = &cases[index];
        match outcome {
            Ok(ending) => {
                *report
                    .socket_endings
                    .entry(format!("{}: {ending}", case.label))
                    .or_default() += 1
            }
            Err(failure) => report.failures.push(format!(
                "socket {index} of seed {} ({}, protocol {:?}): {failure}\n  frames: {}",
                settings.seed,
                case.label,
                case.protocol,
                shorten(&format!("{:?}", case.frames), 4_000)
            )),
        }
    }
}

/// Plays one conversation; `Ok` with how it ended, `Err` with what was wrong.
async fn converse(url: &str, case: &SocketCase) -> Result<String, String> {
    let mut request = url.into_client_request().map_err(|e| format!("request: {e}"))?;
    if let Some(protocol) = case.protocol {
        let value = protocol.parse().map_err(|e| format!("header: {e}"))?;
        request.headers_mut().insert("sec-websocket-protocol", value);
    }
    let mut socket = match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => socket,
        Err(tungstenite::Error::Http(response)) => {
            let status = response.status().as_u16();
            let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default()).to_string();
            if status >= 500 {
                return Err(format!("handshake answered {status}: {body}"));
            }
            if let Some(pattern) = leak(&body, "") {
                return Err(format!("handshake answer contains {pattern:?}: {body}"));
            }
            return Ok(format!("handshake refused {status}"));
        }
        // The client, not the server, refuses an upgrade without the subprotocol it asked for.
        Err(tungstenite::Error::Protocol(tungstenite::error::ProtocolError::SecWebSocketSubProtocolError(_))) => {
            return Ok("no subprotocol chosen".into());
        }
        Err(error) => return Err(format!("handshake failed: {error}")),
    };
    let input = format!("{:?}", case.frames);
    for frame in &case.frames {
        let message = match frame {
            Frame::Text(text) => Message::text(text.clone()),
            Frame::Binary(bytes) => Message::binary(bytes.clone()),
        };
        if socket.send(message).await.is_err() {
            break;
        }
    }
    loop {
        let message = match tokio::time::timeout(QUIET, socket.next()).await {
            Err(_) => {
                let _ = socket.close(None).await;
                return Ok("left open".into());
            }
            Ok(None) => return Ok("ended without a close frame".into()),
            Ok(Some(Err(error))) => return Ok(format!("ended: {}", error_kind(&error))),
            Ok(Some(Ok(message))) => message,
        };
        match message {
            Message::Text(text) => {
                if let Some(pattern) = leak(text.as_str(), &input) {
                    return Err(format!(
                        "message contains {pattern:?}: {}",
                        shorten(text.as_str(), 2_000)
                    ));
                }
            }
            Message::Close(frame) => {
                let (code, reason) = frame.map_or((0, String::new()), |f| (u16::from(f.code), f.reason.to_string()));
                if let Some(pattern) = leak(&reason, &input) {
                    return Err(format!("close {code} reason contains {pattern:?}: {reason}"));
                }
                if code == 1011 {
                    return Err(format!("closed 1011 (internal error): {reason}"));
                }
                return Ok(format!("closed {code}"));
            }
            _ => {}
        }
    }
}

fn error_kind(error: &tungstenite::Error) -> &'static str {
    match error {
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => "closed",
        tungstenite::Error::Io(_) => "I/O error",
        tungstenite::Error::Protocol(_) => "protocol error",
        _ => "other error",
    }
}
