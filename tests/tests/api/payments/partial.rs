//! Partial refunds (`cancelSeats`) against the Toss stand-in: exactly the seats' prices
//! refunded (or less, when a coupon's discount is withdrawn), the seats back on sale,
//! repeats and retries refunding nothing twice, and concurrent cancellations of one booking
//! refunding each seat at most once.

use curtain_tests::fixtures::create_coupon;

use super::*;

toss_tests!(
    cancelling_some_seats_refunds_exactly_their_price_and_puts_them_back_on_sale,
    coupons_are_reapplied_to_the_seats_that_remain,
    cancelling_every_remaining_seat_cancels_the_booking_and_gives_the_coupon_back,
    seats_that_are_not_the_booking_s_to_give_back_are_refused_and_change_nothing,
    the_box_office_cancels_seats_after_the_cut_off_and_it_is_audit_logged,
    concurrent_cancellations_of_overlapping_seats_refund_each_seat_at_most_once,
    a_refund_whose_answer_was_lost_is_finished_by_repeating_the_request_without_refunding_twice,
    a_refund_its_requester_abandoned_is_finished_by_reconciliation_and_blocks_transfers_meanwhile,
    a_webhook_during_a_refund_finishes_it_instead_of_cancelling_the_booking,
);

const CANCEL_SEATS: &str = "mutation($r: ID!, $seats: [ID!]!, $why: String!) {
    cancelSeats(reservationId: $r, seatIds: $seats, reason: $why) {
        status amount discount seatCount appliedCoupon { status }
        seats { id active }
        payment { status amount refundedAmount balanceAmount } } }";

async fn cancel_seats(app: &TestApp, token: &str, held: &Held, seats: &[String]) -> Value {
    app.post(
        CANCEL_SEATS,
        json!({ "r": held.id, "seats": seats, "why": "일부 취소" }),
        Some(token),
    )
    .await
}

/// A paid booking of `seats` with the buyer's copy of `coupon` applied, when given.
async fn paid(
    app: &TestApp,
    buyer: &Session,
    session: &str,
    seats: &[String],
    coupon: Option<&str>,
    key: &str,
) -> Held {
    let mut held = hold(app, buyer, session, seats, key).await;
    if let Some(coupon) = coupon {
        let copy = app
            .post(
                "mutation($c: ID!) { claimCoupon(couponId: $c) { id } }",
                json!({ "c": coupon }),
                Some(&buyer.access_token),
            )
            .await;
        let copy = data(&copy)["claimCoupon"]["id"].clone();
        let applied = app
            .post(
                "mutation($r: ID!, $u: ID!) { applyCoupon(reservationId: $r, userCouponId: $u) { amount } }",
                json!({ "r": held.id, "u": copy }),
                Some(&buyer.access_token),
            )
            .await;
        held.amount = data(&applied)["applyCoupon"]["amount"].as_i64().expect("amount");
    }
    data(&pay(app, buyer, &held, &format!("ok-{key}")).await);
    held
}

