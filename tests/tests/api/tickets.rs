//! Tickets at the door: one per paid seat with a signed QR payload a scanner verifies
//! offline, exactly-once check-in (also from two instances at once), the refusals, offline
//! uploads, the live door count, transfers, and key rotation.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use curtain_tests::{BUYER_PASSWORD, Session, TestApp, backend_tests, data, error_code, fixtures, socket};
use serde_json::{Value, json};

backend_tests!(
    paying_issues_one_ticket_per_seat_with_a_qr_code_verifiable_offline,
    a_ticket_is_checked_in_once_and_then_says_when_and_where,
    concurrent_scans_at_gates_on_two_instances_admit_exactly_once,
    the_door_refuses_forged_cancelled_refunded_wrong_session_and_transferred_tickets,
    an_offline_upload_answers_each_scan_and_reports_conflicts,
    the_door_count_follows_check_ins_live,
    a_transfer_moves_the_ticket_and_makes_the_old_qr_code_stale,
    two_transfers_of_one_ticket_at_once_move_it_once,
    rotating_the_key_keeps_old_tickets_valid,
    only_door_staff_and_admins_check_tickets_in,
    cancelling_some_seats_cancels_their_tickets_and_offers_the_seats_to_the_waitlist,
    revoking_a_leaked_key_refuses_its_payloads_until_the_ticket_is_opened_again,
    a_ticket_used_at_the_door_is_not_refunded_to_its_buyer,
);

const TICKETS: &str = "query($r: ID!) { reservation(id: $r) { tickets {
    id state refunded isMine qrPayload qrSvg qrPngUrl gate checkedInAt
    seat { id section row number grade } session { id } } } }";
const CHECK_IN: &str = "mutation($p: String!, $g: String, $s: ID) {
    checkIn(payload: $p, gate: $g, sessionId: $s) { outcome checkedInAt gate ticket { id state } } }";
const TRANSFER: &str =
    "mutation($t: ID!, $e: String!) { transferTicket(ticketId: $t, toEmail: $e) { id isMine state } }";

/// A session of `seats` seats and a buyer who paid for `paid` of them over HTTP (simulated
/// provider); returns the session, the reservation and the buyer.
async fn paid_booking(app: &TestApp, title: &str, seats: i32, paid: usize, email: &str) -> (String, String, Session) {
    let row = fixtures::one_row_session(app, title, seats).await;
    let buyer = app.sign_up(email).await;
    let chosen: Vec<&str> = row.seats[..paid].iter().map(String::as_str).collect();
    let response = app
        .post(
            "mutation($s: ID!, $seats: [ID!]!, $k: String!) {
                holdSeats(sessionId: $s, seatIds: $seats, idempotencyKey: $k) { id orderId amount } }",
            json!({ "s": row.session, "seats": chosen, "k": "tickets" }),
            Some(&buyer.access_token),
        )
        .await;
    let held = &data(&response)["holdSeats"];
    let reservation = held["id"].as_str().expect("reservation").to_string();
    let response = app
        .post(
            "mutation($r: ID!, $o: String!, $a: Int!) {
                confirmPayment(reservationId: $r, paymentKey: \"sim-ok\", orderId: $o, amount: $a) { status } }",
            json!({ "r": reservation, "o": held["orderId"], "a": held["amount"] }),
            Some(&buyer.access_token),
        )
        .await;
    assert_eq!(data(&response)["confirmPayment"]["status"], "CONFIRMED");
    (row.session, reservation, buyer)
}

async fn tickets_of(app: &TestApp, who: &Session, reservation: &str) -> Vec<Value> {
    let response = app
        .post(TICKETS, json!({ "r": reservation }), Some(&who.access_token))
        .await;
    data(&response)["reservation"]["tickets"]
        .as_array()
        .expect("tickets")
        .clone()
}

fn payload_of(ticket: &Value) -> String {
    ticket["qrPayload"].as_str().expect("a QR payload").to_string()
}

