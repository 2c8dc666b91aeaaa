//! Shared encoding of subscription events: subscribers of one shape get the very bytes a
//! subscription executed on its own would have sent them; an unusual selection (a directive
//! on the root field) is executed on its own and still right; a socket that stops reading is resynced without holding up
//! the others; coalesced deltas carry every change in order.

use std::time::Duration;

use curtain_tests::fixtures;
use curtain_tests::socket::{self, Socket, send};
use curtain_tests::{Backend, TestApp, backend_tests, data};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

backend_tests!(
    shared_encodings_are_byte_for_byte_what_own_execution_sends,
    a_notification_reaches_every_socket_of_its_account_alone,
    a_document_the_schema_refuses_is_refused_at_once_not_at_the_first_event,
);

/// The shapes the README documents, and one with aliases and a fragment besides.
const SHAPES: [&str; 3] = [
    "subscription($s: ID!, $after: Int) {
  seatMapUpdates(sessionId: $s, afterVersion: $after) {
    __typename
    ... on SeatMapSnapshot { version availableCount seats { id status } }
    ... on SeatMapDelta { version availableCount changes { seatId status } }
  }
}",
    "subscription($s: ID!) {
  seatMapUpdates(sessionId: $s, coalesce: true) {
    __typename
    ... on SeatMapSnapshot { version availableCount seats { id section row number grade price status x y accessible } }
    ... on SeatMapDelta { version fromVersion availableCount changes { seatId status } }
  }
}",
    "subscription Live($s: ID!) {
  map: seatMapUpdates(sessionId: $s) {
    kind: __typename
    ...Delta
    ... on SeatMapSnapshot { at: version left: availableCount }
  }
}
fragment Delta on SeatMapDelta { at: version changes { seat: seatId now: status } }",
];

/// The same selection with `@include(if: true)` on its root field: the same answer, but not
/// a usual shape, so it is executed per subscriber.
fn unusual(shape: &str) -> String {
    let root = shape.find("seatMapUpdates(").expect("the root field");
    let close = root + shape[root..].find(')').expect("its arguments") + 1;
    format!("{} @include(if: true){}", &shape[..close], &shape[close..])
}

/// Starts `query` as operation "1" (the same id everywhere, so whole messages compare).
async fn start(app: &TestApp, query: &str, session: &str) -> Socket {
    let mut socket = socket::connect(app, None).await;
    let operation = query.starts_with("subscription Live").then_some("Live");
    send(
        &mut socket,
        json!({ "type": "subscribe", "id": "1",
            "payload": { "query": query, "operationName": operation, "variables": { "s": session } } }),
    )
    .await;
    socket
}

/// The next message's text, exactly as sent.
async fn next_text(socket: &mut Socket) -> String {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message within 10 s")
            .expect("the socket is open")
            .expect("a message");
        if let Message::Text(text) = message {
            return text.to_string();
        }
    }
}

async fn change(app: &TestApp, mutation: &str, session: &str, seats: &[&String]) {
    data(
        &app.admin(
            &format!("mutation($s: ID!, $seats: [ID!]!) {{ {mutation}(sessionId: $s, seatIds: $seats) {{ id }} }}"),
            json!({ "s": session, "seats": seats }),
        )
        .await,
    );
}

