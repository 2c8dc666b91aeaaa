//! Payments against a stand-in Toss server over real HTTP: approval, tampering, refusals,
//! unknown outcomes settled by reconciliation, retries with one idempotency key, the
//! circuit breaker, refunds, the webhook, and payments approved too late. Also the
//! simulated provider of the offline demo.

use std::time::Duration;

use curtain_tests::fixtures::{create_performance, create_venue, day};
use curtain_tests::toss::TossStandIn;
use curtain_tests::{Session, TestApp, backend_tests, data, error_code};
use entity::{notification, reservation, session, session_seat};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

/// Runs `$name(&TestApp, &TossStandIn)` on SQLite and PostgreSQL, each with its own stand-in.
macro_rules! toss_tests {
    ($($name:ident),* $(,)?) => {
        mod with_toss_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::run(curtain_tests::Backend::Sqlite, |app, toss| Box::pin(super::$name(app, toss))).await;
                }
            )*
        }
        mod with_toss_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::run(curtain_tests::Backend::Postgres, |app, toss| Box::pin(super::$name(app, toss))).await;
                }
            )*
        }
    };
}

toss_tests!(
    a_paid_reservation_is_confirmed_with_its_payment_recorded,
    a_tampered_order_or_amount_is_refused_and_nothing_is_charged,
    a_declined_payment_says_why_and_keeps_the_seats_held,
    a_timeout_leaves_the_reservation_paying_until_reconciliation_settles_it,
    a_retried_confirmation_carries_the_same_idempotency_key,
    the_circuit_breaker_opens_on_repeated_failures_and_recovers,
    a_cancelled_booking_is_refunded_and_its_seats_go_back_on_sale,
    a_payment_cancelled_in_the_toss_console_reaches_us_by_webhook,
    a_payment_approved_after_the_hold_ended_is_refunded_and_the_buyer_told,
);

backend_tests!(
    the_simulated_provider_runs_the_whole_flow_offline,
    a_page_of_paid_reservations_loads_payments_and_coupons_in_batches,
);

type TestFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + 'a>>;

async fn run(
    backend: curtain_tests::Backend,
    test: impl for<'a> FnOnce(&'a TestApp, &'a TossStandIn) -> TestFuture<'a>,
) {
    let toss = TossStandIn::start().await;
    let options = curtain_tests::Options {
        toss_base_url: Some(toss.base_url.clone()),
        ..Default::default()
    };
    let Some(app) = TestApp::spawn_with(backend, options).await else {
        return;
    };
    test(&app, &toss).await;
    app.stop().await;
}

const CONFIRM: &str = "mutation($r: ID!, $k: String!, $o: String!, $a: Int!) {
    confirmPayment(reservationId: $r, paymentKey: $k, orderId: $o, amount: $a) {
        id status amount payment { provider method amount status approvedAt receiptUrl } } }";
const CANCEL: &str = "mutation($r: ID!, $why: String!) { cancelReservation(id: $r, reason: $why) { status payment { status cancelledAt } } }";
const STATUS: &str = "query($r: ID!) { reservation(id: $r) { status amount payment { status } } }";

/// A reservation the buyer holds: its ID, order ID and amount.
struct Held {
    id: String,
    order_id: String,
    amount: i64,
}

/// A session on sale with `seats` R seats at 50,000 KRW; returns it and its seat IDs.
async fn session_with_seats(app: &TestApp, seats: i32) -> (String, Vec<String>) {
    let layout =
        json!({ "sections": [{ "name": "1층", "rows": [{ "label": "A", "seatCount": seats, "grade": "R" }] }] });
    let venue = create_venue(app, "Payment hall", layout).await;
    let performance = create_performance(app, &venue, "결제", &day(0).0, &day(10).0).await;
    let response = app
        .admin(
            "mutation($input: CreateSessionInput!) { createSession(input: $input) { id } }",
            json!({ "input": { "performanceId": performance, "startsAt": day(2).1, "prices": [{ "grade": "R", "price": 50000 }] } }),
        )
        .await;
    let session = data(&response)["createSession"]["id"]
        .as_str()
        .expect("session")
        .to_string();
    let map = app
        .gql(
            "query($s: ID!) { seatMap(sessionId: $s) { seats { id } } }",
            json!({ "s": session }),
        )
        .await;
    let seats = data(&map)["seatMap"]["seats"]
        .as_array()
        .expect("seats")
        .iter()
        .map(|s| s["id"].as_str().unwrap_or_default().to_string())
        .collect();
    (session, seats)
}

