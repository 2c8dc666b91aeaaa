//! The socket's wire: answering without waiting on a client that reads nothing, finding the
//! token in `connection_init`, and telling why a message could not be read.

use serde_json::Value;
use tokio::sync::mpsc;

use super::{CLOSE_GRACE, Ending, Outgoing};

/// Answers the client from the session loop, which must not wait forever on a client that
/// reads nothing: such a client is let go.
pub(super) async fn reply(out: &mpsc::Sender<Outgoing>, value: Value) -> Result<(), Ending> {
    queue(out, Outgoing::Message(value)).await
}

/// Queues `item` for the outbound task, giving up on a client that reads nothing.
pub(super) async fn queue(out: &mpsc::Sender<Outgoing>, item: Outgoing) -> Result<(), Ending> {
    out.send_timeout(item, CLOSE_GRACE).await.map_err(|_| None)
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
