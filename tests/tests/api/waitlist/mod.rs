//! The waitlist of sold-out sessions: joining (only when nothing matching can be held),
//! leaving, the line; and the hand-over of seats that come back (a release, a lapsed hold, a
//! cancelled booking, an unblock) to the first matching request in line, in the transaction
//! that frees them, so the public never gets them first. Ends with a race of releases,
//! expiries and joins; what the line may not be used for is in `limits`.

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use curtain_tests::fixtures::{self, database_id, day};
use curtain_tests::{Session, TestApp, backend_tests, data, error_code};
use entity::{SeatStatus, reservation, reservation_seat, session_seat};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

backend_tests!(
    joining_is_refused_while_matching_seats_can_be_held,
    buyers_join_leave_and_see_their_place_in_line,
    a_released_hold_goes_to_the_first_matching_request_in_line,
    a_lapsed_or_released_offer_goes_to_the_next_in_line,
    a_cancelled_booking_goes_to_the_line_and_the_offer_is_paid_as_usual,
    unblocked_seats_go_to_the_line,
    the_public_cannot_take_seats_a_waiting_request_matches,
    releases_expiries_and_joins_racing_keep_the_line_and_the_seats_straight,
    hold_keys_in_the_waitlist_namespace_are_refused,
    an_offer_under_a_key_the_buyer_already_used_lapses_and_the_seats_go_on,
    a_session_whose_sweep_fails_does_not_stop_the_others,
    joining_respects_the_seat_cap_and_the_waiting_room,
    an_offer_that_would_pass_the_seat_cap_keeps_its_place,
    lines_of_sessions_off_sale_close_at_the_sweep,
    best_available_passes_over_lapsed_seats_the_line_is_owed,
);

mod limits;
mod race;

use limits::{
    a_session_whose_sweep_fails_does_not_stop_the_others, an_offer_that_would_pass_the_seat_cap_keeps_its_place,
    an_offer_under_a_key_the_buyer_already_used_lapses_and_the_seats_go_on,
    best_available_passes_over_lapsed_seats_the_line_is_owed, hold_keys_in_the_waitlist_namespace_are_refused,
    joining_respects_the_seat_cap_and_the_waiting_room, lines_of_sessions_off_sale_close_at_the_sweep,
};
use race::releases_expiries_and_joins_racing_keep_the_line_and_the_seats_straight;

const JOIN: &str = "mutation($s: ID!, $n: Int!, $g: String, $p: Int) {
    joinWaitlist(sessionId: $s, count: $n, grade: $g, maxPrice: $p) {
        id state position count grade maxPrice createdAt session { id } reservation { id } } }";
const LEAVE: &str = "mutation($e: ID!) { leaveWaitlist(entryId: $e) { id state position } }";
const MINE: &str = "{ myWaitlist { id state position count grade maxPrice
    reservation { id status amount orderId expiresAt seats { id grade price } } } }";
const LENGTH: &str = "query($s: ID!) { session(id: $s) { waitlistLength availableSeatCount } }";
const HOLD: &str = "mutation($s: ID!, $seats: [ID!]!, $k: String!) {
    holdSeats(sessionId: $s, seatIds: $seats, idempotencyKey: $k) { id } }";
const RELEASE: &str = "mutation($id: ID!) { releaseHold(reservationId: $id) { status } }";
const PAY: &str = "mutation($r: ID!, $k: String!, $o: String!, $a: Int!) {
    confirmPayment(reservationId: $r, paymentKey: $k, orderId: $o, amount: $a) { id status } }";

/// A session of the small layout with `per_row` seats a row: row A VIP (150,000 KRW), rows
/// B and C R (100,000 KRW). Returns it and its seats by label ("A1", "B2", …).
async fn small_hall(app: &TestApp, per_row: i32) -> (String, HashMap<String, String>) {
    let venue = fixtures::create_venue(app, "대기 홀", fixtures::small_layout(per_row)).await;
    let performance = fixtures::create_performance(app, &venue, "대기", &day(0).0, &day(10).0).await;
    let session = fixtures::create_session(app, &performance, &day(2).1).await;
    let response = app
        .gql(
            "query($s: ID!) { seatMap(sessionId: $s) { seats { id row number } } }",
            json!({ "s": session }),
        )
        .await;
    let seats = data(&response)["seatMap"]["seats"]
        .as_array()
        .expect("seats")
        .iter()
        .map(|s| {
            let label = format!("{}{}", s["row"].as_str().expect("row"), s["number"]);
            (label, s["id"].as_str().expect("id").to_string())
        })
        .collect();
    (session, seats)
}