async fn hold(app: &TestApp, buyer: &Session, session: &str, seats: &[String], key: &str) -> Held {
    let response = app
        .post(
            "mutation($s: ID!, $seats: [ID!]!, $k: String!) {
                holdSeats(sessionId: $s, seatIds: $seats, idempotencyKey: $k) { id orderId orderName amount } }",
            json!({ "s": session, "seats": seats, "k": key }),
            Some(&buyer.access_token),
        )
        .await;
    let held = &data(&response)["holdSeats"];
    let order_id = held["orderId"].as_str().expect("orderId").to_string();
    assert!(
        (6..=64).contains(&order_id.len())
            && order_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "Toss wants URL-safe order IDs of 6 to 64 characters: {order_id}"
    );
    assert!(held["orderName"].as_str().is_some_and(|n| n.contains("결제")));
    Held {
        id: held["id"].as_str().expect("id").to_string(),
        order_id,
        amount: held["amount"].as_i64().expect("amount"),
    }
}

async fn pay(app: &TestApp, buyer: &Session, held: &Held, payment_key: &str) -> Value {
    app.post(
        CONFIRM,
        json!({ "r": held.id, "k": payment_key, "o": held.order_id, "a": held.amount }),
        Some(&buyer.access_token),
    )
    .await
}

async fn status(app: &TestApp, buyer: &Session, held: &Held) -> String {
    let response = app
        .post(STATUS, json!({ "r": held.id }), Some(&buyer.access_token))
        .await;
    data(&response)["reservation"]["status"]
        .as_str()
        .expect("status")
        .to_string()
}

