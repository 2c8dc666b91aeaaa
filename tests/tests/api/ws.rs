//! GraphQL over WebSocket: graphql-transport-ws with its close codes and token
//! authentication, and the legacy graphql-ws protocol, spoken by a real WebSocket client.

use std::time::Duration;

use curtain_tests::{Backend, TestApp, backend_tests};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

backend_tests!(
    an_authenticated_socket_runs_operations_for_its_user,
    a_refused_token_closes_the_socket_with_4403
);

pub(crate) async fn connect(app: &TestApp, protocol: &str) -> (Socket, Option<String>) {
    let url = app.url("/graphql").replacen("http://", "ws://", 1);
    let mut request = url.into_client_request().expect("request");
    if !protocol.is_empty() {
        request
            .headers_mut()
            .insert("sec-websocket-protocol", protocol.parse().expect("header"));
    }
    let (socket, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("WebSocket handshake");
    let selected = response
        .headers()
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    (socket, selected)
}

async fn send(socket: &mut Socket, message: Value) {
    socket.send(Message::text(message.to_string())).await.expect("send");
}

/// The next JSON message, or the close code when the server closes.
async fn receive(socket: &mut Socket) -> Result<Value, Option<u16>> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message in time");
        match message {
            Some(Ok(Message::Text(text))) => return Ok(serde_json::from_str(text.as_str()).expect("JSON")),
            Some(Ok(Message::Close(frame))) => return Err(frame.map(|f| u16::from(f.code))),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return Err(None),
        }
    }
}

async fn closed_with(socket: &mut Socket) -> Option<u16> {
    loop {
        match receive(socket).await {
            Ok(_) => continue,
            Err(code) => return code,
        }
    }
}

async fn an_authenticated_socket_runs_operations_for_its_user(app: &TestApp) {
    let buyer = app.sign_up("socket@example.com").await;
    let (mut socket, protocol) = connect(app, "graphql-transport-ws").await;
    assert_eq!(protocol.as_deref(), Some("graphql-transport-ws"));
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {}", buyer.access_token) } }),
    )
    .await;
    assert_eq!(receive(&mut socket).await.expect("ack")["type"], "connection_ack");

    send(&mut socket, json!({ "type": "ping", "payload": { "n": 1 } })).await;
    assert_eq!(
        receive(&mut socket).await.expect("pong"),
        json!({ "type": "pong", "payload": { "n": 1 } })
    );

    send(
        &mut socket,
        json!({ "type": "subscribe", "id": "1", "payload": { "query": "{ me { email } }" } }),
    )
    .await;
    let next = receive(&mut socket).await.expect("next");
    assert_eq!(next["type"], "next");
    assert_eq!(next["id"], "1");
    assert_eq!(next["payload"]["data"]["me"]["email"], "socket@example.com");
    assert_eq!(
        receive(&mut socket).await.expect("complete"),
        json!({ "type": "complete", "id": "1" })
    );

    // A request error is an `error` message, with no `complete` after it.
    send(
        &mut socket,
        json!({ "type": "subscribe", "id": "2", "payload": { "query": "{ nope }" } }),
    )
    .await;
    let error = receive(&mut socket).await.expect("error");
    assert_eq!(error["type"], "error");
    assert_eq!(error["payload"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED");

    // The id of a finished operation can be used again.
    send(
        &mut socket,
        json!({ "type": "subscribe", "id": "1", "payload": { "query": "{ __typename }" } }),
    )
    .await;
    assert_eq!(
        receive(&mut socket).await.expect("next")["payload"]["data"]["__typename"],
        "QueryRoot"
    );
    socket.close(None).await.ok();
}

async fn a_refused_token_closes_the_socket_with_4403(app: &TestApp) {
    let (mut socket, _) = connect(app, "graphql-transport-ws").await;
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": { "Authorization": "Bearer forged.token.here" } }),
    )
    .await;
    assert_eq!(closed_with(&mut socket).await, Some(4403));

    // No token at all is an anonymous connection, not a refusal.
    let (mut socket, _) = connect(app, "graphql-transport-ws").await;
    send(&mut socket, json!({ "type": "connection_init" })).await;
    assert_eq!(receive(&mut socket).await.expect("ack")["type"], "connection_ack");
    send(
        &mut socket,
        json!({ "type": "subscribe", "id": "a", "payload": { "query": "{ me { email } }" } }),
    )
    .await;
    assert!(receive(&mut socket).await.expect("next")["payload"]["data"]["me"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_violations_close_with_their_codes() {
    let app = TestApp::builder(Backend::Sqlite)
        .ws_init_timeout_ms(300)
        .spawn()
        .await
        .expect("app");

    // 4408: no connection_init in time.
    let (mut socket, _) = connect(&app, "graphql-transport-ws").await;
    assert_eq!(closed_with(&mut socket).await, Some(4408));

    // 4401: subscribe before the acknowledgement.
    let (mut socket, _) = connect(&app, "graphql-transport-ws").await;
    send(
        &mut socket,
        json!({ "type": "subscribe", "id": "1", "payload": { "query": "{ __typename }" } }),
    )
    .await;
    assert_eq!(closed_with(&mut socket).await, Some(4401));

    // 4429: a second connection_init.
    let (mut socket, _) = connect(&app, "graphql-transport-ws").await;
    send(&mut socket, json!({ "type": "connection_init" })).await;
    assert_eq!(receive(&mut socket).await.expect("ack")["type"], "connection_ack");
    send(&mut socket, json!({ "type": "connection_init" })).await;
    assert_eq!(closed_with(&mut socket).await, Some(4429));

    // 4400: a message that is not one.
    for garbage in [
        json!("not an object").to_string(),
        "{ not json".to_string(),
        json!({ "type": "bogus" }).to_string(),
    ] {
        let (mut socket, _) = connect(&app, "graphql-transport-ws").await;
        send(&mut socket, json!({ "type": "connection_init" })).await;
        receive(&mut socket).await.expect("ack");
        socket.send(Message::text(garbage.clone())).await.expect("send");
        assert_eq!(closed_with(&mut socket).await, Some(4400), "{garbage}");
    }

    // 4406: no subprotocol we speak. (A client offering only others is refused by its own
    // WebSocket library when the server selects none, so ask for none.)
    let (mut socket, protocol) = connect(&app, "").await;
    assert_eq!(protocol, None);
    assert_eq!(closed_with(&mut socket).await, Some(4406));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_legacy_graphql_ws_protocol_still_works() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let buyer = app.sign_up("legacy@example.com").await;
    let (mut socket, protocol) = connect(&app, "graphql-ws").await;
    assert_eq!(protocol.as_deref(), Some("graphql-ws"));
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": { "authToken": buyer.access_token } }),
    )
    .await;
    assert_eq!(receive(&mut socket).await.expect("ack")["type"], "connection_ack");
    assert_eq!(receive(&mut socket).await.expect("keep-alive")["type"], "ka");
    send(
        &mut socket,
        json!({ "type": "start", "id": "7", "payload": { "query": "{ me { email } }" } }),
    )
    .await;
    let data = receive(&mut socket).await.expect("data");
    assert_eq!(data["type"], "data");
    assert_eq!(data["payload"]["data"]["me"]["email"], "legacy@example.com");
    assert_eq!(
        receive(&mut socket).await.expect("complete"),
        json!({ "type": "complete", "id": "7" })
    );
    send(&mut socket, json!({ "type": "connection_terminate" })).await;
    closed_with(&mut socket).await;
    app.stop().await;
}
