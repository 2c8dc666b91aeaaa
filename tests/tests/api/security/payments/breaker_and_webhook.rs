//! Issue 12, finding 5: the circuit breaker must not stay half-open when its probe's caller
//! disconnects, and the public webhook must not make us call Toss without bound.

use std::time::Duration;

use curtain_tests::toss::TossStandIn;
use curtain_tests::{Backend, Options, TestApp, data, error_code, fixtures};
use serde_json::json;

use super::{CONFIRM, Held, hold, pay};

async fn spawn_with_toss(toss: &TossStandIn, configure: Option<fn(&mut curtain::config::Settings)>) -> TestApp {
    let options = Options {
        toss_base_url: Some(toss.base_url.clone()),
        configure,
        ..Options::default()
    };
    TestApp::spawn_with(Backend::Sqlite, options)
        .await
        .expect("SQLite is always available")
}

async fn webhook(app: &TestApp, order_id: &str) -> reqwest::Response {
    app.client
        .post(app.url("/webhooks/toss"))
        .json(&json!({ "eventType": "PAYMENT_STATUS_CHANGED", "data": { "orderId": order_id, "status": "DONE" } }))
        .send()
        .await
        .expect("webhook sent")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_breaker_recovers_when_the_probes_caller_disconnects() {
    let toss = TossStandIn::start().await;
    // Toss's slow answer (1.5 s) comes within the read timeout: a probe left running would
    // close the breaker then, one dropped is stuck for good unless it is given back.
    let app = spawn_with_toss(&toss, Some(|s| s.payments.read_timeout_ms = 3_000)).await;
    let row = fixtures::one_row_session(&app, "장애", 3).await;
    let buyer = app.sign_up("outage@example.com").await;
    let held: Vec<Held> = futures::future::join_all((0..3).map(|i| {
        let (app, buyer, row) = (&app, &buyer, &row);
        async move { hold(app, buyer, &row.session, &[&row.seats[i]], &format!("o-{i}")).await }
    }))
    .await;

    // Three failures open the breaker (for one second in tests).
    toss.set_down(true);
    assert_eq!(
        error_code(&pay(&app, &buyer, &held[0], held[0].amount, "ok-down").await),
        "PAYMENT_PENDING"
    );
    assert_eq!(
        error_code(&pay(&app, &buyer, &held[1], held[1].amount, "ok-refused").await),
        "PAYMENT_UNAVAILABLE"
    );
    toss.set_down(false);
    tokio::time::sleep(Duration::from_millis(1_100)).await;

    // The probe goes to a Toss that answers slowly, and its client gives up and disconnects.
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(250))
        .build()
        .expect("client");
    let probe = impatient
        .post(app.url("/graphql"))
        .bearer_auth(&buyer.access_token)
        .json(&json!({ "query": CONFIRM, "variables": {
            "r": held[1].id, "k": "slow-probe", "o": held[1].order_id, "a": held[1].amount } }))
        .send()
        .await;
    assert!(probe.is_err(), "the client gave up: {probe:?}");
    tokio::time::sleep(Duration::from_millis(150)).await;

    // The abandoned probe was given back, so the next payment probes and closes the
    // breaker, before the slow answer would have come.
    let response = pay(&app, &buyer, &held[2], held[2].amount, "ok-after").await;
    assert_eq!(data(&response)["confirmPayment"]["status"], "CONFIRMED", "{response}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_webhooks_for_one_order_asks_toss_twice_at_most() {
    let toss = TossStandIn::start().await;
    // Slow lookups (below) must still be answered in time.
    let app = spawn_with_toss(&toss, Some(|s| s.payments.read_timeout_ms = 5_000)).await;
    let row = fixtures::one_row_session(&app, "웹훅", 1).await;
    let buyer = app.sign_up("hooked@example.com").await;
    let held = hold(&app, &buyer, &row.session, &[&row.seats[0]], "w").await;
    data(&pay(&app, &buyer, &held, held.amount, "ok-hooked").await);
    toss.set_lookup_delay(Duration::from_millis(1_000));
    let before = toss.lookups();

    let answers = futures::future::join_all((0..40).map(|_| webhook(&app, &held.order_id))).await;
    assert!(
        answers.iter().all(|a| a.status() == reqwest::StatusCode::OK),
        "every post is answered 200 once its news is applied"
    );
    let lookups = toss.lookups() - before;
    assert!(
        (1..=3).contains(&lookups),
        "posts about one order are coalesced: {lookups} lookups for 40 posts"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_for_many_orders_are_bounded_and_told_to_retry() {
    let toss = TossStandIn::start().await;
    let app = spawn_with_toss(
        &toss,
        Some(|s| {
            s.payments.webhook_concurrency = 2;
            s.payments.read_timeout_ms = 5_000;
            s.booking.max_seats_per_buyer = 8;
        }),
    )
    .await;
    let row = fixtures::one_row_session(&app, "웹훅 폭주", 6).await;
    let buyer = app.sign_up("flooder@example.com").await;
    let mut orders = Vec::new();
    for (i, seat) in row.seats.iter().enumerate() {
        orders.push(
            hold(&app, &buyer, &row.session, &[seat], &format!("f-{i}"))
                .await
                .order_id,
        );
    }
    toss.set_lookup_delay(Duration::from_millis(1_500));

    let answers = futures::future::join_all(orders.iter().map(|order| webhook(&app, order))).await;
    let ok = answers.iter().filter(|a| a.status() == reqwest::StatusCode::OK).count();
    let retry: Vec<_> = answers
        .iter()
        .filter(|a| a.status() == reqwest::StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    assert_eq!(ok + retry.len(), 6);
    assert!((1..=2).contains(&ok), "two orders at a time: {ok} answered 200");
    assert!(
        retry.iter().all(|a| a.headers().contains_key("retry-after")),
        "the others are told when to send again"
    );
    assert!(toss.lookups() <= 2, "{} lookups", toss.lookups());

    // Posts about no order of ours are answered 200 and ask Toss nothing; a Toss that
    // cannot answer makes the webhook ask to be sent again.
    toss.set_lookup_delay(Duration::ZERO);
    let before = toss.lookups();
    assert_eq!(
        webhook(&app, "curtain-no-such-order").await.status(),
        reqwest::StatusCode::OK
    );
    assert_eq!(toss.lookups(), before);
    toss.set_down(true);
    let answer = webhook(&app, &orders[0]).await;
    assert_eq!(answer.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    assert!(answer.headers().contains_key("retry-after"));
    app.stop().await;
}