/// An account with the DOOR role, logged in again so that its token carries the role.
async fn door_staff(app: &TestApp, email: &str) -> Session {
    let account = app.sign_up(email).await;
    let response = app
        .admin(
            "mutation($u: ID!) { grantRole(userId: $u, role: DOOR) { role } }",
            json!({ "u": account.user_id }),
        )
        .await;
    assert_eq!(data(&response)["grantRole"]["role"], "DOOR");
    app.log_in(email, BUYER_PASSWORD).await
}

async fn scan(app: &TestApp, door: &Session, payload: &str, gate: &str, session: Option<&str>) -> Value {
    app.post(
        CHECK_IN,
        json!({ "p": payload, "g": gate, "s": session }),
        Some(&door.access_token),
    )
    .await
}

/// Verifies a payload as an offline scanner would: only with the published key set.
fn verify_offline(keys: &Value, payload: &str) -> Value {
    use ed25519_dalek::{Signature, Verifier, VerifyingKey};
    let (signed, signature) = payload.rsplit_once('.').expect("three parts");
    let (header, claims) = signed.split_once('.').expect("three parts");
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).expect("base64")).expect("JSON");
    assert_eq!(header["alg"], "EdDSA");
    let jwk = keys["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("the signing key is published");
    assert_eq!(
        (jwk["kty"].as_str(), jwk["crv"].as_str()),
        (Some("OKP"), Some("Ed25519"))
    );
    let x: [u8; 32] = URL_SAFE_NO_PAD
        .decode(jwk["x"].as_str().expect("x"))
        .expect("base64")
        .try_into()
        .expect("32 bytes");
    let signature: [u8; 64] = URL_SAFE_NO_PAD
        .decode(signature)
        .expect("base64")
        .try_into()
        .expect("64 bytes");
    VerifyingKey::from_bytes(&x)
        .expect("a public key")
        .verify(signed.as_bytes(), &Signature::from_bytes(&signature))
        .expect("the signature verifies");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).expect("base64")).expect("JSON")
}

async fn door_count(app: &TestApp, door: &Session, session: &str) -> Value {
    let count = app
        .post(
            "query($s: ID!) { doorCount(sessionId: $s) { admitted expected } }",
            json!({ "s": session }),
            Some(&door.access_token),
        )
        .await;
    data(&count)["doorCount"].clone()
}

/// The buyer gives back one seat of their booking (`cancelSeats`).
async fn cancel_seat(app: &TestApp, buyer: &Session, reservation: &str, seat: &Value) -> Value {
    app.post(
        "mutation($r: ID!, $seats: [ID!]!) { cancelSeats(reservationId: $r, seatIds: $seats, reason: \"못 감\") { seatCount } }",
        json!({ "r": reservation, "seats": [seat] }),
        Some(&buyer.access_token),
    )
    .await
}

async fn published_keys(app: &TestApp) -> Value {
    let response = app
        .client
        .get(app.url("/.well-known/curtain-ticket-keys.json"))
        .send()
        .await
        .expect("keys");
    assert!(response.status().is_success());
    response.json().await.expect("JSON")
}

