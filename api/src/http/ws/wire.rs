//! The socket's wire: writing what the connection queues, answering without waiting on a
//! client that reads nothing, and telling why a message could not be read.

use axum::extract::ws::{Message, Utf8Bytes, WebSocket};
use futures::SinkExt;
use serde_json::Value;
use tokio::sync::mpsc;

use super::{CLOSE_GRACE, Ending, Outgoing, close_message};

/// Answers the client from the session loop, which must not wait forever on a client that
/// reads nothing: such a client is let go.
pub(super) async fn reply(out: &mpsc::Sender<Outgoing>, value: Value) -> Result<(), Ending> {
    out.send_timeout(Outgoing::Message(value), CLOSE_GRACE)
        .await
        .map_err(|_| None)
}

/// Sends what the connection queues, until the queue closes or a close frame is sent.
pub(super) async fn write(
    mut sink: futures::stream::SplitSink<WebSocket, Message>,
    mut outgoing: mpsc::Receiver<Outgoing>,
) {
    while let Some(item) = outgoing.recv().await {
        let (message, last) = match item {
            Outgoing::Message(value) => (Message::Text(Utf8Bytes::from(value.to_string())), false),
            Outgoing::Ping => (Message::Ping(Default::default()), false),
            Outgoing::Close(code, reason) => (close_message(code, &reason), true),
        };
        if sink.send(message).await.is_err() || last {
            break;
        }
    }
    let _ = sink.close().await;
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