async fn hold(app: &TestApp, buyer: &Session, session: &str, seats: &[&str], key: &str) -> String {
    fixtures::hold(app, &buyer.access_token, session, seats, key).await
}

async fn release(app: &TestApp, buyer: &Session, reservation: &str) {
    let response = app
        .post(RELEASE, json!({ "id": reservation }), Some(&buyer.access_token))
        .await;
    assert_eq!(data(&response)["releaseHold"]["status"], "RELEASED");
}

async fn join(
    app: &TestApp,
    buyer: &Session,
    session: &str,
    count: i32,
    grade: Option<&str>,
    max: Option<i32>,
) -> Value {
    app.post(
        JOIN,
        json!({ "s": session, "n": count, "g": grade, "p": max }),
        Some(&buyer.access_token),
    )
    .await
}

/// Joins, expecting success; returns the entry's id.
async fn joined(
    app: &TestApp,
    buyer: &Session,
    session: &str,
    count: i32,
    grade: Option<&str>,
    max: Option<i32>,
) -> String {
    let response = join(app, buyer, session, count, grade, max).await;
    data(&response)["joinWaitlist"]["id"]
        .as_str()
        .expect("entry id")
        .to_string()
}

/// The buyer's entry `id` as `myWaitlist` shows it.
async fn entry(app: &TestApp, buyer: &Session, id: &str) -> Value {
    let response = app.post(MINE, json!({}), Some(&buyer.access_token)).await;
    data(&response)["myWaitlist"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("entry {id} is not in myWaitlist"))
}

async fn waitlist_length(app: &TestApp, session: &str) -> (i64, i64) {
    let response = app.gql(LENGTH, json!({ "s": session })).await;
    let s = &data(&response)["session"];
    (
        s["waitlistLength"].as_i64().expect("length"),
        s["availableSeatCount"].as_i64().expect("available"),
    )
}

/// Makes a held reservation lapse, as time passing would (the sweep is separate).
async fn lapse(app: &TestApp, reservation_id: &str) {
    let id = database_id(reservation_id);
    let past = Utc::now() - chrono::Duration::seconds(5);
    reservation::Entity::update_many()
        .col_expr(reservation::Column::ExpiresAt, Expr::value(past))
        .filter(reservation::Column::Id.eq(id))
        .exec(&app.db)
        .await
        .expect("lapse the reservation");
    session_seat::Entity::update_many()
        .col_expr(session_seat::Column::HoldExpiresAt, Expr::value(past))
        .filter(session_seat::Column::ReservationId.eq(id))
        .filter(session_seat::Column::Status.eq(SeatStatus::Held))
        .exec(&app.db)
        .await
        .expect("lapse its seats");
}

async fn sweep(app: &TestApp) -> u64 {
    curtain::domain::holds::expire_holds(&app.db).await.expect("sweep")
}

/// Seats of the offered reservation shown on an entry.
fn offered_seats(entry: &Value) -> Vec<String> {
    entry["reservation"]["seats"]
        .as_array()
        .expect("seats")
        .iter()
        .map(|s| s["id"].as_str().expect("seat").to_string())
        .collect()
}