async fn paying_issues_one_ticket_per_seat_with_a_qr_code_verifiable_offline(app: &TestApp) {
    let (session, reservation, buyer) = paid_booking(app, "입장권", 3, 2, "ticket-buyer@example.com").await;
    let tickets = tickets_of(app, &buyer, &reservation).await;
    assert_eq!(tickets.len(), 2, "one ticket per seat: {tickets:?}");
    for ticket in &tickets {
        assert_eq!(ticket["state"], "VALID");
        assert_eq!(ticket["isMine"], true);
        assert_eq!(ticket["session"]["id"], session);
        assert_eq!(ticket["seat"]["section"], "1층");
        assert_eq!(ticket["seat"]["row"], "A");
        assert!(ticket["qrSvg"].as_str().is_some_and(|svg| svg.contains("<svg")));
    }
    let keys = published_keys(app).await;
    let claims = verify_offline(&keys, &payload_of(&tickets[0]));
    assert_eq!(claims["gen"], 0);
    assert_eq!(
        curtain_tests::fixtures::database_id(tickets[0]["id"].as_str().expect("id")),
        claims["tid"].as_i64().expect("tid")
    );
    assert_eq!(
        payload_of(&tickets[0]),
        payload_of(&tickets_of(app, &buyer, &reservation).await[0]),
        "the QR code does not change between views"
    );

    let listed = app
        .post(
            "{ myTickets(first: 10) { edges { node { id state } } } }",
            json!({}),
            Some(&buyer.access_token),
        )
        .await;
    assert_eq!(data(&listed)["myTickets"]["edges"].as_array().map(Vec::len), Some(2));

    // The PNG link opens without a token; a tampered one is not found.
    let url = tickets[0]["qrPngUrl"].as_str().expect("a PNG link").to_string();
    let png = app.client.get(&url).send().await.expect("PNG");
    assert_eq!(png.status(), 200);
    assert_eq!(png.headers()["content-type"], "image/png");
    assert_eq!(&png.bytes().await.expect("bytes")[..4], b"\x89PNG");
    let tampered = url.replace("gen=0", "gen=1");
    assert_eq!(app.client.get(&tampered).send().await.expect("PNG").status(), 404);

    // Someone else sees no ticket of this reservation.
    let other = app.sign_up("not-the-buyer@example.com").await;
    let response = app
        .post(TICKETS, json!({ "r": reservation }), Some(&other.access_token))
        .await;
    assert_eq!(error_code(&response), "NOT_FOUND");
}

async fn a_ticket_is_checked_in_once_and_then_says_when_and_where(app: &TestApp) {
    let (session, reservation, buyer) = paid_booking(app, "한번만", 2, 2, "once@example.com").await;
    let door = door_staff(app, "gate-a@example.com").await;
    let tickets = tickets_of(app, &buyer, &reservation).await;
    let first = scan(app, &door, &payload_of(&tickets[0]), "A", Some(&session)).await;
    let first = &data(&first)["checkIn"];
    assert_eq!(first["outcome"], "ADMITTED");
    assert_eq!(first["gate"], "A");
    assert_eq!(first["ticket"]["state"], "CHECKED_IN");
    let again = scan(app, &door, &payload_of(&tickets[0]), "B", Some(&session)).await;
    let again = &data(&again)["checkIn"];
    assert_eq!(again["outcome"], "ALREADY_CHECKED_IN");
    assert_eq!(again["gate"], "A", "the first gate is reported");
    assert_eq!(again["checkedInAt"], first["checkedInAt"]);

    assert_eq!(
        door_count(app, &door, &session).await,
        json!({ "admitted": 1, "expected": 2 })
    );
    // The holder sees it used, and it can no longer be transferred.
    let tickets = tickets_of(app, &buyer, &reservation).await;
    assert_eq!(tickets[0]["state"], "CHECKED_IN");
    assert_eq!(tickets[0]["gate"], "A");
    app.sign_up("late-friend@example.com").await;
    let response = app
        .post(
            TRANSFER,
            json!({ "t": tickets[0]["id"], "e": "late-friend@example.com" }),
            Some(&buyer.access_token),
        )
        .await;
    assert_eq!(error_code(&response), "CONFLICT");
}

async fn concurrent_scans_at_gates_on_two_instances_admit_exactly_once(app: &TestApp) {
    let (session, reservation, buyer) = paid_booking(app, "동시입장", 1, 1, "rush@example.com").await;
    let door = door_staff(app, "gates@example.com").await;
    let sibling = app.spawn_sibling().await.expect("a second instance");
    let payload = payload_of(&tickets_of(app, &buyer, &reservation).await[0]);
    let mut scans = Vec::new();
    for i in 0..16 {
        let instance = if i % 2 == 0 { app } else { &sibling };
        let (door, payload, session) = (door.clone(), payload.clone(), session.clone());
        scans.push(async move { scan(instance, &door, &payload, &format!("gate-{i}"), Some(&session)).await });
    }
    let answers = futures::future::join_all(scans).await;
    let admitted: Vec<&Value> = answers
        .iter()
        .map(|a| &data(a)["checkIn"])
        .filter(|c| c["outcome"] == "ADMITTED")
        .collect();
    assert_eq!(admitted.len(), 1, "exactly one scan admits: {answers:?}");
    for answer in &answers {
        let check_in = &data(answer)["checkIn"];
        assert_eq!(
            check_in["gate"], admitted[0]["gate"],
            "every scan reports the winning gate"
        );
        assert_eq!(check_in["checkedInAt"], admitted[0]["checkedInAt"]);
    }
    sibling.stop().await;
}

