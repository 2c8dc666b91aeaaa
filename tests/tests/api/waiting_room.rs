//! The waiting room: first come first served after a shuffled pre-queue, one ticket per
//! buyer under concurrent joins, admission limited by the seats left, holds refused
//! without admission, the sold-out broadcast to every subscriber, admission resuming when
//! seats come back, and the line surviving a second instance taking over.
//!
//! The admission tick is turned off in the background and run by the tests themselves
//! (with the clock they choose), so that nothing depends on timing.

use chrono::{Duration, Utc};
use curtain::domain::waiting_room::admission;
use curtain_tests::fixtures::{self, OneRow};
use curtain_tests::socket::{self, next_message};
use curtain_tests::{Backend, TestApp, data, error_code};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

const TICKET: &str = "id state position ahead estimatedWaitSeconds admittedUntil";

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(curtain_tests::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(curtain_tests::Backend::Postgres).await;
                }
            )*
        }
    };
}

on_both_backends!(
    buyers_are_admitted_in_join_order_only_as_far_as_the_seats_go,
    concurrent_joins_of_one_buyer_get_one_ticket,
    buyers_who_join_before_opening_are_shuffled_once,
    a_sold_out_session_tells_every_waiting_subscriber,
    released_and_lapsed_holds_reopen_admission,
    a_second_instance_carries_on_the_same_line,
);

/// Turns the admission tick off in the background (the tests run it themselves).
fn no_background_tick(settings: &mut curtain::config::Settings) {
    settings.booking.waiting_room_tick_ms = 0;
}

/// A session of `seats` seats with a waiting room open since a minute ago.
async fn room(app: &TestApp, title: &str, seats: i32) -> OneRow {
    let row = fixtures::one_row_session(app, title, seats).await;
    configure(app, &row.session, Utc::now() - Duration::minutes(1)).await;
    row
}

async fn configure(app: &TestApp, session: &str, opens_at: chrono::DateTime<Utc>) -> Value {
    let response = app
        .admin(
            "mutation($s: ID!, $input: WaitingRoomInput!) { configureWaitingRoom(sessionId: $s, input: $input) {
                enabled admitPerMinute admissionMinutes opensAt waiting admitted } }",
            json!({ "s": session, "input": { "enabled": true, "admitPerMinute": 100, "admissionMinutes": 10,
                "opensAt": opens_at.to_rfc3339() } }),
        )
        .await;
    data(&response)["configureWaitingRoom"].clone()
}

async fn join(app: &TestApp, token: &str, session: &str) -> Value {
    let response = app
        .post(
            &format!("mutation($s: ID!) {{ joinWaitingRoom(sessionId: $s) {{ {TICKET} }} }}"),
            json!({ "s": session }),
            Some(token),
        )
        .await;
    data(&response)["joinWaitingRoom"].clone()
}

/// One admission tick of every room, now.
async fn tick(app: &TestApp) {
    admission::admit_all(&app.db, &app.state.bus, 4)
        .await
        .expect("admission tick");
}

async fn buyers(app: &TestApp, prefix: &str, count: usize) -> Vec<String> {
    let mut tokens = Vec::new();
    for i in 0..count {
        tokens.push(app.sign_up(&format!("{prefix}-{i}@example.com")).await.access_token);
    }
    tokens
}

async fn hold(app: &TestApp, token: &str, session: &str, seats: &[&String], key: &str) -> Value {
    app.post(
        "mutation($s: ID!, $seats: [ID!]!, $k: String!) {
            holdSeats(sessionId: $s, seatIds: $seats, idempotencyKey: $k) { id status } }",
        json!({ "s": session, "seats": seats, "k": key }),
        Some(token),
    )
    .await
}

fn states(tickets: &[Value]) -> Vec<(&str, Option<i64>)> {
    tickets
        .iter()
        .map(|t| (t["state"].as_str().expect("state"), t["position"].as_i64()))
        .collect()
}

async fn tickets_now(app: &TestApp, tokens: &[String], session: &str) -> Vec<Value> {
    let mut tickets = Vec::new();
    for token in tokens {
        tickets.push(join(app, token, session).await);
    }
    tickets
}