async fn cancelling_some_seats_refunds_exactly_their_price_and_puts_them_back_on_sale(
    app: &TestApp,
    toss: &TossStandIn,
) {
    let (session, seats) = session_with_seats(app, 3).await;
    let buyer = app.sign_up("partial@example.com").await;
    let held = paid(app, &buyer, &session, &seats, None, "p").await;
    assert_eq!(held.amount, 150_000);

    let response = cancel_seats(app, &buyer.access_token, &held, &seats[..1]).await;
    let booking = &data(&response)["cancelSeats"];
    assert_eq!(booking["status"], "CONFIRMED");
    assert_eq!(booking["amount"], 100_000);
    assert_eq!(booking["seatCount"], 2);
    assert_eq!(
        booking["payment"],
        json!({ "status": "PARTIAL_CANCELED", "amount": 150_000, "refundedAmount": 50_000, "balanceAmount": 100_000 })
    );
    let active: Vec<_> = booking["seats"]
        .as_array()
        .expect("seats")
        .iter()
        .map(|s| (s["id"].as_str().unwrap_or_default().to_string(), s["active"].as_bool()))
        .collect();
    assert!(active.contains(&(seats[0].clone(), Some(false))), "{active:?}");
    assert_eq!(toss.cancel_amounts(), [Some(50_000)]);
    let at_toss = toss.payment(&held.order_id).expect("payment at Toss");
    assert_eq!(at_toss["status"], "PARTIAL_CANCELED");
    assert_eq!(at_toss["balanceAmount"], 100_000);
    assert_eq!(seat_statuses(app, &session).await, ["AVAILABLE", "SOLD", "SOLD"]);

    // Repeating the request refunds nothing more and answers the booking as it is.
    let again = cancel_seats(app, &buyer.access_token, &held, &seats[..1]).await;
    assert_eq!(data(&again)["cancelSeats"]["amount"], 100_000);
    assert_eq!(toss.cancels(), 1);
    assert_eq!(toss.refunded(&held.order_id), 50_000);

    // The seat is for sale again: another buyer holds it.
    let other = app.sign_up("next-buyer@example.com").await;
    hold(app, &other, &session, &seats[..1], "next").await;
    assert_eq!(seat_statuses(app, &session).await, ["HELD", "SOLD", "SOLD"]);

    // Cancelling the rest refunds only the balance.
    let response = app
        .post(
            CANCEL,
            json!({ "r": held.id, "why": "전체 취소" }),
            Some(&buyer.access_token),
        )
        .await;
    assert_eq!(data(&response)["cancelReservation"]["status"], "CANCELLED");
    assert_eq!(data(&response)["cancelReservation"]["payment"]["status"], "CANCELED");
    assert_eq!(toss.cancel_amounts(), [Some(50_000), Some(100_000)]);
    assert_eq!(toss.refunded(&held.order_id), 150_000);
    assert_eq!(seat_statuses(app, &session).await, ["HELD", "AVAILABLE", "AVAILABLE"]);
}

