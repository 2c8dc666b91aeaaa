//! A graphql-transport-ws client over a real WebSocket, for subscription tests.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::TestApp;

pub type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens `/graphql` as a WebSocket and completes `connection_init`, authenticated as the
/// holder of `access_token` when given.
pub async fn connect(app: &TestApp, access_token: Option<&str>) -> Socket {
    let url = app.url("/graphql").replacen("http://", "ws://", 1);
    let mut request = url.into_client_request().expect("request");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().expect("header"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.expect("handshake");
    let init = match access_token {
        Some(token) => json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } }),
        None => json!({ "type": "connection_init" }),
    };
    send(&mut socket, init).await;
    assert_eq!(next_message(&mut socket).await.expect("ack")["type"], "connection_ack");
    socket
}

pub async fn send(socket: &mut Socket, message: Value) {
    socket.send(Message::text(message.to_string())).await.expect("send");
}

/// Starts the subscription `query` under operation id `id`.
pub async fn subscribe(socket: &mut Socket, id: &str, query: &str, variables: Value) {
    send(
        socket,
        json!({ "type": "subscribe", "id": id, "payload": { "query": query, "variables": variables } }),
    )
    .await;
}

/// The next JSON message, or the close code.
pub async fn next_message(socket: &mut Socket) -> Result<Value, Option<u16>> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message within 10 s");
        match message {
            Some(Ok(Message::Text(text))) => return Ok(serde_json::from_str(text.as_str()).expect("JSON")),
            Some(Ok(Message::Close(frame))) => return Err(frame.map(|f| u16::from(f.code))),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return Err(None),
        }
    }
}