async fn buyers_are_admitted_in_join_order_only_as_far_as_the_seats_go(backend: Backend) {
    let Some(app) = TestApp::builder(backend).configure(no_background_tick).spawn().await else {
        return;
    };
    // Eight seats at four a buyer serve two buyers at a time.
    let row = room(&app, "Queue", 8).await;
    let tokens = buyers(&app, "fcfs", 5).await;
    let first = tickets_now(&app, &tokens, &row.session).await;
    assert_eq!(first[0]["state"], "WAITING");
    assert_eq!(first[0]["position"], Value::Null, "placed at the next tick");

    let seats: Vec<&String> = row.seats.iter().collect();
    let refused = hold(&app, &tokens[0], &row.session, &seats[..1], "early").await;
    assert_eq!(error_code(&refused), "WAITING_ROOM_REQUIRED", "{refused}");

    tick(&app).await;
    let after = tickets_now(&app, &tokens, &row.session).await;
    assert_eq!(
        states(&after),
        [
            ("ADMITTED", None),
            ("ADMITTED", None),
            ("WAITING", Some(1)),
            ("WAITING", Some(2)),
            ("WAITING", Some(3))
        ]
    );
    assert_eq!(after[4]["ahead"], 2);
    assert!(after[0]["admittedUntil"].is_string());
    for (before, now) in first.iter().zip(&after) {
        assert_eq!(before["id"], now["id"], "joining again returns the same ticket");
    }

    // Both admitted buyers may still take every seat: nobody more comes in.
    tick(&app).await;
    assert_eq!(join(&app, &tokens[2], &row.session).await["state"], "WAITING");
    let refused = hold(&app, &tokens[2], &row.session, &seats[..1], "not-yet").await;
    assert_eq!(error_code(&refused), "WAITING_ROOM_REQUIRED");

    // The first takes three seats: five left serve two, one of them still pending.
    data(&hold(&app, &tokens[0], &row.session, &seats[..3], "a").await);
    tick(&app).await;
    let after = tickets_now(&app, &tokens, &row.session).await;
    assert_eq!(
        states(&after)[2..],
        [("ADMITTED", None), ("WAITING", Some(1)), ("WAITING", Some(2))]
    );
    let response = app
        .gql(
            "query($s: ID!) { session(id: $s) { waitingRoom { enabled waiting admitted } } }",
            json!({ "s": row.session }),
        )
        .await;
    assert_eq!(
        data(&response)["session"]["waitingRoom"],
        json!({ "enabled": true, "waiting": 2, "admitted": 3 })
    );

    // The last five seats go: everyone still in line is told the session sold out.
    data(&hold(&app, &tokens[1], &row.session, &seats[3..7], "b").await);
    data(&hold(&app, &tokens[2], &row.session, &seats[7..], "c").await);
    tick(&app).await;
    let after = tickets_now(&app, &tokens, &row.session).await;
    assert_eq!(states(&after)[3..], [("SOLD_OUT", Some(1)), ("SOLD_OUT", Some(2))]);
    app.stop().await;
}

async fn concurrent_joins_of_one_buyer_get_one_ticket(backend: Backend) {
    let Some(app) = TestApp::builder(backend).configure(no_background_tick).spawn().await else {
        return;
    };
    let row = room(&app, "Twice", 4).await;
    let tokens = buyers(&app, "twice", 3).await;
    let joins = tokens
        .iter()
        .flat_map(|token| (0..8).map(move |_| token))
        .map(|token| join(&app, token, &row.session));
    let tickets = futures::future::join_all(joins).await;
    for (i, chunk) in tickets.chunks(8).enumerate() {
        assert!(chunk.iter().all(|t| t["id"] == chunk[0]["id"]), "buyer {i}: {chunk:?}");
    }
    let mut ids: Vec<&Value> = tickets.iter().map(|t| &t["id"]).collect();
    ids.sort_by_key(|id| id.to_string());
    ids.dedup();
    assert_eq!(ids.len(), 3);
    use sea_orm::PaginatorTrait;
    let rows = entity::waiting_room_ticket::Entity::find()
        .count(&app.db)
        .await
        .expect("count");
    assert_eq!(rows, 3);
    app.stop().await;
}

