//! One operation on a socket: the task that streams its results to the writer, and how the
//! connection keeps track of it until it ends (so that its id can be used again).

use std::collections::HashMap;
use std::sync::Arc;

use futures::StreamExt;
use serde_json::json;
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::{Connection, Kind, Outgoing, Protocol};
use crate::auth::viewer::Viewer;

/// A running operation: its task, and the serial number that tells it from an earlier or
/// later operation under the same id.
pub(super) struct Operation {
    pub(super) serial: u64,
    pub(super) task: JoinHandle<()>,
}

/// What an operation's task sends when it ends: its serial number.
pub(super) type Done = u64;

/// Forgets the operation numbered `serial` that ended, if it is still tracked; true if so.
/// A `done` read late may be of an operation the client completed since, whose id now
/// names a newer one: that one stays tracked (counted, completable, aborted at the close).
pub(super) fn ended(operations: &mut HashMap<String, Operation>, serial: u64) -> bool {
    let id = operations
        .iter()
        .find_map(|(id, op)| (op.serial == serial).then(|| id.clone()));
    id.is_some_and(|id| operations.remove(&id).is_some())
}

impl Connection {
    /// Runs one operation, streaming its results until it ends, is cancelled, or the socket's
    /// outgoing queue is closed (nobody would read what it sends).
    pub(super) fn start(
        &self,
        (id, serial): (String, u64),
        request: async_graphql::Request,
        viewer: Viewer,
        out: flume::Sender<Outgoing>,
        done: flume::Sender<Done>,
    ) -> JoinHandle<()> {
        // The operation's name as the request gives it (the document's own name is known
        // only once it is parsed, inside the execution), cut to a loggable length.
        let span = tracing::info_span!(
            "operation",
            operation_id = %id,
            operation.name = crate::graphql::spans::loggable_name(request.operation_name.as_deref())
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
                        .send_async(Outgoing::Encoded {
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
                    .send_async(Outgoing::Message(Box::new(json!({ "type": "complete", "id": id }))))
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