/// The session's seat-map events have consecutive versions ending at the session's version;
/// the inventory agrees with its counter and with the live reservation rows, and no seat is
/// in two live reservations.
async fn assert_consistent(app: &TestApp, session: &str) {
    let session_id = database_id(session);
    let versions: Vec<i64> = entity::outbox::Entity::find()
        .filter(entity::outbox::Column::Topic.eq("seat_map"))
        .filter(entity::outbox::Column::AggregateId.eq(session_id))
        .all(&app.db)
        .await
        .expect("outbox")
        .into_iter()
        .filter_map(|row| row.version)
        .collect();
    let mut sorted = versions.clone();
    sorted.sort_unstable();
    let current = entity::session::Entity::find_by_id(session_id)
        .one(&app.db)
        .await
        .expect("session")
        .expect("the session");
    let expected: Vec<i64> = (current.seat_map_version - sorted.len() as i64 + 1..=current.seat_map_version).collect();
    assert_eq!(
        sorted, expected,
        "one delta per version, no gaps, up to the session's version"
    );

    let seats = session_seat::Entity::find()
        .filter(session_seat::Column::SessionId.eq(session_id))
        .all(&app.db)
        .await
        .expect("seats");
    let available = seats.iter().filter(|s| s.status == SeatStatus::Available).count();
    assert_eq!(
        current.available_seats as usize, available,
        "the counter equals the truth"
    );
    let live_rows = reservation_seat::Entity::find()
        .filter(reservation_seat::Column::SessionId.eq(session_id))
        .filter(reservation_seat::Column::Active.eq(true))
        .all(&app.db)
        .await
        .expect("rows");
    let mut owner: HashMap<i64, i64> = HashMap::new();
    for row in &live_rows {
        assert!(
            owner.insert(row.seat_id, row.reservation_id).is_none(),
            "seat {} is in two live reservations",
            row.seat_id
        );
    }
    for seat in &seats {
        match seat.status {
            SeatStatus::Held | SeatStatus::Sold => assert_eq!(
                owner.get(&seat.seat_id).copied(),
                seat.reservation_id,
                "a taken seat belongs to its one live reservation"
            ),
            SeatStatus::Available | SeatStatus::Blocked => {
                assert!(!owner.contains_key(&seat.seat_id), "a free seat is in no reservation")
            }
        }
    }
}