async fn coupons_are_reapplied_to_the_seats_that_remain(app: &TestApp, toss: &TossStandIn) {
    let (session, seats) = session_with_seats(app, 12).await;
    let percent = create_coupon(app, 10, json!({ "discountPercent": 10 })).await;
    let fixed = create_coupon(
        app,
        10,
        json!({ "discountAmount": 20_000, "minimumOrderAmount": 100_000 }),
    )
    .await;
    let steep = create_coupon(
        app,
        10,
        json!({ "discountAmount": 60_000, "minimumOrderAmount": 200_000 }),
    )
    .await;

    // 10% of 200,000 paid 180,000; one seat back: 10% of 150,000, so 135,000 kept.
    let buyer = app.sign_up("percent@example.com").await;
    let held = paid(app, &buyer, &session, &seats[0..4], Some(&percent), "pc").await;
    assert_eq!(held.amount, 180_000);
    let booking = cancel_seats(app, &buyer.access_token, &held, &seats[0..1]).await;
    let booking = &data(&booking)["cancelSeats"];
    assert_eq!(
        (booking["amount"].clone(), booking["discount"].clone()),
        (json!(135_000), json!(15_000))
    );
    assert_eq!(toss.cancel_amounts().last(), Some(&Some(45_000)));

    // 20,000 off from 100,000: it stays while 150,000 and 100,000 remain, then is withdrawn.
    let buyer = app.sign_up("fixed@example.com").await;
    let held = paid(app, &buyer, &session, &seats[4..8], Some(&fixed), "fx").await;
    assert_eq!(held.amount, 180_000);
    for (seat, refund, amount, discount) in [
        (4, 50_000, 130_000, 20_000),
        (5, 50_000, 80_000, 20_000),
        (6, 30_000, 50_000, 0),
    ] {
        let booking = cancel_seats(app, &buyer.access_token, &held, &seats[seat..=seat]).await;
        let booking = &data(&booking)["cancelSeats"];
        assert_eq!(booking["amount"], amount, "after giving back seat {seat}");
        assert_eq!(booking["discount"], discount, "after giving back seat {seat}");
        assert_eq!(booking["appliedCoupon"]["status"], "USED");
        assert_eq!(toss.cancel_amounts().last(), Some(&Some(refund)));
    }
    assert_eq!(toss.refunded(&held.order_id), 130_000);

    // 60,000 off from 200,000, paid 140,000: one seat back would withdraw more than it
    // costs, so it is refused; two seats back refund 100,000 - 60,000.
    let buyer = app.sign_up("steep@example.com").await;
    let held = paid(app, &buyer, &session, &seats[8..12], Some(&steep), "st").await;
    assert_eq!(held.amount, 140_000);
    let cancels = toss.cancels();
    let refused = cancel_seats(app, &buyer.access_token, &held, &seats[8..9]).await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT");
    let message = refused["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("minimum") && message.contains("200000"), "{message}");
    assert_eq!(toss.cancels(), cancels);
    let response = app
        .post(STATUS, json!({ "r": held.id }), Some(&buyer.access_token))
        .await;
    assert_eq!(data(&response)["reservation"]["amount"], 140_000);
    let booking = cancel_seats(app, &buyer.access_token, &held, &seats[8..10]).await;
    assert_eq!(data(&booking)["cancelSeats"]["amount"], 100_000);
    assert_eq!(toss.refunded(&held.order_id), 40_000);
}

async fn cancelling_every_remaining_seat_cancels_the_booking_and_gives_the_coupon_back(
    app: &TestApp,
    toss: &TossStandIn,
) {
    let (session, seats) = session_with_seats(app, 2).await;
    let coupon = create_coupon(app, 10, json!({ "discountPercent": 10 })).await;
    let buyer = app.sign_up("all-of-it@example.com").await;
    let held = paid(app, &buyer, &session, &seats, Some(&coupon), "all").await;
    assert_eq!(held.amount, 90_000);

    let first = cancel_seats(app, &buyer.access_token, &held, &seats[..1]).await;
    assert_eq!(data(&first)["cancelSeats"]["amount"], 45_000);
    let last = cancel_seats(app, &buyer.access_token, &held, &seats[1..]).await;
    let booking = &data(&last)["cancelSeats"];
    assert_eq!(booking["status"], "CANCELLED");
    assert_eq!(booking["payment"]["status"], "CANCELED");
    assert_eq!(booking["payment"]["balanceAmount"], 0);
    assert_eq!(booking["appliedCoupon"]["status"], "AVAILABLE");
    assert_eq!(toss.cancel_amounts(), [Some(45_000), Some(45_000)]);
    assert_eq!(toss.refunded(&held.order_id), 90_000);
    assert_eq!(seat_statuses(app, &session).await, ["AVAILABLE", "AVAILABLE"]);
    // Repeated, both refund nothing more.
    for seat in [&seats[..1], &seats[1..]] {
        let again = cancel_seats(app, &buyer.access_token, &held, seat).await;
        assert_eq!(data(&again)["cancelSeats"]["status"], "CANCELLED");
    }
    assert_eq!(toss.cancels(), 2);
}

async fn seats_that_are_not_the_booking_s_to_give_back_are_refused_and_change_nothing(
    app: &TestApp,
    toss: &TossStandIn,
) {
    let (session, seats) = session_with_seats(app, 4).await;
    let buyer = app.sign_up("mine@example.com").await;
    let held = paid(app, &buyer, &session, &seats[..2], None, "mine").await;
    let stranger = app.sign_up("stranger@example.com").await;
    let unpaid = hold(app, &stranger, &session, &seats[2..3], "unpaid").await;
    data(&cancel_seats(app, &buyer.access_token, &held, &seats[..1]).await);
    let cancels = toss.cancels();

    let token = &buyer.access_token;
    let foreign = [seats[1].clone(), seats[3].clone()];
    let already = [seats[0].clone(), seats[1].clone()];
    for (seats, code) in [
        (&foreign[..], "BAD_USER_INPUT"),
        (&already[..], "BAD_USER_INPUT"),
        (&[][..], "BAD_USER_INPUT"),
        (&[held.id.clone()][..], "BAD_USER_INPUT"),
    ] {
        assert_eq!(
            error_code(&cancel_seats(app, token, &held, seats).await),
            code,
            "{seats:?}"
        );
    }
    // Someone else's booking is not there for them; a held one is released, not cancelled.
    let theirs = cancel_seats(app, &stranger.access_token, &held, &seats[1..2]).await;
    assert_eq!(error_code(&theirs), "NOT_FOUND");
    let held_one = cancel_seats(app, &stranger.access_token, &unpaid, &seats[2..3]).await;
    assert_eq!(error_code(&held_one), "CONFLICT");

    assert_eq!(toss.cancels(), cancels);
    let response = app.post(STATUS, json!({ "r": held.id }), Some(token)).await;
    assert_eq!(
        data(&response)["reservation"],
        json!({ "status": "CONFIRMED", "amount": 50_000, "payment": { "status": "PARTIAL_CANCELED" } })
    );
    assert_eq!(
        seat_statuses(app, &session).await,
        ["AVAILABLE", "SOLD", "HELD", "AVAILABLE"]
    );
}

async fn the_box_office_cancels_seats_after_the_cut_off_and_it_is_audit_logged(app: &TestApp, toss: &TossStandIn) {
    let (session, seats) = session_with_seats(app, 3).await;
    let buyer = app.sign_up("late-partial@example.com").await;
    let held = paid(app, &buyer, &session, &seats, None, "late").await;
    session::Entity::update_many()
        .col_expr(
            session::Column::StartsAt,
            Expr::value(chrono::Utc::now() + chrono::Duration::hours(3)),
        )
        .exec(&app.db)
        .await
        .expect("move the show");

    let late = cancel_seats(app, &buyer.access_token, &held, &seats[..1]).await;
    assert_eq!(error_code(&late), "CONFLICT");
    assert_eq!(toss.cancels(), 0);
    let response = app
        .admin(
            CANCEL_SEATS,
            json!({ "r": held.id, "seats": &seats[..1], "why": "공연장 사정" }),
        )
        .await;
    assert_eq!(data(&response)["cancelSeats"]["seatCount"], 2);
    assert_eq!(toss.cancel_amounts(), [Some(50_000)]);
    let log = app
        .admin(
            "{ auditLog(first: 10) { edges { node { action targetId } } } }",
            json!(null),
        )
        .await;
    let logged: Vec<_> = data(&log)["auditLog"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .filter(|edge| edge["node"]["action"] == "cancelSeats")
        .map(|edge| edge["node"]["targetId"].clone())
        .collect();
    assert_eq!(logged, vec![json!(held.id)]);
}

async fn concurrent_cancellations_of_overlapping_seats_refund_each_seat_at_most_once(
    app: &TestApp,
    toss: &TossStandIn,
) {
    let (session, seats) = session_with_seats(app, 4).await;
    let buyer = app.sign_up("racer@example.com").await;
    let held = paid(app, &buyer, &session, &seats, None, "race").await;

    // Every pair overlaps every other, and each is asked twice at once.
    let pairs = [
        vec![seats[0].clone(), seats[1].clone()],
        vec![seats[1].clone(), seats[2].clone()],
        vec![seats[0].clone(), seats[2].clone()],
    ];
    let requests = pairs
        .iter()
        .chain(pairs.iter())
        .map(|pair| cancel_seats(app, &buyer.access_token, &held, pair));
    let responses = futures::future::join_all(requests).await;
    let mut won = Vec::new();
    for (i, response) in responses.iter().enumerate() {
        if response.get("errors").is_some() {
            let code = error_code(response);
            assert!(code == "CONFLICT" || code == "BAD_USER_INPUT", "{response:#}");
        } else {
            assert_eq!(data(response)["cancelSeats"]["seatCount"], 2);
            won.push(i % pairs.len());
        }
    }
    won.dedup();
    assert_eq!(won.len(), 1, "exactly one pair is given back: {won:?}");
    assert_eq!(toss.refunded(&held.order_id), 100_000);
    let mut keys = toss.cancel_keys();
    keys.dedup();
    assert_eq!(keys.len(), 1, "one refund, however often it was asked");
    let response = app
        .post(
            "query($r: ID!) { reservation(id: $r) { amount seatCount payment { refundedAmount } } }",
            json!({ "r": held.id }),
            Some(&buyer.access_token),
        )
        .await;
    assert_eq!(
        data(&response)["reservation"],
        json!({ "amount": 100_000, "seatCount": 2, "payment": { "refundedAmount": 100_000 } })
    );
    let available = seat_statuses(app, &session)
        .await
        .iter()
        .filter(|s| *s == "AVAILABLE")
        .count();
    assert_eq!(available, 2);
}

async fn a_refund_whose_answer_was_lost_is_finished_by_repeating_the_request_without_refunding_twice(
    app: &TestApp,
    toss: &TossStandIn,
) {
    let (session, seats) = session_with_seats(app, 2).await;
    let buyer = app.sign_up("lost-refund@example.com").await;
    let held = paid(app, &buyer, &session, &seats, None, "lost").await;

    toss.answer_cancels_late(1);
    let lost = cancel_seats(app, &buyer.access_token, &held, &seats[..1]).await;
    assert_eq!(error_code(&lost), "PAYMENT_PENDING");
    assert_eq!(toss.refunded(&held.order_id), 50_000, "Toss refunded it");
    assert_eq!(seat_statuses(app, &session).await, ["SOLD", "SOLD"]);
    // Another cancellation of the booking waits for this one to be finished.
    let other = app
        .post(
            CANCEL,
            json!({ "r": held.id, "why": "전체 취소" }),
            Some(&buyer.access_token),
        )
        .await;
    assert_eq!(error_code(&other), "CONFLICT");

    let again = cancel_seats(app, &buyer.access_token, &held, &seats[..1]).await;
    assert_eq!(data(&again)["cancelSeats"]["payment"]["refundedAmount"], 50_000);
    let keys = toss.cancel_keys();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0], keys[1], "the retry carries the same idempotency key");
    assert_eq!(toss.refunded(&held.order_id), 50_000, "and is not refunded twice");
    assert_eq!(seat_statuses(app, &session).await, ["AVAILABLE", "SOLD"]);
}

