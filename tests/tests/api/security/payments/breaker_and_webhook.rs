//! Issue 12, finding 5: the circuit breaker must not stay half-open when its probe's caller
//! disconnects, and the public webhook must not make us call Toss without bound.

use std::time::Duration;

use curtain_tests::toss::TossStandIn;
use curtain_tests::{Backend, TestApp, data, error_code, fixtures};
use sea_orm::EntityTrait;
use serde_json::json;

use super::{CONFIRM, Held, hold, pay};

async fn spawn_with_toss(toss: &TossStandIn, configure: Option<fn(&mut curtain::config::Settings)>) -> TestApp {
    let mut builder = TestApp::builder(Backend::Sqlite).toss(&toss.base_url);
    if let Some(configure) = configure {
        builder = builder.configure(configure);
    }
    builder.spawn().await.expect("SQLite is always available")
}

async fn webhook(app: &TestApp, order_id: &str) -> reqwest::Response {
    app.client
        .post(app.url("/webhooks/toss"))
        .json(&json!({ "eventType": "PAYMENT_STATUS_CHANGED", "data": { "orderId": order_id, "status": "DONE" } }))
        .send()
        .await
        .expect("webhook sent")
}

/// Sends a confirmation and disconnects once Toss has received it, while Toss is still
/// answering (`slow…` keys answer after 1.5 s). Waiting for the stand-in to see the call,
/// rather than giving up after a fixed time, keeps a loaded machine from giving up before
/// the request even reached the server.
async fn pay_and_give_up(
    app: &TestApp,
    toss: &TossStandIn,
    buyer: &curtain_tests::Session,
    held: &Held,
    payment_key: &str,
) {
    let request = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(&buyer.access_token)
        .json(&json!({ "query": CONFIRM, "variables": {
            "r": held.id, "k": payment_key, "o": held.order_id, "a": held.amount } }));
    let call = tokio::spawn(request.send());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !toss.confirm_keys().iter().any(|key| key.ends_with(payment_key)) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the confirmation never reached Toss"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The client goes away: its connection is closed and the request dropped.
    call.abort();
    let _ = call.await;
}

/// The reservation's status once it is no longer PAYING, waiting up to 20 s (the slow answer
/// comes after 1.5 s; the bound only keeps a broken build from hanging).
async fn settled(app: &TestApp, held: &Held) -> entity::ReservationStatus {
    let id = curtain_tests::fixtures::database_id(&held.id);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let status = entity::reservation::Entity::find_by_id(id)
            .one(&app.db)
            .await
            .expect("read")
            .expect("reservation")
            .status;
        if status != entity::ReservationStatus::Paying || tokio::time::Instant::now() >= deadline {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Finding 3 of the review: a confirmation whose request is dropped mid-call (the client
/// disconnected, or the request deadline passed) is still settled, not left PAYING.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_whose_client_gives_up_mid_call_is_still_confirmed() {
    let toss = TossStandIn::start().await;
    // Toss's slow answer (1.5 s) comes within the read timeout, after the client left.
    let app = spawn_with_toss(&toss, Some(|s| s.payments.read_timeout_ms = 5_000)).await;
    let row = fixtures::one_row_session(&app, "떠난 손님", 1).await;
    let buyer = app.sign_up("impatient@example.com").await;
    let held = hold(&app, &buyer, &row.session, &[&row.seats[0]], "g").await;
    pay_and_give_up(&app, &toss, &buyer, &held, "slow-gone").await;
    assert_eq!(settled(&app, &held).await, entity::ReservationStatus::Confirmed);
    let again = pay(&app, &buyer, &held, held.amount, "slow-gone").await;
    assert_eq!(data(&again)["confirmPayment"]["status"], "CONFIRMED", "{again}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_breaker_recovers_when_the_probes_caller_disconnects() {
    let toss = TossStandIn::start().await;
    // Toss's slow answer (1.5 s) comes within the read timeout.
    // Open for 3 s: the second payment below must find it still open on a loaded machine.
    let app = spawn_with_toss(
        &toss,
        Some(|s| {
            s.payments.read_timeout_ms = 5_000;
            s.payments.breaker_open_seconds = 3;
        }),
    )
    .await;
    let row = fixtures::one_row_session(&app, "장애", 3).await;
    let buyer = app.sign_up("outage@example.com").await;
    let held: Vec<Held> = futures::future::join_all((0..3).map(|i| {
        let (app, buyer, row) = (&app, &buyer, &row);
        async move { hold(app, buyer, &row.session, &[&row.seats[i]], &format!("o-{i}")).await }
    }))
    .await;

    // Three failures open the breaker.
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
    tokio::time::sleep(Duration::from_millis(3_100)).await;

    // The probe goes to a Toss that answers slowly, and its client gives up and
    // disconnects. The payment runs on without it: the probe reports, its approval closes
    // the breaker and confirms the reservation (a probe abandoned half-way is given back,
    // see the breaker's unit tests).
    pay_and_give_up(&app, &toss, &buyer, &held[1], "slow-probe").await;
    assert_eq!(settled(&app, &held[1]).await, entity::ReservationStatus::Confirmed);
    let response = pay(&app, &buyer, &held[2], held[2].amount, "ok-after").await;
    assert_eq!(data(&response)["confirmPayment"]["status"], "CONFIRMED", "{response}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_webhooks_for_one_order_asks_toss_twice_at_most() {
    let toss = TossStandIn::start().await;
    // Slow lookups (below) must still be answered in time.
    let app = spawn_with_toss(&toss, Some(|s| s.payments.read_timeout_ms = 10_000)).await;
    let row = fixtures::one_row_session(&app, "웹훅", 1).await;
    let buyer = app.sign_up("hooked@example.com").await;
    let held = hold(&app, &buyer, &row.session, &[&row.seats[0]], "w").await;
    data(&pay(&app, &buyer, &held, held.amount, "ok-hooked").await);
    // Posts are coalesced while a lookup is running; three seconds per lookup leave a loaded
    // machine ample time to deliver all 40 within the first two (up to three lookups).
    toss.set_lookup_delay(Duration::from_millis(3_000));
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
            // Held lookups must not time out before they are released.
            s.payments.read_timeout_ms = 30_000;
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
    // Lookups are held until every post beyond the two slots has been answered, so the
    // outcome does not depend on how fast the posts arrive.
    toss.hold_lookups();
    let mut posts = tokio::task::JoinSet::new();
    for order in orders.clone() {
        let app_url = app.url("/webhooks/toss");
        let client = app.client.clone();
        posts.spawn(async move {
            client
                .post(app_url)
                .json(&json!({ "eventType": "PAYMENT_STATUS_CHANGED", "data": { "orderId": order, "status": "DONE" } }))
                .send()
                .await
                .expect("webhook sent")
        });
    }
    let mut retry = Vec::new();
    while retry.len() < 4 {
        let answer = posts.join_next().await.expect("six posts").expect("post task");
        assert_eq!(
            answer.status(),
            reqwest::StatusCode::SERVICE_UNAVAILABLE,
            "only posts beyond the two slots answer while the lookups are held"
        );
        retry.push(answer);
    }
    assert!(
        retry.iter().all(|a| a.headers().contains_key("retry-after")),
        "the others are told when to send again"
    );
    toss.release_lookups();
    while let Some(answer) = posts.join_next().await {
        assert_eq!(answer.expect("post task").status(), reqwest::StatusCode::OK);
    }
    assert_eq!(toss.lookups(), 2, "two orders at a time");

    // Posts about no order of ours are answered 200 and ask Toss nothing; a Toss that
    // cannot answer makes the webhook ask to be sent again.
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
