//! The live seat map over WebSocket: a snapshot, then deltas with consecutive versions for
//! holds, releases, blocks and expiries; resuming from `afterVersion`; duplicate operation
//! ids; and a hold on one instance reaching a subscriber on another (PostgreSQL + Redis).

use std::time::Duration;

use chrono::Utc;
use curtain_tests::fixtures;
use curtain_tests::socket::{self, Socket, next_message, send};
use curtain_tests::{Backend, TestApp, backend_tests, data};
use futures::StreamExt;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

backend_tests!(
    a_subscriber_sees_a_snapshot_then_every_change_in_version_order,
    a_subscriber_resumes_from_the_last_version_it_saw,
    a_second_subscription_with_a_live_id_closes_with_4409,
);

const UPDATES: &str = "subscription($s: ID!, $after: Int) { seatMapUpdates(sessionId: $s, afterVersion: $after) {
    __typename
    ... on SeatMapSnapshot { version availableCount seats { id status } }
    ... on SeatMapDelta { version availableCount changes { seatId status } } } }";
const HOLD: &str = "mutation($s: ID!, $seats: [ID!]!, $k: String!) {
    holdSeats(sessionId: $s, seatIds: $seats, idempotencyKey: $k) { id } }";

/// A session on sale with one row of ten R seats; returns it and its seat ids.
async fn session_with_ten_seats(app: &TestApp) -> (String, Vec<String>) {
    let row = fixtures::one_row_session(app, "Live", 10).await;
    (row.session, row.seats)
}

async fn connect(app: &TestApp) -> Socket {
    socket::connect(app, None).await
}

async fn subscribe(socket: &mut Socket, id: &str, session: &str, after: Option<i64>) {
    send(
        socket,
        json!({ "type": "subscribe", "id": id, "payload": { "query": UPDATES, "variables": { "s": session, "after": after } } }),
    )
    .await;
}

/// The next seat-map event of the subscription.
async fn next_event(socket: &mut Socket) -> Value {
    let message = next_message(socket).await.expect("an event");
    assert_eq!(message["type"], "next", "{message:#}");
    data(&message["payload"])["seatMapUpdates"].clone()
}

/// Expects a delta of `version` that gives every seat in `seats` `status`.
fn assert_delta(event: &Value, version: i64, seats: &[&String], status: &str, available: i64) {
    assert_eq!(event["__typename"], "SeatMapDelta", "{event:#}");
    assert_eq!(event["version"], version, "{event:#}");
    assert_eq!(event["availableCount"], available, "{event:#}");
    let mut changed: Vec<&str> = event["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| {
            assert_eq!(c["status"], status, "{event:#}");
            c["seatId"].as_str().expect("seat id")
        })
        .collect();
    changed.sort_unstable();
    let mut expected: Vec<&str> = seats.iter().map(|s| s.as_str()).collect();
    expected.sort_unstable();
    assert_eq!(changed, expected, "{event:#}");
}

/// Holds, releases, blocks, holds again and lets that hold expire: five changes, five
/// deltas, versions one apart. Returns the version before them.
async fn five_changes(app: &TestApp, session: &str, seats: &[String]) {
    let buyer = app.sign_up(&format!("live-{}@example.com", uuid_like())).await;
    let held = app
        .post(
            HOLD,
            json!({ "s": session, "seats": [&seats[0], &seats[1]], "k": "one" }),
            Some(&buyer.access_token),
        )
        .await;
    let reservation = data(&held)["holdSeats"]["id"].as_str().expect("id").to_string();
    let released = app
        .post(
            "mutation($r: ID!) { releaseHold(reservationId: $r) { status } }",
            json!({ "r": reservation }),
            Some(&buyer.access_token),
        )
        .await;
    assert_eq!(data(&released)["releaseHold"]["status"], "RELEASED");
    let blocked = app
        .admin(
            "mutation($s: ID!, $seats: [ID!]!) { blockSeats(sessionId: $s, seatIds: $seats) { id } }",
            json!({ "s": session, "seats": [&seats[9]] }),
        )
        .await;
    data(&blocked);
    let held = app
        .post(
            HOLD,
            json!({ "s": session, "seats": [&seats[4]], "k": "two" }),
            Some(&buyer.access_token),
        )
        .await;
    data(&held);
    // Let the second hold lapse, then sweep as the sweeper would.
    let past = Utc::now() - chrono::Duration::seconds(5);
    entity::reservation::Entity::update_many()
        .col_expr(entity::reservation::Column::ExpiresAt, Expr::value(past))
        .filter(entity::reservation::Column::Status.eq(entity::ReservationStatus::Held))
        .exec(&app.db)
        .await
        .expect("expire the reservation");
    entity::session_seat::Entity::update_many()
        .col_expr(entity::session_seat::Column::HoldExpiresAt, Expr::value(past))
        .filter(entity::session_seat::Column::Status.eq(entity::SeatStatus::Held))
        .exec(&app.db)
        .await
        .expect("expire the seats");
    assert_eq!(curtain::domain::holds::expire_holds(&app.db).await.expect("sweep"), 1);
}