/// Waits for the outbox relay to turn the offer into a notification of `kind` for the buyer.
async fn notified(app: &TestApp, buyer: &Session, kind: &str) -> Value {
    for _ in 0..100 {
        app.state.relay.wake();
        let response = app
            .post(
                "{ myNotifications(first: 20) { edges { node { kind title body } } } }",
                json!({}),
                Some(&buyer.access_token),
            )
            .await;
        if let Some(found) = data(&response)["myNotifications"]["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .find(|e| e["node"]["kind"] == kind)
        {
            return found["node"].clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no {kind} notification arrived");
}

async fn joining_is_refused_while_matching_seats_can_be_held(app: &TestApp) {
    let (session, seats) = small_hall(app, 2).await;
    let buyer = app.sign_up("early@example.com").await;
    let holder = app.sign_up("holder@example.com").await;

    let refused = join(app, &buyer, &session, 2, None, None).await;
    assert_eq!(error_code(&refused), "CONFLICT");
    assert!(
        refused["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("hold")),
        "the buyer is told to hold instead: {refused}"
    );
    let anonymous = app
        .gql(JOIN, json!({ "s": session, "n": 1, "g": null, "p": null }))
        .await;
    assert_eq!(error_code(&anonymous), "UNAUTHENTICATED");
    for (count, grade, max, field) in [
        (0, None, None, "count"),
        (5, None, None, "count"),
        (1, Some("S"), None, "grade"),
        (1, Some("  "), None, "grade"),
        (1, None, Some(0), "maxPrice"),
        (1, None, Some(-100), "maxPrice"),
    ] {
        let response = join(app, &buyer, &session, count, grade, max).await;
        assert_eq!(
            error_code(&response),
            "BAD_USER_INPUT",
            "{count} {grade:?} {max:?}: {response}"
        );
        assert_eq!(response["errors"][0]["extensions"]["field"], field);
    }

    // The VIP row is gone; R seats are left.
    hold(app, &holder, &session, &[&seats["A1"], &seats["A2"]], "vip").await;
    assert_eq!(
        error_code(&join(app, &buyer, &session, 1, Some("R"), None).await),
        "CONFLICT"
    );
    assert_eq!(
        error_code(&join(app, &buyer, &session, 1, None, Some(100_000)).await),
        "CONFLICT"
    );
    // A VIP seat, or any seat under 100,000 KRW, cannot be had: those requests wait.
    let response = join(app, &buyer, &session, 1, Some("VIP"), None).await;
    assert_eq!(data(&response)["joinWaitlist"]["state"], "WAITING");
    assert_eq!(data(&response)["joinWaitlist"]["position"], 1);
    let other = app.sign_up("cheap@example.com").await;
    let response = join(app, &other, &session, 1, None, Some(99_999)).await;
    assert_eq!(data(&response)["joinWaitlist"]["position"], 2);
    // Four R seats are free but not four side by side… rows B and C have two each.
    let third = app.sign_up("four@example.com").await;
    let response = join(app, &third, &session, 4, Some("R"), None).await;
    assert_eq!(data(&response)["joinWaitlist"]["count"], 4);
    assert_eq!(waitlist_length(app, &session).await, (3, 4));

    // A session off sale has no waitlist.
    fixtures::move_session(app, &session, Utc::now() - chrono::Duration::hours(1)).await;
    let late = app.sign_up("late@example.com").await;
    assert_eq!(
        error_code(&join(app, &late, &session, 1, Some("VIP"), None).await),
        "CONFLICT"
    );
    let nowhere = curtain::ids::encode(curtain::ids::NodeKind::Session, 999_999).to_string();
    assert_eq!(
        error_code(&join(app, &late, &nowhere, 1, None, None).await),
        "NOT_FOUND"
    );
}

async fn buyers_join_leave_and_see_their_place_in_line(app: &TestApp) {
    let (session, seats) = small_hall(app, 2).await;
    let holder = app.sign_up("all@example.com").await;
    let other = app.sign_up("all2@example.com").await;
    hold(
        app,
        &holder,
        &session,
        &[&seats["A1"], &seats["A2"], &seats["B1"], &seats["B2"]],
        "1",
    )
    .await;
    hold(app, &other, &session, &[&seats["C1"], &seats["C2"]], "2").await;
    assert_eq!(waitlist_length(app, &session).await, (0, 0));

    let alice = app.sign_up("alice@example.com").await;
    let bob = app.sign_up("bob@example.com").await;
    let first = join(app, &alice, &session, 1, None, None).await;
    let first = &data(&first)["joinWaitlist"];
    assert_eq!(first["state"], "WAITING");
    assert_eq!(first["position"], 1);
    assert_eq!(first["session"]["id"], session.as_str());
    assert_eq!(first["reservation"], Value::Null);
    let alice_entry = first["id"].as_str().expect("id").to_string();
    let bob_entry = joined(app, &bob, &session, 2, Some("R"), Some(100_000)).await;
    assert_eq!(entry(app, &bob, &bob_entry).await["position"], 2);
    assert_eq!(waitlist_length(app, &session).await, (2, 0));

    // The same request again is the same entry; another request while in line is CONFLICT.
    let again = join(app, &alice, &session, 1, None, None).await;
    assert_eq!(data(&again)["joinWaitlist"]["id"], alice_entry.as_str());
    assert_eq!(
        error_code(&join(app, &alice, &session, 2, None, None).await),
        "CONFLICT"
    );
    // Nobody else can see or leave Alice's entry.
    let foreign = app
        .post(LEAVE, json!({ "e": alice_entry }), Some(&bob.access_token))
        .await;
    assert_eq!(error_code(&foreign), "NOT_FOUND");

    let left = app
        .post(LEAVE, json!({ "e": alice_entry }), Some(&alice.access_token))
        .await;
    assert_eq!(data(&left)["leaveWaitlist"]["state"], "LEFT");
    assert_eq!(data(&left)["leaveWaitlist"]["position"], Value::Null);
    let twice = app
        .post(LEAVE, json!({ "e": alice_entry }), Some(&alice.access_token))
        .await;
    assert_eq!(data(&twice)["leaveWaitlist"]["state"], "LEFT", "leaving is idempotent");
    assert_eq!(entry(app, &bob, &bob_entry).await["position"], 1);
    assert_eq!(waitlist_length(app, &session).await, (1, 0));

    // Back in line, at the end; the old entry stays in the history.
    let rejoined = joined(app, &alice, &session, 1, None, None).await;
    assert_ne!(rejoined, alice_entry);
    assert_eq!(entry(app, &alice, &rejoined).await["position"], 2);
    assert_eq!(entry(app, &alice, &alice_entry).await["state"], "LEFT");
    let bad = app
        .post(LEAVE, json!({ "e": session }), Some(&alice.access_token))
        .await;
    assert_eq!(error_code(&bad), "BAD_USER_INPUT", "a session id is not an entry id");
}

async fn a_released_hold_goes_to_the_first_matching_request_in_line(app: &TestApp) {
    let (session, seats) = small_hall(app, 2).await;
    let holders: Vec<Session> = futures::future::join_all((0..4).map(|i| buyer(app, i))).await;
    hold(app, &holders[0], &session, &[&seats["A1"], &seats["A2"]], "a").await;
    let b1 = hold(app, &holders[1], &session, &[&seats["B1"]], "b1").await;
    hold(app, &holders[2], &session, &[&seats["B2"]], "b2").await;
    let row_c = hold(app, &holders[3], &session, &[&seats["C1"], &seats["C2"]], "c").await;

    let vip = app.sign_up("vip@example.com").await;
    let cheap = app.sign_up("cheap@example.com").await;
    let pair = app.sign_up("pair@example.com").await;
    let single = app.sign_up("single@example.com").await;
    let later = app.sign_up("later@example.com").await;
    let vip_entry = joined(app, &vip, &session, 1, Some("VIP"), None).await;
    let cheap_entry = joined(app, &cheap, &session, 1, Some("R"), Some(90_000)).await;
    let pair_entry = joined(app, &pair, &session, 2, Some("R"), None).await;
    let single_entry = joined(app, &single, &session, 1, None, Some(100_000)).await;
    let later_entry = joined(app, &later, &session, 1, Some("R"), None).await;

    // B1 comes back alone: not VIP, dearer than 90,000, not two side by side; the fourth
    // in line takes it, the fifth keeps waiting.
    release(app, &holders[1], &b1).await;
    let offered = entry(app, &single, &single_entry).await;
    assert_eq!(offered["state"], "OFFERED");
    assert_eq!(offered["position"], Value::Null);
    let reservation = &offered["reservation"];
    assert_eq!(reservation["status"], "HELD");
    assert_eq!(reservation["amount"], 100_000);
    assert!(reservation["orderId"].as_str().is_some_and(|o| o.len() >= 6));
    assert_eq!(offered_seats(&offered), [seats["B1"].clone()]);
    let expires: chrono::DateTime<Utc> = reservation["expiresAt"]
        .as_str()
        .expect("expiresAt")
        .parse()
        .expect("a time");
    let window = expires - Utc::now();
    assert!(
        window > chrono::Duration::minutes(9) && window <= chrono::Duration::minutes(10),
        "the normal payment window: {window}"
    );
    for (buyer, id, position) in [
        (&vip, &vip_entry, 1),
        (&cheap, &cheap_entry, 2),
        (&pair, &pair_entry, 3),
        (&later, &later_entry, 4),
    ] {
        let skipped = entry(app, buyer, id).await;
        assert_eq!(
            (skipped["state"].as_str(), skipped["position"].as_i64()),
            (Some("WAITING"), Some(position))
        );
    }
    assert_eq!(waitlist_length(app, &session).await, (4, 0));
    let note = notified(app, &single, "WAITLIST_OFFERED").await;
    assert!(note["body"].as_str().is_some_and(|b| b.contains("까지")), "{note}");
    assert_consistent(app, &session).await;

    // Row C comes back: the pair, third in line, gets both seats; nothing is left for later.
    release(app, &holders[3], &row_c).await;
    let offered = entry(app, &pair, &pair_entry).await;
    assert_eq!(offered["state"], "OFFERED");
    let mut got = offered_seats(&offered);
    got.sort();
    let mut row = vec![seats["C1"].clone(), seats["C2"].clone()];
    row.sort();
    assert_eq!(got, row);
    assert_eq!(offered["reservation"]["amount"], 200_000);
    assert_eq!(entry(app, &later, &later_entry).await["position"], 3);
    assert_eq!(waitlist_length(app, &session).await, (3, 0));
    assert_consistent(app, &session).await;
}

async fn a_lapsed_or_released_offer_goes_to_the_next_in_line(app: &TestApp) {
    let row = fixtures::one_row_session(app, "대기열", 2).await;
    let (session, seats) = (row.session, row.seats);
    let first_holder = app.sign_up("h1@example.com").await;
    let second_holder = app.sign_up("h2@example.com").await;
    let held = hold(app, &first_holder, &session, &[&seats[0]], "1").await;
    hold(app, &second_holder, &session, &[&seats[1]], "2").await;
    let first = app.sign_up("w1@example.com").await;
    let second = app.sign_up("w2@example.com").await;
    let first_entry = joined(app, &first, &session, 1, None, None).await;
    let second_entry = joined(app, &second, &session, 1, None, None).await;

    release(app, &first_holder, &held).await;
    let offer = entry(app, &first, &first_entry).await;
    assert_eq!(offer["state"], "OFFERED");
    assert_eq!(offer["reservation"]["amount"], 50_000);
    assert_eq!(entry(app, &second, &second_entry).await["position"], 1);

    // The first lets the offer lapse: the sweep hands the seat to the second.
    lapse(app, offer["reservation"]["id"].as_str().expect("id")).await;
    assert_eq!(sweep(app).await, 1);
    let lapsed = entry(app, &first, &first_entry).await;
    assert_eq!(lapsed["state"], "LAPSED");
    assert_eq!(lapsed["reservation"]["status"], "EXPIRED");
    let next = entry(app, &second, &second_entry).await;
    assert_eq!(next["state"], "OFFERED");
    assert_eq!(offered_seats(&next), [seats[0].clone()]);
    assert_eq!(waitlist_length(app, &session).await, (0, 0));
    assert_consistent(app, &session).await;

    // The second lets it go at once: nobody waits any more, so the seat is for sale again.
    let reservation = next["reservation"]["id"].as_str().expect("id").to_string();
    release(app, &second, &reservation).await;
    assert_eq!(entry(app, &second, &second_entry).await["state"], "LAPSED");
    assert_eq!(waitlist_length(app, &session).await, (0, 1));
    // An ended entry can be left (nothing changes) and its buyer can join again.
    let response = app
        .post(LEAVE, json!({ "e": second_entry }), Some(&second.access_token))
        .await;
    assert_eq!(data(&response)["leaveWaitlist"]["state"], "LAPSED");
    assert_consistent(app, &session).await;
}

async fn a_cancelled_booking_goes_to_the_line_and_the_offer_is_paid_as_usual(app: &TestApp) {
    let row = fixtures::one_row_session(app, "취소표", 2).await;
    let (session, seats) = (row.session, row.seats);
    let owner = app.sign_up("owner@example.com").await;
    let other = app.sign_up("other@example.com").await;
    let booked = pay(app, &owner, &hold(app, &owner, &session, &[&seats[0]], "1").await).await;
    assert_eq!(booked, "CONFIRMED");
    hold(app, &other, &session, &[&seats[1]], "2").await;
    let waiter = app.sign_up("waiter@example.com").await;
    let waiting = joined(app, &waiter, &session, 1, None, None).await;

    let paid = app.post(MINE, json!({}), Some(&owner.access_token)).await;
    assert_eq!(data(&paid)["myWaitlist"], json!([]));
    let reservation_id = {
        let response = app
            .post(
                "{ myReservations(first: 5) { edges { node { id status } } } }",
                json!({}),
                Some(&owner.access_token),
            )
            .await;
        data(&response)["myReservations"]["edges"][0]["node"]["id"]
            .as_str()
            .expect("id")
            .to_string()
    };
    let response = app
        .post(
            "mutation($r: ID!) { cancelReservation(id: $r, reason: \"plans changed\") { status } }",
            json!({ "r": reservation_id }),
            Some(&owner.access_token),
        )
        .await;
    assert_eq!(data(&response)["cancelReservation"]["status"], "CANCELLED");
    let offer = entry(app, &waiter, &waiting).await;
    assert_eq!(offer["state"], "OFFERED");
    assert_eq!(offered_seats(&offer), [seats[0].clone()]);
    assert_eq!(waitlist_length(app, &session).await, (0, 0));

    // Paid through the normal flow: the order id and amount the reservation carries.
    let offered = offer["reservation"]["id"].as_str().expect("id").to_string();
    assert_eq!(pay(app, &waiter, &offered).await, "CONFIRMED");
    let booked = entry(app, &waiter, &waiting).await;
    assert_eq!(booked["state"], "BOOKED");
    assert_eq!(booked["reservation"]["status"], "CONFIRMED");
    notified(app, &waiter, "WAITLIST_OFFERED").await;
    notified(app, &waiter, "PAYMENT_CONFIRMED").await;
    assert_consistent(app, &session).await;
}

/// Pays a held reservation with the simulated provider; returns its status after.
async fn pay(app: &TestApp, buyer: &Session, reservation_id: &str) -> String {
    let response = app
        .post(
            "query($r: ID!) { reservation(id: $r) { orderId amount } }",
            json!({ "r": reservation_id }),
            Some(&buyer.access_token),
        )
        .await;
    let held = &data(&response)["reservation"];
    let response = app
        .post(
            PAY,
            json!({ "r": reservation_id, "k": "sim-ok", "o": held["orderId"], "a": held["amount"] }),
            Some(&buyer.access_token),
        )
        .await;
    data(&response)["confirmPayment"]["status"]
        .as_str()
        .expect("status")
        .to_string()
}

async fn unblocked_seats_go_to_the_line(app: &TestApp) {
    let row = fixtures::one_row_session(app, "차단", 3).await;
    let (session, seats) = (row.session, row.seats);
    let block = app
        .admin(
            "mutation($s: ID!, $seats: [ID!]!) { blockSeats(sessionId: $s, seatIds: $seats) { id } }",
            json!({ "s": session, "seats": [seats[0], seats[1]] }),
        )
        .await;
    data(&block);
    let holder = app.sign_up("last@example.com").await;
    hold(app, &holder, &session, &[&seats[2]], "1").await;
    let pair = app.sign_up("pair@example.com").await;
    let waiting = joined(app, &pair, &session, 2, None, None).await;

    let unblock = app
        .admin(
            "mutation($s: ID!, $seats: [ID!]!) { unblockSeats(sessionId: $s, seatIds: $seats) { availableSeatCount waitlistLength } }",
            json!({ "s": session, "seats": [seats[0], seats[1]] }),
        )
        .await;
    assert_eq!(
        data(&unblock)["unblockSeats"],
        json!({ "availableSeatCount": 0, "waitlistLength": 0 })
    );
    let offer = entry(app, &pair, &waiting).await;
    assert_eq!(offer["state"], "OFFERED");
    assert_eq!(offer["reservation"]["amount"], 100_000);
    assert_consistent(app, &session).await;
}

async fn the_public_cannot_take_seats_a_waiting_request_matches(app: &TestApp) {
    let row = fixtures::one_row_session(app, "공개", 2).await;
    let (session, seats) = (row.session, row.seats);
    let first_holder = app.sign_up("h1@example.com").await;
    let second_holder = app.sign_up("h2@example.com").await;
    let released = hold(app, &first_holder, &session, &[&seats[0]], "1").await;
    let lapsing = hold(app, &second_holder, &session, &[&seats[1]], "2").await;
    let first = app.sign_up("w1@example.com").await;
    let second = app.sign_up("w2@example.com").await;
    let first_entry = joined(app, &first, &session, 1, None, None).await;
    let second_entry = joined(app, &second, &session, 1, None, None).await;
    let public = app.sign_up("public@example.com").await;

    // Released: held for the line in the same transaction, so already taken for the public.
    release(app, &first_holder, &released).await;
    let response = app
        .post(
            HOLD,
            json!({ "s": session, "seats": [seats[0]], "k": "grab-1" }),
            Some(&public.access_token),
        )
        .await;
    assert_eq!(error_code(&response), "SEAT_UNAVAILABLE");
    assert_eq!(entry(app, &first, &first_entry).await["state"], "OFFERED");

    // Lapsed but not yet swept: while someone waits, a public hold does not take it over.
    lapse(app, &lapsing).await;
    let response = app
        .post(
            HOLD,
            json!({ "s": session, "seats": [seats[1]], "k": "grab-2" }),
            Some(&public.access_token),
        )
        .await;
    assert_eq!(error_code(&response), "SEAT_UNAVAILABLE");
    let response = app
        .post(
            "mutation($s: ID!) { holdBestAvailable(sessionId: $s, count: 1, grade: \"R\", idempotencyKey: \"best\") { id } }",
            json!({ "s": session }),
            Some(&public.access_token),
        )
        .await;
    assert_eq!(error_code(&response), "SEAT_UNAVAILABLE");
    assert_eq!(sweep(app).await, 1);
    let offer = entry(app, &second, &second_entry).await;
    assert_eq!(offer["state"], "OFFERED");
    assert_eq!(offered_seats(&offer), [seats[1].clone()]);
    assert_consistent(app, &session).await;
}

/// Buyer number `n`, signed up.
async fn buyer(app: &TestApp, n: usize) -> Session {
    app.sign_up(&format!("buyer{n}@example.com")).await
}