async fn buyers_who_join_before_opening_are_shuffled_once(backend: Backend) {
    let Some(app) = TestApp::builder(backend).configure(no_background_tick).spawn().await else {
        return;
    };
    let row = fixtures::one_row_session(&app, "Early", 4).await;
    configure(&app, &row.session, Utc::now() + Duration::hours(1)).await;
    let tokens = buyers(&app, "early", 20).await;
    tickets_now(&app, &tokens, &row.session).await;
    tick(&app).await;
    let before = tickets_now(&app, &tokens, &row.session).await;
    assert!(
        before
            .iter()
            .all(|t| t["position"].is_null() && t["state"] == "WAITING")
    );

    // The room opens: the early buyers get a random order, then later ones queue behind.
    configure(&app, &row.session, Utc::now()).await;
    let late = app.sign_up("early-late@example.com").await.access_token;
    join(&app, &late, &row.session).await;
    tick(&app).await;
    let ticket_of = |t: &Value| {
        let position = t["position"].as_i64();
        match t["state"].as_str() {
            Some("ADMITTED") => Some(0),
            _ => position,
        }
    };
    let placed = tickets_now(&app, &tokens, &row.session).await;
    let mut positions: Vec<i64> = placed.iter().map(|t| ticket_of(t).expect("placed")).collect();
    let admitted = positions.iter().filter(|p| **p == 0).count();
    assert_eq!(admitted, 1, "four seats serve one buyer of four seats");
    let drawn = positions.clone();
    positions.sort_unstable();
    let expected: Vec<i64> = std::iter::once(0).chain(1..20).collect();
    assert_eq!(positions, expected, "a permutation of the line");
    assert_ne!(drawn, expected, "in a random order (20! orders; the join order is one)");
    assert_eq!(
        join(&app, &late, &row.session).await["position"],
        20,
        "behind the pre-queue"
    );

    // The draw is stored: later ticks keep it.
    tick(&app).await;
    let again: Vec<Option<i64>> = tickets_now(&app, &tokens, &row.session)
        .await
        .iter()
        .map(ticket_of)
        .collect();
    assert_eq!(again, drawn.into_iter().map(Some).collect::<Vec<_>>());
    app.stop().await;
}

async fn a_sold_out_session_tells_every_waiting_subscriber(backend: Backend) {
    let Some(app) = TestApp::builder(backend).configure(no_background_tick).spawn().await else {
        return;
    };
    let row = room(&app, "Rush", 4).await;
    let tokens = buyers(&app, "rush", 6).await;
    let tickets = tickets_now(&app, &tokens, &row.session).await;
    tick(&app).await;
    assert_eq!(join(&app, &tokens[0], &row.session).await["state"], "ADMITTED");

    let query = format!("subscription($t: ID!) {{ waitingRoomUpdates(ticketId: $t) {{ {TICKET} }} }}");
    let mut sockets = Vec::new();
    for (token, ticket) in tokens.iter().zip(&tickets).skip(1) {
        let mut socket = socket::connect(&app, Some(token)).await;
        socket::subscribe(&mut socket, "1", &query, json!({ "t": ticket["id"] })).await;
        let first = next_message(&mut socket).await.expect("the ticket now");
        let now = &first["payload"]["data"]["waitingRoomUpdates"];
        assert_eq!(now["state"], "WAITING", "{first}");
        sockets.push(socket);
    }
    // Another buyer cannot follow someone else's ticket.
    let mut stranger = socket::connect(&app, Some(&tokens[1])).await;
    socket::subscribe(&mut stranger, "1", &query, json!({ "t": tickets[2]["id"] })).await;
    let refused = next_message(&mut stranger).await.expect("an error");
    assert!(refused.to_string().contains("NOT_FOUND"), "{refused}");

    let seats: Vec<&String> = row.seats.iter().collect();
    data(&hold(&app, &tokens[0], &row.session, &seats, "all").await);
    tick(&app).await;
    for (i, socket) in sockets.iter_mut().enumerate() {
        let told = next_message(socket).await.expect("an event");
        let ticket = &told["payload"]["data"]["waitingRoomUpdates"];
        assert_eq!(ticket["state"], "SOLD_OUT", "subscriber {i}: {told}");
        assert_eq!(ticket["position"], i as i64 + 1);
    }
    app.stop().await;
}