async fn the_door_refuses_forged_cancelled_refunded_wrong_session_and_transferred_tickets(app: &TestApp) {
    let (session, reservation, buyer) = paid_booking(app, "거절", 4, 3, "refused@example.com").await;
    let door = door_staff(app, "refuser@example.com").await;
    let tickets = tickets_of(app, &buyer, &reservation).await;
    let payload = payload_of(&tickets[0]);

    // Forged: a changed character, a payload signed by a key of our own, garbage.
    let mut forged = payload.clone().into_bytes();
    let middle = forged.len() / 2;
    forged[middle] = if forged[middle] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).expect("ASCII");
    for bad in [forged.as_str(), "not a ticket", ""] {
        assert_eq!(
            error_code(&scan(app, &door, bad, "A", None).await),
            "TICKET_INVALID",
            "{bad}"
        );
    }

    // For another session.
    let other = fixtures::one_row_session(app, "다른회차", 1).await;
    let response = scan(app, &door, &payload, "A", Some(&other.session)).await;
    assert_eq!(error_code(&response), "TICKET_WRONG_SESSION");

    // Transferred: the old holder's payload is stale, the new holder's opens the door.
    app.sign_up("friend@example.com").await;
    let response = app
        .post(
            TRANSFER,
            json!({ "t": tickets[1]["id"], "e": "friend@example.com" }),
            Some(&buyer.access_token),
        )
        .await;
    assert_eq!(data(&response)["transferTicket"]["isMine"], false);
    let stale = payload_of(&tickets[1]);
    assert_eq!(
        error_code(&scan(app, &door, &stale, "A", Some(&session)).await),
        "TICKET_TRANSFERRED"
    );

    // Refunded: the box office cancels the booking, refunding it.
    let response = app
        .admin(
            "mutation($r: ID!) { cancelReservation(id: $r, reason: \"공연 취소\") { status } }",
            json!({ "r": reservation }),
        )
        .await;
    assert_eq!(data(&response)["cancelReservation"]["status"], "CANCELLED");
    assert_eq!(
        error_code(&scan(app, &door, &payload, "A", Some(&session)).await),
        "TICKET_REFUNDED"
    );
    let tickets = tickets_of(app, &buyer, &reservation).await;
    assert!(
        tickets
            .iter()
            .all(|t| t["state"] == "CANCELLED" && t["refunded"] == true)
    );
    assert!(
        tickets.iter().all(|t| t["qrPayload"].is_null()),
        "no QR code for a cancelled ticket"
    );

    // Cancelled without a refund: a booking confirmed without a payment (as the box office
    // can), then cancelled.
    let row = fixtures::one_row_session(app, "무료", 1).await;
    let held = fixtures::hold(app, &buyer.access_token, &row.session, &[row.seats[0].as_str()], "free").await;
    fixtures::confirm(app, &held).await;
    let free = payload_of(&tickets_of(app, &buyer, &held).await[0]);
    let response = app
        .admin(
            "mutation($r: ID!) { cancelReservation(id: $r, reason: \"초대권 회수\") { status } }",
            json!({ "r": held }),
        )
        .await;
    assert_eq!(data(&response)["cancelReservation"]["status"], "CANCELLED");
    assert_eq!(
        error_code(&scan(app, &door, &free, "A", Some(&row.session)).await),
        "TICKET_CANCELLED"
    );
}