fn uuid_like() -> String {
    format!("{:x}", Utc::now().timestamp_nanos_opt().unwrap_or_default())
}

fn assert_five_deltas(events: &[Value], start: i64, seats: &[String]) {
    assert_delta(&events[0], start + 1, &[&seats[0], &seats[1]], "HELD", 8);
    assert_delta(&events[1], start + 2, &[&seats[0], &seats[1]], "AVAILABLE", 10);
    assert_delta(&events[2], start + 3, &[&seats[9]], "BLOCKED", 9);
    assert_delta(&events[3], start + 4, &[&seats[4]], "HELD", 8);
    assert_delta(&events[4], start + 5, &[&seats[4]], "AVAILABLE", 9);
}

async fn a_subscriber_sees_a_snapshot_then_every_change_in_version_order(app: &TestApp) {
    let (session, seats) = session_with_ten_seats(app).await;
    let mut socket = connect(app).await;
    subscribe(&mut socket, "map", &session, None).await;
    let snapshot = next_event(&mut socket).await;
    assert_eq!(snapshot["__typename"], "SeatMapSnapshot");
    assert_eq!(snapshot["availableCount"], 10);
    assert_eq!(snapshot["seats"].as_array().map(Vec::len), Some(10));
    let start = snapshot["version"].as_i64().expect("version");

    five_changes(app, &session, &seats).await;
    let mut events = Vec::new();
    for _ in 0..5 {
        events.push(next_event(&mut socket).await);
    }
    assert_five_deltas(&events, start, &seats);

    // Completing the operation ends it; the id is free again.
    send(&mut socket, json!({ "type": "complete", "id": "map" })).await;
    subscribe(&mut socket, "map", &session, None).await;
    let snapshot = next_event(&mut socket).await;
    assert_eq!(snapshot["version"], start + 5);
    assert_eq!(snapshot["availableCount"], 9);
}

async fn a_subscriber_resumes_from_the_last_version_it_saw(app: &TestApp) {
    let (session, seats) = session_with_ten_seats(app).await;
    let start = data(
        &app.gql(
            "query($s: ID!) { seatMap(sessionId: $s) { version } }",
            json!({ "s": session }),
        )
        .await,
    )["seatMap"]["version"]
        .as_i64()
        .expect("version");
    five_changes(app, &session, &seats).await;

    // Back from a tunnel: only what was missed, no snapshot.
    let mut socket = connect(app).await;
    subscribe(&mut socket, "resume", &session, Some(start)).await;
    let mut events = Vec::new();
    for _ in 0..5 {
        events.push(next_event(&mut socket).await);
    }
    assert_five_deltas(&events, start, &seats);

    // Up to date already: nothing until the next change, which comes as a delta.
    subscribe(&mut socket, "current", &session, Some(start + 5)).await;
    let buyer = app.sign_up("resume-late@example.com").await;
    data(
        &app.post(
            HOLD,
            json!({ "s": session, "seats": [&seats[7]], "k": "late" }),
            Some(&buyer.access_token),
        )
        .await,
    );
    let mut late = Vec::new();
    for _ in 0..2 {
        let message = next_message(&mut socket).await.expect("event");
        late.push((
            message["id"].as_str().expect("id").to_string(),
            data(&message["payload"])["seatMapUpdates"].clone(),
        ));
    }
    late.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(late[0].0, "current");
    assert_delta(&late[0].1, start + 6, &[&seats[7]], "HELD", 8);
    assert_eq!(late[1].0, "resume");
    assert_delta(&late[1].1, start + 6, &[&seats[7]], "HELD", 8);

    // A version the server cannot replay from gets a snapshot.
    subscribe(&mut socket, "ancient", &session, Some(-5)).await;
    let snapshot = next_event(&mut socket).await;
    assert_eq!(snapshot["__typename"], "SeatMapSnapshot");
    assert_eq!(snapshot["version"], start + 6);
}