/// The tickets of a booking, in seat order: `(id, state)`.
async fn ticket_states(app: &TestApp, buyer: &Session, held: &Held) -> Vec<(Value, String)> {
    let response = app
        .post(
            "query($r: ID!) { reservation(id: $r) { tickets { id state } } }",
            json!({ "r": held.id }),
            Some(&buyer.access_token),
        )
        .await;
    data(&response)["reservation"]["tickets"]
        .as_array()
        .expect("tickets")
        .iter()
        .map(|t| (t["id"].clone(), t["state"].as_str().unwrap_or_default().to_string()))
        .collect()
}

async fn a_refund_its_requester_abandoned_is_finished_by_reconciliation_and_blocks_transfers_meanwhile(
    app: &TestApp,
    toss: &TossStandIn,
) {
    let (session, seats) = session_with_seats(app, 2).await;
    let buyer = app.sign_up("gone-away@example.com").await;
    app.sign_up("would-be-friend@example.com").await;
    let held = paid(app, &buyer, &session, &seats, None, "gone").await;
    toss.answer_cancels_late(1);
    let lost = cancel_seats(app, &buyer.access_token, &held, &seats[..1]).await;
    assert_eq!(error_code(&lost), "PAYMENT_PENDING");

    // While the refund is under way, the ticket of the seat being refunded does not change
    // hands (it could be given away and refunded both); the other seat's may.
    let tickets = ticket_states(app, &buyer, &held).await;
    let transfer = |ticket: Value| {
        let token = buyer.access_token.clone();
        async move {
            app.post(
                "mutation($t: ID!) { transferTicket(ticketId: $t, toEmail: \"would-be-friend@example.com\") { id } }",
                json!({ "t": ticket }),
                Some(&token),
            )
            .await
        }
    };
    assert_eq!(error_code(&transfer(tickets[0].0.clone()).await), "CONFLICT");
    assert!(transfer(tickets[1].0.clone()).await["errors"].is_null());

    // The buyer never comes back. Once the claim is older than any provider call can take
    // (moved back in time here), reconciliation finishes it, with the same key.
    age_refund_claims(app).await;
    assert_eq!(reconcile(app).await, 1);
    assert_eq!(toss.refunded(&held.order_id), 50_000, "refunded once");
    let keys = toss.cancel_keys();
    assert_eq!((keys.len(), keys.first() == keys.last()), (2, true));
    assert_eq!(seat_statuses(app, &session).await, ["AVAILABLE", "SOLD"]);
    let states: Vec<String> = ticket_states(app, &buyer, &held)
        .await
        .into_iter()
        .map(|(_, s)| s)
        .collect();
    assert_eq!(states, ["CANCELLED", "VALID"]);
    assert_eq!(status(app, &buyer, &held).await, "CONFIRMED");
}

