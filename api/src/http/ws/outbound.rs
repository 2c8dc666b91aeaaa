//! The socket's outbound side: one task per socket writes the protocol's messages and runs
//! the socket's operations.
//!
//! An operation is not a task of its own: its stream of encoded responses is polled by this
//! task, which writes each response as it comes. A delta reaching a socket thus wakes one
//! task, not two with a queue between them, and a socket costs one task however many
//! operations it runs. When the client stops reading, this task waits on the socket and
//! polls nothing else: the operations' feeds buffer what they may and then tell them to
//! resync, so a slow client holds a bounded amount of memory and holds up no one.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::ws::{Message, Utf8Bytes, WebSocket};
use futures::stream::{AbortHandle, Abortable, BoxStream, SelectAll, SplitSink};
use futures::{FutureExt, SinkExt, Stream, StreamExt};
use serde_json::json;
use tokio::sync::mpsc;

use super::{Done, Outgoing, Protocol, close_message};
use crate::graphql::fanout::Encoded;

/// Messages written to the socket before it is flushed. Under a burst, what is ready goes
/// out in one write rather than one per message; the bound keeps the socket's write buffer
/// (which keeps its size once grown) small.
const BATCH: usize = 16;

/// An operation to run: its responses, and how to name it to the client and the session.
pub(super) struct Start {
    pub serial: u64,
    pub id: String,
    pub protocol: Protocol,
    pub responses: BoxStream<'static, Encoded>,
}

/// What a running operation has for the socket.
enum Step {
    /// A message (`next`, `data` or `error`); `last` after a refused request.
    Send { message: Message, last: bool },
    /// The operation ended on its own: `complete` goes to the client.
    Complete(Message),
}

/// One operation's responses, as the messages the client gets.
struct Running {
    serial: u64,
    id: String,
    /// The id as a JSON string, made once for every message of the operation.
    id_json: Arc<str>,
    protocol: Protocol,
    responses: BoxStream<'static, Encoded>,
    first: bool,
    finished: bool,
}

impl Stream for Running {
    type Item = (u64, Step);

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.finished {
            return Poll::Ready(None);
        }
        let step = match self.responses.poll_next_unpin(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Some(encoded)) => {
                let (kind, payload, last) = match encoded.refused {
                    // A request that could not run gets `error`, and no `complete` after it.
                    Some(errors) if self.first && self.protocol == Protocol::TransportWs => ("error", errors, true),
                    _ => (self.protocol.next_type(), encoded.payload, false),
                };
                self.first = false;
                self.finished = last;
                let text = envelope(kind, &self.id_json, &payload);
                Step::Send {
                    message: Message::Text(Utf8Bytes::from(text)),
                    last,
                }
            }
            Poll::Ready(None) => {
                self.finished = true;
                let complete = json!({ "type": "complete", "id": self.id });
                Step::Complete(Message::Text(Utf8Bytes::from(complete.to_string())))
            }
        };
        Poll::Ready(Some((self.serial, step)))
    }
}

/// `{"type":kind,"id":id,"payload":payload}`, with `id` already a JSON string and `payload`
/// already JSON: the only per-subscriber work on a shared event.
pub(super) fn envelope(kind: &str, id: &str, payload: &str) -> String {
    const PARTS: [&str; 4] = [r#"{"type":""#, r#"","id":"#, r#","payload":"#, "}"];
    let length = PARTS.iter().map(|part| part.len()).sum::<usize>() + kind.len() + id.len() + payload.len();
    let mut text = String::with_capacity(length);
    text.push_str(PARTS[0]);
    text.push_str(kind);
    text.push_str(PARTS[1]);
    text.push_str(id);
    text.push_str(PARTS[2]);
    text.push_str(payload);
    text.push_str(PARTS[3]);
    text
}

/// The socket's operations.
#[derive(Default)]
struct Operations {
    running: SelectAll<Abortable<Running>>,
    /// How to stop each operation the client may still complete.
    handles: HashMap<u64, AbortHandle>,
}

impl Operations {
    fn start(&mut self, start: Start) {
        let (handle, registration) = AbortHandle::new_pair();
        let running = Running {
            serial: start.serial,
            id_json: serde_json::to_string(&start.id).unwrap_or_default().into(),
            id: start.id,
            protocol: start.protocol,
            responses: start.responses,
            first: true,
            finished: false,
        };
        self.running.push(Abortable::new(running, registration));
        self.handles.insert(start.serial, handle);
    }

    /// Stops an operation the client completed: nothing more is sent for it.
    fn stop(&mut self, serial: u64) {
        if let Some(handle) = self.handles.remove(&serial) {
            handle.abort();
        }
    }
}

/// What the outbound task does next.
enum Next {
    Queued(Outgoing),
    Step(u64, Step),
    /// The session closed the queue.
    Closed,
}

/// Writes what the connection queues and runs its operations, until the queue closes or a
/// close frame is sent. Tells the session through `done` when an operation ends on its own.
pub(super) async fn run(
    mut sink: SplitSink<WebSocket, Message>,
    mut outgoing: mpsc::Receiver<Outgoing>,
    done: mpsc::UnboundedSender<Done>,
) {
    let mut operations = Operations::default();
    loop {
        let next = tokio::select! {
            biased;
            queued = outgoing.recv() => queued.map_or(Next::Closed, Next::Queued),
            Some((serial, step)) = operations.running.next(), if !operations.running.is_empty() => Next::Step(serial, step),
        };
        let mut next = Some(next);
        let mut batched = 0;
        while let Some(item) = next.take() {
            let (message, last) = match item {
                Next::Closed => {
                    let _ = sink.close().await;
                    return;
                }
                Next::Queued(Outgoing::Start(start)) => {
                    operations.start(start);
                    (None, false)
                }
                Next::Queued(Outgoing::Stop(serial)) => {
                    operations.stop(serial);
                    (None, false)
                }
                Next::Queued(Outgoing::Message(value)) => {
                    (Some(Message::Text(Utf8Bytes::from(value.to_string()))), false)
                }
                Next::Queued(Outgoing::Ping) => (Some(Message::Ping(Default::default())), false),
                Next::Queued(Outgoing::Close(code, reason)) => (Some(close_message(code, &reason)), true),
                Next::Step(serial, Step::Send { message, last }) => {
                    if last {
                        operations.handles.remove(&serial);
                        let _ = done.send(serial);
                    }
                    (Some(message), false)
                }
                Next::Step(serial, Step::Complete(message)) => {
                    // Ended on its own, unless the client completed it meanwhile.
                    if operations.handles.remove(&serial).is_some() {
                        let _ = done.send(serial);
                        (Some(message), false)
                    } else {
                        (None, false)
                    }
                }
            };
            if let Some(message) = message {
                if sink.feed(message).await.is_err() {
                    return;
                }
                batched += 1;
            }
            if last {
                let _ = sink.flush().await;
                let _ = sink.close().await;
                return;
            }
            if batched < BATCH {
                next = ready(&mut outgoing, &mut operations);
            }
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
}

/// Something more that is ready at once, to go out in the same write.
fn ready(outgoing: &mut mpsc::Receiver<Outgoing>, operations: &mut Operations) -> Option<Next> {
    if let Ok(queued) = outgoing.try_recv() {
        return Some(Next::Queued(queued));
    }
    if operations.running.is_empty() {
        return None;
    }
    match operations.running.next().now_or_never() {
        Some(Some((serial, step))) => Some(Next::Step(serial, step)),
        _ => None,
    }
}