/// Statuses of the session's seats in the seat map.
async fn seat_statuses(app: &TestApp, session: &str) -> Vec<String> {
    let map = app
        .gql(
            "query($s: ID!) { seatMap(sessionId: $s) { seats { status } } }",
            json!({ "s": session }),
        )
        .await;
    data(&map)["seatMap"]["seats"]
        .as_array()
        .expect("seats")
        .iter()
        .map(|s| s["status"].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn reconcile(app: &TestApp) -> u64 {
    curtain::domain::payments::reconcile_payments(app.state.payment_deps(), chrono::Duration::zero())
        .await
        .unwrap_or_else(|_| panic!("reconciliation failed"))
}

async fn webhook(app: &TestApp, order_id: &str, status: &str) -> reqwest::StatusCode {
    app.client
        .post(app.url("/webhooks/toss"))
        .json(
            &json!({ "eventType": "PAYMENT_STATUS_CHANGED", "createdAt": chrono::Utc::now().to_rfc3339(),
            "data": { "orderId": order_id, "status": status, "paymentKey": "whatever" } }),
        )
        .send()
        .await
        .expect("webhook sent")
        .status()
}

async fn a_paid_reservation_is_confirmed_with_its_payment_recorded(app: &TestApp, toss: &TossStandIn) {
    let response = app.gql("{ paymentProvider { name simulated } }", json!({})).await;
    assert_eq!(
        data(&response)["paymentProvider"],
        json!({ "name": "TOSS", "simulated": false })
    );
    let (session, seats) = session_with_seats(app, 2).await;
    let buyer = app.sign_up("payer@example.com").await;
    let held = hold(app, &buyer, &session, &seats, "pay").await;
    assert_eq!(held.amount, 100_000);

    let response = pay(app, &buyer, &held, "ok-payment-1").await;
    let confirmed = &data(&response)["confirmPayment"];
    assert_eq!(confirmed["status"], "CONFIRMED");
    let payment = &confirmed["payment"];
    assert_eq!(
        (
            payment["provider"].as_str(),
            payment["method"].as_str(),
            payment["amount"].as_i64(),
            payment["status"].as_str()
        ),
        (Some("TOSS"), Some("카드"), Some(100_000), Some("DONE"))
    );
    assert!(
        payment["approvedAt"].is_string()
            && payment["receiptUrl"]
                .as_str()
                .is_some_and(|u| u.contains("ok-payment-1"))
    );
    assert_eq!(seat_statuses(app, &session).await, ["SOLD", "SOLD"]);

    // The client retrying the same confirmation changes nothing and charges nothing more.
    let again = pay(app, &buyer, &held, "ok-payment-1").await;
    assert_eq!(data(&again)["confirmPayment"]["status"], "CONFIRMED");
    assert_eq!(toss.confirm_keys().len(), 1);
}

async fn a_tampered_order_or_amount_is_refused_and_nothing_is_charged(app: &TestApp, toss: &TossStandIn) {
    let (session, seats) = session_with_seats(app, 2).await;
    let buyer = app.sign_up("tamperer@example.com").await;
    let held = hold(app, &buyer, &session, &seats[..1], "t").await;
    let attempt = |order: &str, amount: i64| {
        app.post(
            CONFIRM,
            json!({ "r": held.id, "k": "ok-cheap", "o": order, "a": amount }),
            Some(&buyer.access_token),
        )
    };
    let response = attempt(&held.order_id, 100).await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT");
    assert_eq!(response["errors"][0]["extensions"]["field"], "amount");
    let response = attempt("curtain-someone-elses-order", held.amount).await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT");
    assert_eq!(response["errors"][0]["extensions"]["field"], "orderId");
    let stranger = app.sign_up("stranger@example.com").await;
    assert_eq!(error_code(&pay(app, &stranger, &held, "ok-x").await), "NOT_FOUND");
    assert_eq!(toss.requests(), 0, "nothing reached Toss");
    assert_eq!(status(app, &buyer, &held).await, "HELD");
}

async fn a_declined_payment_says_why_and_keeps_the_seats_held(app: &TestApp, toss: &TossStandIn) {
    let (session, seats) = session_with_seats(app, 1).await;
    let buyer = app.sign_up("declined@example.com").await;
    let held = hold(app, &buyer, &session, &seats, "d").await;
    let response = pay(app, &buyer, &held, "decline-1").await;
    assert_eq!(error_code(&response), "PAYMENT_FAILED");
    assert_eq!(
        response["errors"][0]["message"],
        "한도초과 혹은 잔액부족으로 결제에 실패했습니다."
    );
    assert_eq!(toss.confirm_keys().len(), 1, "a refusal is not retried");
    assert_eq!(status(app, &buyer, &held).await, "HELD");
    assert_eq!(seat_statuses(app, &session).await, ["HELD"]);
    // Another card works.
    let response = pay(app, &buyer, &held, "ok-second-card").await;
    assert_eq!(data(&response)["confirmPayment"]["status"], "CONFIRMED");
}

async fn a_timeout_leaves_the_reservation_paying_until_reconciliation_settles_it(app: &TestApp, toss: &TossStandIn) {
    let (session, seats) = session_with_seats(app, 2).await;
    let buyer = app.sign_up("patient@example.com").await;
    let approved_late = hold(app, &buyer, &session, &seats[..1], "slow").await;
    let never_approved = hold(app, &buyer, &session, &seats[1..], "lost").await;

    assert_eq!(
        error_code(&pay(app, &buyer, &approved_late, "slow-1").await),
        "PAYMENT_PENDING"
    );
    assert_eq!(
        error_code(&pay(app, &buyer, &never_approved, "lost-1").await),
        "PAYMENT_PENDING"
    );
    assert_eq!(toss.confirm_keys().len(), 2, "a timeout after sending is not retried");
    assert_eq!(status(app, &buyer, &approved_late).await, "PAYING");
    assert_eq!(status(app, &buyer, &never_approved).await, "PAYING");

    // Younger than a minute: the scheduled job leaves them alone.
    let young = curtain::domain::payments::reconcile_payments(app.state.payment_deps(), chrono::Duration::minutes(1))
        .await
        .unwrap_or_else(|_| panic!("reconciliation failed"));
    assert_eq!(young, 0);
    assert_eq!(reconcile(app).await, 2);
    assert_eq!(status(app, &buyer, &approved_late).await, "CONFIRMED");
    assert_eq!(status(app, &buyer, &never_approved).await, "HELD");
    assert_eq!(seat_statuses(app, &session).await, ["SOLD", "HELD"]);
    assert_eq!(reconcile(app).await, 0, "nothing left to settle");
}

async fn a_retried_confirmation_carries_the_same_idempotency_key(app: &TestApp, toss: &TossStandIn) {
    let (session, seats) = session_with_seats(app, 1).await;
    let buyer = app.sign_up("retry@example.com").await;
    let held = hold(app, &buyer, &session, &seats, "r").await;
    toss.fail_next_confirms(2);
    let response = pay(app, &buyer, &held, "ok-after-retries").await;
    assert_eq!(data(&response)["confirmPayment"]["status"], "CONFIRMED");
    let keys = toss.confirm_keys();
    assert_eq!(keys.len(), 3, "two retryable failures, then success");
    assert!(!keys[0].is_empty() && keys.iter().all(|k| *k == keys[0]), "{keys:?}");
}

async fn the_circuit_breaker_opens_on_repeated_failures_and_recovers(app: &TestApp, toss: &TossStandIn) {
    let (session, seats) = session_with_seats(app, 2).await;
    let buyer = app.sign_up("outage@example.com").await;
    let first = hold(app, &buyer, &session, &seats[..1], "1").await;
    let second = hold(app, &buyer, &session, &seats[1..], "2").await;
    toss.set_down(true);

    // Three failed attempts open the breaker; Toss saw the request, so the outcome is open.
    assert_eq!(
        error_code(&pay(app, &buyer, &first, "ok-during-outage").await),
        "PAYMENT_PENDING"
    );
    let seen = toss.requests();
    assert_eq!(seen, 3);
    let started = std::time::Instant::now();
    let response = pay(app, &buyer, &second, "ok-refused-at-once").await;
    assert_eq!(error_code(&response), "PAYMENT_UNAVAILABLE");
    assert!(started.elapsed() < Duration::from_millis(500), "answered at once");
    assert_eq!(toss.requests(), seen, "nothing sent while open");
    assert_eq!(status(app, &buyer, &second).await, "HELD", "nothing changed");

    toss.set_down(false);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    // The half-open probe goes through and closes the breaker.
    let response = pay(app, &buyer, &second, "ok-after-outage").await;
    assert_eq!(data(&response)["confirmPayment"]["status"], "CONFIRMED");
    assert_eq!(reconcile(app).await, 1);
    assert_eq!(status(app, &buyer, &first).await, "HELD", "Toss never approved it");
}

async fn a_cancelled_booking_is_refunded_and_its_seats_go_back_on_sale(app: &TestApp, toss: &TossStandIn) {
    let (session, seats) = session_with_seats(app, 2).await;
    let buyer = app.sign_up("canceller@example.com").await;
    let early = hold(app, &buyer, &session, &seats[..1], "early").await;
    let late = hold(app, &buyer, &session, &seats[1..], "late").await;
    data(&pay(app, &buyer, &early, "ok-early").await);
    data(&pay(app, &buyer, &late, "ok-late").await);

    let response = app
        .post(
            CANCEL,
            json!({ "r": early.id, "why": "일정 변경" }),
            Some(&buyer.access_token),
        )
        .await;
    let cancelled = &data(&response)["cancelReservation"];
    assert_eq!(cancelled["status"], "CANCELLED");
    assert_eq!(cancelled["payment"]["status"], "CANCELED");
    assert!(cancelled["payment"]["cancelledAt"].is_string());
    assert_eq!(
        toss.payment(&early.order_id).map(|p| p["status"].clone()),
        Some(json!("CANCELED"))
    );
    assert_eq!(seat_statuses(app, &session).await, ["AVAILABLE", "SOLD"]);
    // Cancelling again refunds nothing twice.
    let again = app
        .post(
            CANCEL,
            json!({ "r": early.id, "why": "일정 변경" }),
            Some(&buyer.access_token),
        )
        .await;
    assert_eq!(data(&again)["cancelReservation"]["status"], "CANCELLED");
    assert_eq!(toss.cancels(), 1);

    // The show moves to within the cut-off: the buyer can no longer cancel, the box office can.
    session::Entity::update_many()
        .col_expr(
            session::Column::StartsAt,
            Expr::value(chrono::Utc::now() + chrono::Duration::hours(3)),
        )
        .exec(&app.db)
        .await
        .expect("move the show");
    let response = app
        .post(
            CANCEL,
            json!({ "r": late.id, "why": "늦은 취소" }),
            Some(&buyer.access_token),
        )
        .await;
    assert_eq!(error_code(&response), "CONFLICT");
    assert_eq!(toss.cancels(), 1);
    let response = app.admin(CANCEL, json!({ "r": late.id, "why": "공연장 사정" })).await;
    assert_eq!(data(&response)["cancelReservation"]["status"], "CANCELLED");
    assert_eq!(seat_statuses(app, &session).await, ["AVAILABLE", "AVAILABLE"]);
}

async fn a_payment_cancelled_in_the_toss_console_reaches_us_by_webhook(app: &TestApp, toss: &TossStandIn) {
    let (session, seats) = session_with_seats(app, 1).await;
    let buyer = app.sign_up("console@example.com").await;
    let held = hold(app, &buyer, &session, &seats, "c").await;
    data(&pay(app, &buyer, &held, "ok-console").await);

    // The body alone is not believed: Toss still says DONE.
    assert_eq!(webhook(app, &held.order_id, "CANCELED").await, 200);
    assert_eq!(status(app, &buyer, &held).await, "CONFIRMED");

    toss.cancel_in_console(&held.order_id);
    assert_eq!(webhook(app, &held.order_id, "CANCELED").await, 200);
    assert_eq!(status(app, &buyer, &held).await, "CANCELLED");
    assert_eq!(seat_statuses(app, &session).await, ["AVAILABLE"]);
    // Delivered twice, applied once; an unknown order is acknowledged and ignored.
    assert_eq!(webhook(app, &held.order_id, "CANCELED").await, 200);
    assert_eq!(webhook(app, "curtain-no-such-order", "DONE").await, 200);
    assert_eq!(status(app, &buyer, &held).await, "CANCELLED");
    assert_eq!(toss.cancels(), 0, "Toss already refunded it");
}

async fn a_payment_approved_after_the_hold_ended_is_refunded_and_the_buyer_told(app: &TestApp, toss: &TossStandIn) {
    let (session, seats) = session_with_seats(app, 1).await;
    let buyer = app.sign_up("too-late@example.com").await;
    let held = hold(app, &buyer, &session, &seats, "late").await;
    assert_eq!(
        error_code(&pay(app, &buyer, &held, "lost-late").await),
        "PAYMENT_PENDING"
    );
    assert_eq!(reconcile(app).await, 1, "Toss has nothing yet: held again");

    // The hold runs out and the seat is freed.
    let past = chrono::Utc::now() - chrono::Duration::minutes(1);
    reservation::Entity::update_many()
        .col_expr(reservation::Column::ExpiresAt, Expr::value(past))
        .exec(&app.db)
        .await
        .expect("lapse");
    session_seat::Entity::update_many()
        .col_expr(session_seat::Column::HoldExpiresAt, Expr::value(past))
        .filter(session_seat::Column::Status.eq(entity::SeatStatus::Held))
        .exec(&app.db)
        .await
        .expect("lapse seats");
    curtain::domain::holds::expire_holds(&app.db).await.expect("sweep");
    assert_eq!(status(app, &buyer, &held).await, "EXPIRED");

    // Then Toss approves after all, and says so.
    toss.approve("lost-late", &held.order_id, held.amount);
    assert_eq!(webhook(app, &held.order_id, "DONE").await, 200);
    assert_eq!(
        toss.payment(&held.order_id).map(|p| p["status"].clone()),
        Some(json!("CANCELED"))
    );
    assert_eq!(toss.cancels(), 1);
    let response = app
        .post(STATUS, json!({ "r": held.id }), Some(&buyer.access_token))
        .await;
    assert_eq!(
        data(&response)["reservation"],
        json!({ "status": "EXPIRED", "amount": held.amount, "payment": { "status": "CANCELED" } })
    );
    assert_eq!(seat_statuses(app, &session).await, ["AVAILABLE"]);
    let told = notification::Entity::find()
        .filter(notification::Column::Kind.eq("PAYMENT_REFUNDED"))
        .all(&app.db)
        .await
        .expect("notifications");
    assert_eq!(told.len(), 1);
    assert!(told[0].body.contains("50,000"), "{}", told[0].body);
    // News of it again refunds nothing twice.
    assert_eq!(webhook(app, &held.order_id, "DONE").await, 200);
    assert_eq!(toss.cancels(), 1);
}

async fn the_simulated_provider_runs_the_whole_flow_offline(app: &TestApp) {
    let response = app
        .gql("{ paymentProvider { name simulated clientKey } }", json!({}))
        .await;
    assert_eq!(
        data(&response)["paymentProvider"],
        json!({ "name": "SIMULATED", "simulated": true, "clientKey": null })
    );
    let (session, seats) = session_with_seats(app, 3).await;
    let buyer = app.sign_up("demo@example.com").await;
    let declined = hold(app, &buyer, &session, &seats[..1], "1").await;
    assert_eq!(
        error_code(&pay(app, &buyer, &declined, "sim_decline_card").await),
        "PAYMENT_FAILED"
    );
    assert_eq!(status(app, &buyer, &declined).await, "HELD");
    let silent = hold(app, &buyer, &session, &seats[1..2], "2").await;
    assert_eq!(
        error_code(&pay(app, &buyer, &silent, "sim_timeout_1").await),
        "PAYMENT_PENDING"
    );
    assert_eq!(status(app, &buyer, &silent).await, "PAYING");
    let paid = hold(app, &buyer, &session, &seats[2..], "3").await;
    let response = pay(app, &buyer, &paid, "anything").await;
    assert_eq!(data(&response)["confirmPayment"]["payment"]["provider"], "SIMULATED");
    assert_eq!(reconcile(app).await, 1);
    assert_eq!(status(app, &buyer, &silent).await, "HELD", "no answer means no payment");
    let response = app
        .post(
            CANCEL,
            json!({ "r": paid.id, "why": "demo" }),
            Some(&buyer.access_token),
        )
        .await;
    assert_eq!(data(&response)["cancelReservation"]["payment"]["status"], "CANCELED");
}

async fn a_page_of_paid_reservations_loads_payments_and_coupons_in_batches(app: &TestApp) {
    let (session, seats) = session_with_seats(app, 4).await;
    let coupon = curtain_tests::fixtures::create_coupon(app, 10, json!({ "discountAmount": 1000 })).await;
    let buyer = app.sign_up("lister@example.com").await;
    let response = app
        .post(
            "mutation($c: ID!) { claimCoupon(couponId: $c) { id } }",
            json!({ "c": coupon }),
            Some(&buyer.access_token),
        )
        .await;
    let copy = data(&response)["claimCoupon"]["id"].as_str().expect("copy").to_string();
    // The newest reservation (first in the list) gets the coupon, so a page of one has it too.
    for (i, seat) in seats.iter().enumerate() {
        let mut held = hold(app, &buyer, &session, std::slice::from_ref(seat), &format!("k{i}")).await;
        if i == seats.len() - 1 {
            let response = app
                .post(
                    "mutation($r: ID!, $u: ID!) { applyCoupon(reservationId: $r, userCouponId: $u) { amount } }",
                    json!({ "r": held.id, "u": copy }),
                    Some(&buyer.access_token),
                )
                .await;
            held.amount = data(&response)["applyCoupon"]["amount"].as_i64().expect("amount");
        }
        data(&pay(app, &buyer, &held, &format!("pay-{i}")).await);
    }
    let list = "query($n: Int) { myReservations(first: $n) { edges { node {
        amount payment { status amount } appliedCoupon { status coupon { name } } } } } }";
    let statements = |n: i64| {
        let token = buyer.access_token.clone();
        async move {
            let before = app.metric("curtain_db_statements_total", "origin=\"request\"").await;
            let response = app.post(list, json!({ "n": n }), Some(&token)).await;
            let after = app.metric("curtain_db_statements_total", "origin=\"request\"").await;
            (after - before, response)
        }
    };
    let (one, _) = statements(1).await;
    let (four, response) = statements(4).await;
    let edges = data(&response)["myReservations"]["edges"]
        .as_array()
        .expect("edges")
        .clone();
    assert_eq!(edges.len(), 4);
    assert!(edges.iter().all(|e| e["node"]["payment"]["status"] == "DONE"));
    let with_coupon: Vec<_> = edges.iter().filter(|e| !e["node"]["appliedCoupon"].is_null()).collect();
    assert_eq!(with_coupon.len(), 1);
    assert_eq!(with_coupon[0]["node"]["appliedCoupon"]["status"], "USED");
    assert_eq!(with_coupon[0]["node"]["amount"], 49_000);
    assert_eq!(
        one, four,
        "payments and coupons of a page are loaded in one statement each"
    );
}
