//! Holding seats: all or nothing, never one seat in two reservations, whatever the
//! concurrency; idempotent; limited per buyer; released and expired exactly once.

use std::collections::HashMap;

use curtain_tests::fixtures::{self, day};
use curtain_tests::{Backend, Session, TestApp, backend_tests, data, error_code};
use entity::{SeatStatus, reservation_seat, session, session_seat};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

backend_tests!(
    two_hundred_buyers_racing_for_ten_seats_never_share_one,
    a_hold_is_all_or_nothing_and_idempotent,
    holds_are_limited_per_buyer_and_to_sessions_on_sale,
    a_released_hold_frees_its_seats_once,
    best_available_seats_are_central_and_strand_nobody,
    the_box_office_blocks_seats_and_finds_reservations,
    one_buyer_racing_itself_stays_within_the_limit,
);

const HOLD: &str = "mutation($s: ID!, $seats: [ID!]!, $k: String!) {
    holdSeats(sessionId: $s, seatIds: $seats, idempotencyKey: $k) { id status amount seatCount expiresAt seats { id grade price } session { id } } }";
const MAP: &str = "query($s: ID!) { seatMap(sessionId: $s) { version availableCount seats { id status } } }";

/// A hall with one row of `seats` seats of grade R, and a session on sale at 50,000 KRW.
async fn one_row_session(app: &TestApp, seats: i32) -> (String, Vec<String>) {
    let row = fixtures::one_row_session(app, "Race", seats).await;
    (row.session, row.seats)
}

async fn hold(app: &TestApp, buyer: &Session, session: &str, seats: &[&String], key: &str) -> Value {
    app.post(
        HOLD,
        json!({ "s": session, "seats": seats, "k": key }),
        Some(&buyer.access_token),
    )
    .await
}

/// Checks the inventory against the counter and the live reservation rows.
async fn assert_consistent(app: &TestApp, session_id: &str, total: usize) -> (i64, usize) {
    let response = app.gql(MAP, json!({ "s": session_id })).await;
    let map = &data(&response)["seatMap"];
    let held = map["seats"]
        .as_array()
        .expect("seats")
        .iter()
        .filter(|s| s["status"] != "AVAILABLE")
        .count();
    assert_eq!(
        map["availableCount"].as_u64(),
        Some((total - held) as u64),
        "the counter equals the truth"
    );
    let live = reservation_seat::Entity::find()
        .filter(reservation_seat::Column::Active.eq(true))
        .count(&app.db)
        .await
        .expect("count");
    assert_eq!(live as usize, held, "one live reservation row per held seat");
    (map["version"].as_i64().unwrap_or(-1), held)
}

async fn two_hundred_buyers_racing_for_ten_seats_never_share_one(app: &TestApp) {
    let (session, seats) = one_row_session(app, 10).await;
    let buyers: Vec<Session> =
        futures::future::join_all((0..200).map(|i| async move { app.sign_up(&format!("racer{i}@example.com")).await }))
            .await;

    // Overlapping pairs: buyer i wants seats i%9 and i%9+1.
    let attempts = buyers.iter().enumerate().map(|(i, buyer)| {
        let pair = [&seats[i % 9], &seats[i % 9 + 1]];
        let session = session.clone();
        async move {
            (
                pair.map(String::clone),
                hold(app, buyer, &session, &pair, &format!("race-{i}")).await,
            )
        }
    });
    let results = futures::future::join_all(attempts).await;

    let mut owner: HashMap<String, String> = HashMap::new();
    let mut winners = 0;
    for (pair, response) in &results {
        if response.get("errors").is_some() {
            assert_eq!(error_code(response), "SEAT_UNAVAILABLE", "{response}");
            let taken = response["errors"][0]["extensions"]["seatIds"]
                .as_array()
                .expect("seatIds");
            assert!(
                !taken.is_empty()
                    && taken
                        .iter()
                        .all(|s| pair.contains(&s.as_str().unwrap_or_default().to_string()))
            );
            continue;
        }
        winners += 1;
        let reservation = &data(response)["holdSeats"];
        assert_eq!(reservation["status"], "HELD");
        assert_eq!(reservation["amount"], 100000);
        for seat in reservation["seats"].as_array().expect("seats") {
            let seat = seat["id"].as_str().unwrap_or_default().to_string();
            let previous = owner.insert(seat.clone(), reservation["id"].as_str().unwrap_or_default().to_string());
            assert!(previous.is_none(), "seat {seat} is in two reservations");
        }
    }
    // Every loser was told the truth: nothing is released, so each wanted pair still has a
    // held seat at the end.
    for i in 0..9 {
        assert!(
            owner.contains_key(&seats[i]) || owner.contains_key(&seats[i + 1]),
            "seats {i} and {} are both free",
            i + 1
        );
    }
    let (version, held) = assert_consistent(app, &session, 10).await;
    assert_eq!(held, winners * 2, "no partial holds");
    assert_eq!(version, winners as i64, "one version per successful hold");
}

