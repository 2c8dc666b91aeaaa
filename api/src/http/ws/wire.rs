//! The socket's wire: writing what the connection queues, answering without waiting on a
//! client that reads nothing, and telling why a message could not be read.

use axum::extract::ws::{Message, Utf8Bytes, WebSocket};
use futures::SinkExt;
use serde_json::Value;

use super::{CLOSE_GRACE, Ending, Outgoing, close_message};

/// Answers the client from the session loop, which must not wait forever on a client that
/// reads nothing: such a client is let go.
pub(super) async fn reply(out: &flume::Sender<Outgoing>, value: Value) -> Result<(), Ending> {
    match tokio::time::timeout(CLOSE_GRACE, out.send_async(Outgoing::Message(Box::new(value)))).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(None),
    }
}

/// Messages written to the socket before it is flushed. Under a burst, what is queued goes
/// out in one write rather than one per message; the bound keeps the socket's write buffer
/// (which keeps its size once grown) small.
const BATCH: usize = 16;

/// Sends what the connection queues, until the queue closes or a close frame is sent.
pub(super) async fn write(
    mut sink: futures::stream::SplitSink<WebSocket, Message>,
    outgoing: flume::Receiver<Outgoing>,
) {
    'queue: while let Ok(first) = outgoing.recv_async().await {
        let mut item = Some(first);
        let mut batched = 0;
        while let Some(next) = item.take() {
            let (message, last) = message(next);
            if sink.feed(message).await.is_err() {
                break 'queue;
            }
            if last {
                let _ = sink.flush().await;
                break 'queue;
            }
            batched += 1;
            if batched < BATCH {
                item = outgoing.try_recv().ok();
            }
        }
        if sink.flush().await.is_err() {
            break;
        }
    }
    let _ = sink.close().await;
}

/// The WebSocket message for `item`, and whether it is the last.
fn message(item: Outgoing) -> (Message, bool) {
    match item {
        Outgoing::Message(value) => (Message::Text(Utf8Bytes::from(value.to_string())), false),
        Outgoing::Encoded { kind, id, payload } => (
            Message::Text(Utf8Bytes::from(envelope(kind.as_str(), &id, &payload))),
            false,
        ),
        Outgoing::Ping => (Message::Ping(Default::default()), false),
        Outgoing::Close(code, reason) => (close_message(code, &reason), true),
    }
}

/// `{"type":kind,"id":id,"payload":payload}`, with `id` already a JSON string and `payload`
/// already JSON: the only per-subscriber work on a shared event.
pub(super) fn envelope(kind: &str, id: &str, payload: &str) -> String {
    const PARTS: [&str; 4] = [r#"{"type":""#, r#"","id":"#, r#","payload":"#, "}"];
    let mut text = String::with_capacity(
        PARTS.iter().map(|part| part.len()).sum::<usize>() + kind.len() + id.len() + payload.len(),
    );
    text.push_str(PARTS[0]);
    text.push_str(kind);
    text.push_str(PARTS[1]);
    text.push_str(id);
    text.push_str(PARTS[2]);
    text.push_str(payload);
    text.push_str(PARTS[3]);
    text
}

/// The access token in `connection_init`'s payload, if any.
pub(super) fn token_of(payload: &Value) -> Option<&str> {
    ["Authorization", "authorization"]
        .iter()
        .find_map(|key| payload[*key].as_str())
        // A bare token is taken as it is.
        .map(|value| crate::http::bearer::token(value).unwrap_or(value.trim()))
        .or_else(|| {
            ["accessToken", "authToken", "token"]
                .iter()
                .find_map(|key| payload[*key].as_str())
        })
}

/// The close for a message that could not be read: 1009 for one over the size limit (its
/// body is never read), 1002 for a broken frame; nothing when the connection itself failed.
pub(super) fn read_failure(err: &axum::Error) -> Ending {
    use tungstenite::error::{CapacityError, Error};
    let cause = std::error::Error::source(err).and_then(|cause| cause.downcast_ref::<Error>());
    match cause {
        Some(Error::Capacity(CapacityError::MessageTooLong { max_size, .. })) => {
            Some((1009, format!("Message too big: the limit is {max_size} bytes")))
        }
        Some(Error::Capacity(_) | Error::Protocol(_) | Error::Utf8(_)) => Some((1002, "Protocol error".into())),
        _ => None,
    }
}