async fn a_webhook_during_a_refund_finishes_it_instead_of_cancelling_the_booking(app: &TestApp, toss: &TossStandIn) {
    // Two seats of 50,000 with 60,000 off: 40,000 paid. Giving one seat back refunds the whole
    // 40,000 (the discount now covers what remains up to its price), so Toss says CANCELED
    // although the buyer keeps a seat.
    let (session, seats) = session_with_seats(app, 2).await;
    let coupon = create_coupon(app, 10, json!({ "discountAmount": 60000 })).await;
    let buyer = app.sign_up("webhook-midway@example.com").await;
    let held = paid(app, &buyer, &session, &seats, Some(&coupon), "midway").await;
    toss.answer_cancels_late(1);
    let lost = cancel_seats(app, &buyer.access_token, &held, &seats[..1]).await;
    assert_eq!(error_code(&lost), "PAYMENT_PENDING");
    let paid_status = toss
        .payment(&held.order_id)
        .and_then(|p| p["status"].as_str().map(str::to_string));
    assert_eq!(paid_status.as_deref(), Some("CANCELED"));

    // The door is a scanner away: a ticket whose refund is under way does not open it.
    let door = app.sign_up("midway-door@example.com").await;
    app.admin(
        "mutation($u: ID!) { grantRole(userId: $u, role: DOOR) { role } }",
        json!({ "u": door.user_id }),
    )
    .await;
    let door = app
        .log_in("midway-door@example.com", curtain_tests::BUYER_PASSWORD)
        .await;
    let response = app
        .post(
            "query($r: ID!) { reservation(id: $r) { tickets { qrPayload } } }",
            json!({ "r": held.id }),
            Some(&buyer.access_token),
        )
        .await;
    let payload = data(&response)["reservation"]["tickets"][0]["qrPayload"].clone();
    let response = app
        .post(
            "mutation($p: String!) { checkIn(payload: $p) { outcome } }",
            json!({ "p": payload }),
            Some(&door.access_token),
        )
        .await;
    assert_eq!(error_code(&response), "TICKET_REFUNDED");

    // While the requester may still be applying the refund, the webhook is asked to come
    // back later, and nothing changes.
    assert_eq!(
        webhook(app, &held.order_id, "CANCELED").await,
        reqwest::StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(seat_statuses(app, &session).await, ["SOLD", "SOLD"]);
    // Once the claim is abandoned (moved back in time here), the webhook finishes it.
    age_refund_claims(app).await;
    assert!(webhook(app, &held.order_id, "CANCELED").await.is_success());
    assert_eq!(
        status(app, &buyer, &held).await,
        "CONFIRMED",
        "the buyer keeps the other seat"
    );
    assert_eq!(seat_statuses(app, &session).await, ["AVAILABLE", "SOLD"]);
    let states: Vec<String> = ticket_states(app, &buyer, &held)
        .await
        .into_iter()
        .map(|(_, s)| s)
        .collect();
    assert_eq!(states, ["CANCELLED", "VALID"]);
}

/// Moves every refund claim an hour back, as if its buyer had left it there: older than any
/// provider call can take, so reconciliation and webhooks may finish it.
async fn age_refund_claims(app: &TestApp) {
    use sea_orm::sea_query::Expr;
    entity::refund::Entity::update_many()
        .col_expr(
            entity::refund::Column::CreatedAt,
            Expr::value(chrono::Utc::now() - chrono::Duration::hours(1)),
        )
        .exec(&app.db)
        .await
        .expect("age the claim");
}