async fn an_offline_upload_answers_each_scan_and_reports_conflicts(app: &TestApp) {
    let (session, reservation, buyer) = paid_booking(app, "오프라인", 2, 2, "offline@example.com").await;
    let door = door_staff(app, "offline-gate@example.com").await;
    let tickets = tickets_of(app, &buyer, &reservation).await;
    let (first, second) = (payload_of(&tickets[0]), payload_of(&tickets[1]));
    // Gate A, online, lets the first ticket in.
    let response = scan(app, &door, &first, "A", Some(&session)).await;
    assert_eq!(data(&response)["checkIn"]["outcome"], "ADMITTED");
    // Gate B was offline and scanned both, a forgery, and the second ticket twice.
    let scanned_at = "2026-01-01T10:00:00Z";
    let scans = json!([
        { "payload": first, "gate": "B", "sessionId": session, "scannedAt": scanned_at },
        { "payload": second, "gate": "B", "sessionId": session, "scannedAt": scanned_at },
        { "payload": "forged", "gate": "B", "sessionId": session, "scannedAt": scanned_at },
        { "payload": second, "gate": "B", "sessionId": session, "scannedAt": scanned_at },
    ]);
    let response = app
        .post(
            "mutation($s: [CheckInScan!]!) { checkInBatch(scans: $s) {
                index checkIn { outcome gate checkedInAt } refusal { code message } } }",
            json!({ "s": scans }),
            Some(&door.access_token),
        )
        .await;
    let results = data(&response)["checkInBatch"].as_array().expect("results").clone();
    assert_eq!(results.len(), 4);
    assert_eq!(results[0]["checkIn"]["outcome"], "ALREADY_CHECKED_IN");
    assert_eq!(
        results[0]["checkIn"]["gate"], "A",
        "the conflict names the gate that won"
    );
    assert_eq!(results[1]["checkIn"]["outcome"], "ADMITTED");
    assert_eq!(
        results[1]["checkIn"]["checkedInAt"]
            .as_str()
            .map(|at| at.starts_with("2026-01-01T10:00:00")),
        Some(true),
        "recorded when it was scanned: {results:?}"
    );
    assert_eq!(results[2]["refusal"]["code"], "TICKET_INVALID");
    assert!(results[2]["checkIn"].is_null());
    assert_eq!(results[3]["checkIn"]["outcome"], "ALREADY_CHECKED_IN");
    assert_eq!(results[3]["index"], 3);
}

async fn the_door_count_follows_check_ins_live(app: &TestApp) {
    let (session, reservation, buyer) = paid_booking(app, "집계", 2, 2, "counted@example.com").await;
    let door = door_staff(app, "manager@example.com").await;
    let mut socket = socket::connect(app, Some(&door.access_token)).await;
    socket::subscribe(
        &mut socket,
        "door",
        "subscription($s: ID!) { doorCountUpdates(sessionId: $s) { admitted expected } }",
        json!({ "s": session }),
    )
    .await;
    let next_count = |message: Value| message["payload"]["data"]["doorCountUpdates"].clone();
    let first = socket::next_message(&mut socket).await.expect("the count now");
    assert_eq!(next_count(first), json!({ "admitted": 0, "expected": 2 }));
    let tickets = tickets_of(app, &buyer, &reservation).await;
    scan(app, &door, &payload_of(&tickets[0]), "A", None).await;
    let second = socket::next_message(&mut socket).await.expect("a new count");
    assert_eq!(next_count(second), json!({ "admitted": 1, "expected": 2 }));

    // A buyer may not watch the door.
    let mut buyer_socket = socket::connect(app, Some(&buyer.access_token)).await;
    socket::subscribe(
        &mut buyer_socket,
        "door",
        "subscription($s: ID!) { doorCountUpdates(sessionId: $s) { admitted } }",
        json!({ "s": session }),
    )
    .await;
    // A guard refusing a subscription field is an execution error: a `next` with errors.
    let refused = socket::next_message(&mut buyer_socket).await.expect("an error");
    assert_eq!(refused["type"], "next", "{refused}");
    assert!(refused["payload"]["data"].is_null());
    assert_eq!(refused["payload"]["errors"][0]["extensions"]["code"], "FORBIDDEN");
}