async fn a_second_subscription_with_a_live_id_closes_with_4409(app: &TestApp) {
    let (session, _) = session_with_ten_seats(app).await;
    let mut socket = connect(app).await;
    subscribe(&mut socket, "dup", &session, None).await;
    assert_eq!(next_event(&mut socket).await["__typename"], "SeatMapSnapshot");
    subscribe(&mut socket, "dup", &session, None).await;
    loop {
        match next_message(&mut socket).await {
            Ok(_) => continue,
            Err(code) => {
                assert_eq!(code, Some(4409));
                break;
            }
        }
    }
    // Unknown sessions are a clear error, not a hanging subscription.
    let mut socket = connect(app).await;
    send(
        &mut socket,
        json!({ "type": "subscribe", "id": "x", "payload": { "query": UPDATES, "variables": { "s": "U2Vzc2lvbjo5OTk5OTk" } } }),
    )
    .await;
    let message = next_message(&mut socket).await.expect("a reply");
    assert_eq!(message["type"], "next", "{message:#}");
    assert_eq!(
        message["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{message:#}"
    );
}

/// Two instances on one PostgreSQL database and one Redis: a hold made through instance A
/// reaches a subscriber connected to instance B, through the Redis event bus.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_on_one_instance_reaches_subscribers_on_another() {
    let Some((a, b)) = TestApp::pair_with_redis().await else {
        return;
    };
    let (session, seats) = session_with_ten_seats(&a).await;
    let mut socket = connect(&b).await;
    subscribe(&mut socket, "far", &session, None).await;
    let snapshot = next_event(&mut socket).await;
    let start = snapshot["version"].as_i64().expect("version");

    let buyer = a.sign_up("far-away@example.com").await;
    let sent = std::time::Instant::now();
    data(
        &a.post(
            HOLD,
            json!({ "s": session, "seats": [&seats[3], &seats[4]], "k": "far" }),
            Some(&buyer.access_token),
        )
        .await,
    );
    let delta = next_event(&mut socket).await;
    assert_delta(&delta, start + 1, &[&seats[3], &seats[4]], "HELD", 8);
    // Well inside the watchdog's period: it came over the bus, not by polling.
    assert!(
        sent.elapsed() < Duration::from_millis(1_500),
        "took {:?}",
        sent.elapsed()
    );
    b.stop().await;
    a.stop().await;
}

/// A subscriber that stops reading while the seat map changes more often than its buffer
/// holds is resynced with a fresh snapshot and then follows deltas again, while a subscriber
/// that keeps reading gets every delta: nobody waits for the slow one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_falls_behind_is_resynced_with_a_snapshot() {
    let app = TestApp::builder(Backend::Sqlite)
        .seat_map_buffer(2)
        .spawn()
        .await
        .expect("app");
    let (session, seats) = session_with_ten_seats(&app).await;

    // The slow subscriber runs in-process, so the test decides when it is read.
    let schema = curtain::graphql::build_schema(app.state.clone());
    let request: async_graphql::Request =
        serde_json::from_value(json!({ "query": UPDATES, "variables": { "s": session } })).expect("request");
    let mut slow = Box::pin(curtain::graphql::execute_stream(&schema, request, &app.state));
    let first = slow.next().await.expect("a snapshot");
    let start = first.data.into_json().expect("json")["seatMapUpdates"]["version"]
        .as_i64()
        .expect("version");

    let mut fast = connect(&app).await;
    subscribe(&mut fast, "fast", &session, None).await;
    assert_eq!(next_event(&mut fast).await["__typename"], "SeatMapSnapshot");
    for (i, seat) in seats.iter().take(6).enumerate() {
        data(
            &app.admin(
                "mutation($s: ID!, $seats: [ID!]!) { blockSeats(sessionId: $s, seatIds: $seats) { id } }",
                json!({ "s": session, "seats": [seat] }),
            )
            .await,
        );
        assert_delta(
            &next_event(&mut fast).await,
            start + 1 + i as i64,
            &[seat],
            "BLOCKED",
            9 - i as i64,
        );
    }

    let event = slow.next().await.expect("an event").data.into_json().expect("json")["seatMapUpdates"].clone();
    assert_eq!(event["__typename"], "SeatMapSnapshot", "{event:#}");
    assert_eq!(event["version"], start + 6);
    assert_eq!(event["availableCount"], 4);
    data(
        &app.admin(
            "mutation($s: ID!, $seats: [ID!]!) { unblockSeats(sessionId: $s, seatIds: $seats) { id } }",
            json!({ "s": session, "seats": [&seats[0]] }),
        )
        .await,
    );
    // Once the fast subscriber has it, the delta sits in the slow one's buffer too: the
    // frames the snapshot covered must not have kept its room and lagged it again.
    assert_delta(&next_event(&mut fast).await, start + 7, &[&seats[0]], "AVAILABLE", 5);
    let event = slow.next().await.expect("an event").data.into_json().expect("json")["seatMapUpdates"].clone();
    assert_delta(&event, start + 7, &[&seats[0]], "AVAILABLE", 5);
    app.stop().await;
}
