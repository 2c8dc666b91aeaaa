//! The session loop: one per socket, it reads what the client sends, keeps the protocol's
//! clocks (initialisation, idleness, keep-alive, the token's expiry) and re-checks the caller.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use futures::StreamExt;
use tokio::time::Instant;
use tracing::Instrument;

use super::identity::{Identity, Refusal};
use super::operation::{Done, Operation, ended};
use super::timers::{next_change, ticker, until};
use super::wire::{read_failure, write};
use super::{CLOSE_GRACE, Connection, Ending, Outgoing};
use crate::auth::viewer::Viewer;

/// Per-connection state of the protocol.
pub(super) struct Session {
    pub(super) initialised: bool,
    pub(super) viewer: Viewer,
    /// The logged-in caller's token and place, checked again while the socket lives.
    pub(super) identity: Option<Identity>,
    /// Running operations by id, each with its serial number: an id can be reused once its
    /// operation is completed, so an operation's `done` names the serial it ended.
    pub(super) operations: HashMap<String, Operation>,
    /// The serial number of the next operation started.
    pub(super) next_serial: u64,
    /// When the client last started or ended something; idleness counts from here.
    pub(super) last_active: Instant,
}

impl Connection {
    pub(super) async fn run(self, socket: WebSocket) {
        let settings = &self.state.app.settings;
        let limits = &settings.websocket;
        let (sink, mut incoming) = socket.split();
        let (out, outgoing) = flume::bounded::<Outgoing>(limits.queue_messages.max(1));
        let mut writer = tokio::spawn(write(sink, outgoing).in_current_span());
        // Operations tell the connection when they end, so their ids can be reused.
        let (done_tx, done) = flume::unbounded::<Done>();
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
                Ok(serial) = done.recv_async() => {
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
            let _ = tokio::time::timeout(CLOSE_GRACE, out.send_async(Outgoing::Close(code, reason.into()))).await;
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
}