async fn a_transfer_moves_the_ticket_and_makes_the_old_qr_code_stale(app: &TestApp) {
    let (session, reservation, buyer) = paid_booking(app, "양도", 2, 2, "giver@example.com").await;
    let friend = app.sign_up("taker@example.com").await;
    let door = door_staff(app, "transfer-door@example.com").await;
    let tickets = tickets_of(app, &buyer, &reservation).await;
    let ticket = tickets[0]["id"].as_str().expect("id").to_string();

    for (email, code) in [
        ("nobody@example.com", "BAD_USER_INPUT"),
        ("giver@example.com", "BAD_USER_INPUT"),
        ("not an email", "BAD_USER_INPUT"),
    ] {
        let response = app
            .post(TRANSFER, json!({ "t": ticket, "e": email }), Some(&buyer.access_token))
            .await;
        assert_eq!(error_code(&response), code, "{email}");
    }
    // Only the holder may transfer.
    let response = app
        .post(
            TRANSFER,
            json!({ "t": ticket, "e": "giver@example.com" }),
            Some(&friend.access_token),
        )
        .await;
    assert_eq!(error_code(&response), "NOT_FOUND");

    let response = app
        .post(
            TRANSFER,
            json!({ "t": ticket, "e": "Taker@Example.com" }),
            Some(&buyer.access_token),
        )
        .await;
    assert_eq!(data(&response)["transferTicket"]["isMine"], false);

    // The friend holds it, with a new payload; the buyer sees it in the booking, without a code.
    let mine = app
        .post(
            "{ myTickets { edges { node { id qrPayload } } } }",
            json!({}),
            Some(&friend.access_token),
        )
        .await;
    let edges = data(&mine)["myTickets"]["edges"].as_array().expect("edges").clone();
    assert_eq!(edges.len(), 1);
    assert_eq!(edges[0]["node"]["id"], ticket);
    let new_payload = edges[0]["node"]["qrPayload"].as_str().expect("payload").to_string();
    assert_ne!(new_payload, payload_of(&tickets[0]));
    let claims = verify_offline(&published_keys(app).await, &new_payload);
    assert_eq!(claims["gen"], 1);
    let seen_by_buyer = tickets_of(app, &buyer, &reservation).await;
    assert_eq!(seen_by_buyer[0]["isMine"], false);
    assert!(seen_by_buyer[0]["qrPayload"].is_null());
    let listed = app
        .post(
            "{ myTickets { edges { node { id } } } }",
            json!({}),
            Some(&buyer.access_token),
        )
        .await;
    assert_eq!(data(&listed)["myTickets"]["edges"].as_array().map(Vec::len), Some(1));

    // The friend is told.
    let told = app
        .post(
            "{ myNotifications(first: 5) { edges { node { kind } } } }",
            json!({}),
            Some(&friend.access_token),
        )
        .await;
    assert_eq!(
        data(&told)["myNotifications"]["edges"][0]["node"]["kind"],
        "TICKET_RECEIVED"
    );

    // The buyer can no longer get money back for the whole booking.
    let response = app
        .post(
            "mutation($r: ID!) { cancelReservation(id: $r, reason: \"변심\") { status } }",
            json!({ "r": reservation }),
            Some(&buyer.access_token),
        )
        .await;
    assert_eq!(error_code(&response), "CONFLICT");

    assert_eq!(
        error_code(&scan(app, &door, &payload_of(&tickets[0]), "A", Some(&session)).await),
        "TICKET_TRANSFERRED"
    );
    let response = scan(app, &door, &new_payload, "A", Some(&session)).await;
    assert_eq!(data(&response)["checkIn"]["outcome"], "ADMITTED");
}

async fn two_transfers_of_one_ticket_at_once_move_it_once(app: &TestApp) {
    let (_, reservation, buyer) = paid_booking(app, "이중양도", 1, 1, "double@example.com").await;
    app.sign_up("first-taker@example.com").await;
    app.sign_up("second-taker@example.com").await;
    let ticket = tickets_of(app, &buyer, &reservation).await[0]["id"].clone();
    let attempts = ["first-taker@example.com", "second-taker@example.com"].map(|email| {
        let (ticket, token) = (ticket.clone(), buyer.access_token.clone());
        async move {
            app.post(TRANSFER, json!({ "t": ticket, "e": email }), Some(&token))
                .await
        }
    });
    let answers = futures::future::join_all(attempts).await;
    let moved = answers.iter().filter(|a| a["errors"].is_null()).count();
    assert_eq!(moved, 1, "one transfer wins: {answers:?}");
    let loser = answers.iter().find(|a| !a["errors"].is_null()).expect("a loser");
    assert!(["CONFLICT", "NOT_FOUND"].contains(&error_code(loser)));
}