async fn a_hold_is_all_or_nothing_and_idempotent(app: &TestApp) {
    let (session, seats) = one_row_session(app, 5).await;
    let alice = app.sign_up("alice@example.com").await;
    let bob = app.sign_up("bob@example.com").await;

    let first = hold(app, &alice, &session, &[&seats[0], &seats[1]], "alice-1").await;
    let reservation = data(&first)["holdSeats"].clone();
    // The same request again is the same reservation, not a second hold.
    let again = hold(app, &alice, &session, &[&seats[0], &seats[1]], "alice-1").await;
    assert_eq!(data(&again)["holdSeats"]["id"], reservation["id"]);
    // The key cannot be reused for something else.
    let other = hold(app, &alice, &session, &[&seats[3]], "alice-1").await;
    assert_eq!(error_code(&other), "CONFLICT");

    // Bob wants seats 2 and 3: seat 2 is taken, so he gets neither.
    let response = hold(app, &bob, &session, &[&seats[1], &seats[2]], "bob-1").await;
    assert_eq!(error_code(&response), "SEAT_UNAVAILABLE");
    assert_eq!(response["errors"][0]["extensions"]["seatIds"], json!([seats[1]]));
    let map = app.gql(MAP, json!({ "s": session })).await;
    assert_eq!(data(&map)["seatMap"]["seats"][2]["status"], "AVAILABLE");
    let (version, held) = assert_consistent(app, &session, 5).await;
    assert_eq!((version, held), (1, 2));

    // Bad seat ids change nothing.
    let (_, elsewhere) = one_row_session(app, 1).await;
    let response = hold(app, &bob, &session, &[&elsewhere[0]], "bob-2").await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT");
    let response = app
        .post(
            HOLD,
            json!({ "s": session, "seats": ["garbage"], "k": "bob-3" }),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT");
    let response = hold(app, &bob, &session, &[&seats[3], &seats[3]], "bob-4").await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT");
    let response = app
        .gql(HOLD, json!({ "s": session, "seats": [seats[3]], "k": "anon" }))
        .await;
    assert_eq!(error_code(&response), "UNAUTHENTICATED");
    assert_eq!(assert_consistent(app, &session, 5).await, (1, 2));

    // The buyer sees their own reservation, and nobody else does.
    let query = "query($id: ID!) { reservation(id: $id) { status seatCount } }";
    let mine = app
        .post(query, json!({ "id": reservation["id"] }), Some(&alice.access_token))
        .await;
    assert_eq!(data(&mine)["reservation"], json!({ "status": "HELD", "seatCount": 2 }));
    let theirs = app
        .post(query, json!({ "id": reservation["id"] }), Some(&bob.access_token))
        .await;
    assert_eq!(error_code(&theirs), "NOT_FOUND");
}

async fn holds_are_limited_per_buyer_and_to_sessions_on_sale(app: &TestApp) {
    let (session, seats) = one_row_session(app, 8).await;
    let buyer = app.sign_up("greedy@example.com").await;
    let five: Vec<&String> = seats.iter().take(5).collect();
    let response = hold(app, &buyer, &session, &five, "greedy-1").await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT");
    let three: Vec<&String> = seats.iter().take(3).collect();
    data(&hold(app, &buyer, &session, &three, "greedy-2").await);
    let response = hold(app, &buyer, &session, &[&seats[3], &seats[4]], "greedy-3").await;
    assert_eq!(
        error_code(&response),
        "BAD_USER_INPUT",
        "3 held + 2 more is over the limit of 4"
    );

    // A session whose sales have not opened cannot be held.
    let response = app
        .admin(
            "mutation($id: ID!, $at: DateTime!) { updateSession(id: $id, input: { salesOpenAt: $at }) { saleState } }",
            json!({ "id": session, "at": day(1).1 }),
        )
        .await;
    assert_eq!(data(&response)["updateSession"]["saleState"], "UPCOMING");
    let other = app.sign_up("early@example.com").await;
    let response = hold(app, &other, &session, &[&seats[6]], "early-1").await;
    assert_eq!(error_code(&response), "CONFLICT");
}

async fn a_released_hold_frees_its_seats_once(app: &TestApp) {
    let (session, seats) = one_row_session(app, 4).await;
    let buyer = app.sign_up("release@example.com").await;
    let response = hold(app, &buyer, &session, &[&seats[0], &seats[1]], "r-1").await;
    let id = data(&response)["holdSeats"]["id"].clone();
    let release = "mutation($id: ID!) { releaseHold(reservationId: $id) { status } }";
    let other = app.sign_up("stranger@example.com").await;
    assert_eq!(
        error_code(&app.post(release, json!({ "id": id }), Some(&other.access_token)).await),
        "NOT_FOUND"
    );
    let response = app.post(release, json!({ "id": id }), Some(&buyer.access_token)).await;
    assert_eq!(data(&response)["releaseHold"]["status"], "RELEASED");
    assert_eq!(
        error_code(&app.post(release, json!({ "id": id }), Some(&buyer.access_token)).await),
        "CONFLICT"
    );
    assert_eq!(assert_consistent(app, &session, 4).await, (2, 0));
    // The seats can be held again.
    data(&hold(app, &other, &session, &[&seats[0]], "s-1").await);
}

async fn lapsed_holds_are_reclaimed_and_swept_exactly_once(backend: Backend) {
    let Some(app) = TestApp::builder(backend).hold_seconds(1).spawn().await else {
        return;
    };
    let (session, seats) = one_row_session(&app, 6).await;
    let alice = app.sign_up("lapse-a@example.com").await;
    let bob = app.sign_up("lapse-b@example.com").await;
    let carol = app.sign_up("lapse-c@example.com").await;
    data(&hold(&app, &alice, &session, &[&seats[0]], "a").await);
    data(&hold(&app, &carol, &session, &[&seats[2], &seats[3], &seats[4]], "c").await);
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;

    // Alice's lapsed hold is taken over at once, no sweep needed.
    let response = hold(&app, &bob, &session, &[&seats[0], &seats[1]], "b").await;
    assert_eq!(data(&response)["holdSeats"]["status"], "HELD");
    let (version, held) = assert_consistent(&app, &session, 6).await;
    // Carol's lapsed seats still count as taken until the sweep.
    assert_eq!((version, held), (3, 5));

    // Two instances sweep at the same time: Carol's three seats are freed exactly once.
    let other_instance = curtain::db::connect(&secrecy::SecretString::from(app.database_url.clone()), 4, None)
        .await
        .expect("pool");
    let (a, b) = tokio::join!(
        curtain::domain::holds::expire_holds(&app.db),
        curtain::domain::holds::expire_holds(&other_instance)
    );
    assert_eq!(a.expect("sweep") + b.expect("sweep"), 3);
    let (version, held) = assert_consistent(&app, &session, 6).await;
    assert_eq!((version, held), (4, 2), "one version for the sweep");
    let seats_held: u64 = session_seat::Entity::find()
        .filter(session_seat::Column::Status.eq(SeatStatus::Held))
        .count(&app.db)
        .await
        .expect("count");
    assert_eq!(seats_held, 2);
    let available: Option<i32> = session::Entity::find()
        .all(&app.db)
        .await
        .expect("sessions")
        .first()
        .map(|s| s.available_seats);
    assert_eq!(available, Some(4));

    let expired: u64 = entity::reservation::Entity::find()
        .filter(entity::reservation::Column::Status.eq(entity::ReservationStatus::Expired))
        .count(&app.db)
        .await
        .expect("count");
    assert_eq!(
        expired, 2,
        "both lapsed reservations are EXPIRED, also Alice's whose seat was taken over"
    );
    let again = curtain::domain::holds::expire_holds(&app.db).await.expect("sweep");
    assert_eq!(again, 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_lapsed_holds_are_reclaimed_and_swept_exactly_once() {
    lapsed_holds_are_reclaimed_and_swept_exactly_once(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_lapsed_holds_are_reclaimed_and_swept_exactly_once() {
    lapsed_holds_are_reclaimed_and_swept_exactly_once(Backend::Postgres).await;
}

async fn best_available_seats_are_central_and_strand_nobody(app: &TestApp) {
    let (session, seats) = one_row_session(app, 10).await;
    let best = "mutation($s: ID!, $n: Int!, $k: String!) {
        holdBestAvailable(sessionId: $s, count: $n, grade: \"R\", idempotencyKey: $k) { seats { id } } }";
    let first = app.sign_up("best1@example.com").await;
    let response = app
        .post(
            best,
            json!({ "s": session, "n": 2, "k": "b1" }),
            Some(&first.access_token),
        )
        .await;
    let chosen: Vec<Value> = data(&response)["holdBestAvailable"]["seats"]
        .as_array()
        .expect("seats")
        .iter()
        .map(|s| s["id"].clone())
        .collect();
    assert_eq!(chosen, vec![json!(seats[4]), json!(seats[5])], "the middle of the row");

    let second = app.sign_up("best2@example.com").await;
    let response = app
        .post(
            best,
            json!({ "s": session, "n": 3, "k": "b2" }),
            Some(&second.access_token),
        )
        .await;
    let chosen: Vec<usize> = data(&response)["holdBestAvailable"]["seats"]
        .as_array()
        .expect("seats")
        .iter()
        .filter_map(|s| seats.iter().position(|id| s["id"] == json!(id)))
        .collect();
    assert_eq!(chosen.len(), 3);
    // Seats 0-3 and 6-9 are free; 3 seats on either side must not leave a lone seat.
    assert!(chosen == vec![1, 2, 3] || chosen == vec![6, 7, 8], "{chosen:?}");

    // Four adjacent seats are left on one side, and one seat on the other.
    let third = app.sign_up("best3@example.com").await;
    let response = app
        .post(
            best,
            json!({ "s": session, "n": 4, "k": "b3" }),
            Some(&third.access_token),
        )
        .await;
    assert_eq!(
        data(&response)["holdBestAvailable"]["seats"].as_array().map(Vec::len),
        Some(4)
    );
    let fourth = app.sign_up("best4@example.com").await;
    let response = app
        .post(
            best,
            json!({ "s": session, "n": 2, "k": "b4" }),
            Some(&fourth.access_token),
        )
        .await;
    assert_eq!(error_code(&response), "SEAT_UNAVAILABLE", "only a single seat is left");
    let response = app
        .post(
            "mutation($s: ID!) { holdBestAvailable(sessionId: $s, count: 1, grade: \"VIP\", idempotencyKey: \"x\") { id } }",
            json!({ "s": session }),
            Some(&fourth.access_token),
        )
        .await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT", "no such grade");
    let (_, held) = assert_consistent(app, &session, 10).await;
    assert_eq!(held, 9);
}

async fn the_box_office_blocks_seats_and_finds_reservations(app: &TestApp) {
    let (session, seats) = one_row_session(app, 4).await;
    let block =
        "mutation($s: ID!, $seats: [ID!]!) { blockSeats(sessionId: $s, seatIds: $seats) { availableSeatCount } }";
    let unblock =
        "mutation($s: ID!, $seats: [ID!]!) { unblockSeats(sessionId: $s, seatIds: $seats) { availableSeatCount } }";
    let buyer = app.sign_up("blocked@example.com").await;
    assert_eq!(
        error_code(
            &app.post(
                block,
                json!({ "s": session, "seats": [seats[0]] }),
                Some(&buyer.access_token)
            )
            .await
        ),
        "FORBIDDEN"
    );
    let response = app.admin(block, json!({ "s": session, "seats": [seats[0]] })).await;
    assert_eq!(data(&response)["blockSeats"]["availableSeatCount"], 3);
    assert_eq!(
        error_code(&hold(app, &buyer, &session, &[&seats[0]], "k1").await),
        "SEAT_UNAVAILABLE"
    );
    data(&hold(app, &buyer, &session, &[&seats[1]], "k2").await);
    // A held seat cannot be blocked; nothing changes.
    assert_eq!(
        error_code(
            &app.admin(block, json!({ "s": session, "seats": [seats[1], seats[2]] }))
                .await
        ),
        "SEAT_UNAVAILABLE"
    );
    let response = app.admin(unblock, json!({ "s": session, "seats": [seats[0]] })).await;
    assert_eq!(data(&response)["unblockSeats"]["availableSeatCount"], 3);
    assert_consistent(app, &session, 4).await;

    // The buyer lists their own reservations; the box office finds them, masked.
    let mine = app
        .post(
            "{ myReservations { edges { node { status seatCount } } } }",
            Value::Null,
            Some(&buyer.access_token),
        )
        .await;
    assert_eq!(
        data(&mine)["myReservations"]["edges"],
        json!([{ "node": { "status": "HELD", "seatCount": 1 } }])
    );
    let search = "query($f: AdminReservationFilter) { adminReservations(filter: $f) { edges { node { status buyer { email phone } } } } }";
    let response = app
        .admin(
            search,
            json!({ "f": { "buyerEmail": "BLOCKED@example.com", "sessionId": session } }),
        )
        .await;
    assert_eq!(
        data(&response)["adminReservations"]["edges"],
        json!([{ "node": { "status": "HELD", "buyer": { "email": "bl***@example.com", "phone": "010-****-5678" } } }])
    );
    let response = app.admin(search, json!({ "f": { "status": "CONFIRMED" } })).await;
    assert_eq!(data(&response)["adminReservations"]["edges"], json!([]));
    let response = app.post(search, json!({ "f": {} }), Some(&buyer.access_token)).await;
    assert_eq!(error_code(&response), "FORBIDDEN");
}

async fn one_buyer_racing_itself_stays_within_the_limit(app: &TestApp) {
    let (session, seats) = one_row_session(app, 10).await;
    let buyer = app.sign_up("greedy@example.com").await;
    // Eight single-seat holds at once, each with its own key: the limit is four seats, and
    // parallel requests must not each see room for theirs.
    let attempts = (0..8).map(|i| {
        let (buyer, session, seat, key) = (&buyer, &session, &seats[i], format!("greedy-{i}"));
        async move { hold(app, buyer, session, &[seat], &key).await }
    });
    let results = futures::future::join_all(attempts).await;
    let granted = results.iter().filter(|r| r.get("errors").is_none()).count();
    assert_eq!(granted, 4, "{results:#?}");
    for refused in results.iter().filter(|r| r.get("errors").is_some()) {
        assert_eq!(error_code(refused), "BAD_USER_INPUT", "{refused:#}");
    }
    assert_consistent(app, &session, 10).await;
}