async fn shared_encodings_are_byte_for_byte_what_own_execution_sends(app: &TestApp) {
    let shared_before = app
        .metric("curtain_subscription_encodings_total", r#"path="shared""#)
        .await;
    let sent_before = app
        .metric("curtain_subscription_events_total", r#"path="shared""#)
        .await;
    for (n, shape) in SHAPES.iter().enumerate() {
        let row = fixtures::one_row_session(app, &format!("Shape {n}"), 6).await;
        let mut shared = [
            start(app, shape, &row.session).await,
            start(app, shape, &row.session).await,
        ];
        let mut own = start(app, &unusual(shape), &row.session).await;
        let mut expected = Vec::new();
        for socket in shared.iter_mut().chain([&mut own]) {
            expected.push(next_text(socket).await);
        }
        assert!(expected[0].contains("Snapshot"), "{}", expected[0]);
        assert!(expected.iter().all(|text| *text == expected[0]), "{expected:#?}");
        for (mutation, seats) in [
            ("blockSeats", vec![&row.seats[0], &row.seats[1]]),
            ("unblockSeats", vec![&row.seats[1]]),
            ("blockSeats", vec![&row.seats[5]]),
        ] {
            change(app, mutation, &row.session, &seats).await;
            let reference = next_text(&mut own).await;
            let event: Value = serde_json::from_str(&reference).expect("JSON");
            let changes = &data(&event["payload"])
                .as_object()
                .and_then(|data| data.values().next())
                .expect("the root field")
                .clone();
            assert!(
                changes.to_string().contains(row.seats[0].as_str())
                    || changes.to_string().contains(row.seats[1].as_str())
                    || changes.to_string().contains(row.seats[5].as_str()),
                "the unusual subscriber gets the change itself: {reference}"
            );
            for socket in &mut shared {
                assert_eq!(next_text(socket).await, reference, "{shape}");
            }
        }
    }
    let shared = app
        .metric("curtain_subscription_encodings_total", r#"path="shared""#)
        .await
        - shared_before;
    let sent = app
        .metric("curtain_subscription_events_total", r#"path="shared""#)
        .await
        - sent_before;
    // Three shapes, two subscribers each, a snapshot and three deltas: 24 events sent from
    // 12 encodings.
    assert_eq!(sent, 24.0);
    assert_eq!(shared, 12.0);
}

async fn a_notification_reaches_every_socket_of_its_account_alone(app: &TestApp) {
    let buyer = app.sign_up("fanout-notified@example.com").await;
    let other = app.sign_up("fanout-other@example.com").await;
    const RECEIVED: &str = "subscription { notificationReceived { kind title } }";
    let mut sockets = Vec::new();
    for token in [&buyer.access_token, &buyer.access_token, &other.access_token] {
        let mut socket = socket::connect(app, Some(token)).await;
        socket::subscribe(&mut socket, "n", RECEIVED, json!({})).await;
        sockets.push(socket);
    }
    // Let the subscriptions start before the event they wait for.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let row = fixtures::one_row_session(app, "Notified", 4).await;
    fixtures::hold(
        app,
        &buyer.access_token,
        &row.session,
        &[row.seats[0].as_str()],
        "fanout-notified",
    )
    .await;
    let first = next_text(&mut sockets[0]).await;
    assert!(first.contains("HOLD_PLACED"), "{first}");
    assert_eq!(next_text(&mut sockets[1]).await, first);
    let quiet = tokio::time::timeout(Duration::from_millis(500), sockets[2].next()).await;
    assert!(quiet.is_err(), "another account hears nothing: {quiet:?}");
}

async fn a_document_the_schema_refuses_is_refused_at_once_not_at_the_first_event(app: &TestApp) {
    let buyer = app.sign_up("fanout-refused@example.com").await;
    for _ in 0..2 {
        let mut socket = socket::connect(app, Some(&buyer.access_token)).await;
        // A usual shape, but no notification will come to reveal that it cannot run.
        socket::subscribe(
            &mut socket,
            "bad",
            "subscription { notificationReceived { nosuchField } }",
            json!({}),
        )
        .await;
        let refused = tokio::time::timeout(Duration::from_secs(3), next_text(&mut socket))
            .await
            .expect("refused at once");
        let refused: Value = serde_json::from_str(&refused).expect("JSON");
        assert_eq!(refused["type"], "error", "{refused:#}");
        assert_eq!(refused["payload"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED");
    }
}

/// A subscriber whose socket stops reading while seats change falls behind: it is resynced
/// with a snapshot when it reads again, while the one reading on gets every delta, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_that_stops_reading_is_resynced_without_holding_up_the_others() {
    let app = TestApp::builder(Backend::Sqlite)
        .seat_map_buffer(2)
        .configure(|settings| {
            settings.websocket.queue_messages = 2;
            settings.server.socket_send_buffer_bytes = 16 * 1024;
        })
        .spawn()
        .await
        .expect("app");
    let row = fixtures::one_row_session(&app, "Slow", 50).await;
    let all: Vec<&String> = row.seats.iter().collect();
    let mut slow = slow_reader(&app).await;
    let mut fast = start(&app, SHAPES[0], &row.session).await;
    send(
        &mut slow,
        json!({ "type": "subscribe", "id": "1", "payload": { "query": SHAPES[0], "variables": { "s": row.session } } }),
    )
    .await;
    let snapshot: Value = serde_json::from_str(&next_text(&mut fast).await).expect("JSON");
    let start_version = data(&snapshot["payload"])["seatMapUpdates"]["version"]
        .as_i64()
        .expect("version");
    assert!(next_text(&mut slow).await.contains("SeatMapSnapshot"));
    // Each delta names all fifty seats: a few dozen fill the slow socket's buffers.
    const CHANGES: i64 = 200;
    for i in 0..CHANGES {
        change(
            &app,
            if i % 2 == 0 { "blockSeats" } else { "unblockSeats" },
            &row.session,
            &all,
        )
        .await;
        let event: Value = serde_json::from_str(&next_text(&mut fast).await).expect("JSON");
        let event = &data(&event["payload"])["seatMapUpdates"];
        assert_eq!(event["__typename"], "SeatMapDelta");
        assert_eq!(
            event["version"],
            start_version + 1 + i,
            "the fast subscriber misses nothing"
        );
    }
    // The slow one reads again: what was in flight, then a snapshot, then it follows.
    let (mut version, mut resynced) = (start_version, false);
    while version < start_version + CHANGES {
        let event: Value = serde_json::from_str(&next_text(&mut slow).await).expect("JSON");
        let event = &data(&event["payload"])["seatMapUpdates"];
        match event["__typename"].as_str() {
            Some("SeatMapSnapshot") => resynced = true,
            _ => assert_eq!(event["version"], version + 1, "deltas follow on until the resync"),
        }
        version = event["version"].as_i64().expect("version");
    }
    assert!(resynced, "the slow subscriber was resynced");
    change(&app, "blockSeats", &row.session, &[&row.seats[0]]).await;
    for socket in [&mut fast, &mut slow] {
        let event: Value = serde_json::from_str(&next_text(socket).await).expect("JSON");
        assert_eq!(
            data(&event["payload"])["seatMapUpdates"]["version"],
            start_version + CHANGES + 1
        );
    }
    app.stop().await;
}

/// A WebSocket whose receive buffer is a few kilobytes, so that the server's writes to it
/// block soon after the test stops reading.
async fn slow_reader(app: &TestApp) -> Socket {
    let address: std::net::SocketAddr = app.address.trim_start_matches("http://").parse().expect("address");
    let tcp = tokio::net::TcpSocket::new_v4().expect("socket");
    tcp.set_recv_buffer_size(4096).expect("a small receive buffer");
    let stream = tcp.connect(address).await.expect("connect");
    let mut request = app
        .url("/graphql")
        .replacen("http://", "ws://", 1)
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().expect("header"),
    );
    let (mut socket, _) = tokio_tungstenite::client_async(request, tokio_tungstenite::MaybeTlsStream::Plain(stream))
        .await
        .expect("handshake");
    socket
        .send(Message::text(json!({ "type": "connection_init" }).to_string()))
        .await
        .expect("init");
    assert!(next_text(&mut socket).await.contains("connection_ack"));
    socket
}

/// With `coalesce`, a burst arrives as fewer deltas than changes, each following on from
/// the last (`fromVersion`), with every change in order; a plain subscriber gets one delta
/// per change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coalesced_deltas_carry_every_change_in_order() {
    let app = TestApp::builder(Backend::Sqlite)
        .configure(|settings| settings.events.seat_map_coalesce_ms = 1_000)
        .spawn()
        .await
        .expect("app");
    let row = fixtures::one_row_session(&app, "Burst", 10).await;
    let mut coalesced = start(&app, SHAPES[1], &row.session).await;
    let mut plain = start(&app, SHAPES[0], &row.session).await;
    let first: Value = serde_json::from_str(&next_text(&mut coalesced).await).expect("JSON");
    let start_version = data(&first["payload"])["seatMapUpdates"]["version"]
        .as_i64()
        .expect("version");
    next_text(&mut plain).await;
    for seat in &row.seats {
        change(&app, "blockSeats", &row.session, &[seat]).await;
    }
    let (mut version, mut seen, mut messages) = (start_version, Vec::new(), 0);
    while version < start_version + 10 {
        let event: Value = serde_json::from_str(&next_text(&mut coalesced).await).expect("JSON");
        let event = data(&event["payload"])["seatMapUpdates"].clone();
        assert_eq!(event["__typename"], "SeatMapDelta", "{event:#}");
        assert_eq!(event["fromVersion"], version, "each delta follows on: {event:#}");
        version = event["version"].as_i64().expect("version");
        for change in event["changes"].as_array().expect("changes") {
            assert_eq!(change["status"], "BLOCKED");
            seen.push(change["seatId"].as_str().expect("seat").to_string());
        }
        assert_eq!(event["availableCount"], 10 - seen.len() as i64, "{event:#}");
        messages += 1;
    }
    assert_eq!(seen, row.seats, "every change, in order");
    assert!(
        messages < 10,
        "the burst was coalesced: {messages} deltas for 10 changes"
    );
    for i in 1..=10 {
        let event: Value = serde_json::from_str(&next_text(&mut plain).await).expect("JSON");
        let event = &data(&event["payload"])["seatMapUpdates"];
        assert_eq!(
            event["version"],
            start_version + i,
            "one delta per change without coalesce"
        );
    }
    app.stop().await;
}