async fn rotating_the_key_keeps_old_tickets_valid(app: &TestApp) {
    let (session, reservation, buyer) = paid_booking(app, "키교체", 2, 2, "rotation@example.com").await;
    let door = door_staff(app, "rotation-door@example.com").await;
    let old = payload_of(&tickets_of(app, &buyer, &reservation).await[0]);
    let response = app.admin("mutation { rotateTicketKey }", json!({})).await;
    let kid = data(&response)["rotateTicketKey"].as_str().expect("kid").to_string();
    let keys = published_keys(app).await;
    assert_eq!(
        keys["keys"].as_array().map(Vec::len),
        Some(2),
        "old keys stay published"
    );
    assert_eq!(keys["keys"][0]["kid"], kid, "newest first");
    // New payloads use the new key; the old one still verifies and opens the door.
    let fresh = payload_of(&tickets_of(app, &buyer, &reservation).await[1]);
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(fresh.split('.').next().expect("header"))
            .expect("base64"),
    )
    .expect("JSON");
    assert_eq!(header["kid"], kid);
    verify_offline(&keys, &old);
    let response = scan(app, &door, &old, "A", Some(&session)).await;
    assert_eq!(data(&response)["checkIn"]["outcome"], "ADMITTED");
    // A buyer cannot rotate keys.
    let response = app
        .post("mutation { rotateTicketKey }", json!({}), Some(&buyer.access_token))
        .await;
    assert_eq!(error_code(&response), "FORBIDDEN");
}

async fn only_door_staff_and_admins_check_tickets_in(app: &TestApp) {
    let (session, reservation, buyer) = paid_booking(app, "권한", 2, 2, "own-scan@example.com").await;
    let payload = payload_of(&tickets_of(app, &buyer, &reservation).await[0]);
    assert_eq!(error_code(&scan(app, &buyer, &payload, "A", None).await), "FORBIDDEN");
    let anonymous = app.gql(CHECK_IN, json!({ "p": payload, "g": "A", "s": session })).await;
    assert_eq!(error_code(&anonymous), "UNAUTHENTICATED");
    let door = door_staff(app, "door-only@example.com").await;
    // Door staff do not manage the catalog.
    let response = app
        .post("mutation { rotateTicketKey }", json!({}), Some(&door.access_token))
        .await;
    assert_eq!(error_code(&response), "FORBIDDEN");
    // Nothing was checked in by the refused scans; an admin may scan too.
    let response = app
        .admin(CHECK_IN, json!({ "p": payload, "g": "box office", "s": session }))
        .await;
    assert_eq!(data(&response)["checkIn"]["outcome"], "ADMITTED");
}