async fn released_and_lapsed_holds_reopen_admission(backend: Backend) {
    let Some(app) = TestApp::builder(backend)
        .configure(no_background_tick)
        .hold_seconds(1)
        .spawn()
        .await
    else {
        return;
    };
    let row = room(&app, "Again", 4).await;
    let tokens = buyers(&app, "again", 4).await;
    tickets_now(&app, &tokens, &row.session).await;
    tick(&app).await;
    let seats: Vec<&String> = row.seats.iter().collect();
    let held = hold(&app, &tokens[0], &row.session, &seats, "all").await;
    let reservation = data(&held)["holdSeats"]["id"].clone();
    tick(&app).await;
    assert_eq!(join(&app, &tokens[1], &row.session).await["state"], "SOLD_OUT");

    // Released: the line is back, in its order, and the next buyer is admitted.
    let released = app
        .post(
            "mutation($r: ID!) { releaseHold(reservationId: $r) { status } }",
            json!({ "r": reservation }),
            Some(&tokens[0]),
        )
        .await;
    assert_eq!(data(&released)["releaseHold"]["status"], "RELEASED");
    tick(&app).await;
    let now = tickets_now(&app, &tokens[1..], &row.session).await;
    // The first buyer holds nothing now and may still hold: one of the two slots is theirs.
    assert_eq!(
        states(&now),
        [("WAITING", Some(1)), ("WAITING", Some(2)), ("WAITING", Some(3))]
    );

    // The first buyer's window passes without a new hold: the ticket was used (a hold was
    // made since admission), so it stays ADMITTED; the next buyer comes in.
    data(&hold(&app, &tokens[0], &row.session, &seats, "again").await);
    tick(&app).await;
    assert_eq!(join(&app, &tokens[1], &row.session).await["state"], "SOLD_OUT");
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    curtain::domain::holds::expire_holds(&app.db).await.expect("sweep");
    tick(&app).await;
    let now = tickets_now(&app, &tokens[1..], &row.session).await;
    assert_eq!(
        states(&now),
        [("WAITING", Some(1)), ("WAITING", Some(2)), ("WAITING", Some(3))]
    );

    // Eleven minutes on (an injected clock): the first buyer's admission lapsed and the
    // next in line is admitted; the one admitted then lets their window pass unused.
    let session_id = fixtures::database_id(&row.session);
    let later = Utc::now() + Duration::minutes(11);
    admission::tick(&app.db, session_id, 4, later).await.expect("tick");
    assert_eq!(
        join(&app, &tokens[0], &row.session).await["state"],
        "ADMITTED",
        "held once"
    );
    let now = tickets_now(&app, &tokens[1..], &row.session).await;
    assert_eq!(
        states(&now),
        [("ADMITTED", None), ("WAITING", Some(1)), ("WAITING", Some(2))]
    );
    let bob = now[0]["id"].clone();
    admission::tick(&app.db, session_id, 4, later + Duration::minutes(11))
        .await
        .expect("tick");
    let expired = entity::waiting_room_ticket::Entity::find_by_id(fixtures::database_id(bob.as_str().expect("id")))
        .one(&app.db)
        .await
        .expect("ticket")
        .expect("exists");
    assert_eq!(expired.state, entity::QueueState::Expired);
    let now = tickets_now(&app, &tokens[2..], &row.session).await;
    assert_eq!(states(&now), [("ADMITTED", None), ("WAITING", Some(1))]);

    // Joining again sends the expired ticket to the end of the line, under the same id.
    let rejoined = join(&app, &tokens[1], &row.session).await;
    assert_eq!((&rejoined["id"], &rejoined["state"]), (&bob, &json!("WAITING")));
    admission::tick(&app.db, session_id, 4, later + Duration::minutes(12))
        .await
        .expect("tick");
    assert_eq!(join(&app, &tokens[1], &row.session).await["position"], 2);

    // An admission used up (a hold made, then the window closed) is over too: joining again
    // puts the buyer back in line instead of leaving them ADMITTED and unable to hold.
    let first = join(&app, &tokens[0], &row.session).await;
    assert_eq!(first["state"], "ADMITTED");
    entity::waiting_room_ticket::Entity::update_many()
        .col_expr(
            entity::waiting_room_ticket::Column::AdmittedUntil,
            sea_orm::sea_query::Expr::value(Utc::now() - Duration::seconds(1)),
        )
        .filter(entity::waiting_room_ticket::Column::Id.eq(fixtures::database_id(first["id"].as_str().expect("id"))))
        .exec(&app.db)
        .await
        .expect("close the window");
    let again = join(&app, &tokens[0], &row.session).await;
    assert_eq!((&again["id"], &again["state"]), (&first["id"], &json!("WAITING")));
    app.stop().await;
}

