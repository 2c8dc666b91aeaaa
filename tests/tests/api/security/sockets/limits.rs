//! WebSocket limits: message size, operations per socket, sockets per account and per
//! address, idleness, keep-alive, and no database connection held per subscriber.

use std::time::{Duration, Instant};

use curtain::config::Settings;
use curtain_tests::fixtures::one_row_session;
use curtain_tests::socket::{self, Socket};
use curtain_tests::{Backend, TestApp, data};
use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::closed_within;

async fn spawn(configure: fn(&mut Settings)) -> TestApp {
    TestApp::builder(Backend::Sqlite)
        .configure(configure)
        .spawn()
        .await
        .expect("app")
}

/// Opens a socket, or returns the HTTP status and `Retry-After` of the refusal.
async fn open(app: &TestApp) -> Result<Socket, (u16, Option<String>)> {
    let url = app.url("/graphql").replacen("http://", "ws://", 1);
    let mut request = url.into_client_request().expect("request");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().expect("header"),
    );
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(String::from);
            Err((response.status().as_u16(), retry_after))
        }
        Err(other) => panic!("handshake failed: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_over_the_limit_closes_the_socket_before_its_body_is_read() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let address = app.address.trim_start_matches("http://").to_string();
    let mut tcp = tokio::net::TcpStream::connect(&address).await.expect("connect");
    let handshake = format!(
        "GET /graphql HTTP/1.1\r\nHost: {address}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
    );
    tcp.write_all(handshake.as_bytes()).await.expect("handshake");
    let mut response = Vec::new();
    while !response.ends_with(b"\r\n\r\n") {
        response.push(tcp.read_u8().await.expect("the handshake's answer"));
    }
    assert!(String::from_utf8_lossy(&response).starts_with("HTTP/1.1 101"));

    // A text frame announcing 15 MiB, of which only the first 64 KiB + 1 bytes are sent: a
    // server that read messages whole would wait for the rest.
    let announced: u64 = 15 * 1024 * 1024;
    let mask = [7u8, 11, 13, 17];
    let mut frame = vec![0x81, 0x80 | 127];
    frame.extend_from_slice(&announced.to_be_bytes());
    frame.extend_from_slice(&mask);
    frame.extend((0..64 * 1024 + 1).map(|i| b'a' ^ mask[i % 4]));
    tcp.write_all(&frame).await.expect("the start of the message");

    let mut close = [0u8; 4];
    tokio::time::timeout(Duration::from_secs(10), tcp.read_exact(&mut close))
        .await
        .expect("the server answers without waiting for the rest")
        .expect("a close frame");
    assert_eq!(close[0], 0x88, "a close frame: {close:?}");
    assert_eq!(u16::from_be_bytes([close[2], close[3]]), 1009);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_twenty_first_operation_on_a_socket_is_refused() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let buyer = app.sign_up("greedy@example.com").await;
    let mut socket = socket::connect(&app, Some(&buyer.access_token)).await;
    for n in 0..20 {
        let id = format!("inbox-{n}");
        socket::subscribe(&mut socket, &id, super::INBOX, json!({})).await;
    }
    socket::subscribe(&mut socket, "one-more", "{ __typename }", json!({})).await;
    let refused = socket::next_message(&mut socket).await.expect("an answer");
    assert_eq!(refused["type"], "error", "{refused:#}");
    assert_eq!(refused["id"], "one-more");
    assert_eq!(refused["payload"][0]["extensions"]["code"], "TOO_MANY_SUBSCRIPTIONS");

    // Completing one makes room, and the socket is still good.
    socket::send(&mut socket, json!({ "type": "complete", "id": "inbox-0" })).await;
    socket::subscribe(&mut socket, "one-more", "{ __typename }", json!({})).await;
    let answered = socket::next_message(&mut socket).await.expect("an answer");
    assert_eq!(answered["type"], "next", "{answered:#}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_over_its_socket_limit_is_closed_at_connection_init() {
    let app = spawn(|settings| settings.websocket.sockets_per_account = 2).await;
    let buyer = app.sign_up("many-tabs@example.com").await;
    let first = socket::connect(&app, Some(&buyer.access_token)).await;
    let _second = socket::connect(&app, Some(&buyer.access_token)).await;

    let init =
        json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {}", buyer.access_token) } });
    let mut third = open(&app).await.expect("upgraded");
    socket::send(&mut third, init.clone()).await;
    assert_eq!(socket::next_message(&mut third).await, Err(Some(4429)));
    // Another account is not held back, nor is an anonymous socket.
    let other = app.sign_up("one-tab@example.com").await;
    let _other = socket::connect(&app, Some(&other.access_token)).await;
    let _anonymous = socket::connect(&app, None).await;

    // A closed socket gives its place back.
    let mut first = first;
    first.close(None).await.expect("close");
    let started = Instant::now();
    loop {
        let mut again = open(&app).await.expect("upgraded");
        socket::send(&mut again, init.clone()).await;
        match socket::next_message(&mut again).await {
            Ok(ack) => break assert_eq!(ack["type"], "connection_ack"),
            Err(code) if started.elapsed() < Duration::from_secs(10) => {
                assert_eq!(code, Some(4429));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(code) => panic!("the place was not given back: {code:?}"),
        }
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_over_its_socket_limit_is_refused_the_upgrade_with_429() {
    let app = spawn(|settings| settings.websocket.sockets_per_ip = 3).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(socket::connect(&app, None).await);
    }
    let Err(refused) = open(&app).await else {
        panic!("a fourth socket from the address was upgraded");
    };
    assert_eq!(refused, (429, Some("10".to_string())));

    let mut first = held.remove(0);
    first.close(None).await.expect("close");
    let started = Instant::now();
    loop {
        match open(&app).await {
            Ok(_) => break,
            Err(refusal) if started.elapsed() < Duration::from_secs(10) => {
                assert_eq!(refusal.0, 429);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(refusal) => panic!("the place was not given back: {refusal:?}"),
        }
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_running_nothing_is_closed_when_idle() {
    let app = spawn(|settings| settings.websocket.idle_timeout_ms = 2_000).await;
    let buyer = app.sign_up("watching@example.com").await;
    let mut busy = socket::connect(&app, Some(&buyer.access_token)).await;
    socket::subscribe(&mut busy, "inbox", super::INBOX, json!({})).await;
    let mut idle = socket::connect(&app, None).await;
    let (code, took) = closed_within(&mut idle, Duration::from_secs(10)).await;
    assert_eq!(code, Some(1000));
    // Idleness counts from connection_init: a second of slack for a loaded machine.
    assert!(took >= Duration::from_secs(1), "closed after {took:?}");
    // The socket with a running subscription is not idle.
    tokio::time::sleep(Duration::from_millis(400)).await;
    socket::send(&mut busy, json!({ "type": "ping" })).await;
    assert_eq!(socket::next_message(&mut busy).await.expect("pong")["type"], "pong");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_that_does_not_answer_pings_is_closed() {
    let app = spawn(|settings| {
        settings.websocket.keepalive_interval_ms = 500;
        // Long enough for a loaded machine to answer, short enough to be outlived below.
        settings.websocket.keepalive_timeout_ms = 2_000;
    })
    .await;
    let mut answering = socket::connect(&app, None).await;
    let mut silent = socket::connect(&app, None).await;
    // The answering client reads, so its library answers each ping.
    let (mut pings, started) = (0, Instant::now());
    while started.elapsed() < Duration::from_secs(3) {
        match tokio::time::timeout(Duration::from_millis(100), answering.next()).await {
            Err(_) => {}
            Ok(Some(Ok(Message::Ping(_)))) => pings += 1,
            Ok(other) => panic!("the answering socket got {other:?}"),
        }
    }
    assert!(pings >= 3, "pinged {pings} times");
    // The silent one read nothing meanwhile, so it answered nothing.
    let (code, _) = closed_within(&mut silent, Duration::from_secs(10)).await;
    assert_eq!(code, Some(1001));
    answering.send(Message::Close(None)).await.ok();
    app.stop().await;
}

/// Forty live subscriptions on a pool of four connections: ordinary queries still answer.
async fn subscribers_hold_no_database_connection(backend: Backend) {
    let pool_of_four = TestApp::builder(backend).configure(|settings| settings.database.max_connections = 4);
    let Some(app) = pool_of_four.spawn().await else {
        return;
    };
    let row = one_row_session(&app, "Pooled", 10).await;
    let buyer = app.sign_up("pooled@example.com").await;
    let updates = "subscription($s: ID!) { seatMapUpdates(sessionId: $s) { __typename } }";
    let mut maps = socket::connect(&app, None).await;
    let mut inbox = socket::connect(&app, Some(&buyer.access_token)).await;
    for n in 0..20 {
        socket::subscribe(&mut maps, &format!("map-{n}"), updates, json!({ "s": row.session })).await;
        socket::subscribe(&mut inbox, &format!("inbox-{n}"), super::INBOX, json!({})).await;
    }
    for _ in 0..20 {
        let snapshot = socket::next_message(&mut maps).await.expect("a snapshot");
        assert_eq!(snapshot["type"], "next", "{snapshot:#}");
    }
    for _ in 0..5 {
        let answered = tokio::time::timeout(
            Duration::from_secs(10),
            app.post("{ me { email } }", json!({}), Some(&buyer.access_token)),
        )
        .await
        .expect("a query answers while forty subscriptions run");
        assert_eq!(data(&answered)["me"]["email"], "pooled@example.com");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_subscribers_hold_no_database_connection() {
    subscribers_hold_no_database_connection(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_subscribers_hold_no_database_connection() {
    subscribers_hold_no_database_connection(Backend::Postgres).await;
}