async fn cancelling_some_seats_cancels_their_tickets_and_offers_the_seats_to_the_waitlist(app: &TestApp) {
    let (session, reservation, buyer) = paid_booking(app, "부분취소", 4, 3, "partial@example.com").await;
    let door = door_staff(app, "partial-door@example.com").await;
    // The last seat goes to someone else: the session is sold out, and one buyer waits.
    let seats = fixtures::seats_of(app, &session).await;
    let other = app.sign_up("last-seat@example.com").await;
    fixtures::hold(app, &other.access_token, &session, &[seats[3].as_str()], "last").await;
    let waiting = app.sign_up("waiting@example.com").await;
    let response = app
        .post(
            "mutation($s: ID!) { joinWaitlist(sessionId: $s, count: 1) { state } }",
            json!({ "s": session }),
            Some(&waiting.access_token),
        )
        .await;
    assert_eq!(data(&response)["joinWaitlist"]["state"], "WAITING");

    let tickets = tickets_of(app, &buyer, &reservation).await;
    app.sign_up("gift@example.com").await;
    app.post(
        TRANSFER,
        json!({ "t": tickets[2]["id"], "e": "gift@example.com" }),
        Some(&buyer.access_token),
    )
    .await;
    // Not the seat of a ticket given away.
    let response = cancel_seat(app, &buyer, &reservation, &tickets[2]["seat"]["id"]).await;
    assert_eq!(error_code(&response), "CONFLICT");
    let response = cancel_seat(app, &buyer, &reservation, &tickets[0]["seat"]["id"]).await;
    assert_eq!(data(&response)["cancelSeats"]["seatCount"], 2);

    let after = tickets_of(app, &buyer, &reservation).await;
    assert_eq!(
        (after[0]["state"].as_str(), after[0]["refunded"].as_bool()),
        (Some("CANCELLED"), Some(true))
    );
    assert_eq!(after[1]["state"], "VALID");
    assert_eq!(
        error_code(&scan(app, &door, &payload_of(&tickets[0]), "A", Some(&session)).await),
        "TICKET_REFUNDED"
    );
    let response = scan(app, &door, &payload_of(&tickets[1]), "A", Some(&session)).await;
    assert_eq!(data(&response)["checkIn"]["outcome"], "ADMITTED");
    assert_eq!(
        door_count(app, &door, &session).await,
        json!({ "admitted": 1, "expected": 2 })
    );

    // The seat given back went to the line, not to the public.
    let response = app
        .post("{ myWaitlist { state } }", json!({}), Some(&waiting.access_token))
        .await;
    assert_eq!(data(&response)["myWaitlist"][0]["state"], "OFFERED");
}

async fn revoking_a_leaked_key_refuses_its_payloads_until_the_ticket_is_opened_again(app: &TestApp) {
    let (session, reservation, buyer) = paid_booking(app, "키폐기", 1, 1, "revoked@example.com").await;
    let door = door_staff(app, "revoke-door@example.com").await;
    let old = payload_of(&tickets_of(app, &buyer, &reservation).await[0]);
    let response = app
        .admin("mutation { rotateTicketKey(revokePrevious: true) }", json!({}))
        .await;
    let kid = data(&response)["rotateTicketKey"].clone();
    let keys = published_keys(app).await;
    assert_eq!(
        keys["keys"].as_array().map(Vec::len),
        Some(1),
        "revoked keys are not published"
    );
    assert_eq!(keys["keys"][0]["kid"], kid);
    assert_eq!(
        error_code(&scan(app, &door, &old, "A", Some(&session)).await),
        "TICKET_INVALID"
    );
    // Opening the ticket again shows a payload signed with the new key, which opens the door.
    let fresh = payload_of(&tickets_of(app, &buyer, &reservation).await[0]);
    assert_ne!(fresh, old);
    verify_offline(&keys, &fresh);
    let response = scan(app, &door, &fresh, "A", Some(&session)).await;
    assert_eq!(data(&response)["checkIn"]["outcome"], "ADMITTED");
}

async fn a_ticket_used_at_the_door_is_not_refunded_to_its_buyer(app: &TestApp) {
    let (session, reservation, buyer) = paid_booking(app, "입장후환불", 2, 2, "used@example.com").await;
    let door = door_staff(app, "used-door@example.com").await;
    let tickets = tickets_of(app, &buyer, &reservation).await;
    scan(app, &door, &payload_of(&tickets[0]), "A", Some(&session)).await;
    let response = cancel_seat(app, &buyer, &reservation, &tickets[0]["seat"]["id"]).await;
    assert_eq!(error_code(&response), "CONFLICT");
    let response = app
        .post(
            "mutation($r: ID!) { cancelReservation(id: $r, reason: \"x\") { status } }",
            json!({ "r": reservation }),
            Some(&buyer.access_token),
        )
        .await;
    assert_eq!(error_code(&response), "CONFLICT");
    // The other seat, unused, can still be given back.
    let response = cancel_seat(app, &buyer, &reservation, &tickets[1]["seat"]["id"]).await;
    assert_eq!(data(&response)["cancelSeats"]["seatCount"], 1);
}
