//! The client's protocol messages, one at a time: initialisation, pings, and starting and
//! completing operations, with the closes each protocol prescribes for what breaks its rules.

use serde_json::{Value, json};
use tokio::time::Instant;

use super::identity::Identity;
use super::operation::{Done, Operation};
use super::session::Session;
use super::wire::{reply, token_of};
use super::{Connection, Ending, Outgoing, Protocol};
use crate::auth::viewer::Viewer;
use crate::error::ApiError;

impl Connection {
    /// Handles one client message; `Err` closes the connection (with a code, or silently).
    pub(super) async fn handle(
        &self,
        session: &mut Session,
        text: &str,
        out: &flume::Sender<Outgoing>,
        done: &flume::Sender<Done>,
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
}
