//! Confirming payments: approval, tampering, refusals, unknown outcomes settled by
//! reconciliation, retries with one idempotency key, the circuit breaker, and Toss down.

use super::*;

toss_tests!(
    a_paid_reservation_is_confirmed_with_its_payment_recorded,
    a_tampered_order_or_amount_is_refused_and_nothing_is_charged,
    a_declined_payment_says_why_and_keeps_the_seats_held,
    a_timeout_leaves_the_reservation_paying_until_reconciliation_settles_it,
    a_retried_confirmation_carries_the_same_idempotency_key,
    the_circuit_breaker_opens_on_repeated_failures_and_recovers,
    a_payment_toss_already_processed_is_settled_by_reconciliation,
);

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
    // Trying again meanwhile is told to wait, and sends nothing.
    assert_eq!(
        error_code(&pay(app, &buyer, &approved_late, "ok-again").await),
        "PAYMENT_PENDING"
    );
    assert_eq!(toss.confirm_keys().len(), 2);

    // Younger than a minute: the scheduled job leaves them alone.
    let young = curtain::domain::payments::reconcile_payments(app.state.payment_deps(), chrono::Duration::minutes(1))
        .await
        .unwrap_or_else(|_| panic!("reconciliation failed"));
    assert_eq!(young, 0);
    // The job, as `curtain job run reconcile-payments` runs it, with a threshold of zero.
    let env = fixtures::job_env_with(app, |settings| settings.payments.reconcile_after_seconds = 0);
    let run = fixtures::run_job(&env, curtain::jobs::Job::ReconcilePayments).await;
    assert_eq!(
        (run.job.as_str(), run.status.as_str(), run.items),
        ("reconcile-payments", "SUCCEEDED", 2)
    );
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

/// Toss cannot be reached at all: the request provably never left, so nothing was charged
/// and the seats stay held.
async fn an_unreachable_toss_charges_nothing_and_keeps_the_seats_held(backend: curtain_tests::Backend) {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", listener.local_addr().expect("address"))
    };
    let Some(app) = TestApp::builder(backend).toss(&closed).spawn().await else {
        return;
    };
    let (session, seats) = session_with_seats(&app, 1).await;
    let buyer = app.sign_up("offline@example.com").await;
    let held = hold(&app, &buyer, &session, &seats, "o").await;
    assert_eq!(
        error_code(&pay(&app, &buyer, &held, "ok-nowhere").await),
        "PAYMENT_UNAVAILABLE"
    );
    assert_eq!(status(&app, &buyer, &held).await, "HELD");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_an_unreachable_toss_charges_nothing_and_keeps_the_seats_held() {
    an_unreachable_toss_charges_nothing_and_keeps_the_seats_held(curtain_tests::Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_unreachable_toss_charges_nothing_and_keeps_the_seats_held() {
    an_unreachable_toss_charges_nothing_and_keeps_the_seats_held(curtain_tests::Backend::Postgres).await;
}

/// Toss approved the order through an earlier confirmation whose answer never arrived, and
/// answers a new one with ALREADY_PROCESSED_PAYMENT: not a refusal. The reservation waits in
/// PAYING (the seats stay the buyer's) and reconciliation confirms it.
async fn a_payment_toss_already_processed_is_settled_by_reconciliation(app: &TestApp, toss: &TossStandIn) {
    let (session, seats) = session_with_seats(app, 1).await;
    let buyer = app.sign_up("twice@example.com").await;
    let held = hold(app, &buyer, &session, &seats, "twice").await;
    toss.approve("earlier-key", &held.order_id, held.amount);

    assert_eq!(
        error_code(&pay(app, &buyer, &held, "later-key").await),
        "PAYMENT_PENDING"
    );
    assert_eq!(status(app, &buyer, &held).await, "PAYING");
    assert_eq!(reconcile(app).await, 1);
    assert_eq!(status(app, &buyer, &held).await, "CONFIRMED");
    assert_eq!(seat_statuses(app, &session).await, ["SOLD"]);
}