async fn a_second_instance_carries_on_the_same_line(backend: Backend) {
    let Some(a) = TestApp::builder(backend).configure(no_background_tick).spawn().await else {
        return;
    };
    let row = room(&a, "Relay", 8).await;
    let tokens = buyers(&a, "relay", 5).await;
    tickets_now(&a, &tokens, &row.session).await;
    tick(&a).await;
    let b = a
        .sibling()
        .configure(no_background_tick)
        .spawn()
        .await
        .expect("a second instance");
    // Both instances tick at once: the room's lock makes them take turns, and nobody is
    // admitted twice or beyond the seats.
    let (x, y) = tokio::join!(tick(&a), tick(&b));
    let ((), ()) = (x, y);
    let seen = tickets_now(&b, &tokens, &row.session).await;
    assert_eq!(
        states(&seen),
        [
            ("ADMITTED", None),
            ("ADMITTED", None),
            ("WAITING", Some(1)),
            ("WAITING", Some(2)),
            ("WAITING", Some(3))
        ]
    );
    // The admitted buyers hold through the other instance: the turn is in the database.
    // Three seats left serve one more buyer.
    let seats: Vec<&String> = row.seats.iter().collect();
    data(&hold(&b, &tokens[0], &row.session, &seats[..4], "b").await);
    data(&hold(&b, &tokens[1], &row.session, &seats[4..5], "b").await);
    tick(&b).await;
    let seen = tickets_now(&a, &tokens, &row.session).await;
    assert_eq!(
        states(&seen)[2..],
        [("ADMITTED", None), ("WAITING", Some(1)), ("WAITING", Some(2))]
    );
    b.stop().await;
    a.stop().await;
}

/// Two instances on PostgreSQL and Redis: only A runs the admission tick (in the
/// background, every 100 ms), buyers follow their tickets on B, and B's subscribers hear
/// every admission and the sold-out broadcast through the bus.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_on_one_instance_hear_the_ticks_of_another() {
    let ticking = TestApp::builder(Backend::Postgres)
        .redis()
        .configure(|settings| settings.booking.waiting_room_tick_ms = 100);
    let Some(a) = ticking.spawn().await else {
        return;
    };
    let quiet = a.sibling().redis().configure(no_background_tick);
    let b = quiet.spawn().await.expect("a second instance");
    let row = room(&a, "Shared", 4).await;
    let tokens = buyers(&b, "shared", 3).await;
    let tickets = tickets_now(&b, &tokens, &row.session).await;

    let query = format!("subscription($t: ID!) {{ waitingRoomUpdates(ticketId: $t) {{ {TICKET} }} }}");
    let mut sockets = Vec::new();
    let mut first_seen = Vec::new();
    for (token, ticket) in tokens.iter().zip(&tickets) {
        let mut socket = socket::connect(&b, Some(token)).await;
        socket::subscribe(&mut socket, "1", &query, json!({ "t": ticket["id"] })).await;
        // The ticket as it is when the subscription starts.
        first_seen.push(follow(&mut socket, "").await);
        sockets.push(socket);
    }
    // Four seats serve one buyer: the first is admitted by A's tick; the others are told
    // their places (a position change comes at most once a second).
    if first_seen[0][0].0 != "ADMITTED" {
        follow(&mut sockets[0], "ADMITTED").await;
    }
    for (seen, socket) in first_seen.iter_mut().zip(&mut sockets).skip(1) {
        while seen.last().is_some_and(|(_, position)| position.is_none()) {
            seen.extend(follow(socket, "").await);
        }
    }
    let seats: Vec<&String> = row.seats.iter().collect();
    data(&hold(&b, &tokens[0], &row.session, &seats, "all").await);
    for (i, socket) in sockets.iter_mut().enumerate().skip(1) {
        let mut seen = first_seen[i].clone();
        seen.extend(follow(socket, "SOLD_OUT").await);
        assert!(
            seen.contains(&("WAITING".into(), Some(i as i64))),
            "buyer {i} was told its place: {seen:?}"
        );
        assert_eq!(seen.last(), Some(&("SOLD_OUT".into(), Some(i as i64))));
    }
    b.stop().await;
    a.stop().await;
}

/// The ticket states and positions a subscriber is sent, up to the first in state `until`
/// (just the next one for "").
async fn follow(socket: &mut socket::Socket, until: &str) -> Vec<(String, Option<i64>)> {
    let mut seen = Vec::new();
    loop {
        let message = next_message(socket).await.expect("an event");
        let ticket = &message["payload"]["data"]["waitingRoomUpdates"];
        let state = ticket["state"].as_str().expect("a ticket").to_string();
        seen.push((state.clone(), ticket["position"].as_i64()));
        if until.is_empty() || state == until {
            return seen;
        }
    }
}
