//! Security: bots on sale day. Hold attempts are limited per account and per client
//! address, and one account cannot keep more than a few reservations waiting for payment,
//! however many requests it sends at once.

use curtain_tests::{Backend, TestApp, TestAppBuilder, error_code, fixtures};
use serde_json::{Value, json};

const HOLD: &str = "mutation($s: ID!, $seats: [ID!]!, $k: String!) {
    holdSeats(sessionId: $s, seatIds: $seats, idempotencyKey: $k) { id } }";
const BEST: &str = "mutation($s: ID!, $k: String!) {
    holdBestAvailable(sessionId: $s, count: 1, grade: \"R\", idempotencyKey: $k) { id } }";

/// Runs `$name(Backend)` on SQLite and PostgreSQL.
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(curtain_tests::Backend::Sqlite).await; }
        )* }
        mod postgres { $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(curtain_tests::Backend::Postgres).await; }
        )* }
    };
}

both_backends!(
    hold_attempts_are_limited_per_account,
    hold_attempts_are_limited_per_address,
    an_account_cannot_keep_more_live_reservations_than_the_cap_even_all_at_once,
    retries_of_a_hold_already_made_do_not_spend_the_hold_budget,
);

async fn spawn(backend: Backend, configure: fn(&mut curtain::config::Settings)) -> Option<TestApp> {
    TestApp::builder(backend).configure(configure).spawn().await
}

/// RATE_LIMITED with a `retryAfter` of 1 to `most` seconds.
fn assert_rate_limited(response: &Value, most: u64) {
    assert_eq!(error_code(response), "RATE_LIMITED", "{response}");
    let retry_after = response["errors"][0]["extensions"]["retryAfter"].as_u64();
    assert!(
        retry_after.is_some_and(|s| (1..=most).contains(&s)),
        "retryAfter in seconds: {response}"
    );
}

async fn hold_attempts_are_limited_per_account(backend: Backend) {
    let Some(app) = spawn(backend, |s| {
        s.booking.hold_attempts_per_account_per_minute = 3;
        s.booking.hold_attempts_per_ip_per_minute = 1_000;
    })
    .await
    else {
        return;
    };
    let row = fixtures::one_row_session(&app, "매크로", 8).await;
    let bot = app.sign_up("bot@example.com").await;
    // Attempts count whatever their outcome: here a taken seat, twice, and one success.
    let first = app
        .post(
            HOLD,
            json!({ "s": row.session, "seats": [row.seats[0]], "k": "a" }),
            Some(&bot.access_token),
        )
        .await;
    assert!(first.get("errors").is_none(), "{first}");
    for key in ["b", "c"] {
        let response = app
            .post(
                HOLD,
                json!({ "s": row.session, "seats": [row.seats[0]], "k": key }),
                Some(&bot.access_token),
            )
            .await;
        assert_eq!(error_code(&response), "SEAT_UNAVAILABLE");
    }
    let over = app
        .post(
            HOLD,
            json!({ "s": row.session, "seats": [row.seats[1]], "k": "d" }),
            Some(&bot.access_token),
        )
        .await;
    assert_rate_limited(&over, 60);
    let over = app
        .post(BEST, json!({ "s": row.session, "k": "e" }), Some(&bot.access_token))
        .await;
    assert_rate_limited(&over, 60);
    // Another buyer at the same address is not held back.
    let human = app.sign_up("human@example.com").await;
    let response = app
        .post(BEST, json!({ "s": row.session, "k": "h" }), Some(&human.access_token))
        .await;
    assert!(response.get("errors").is_none(), "{response}");
    app.stop().await;
}

/// A client that retries a hold with the same idempotency key (a flaky network) gets the
/// same reservation back every time, without using up its budget; new holds still count.
async fn retries_of_a_hold_already_made_do_not_spend_the_hold_budget(backend: Backend) {
    let Some(app) = spawn(backend, |s| {
        s.booking.hold_attempts_per_account_per_minute = 3;
        s.booking.hold_attempts_per_ip_per_minute = 3;
    })
    .await
    else {
        return;
    };
    let row = fixtures::one_row_session(&app, "재시도", 8).await;
    let buyer = app.sign_up("retrier@example.com").await;
    let hold = |seat: usize, key: &'static str| {
        app.post(
            HOLD,
            json!({ "s": row.session, "seats": [row.seats[seat]], "k": key }),
            Some(&buyer.access_token),
        )
    };
    let best = |key: &'static str| app.post(BEST, json!({ "s": row.session, "k": key }), Some(&buyer.access_token));

    let first = hold(0, "a").await;
    let first_id = first["data"]["holdSeats"]["id"].clone();
    assert!(first_id.is_string(), "{first}");
    for _ in 0..5 {
        let again = hold(0, "a").await;
        assert_eq!(again["data"]["holdSeats"]["id"], first_id, "{again}");
    }
    let chosen = best("b").await;
    let chosen_id = chosen["data"]["holdBestAvailable"]["id"].clone();
    assert!(chosen_id.is_string(), "{chosen}");
    for _ in 0..5 {
        let again = best("b").await;
        assert_eq!(again["data"]["holdBestAvailable"]["id"], chosen_id, "{again}");
    }
    // Ten requests so far, two holds: one new hold is left in the budget of three.
    let third = hold(6, "c").await;
    assert!(third.get("errors").is_none(), "{third}");
    assert_rate_limited(&hold(7, "d").await, 60);
    // Even with the budget spent, a retry still gets its reservation.
    let again = hold(0, "a").await;
    assert_eq!(again["data"]["holdSeats"]["id"], first_id, "{again}");
    app.stop().await;
}

async fn hold_attempts_are_limited_per_address(backend: Backend) {
    let Some(app) = spawn(backend, |s| {
        s.booking.hold_attempts_per_account_per_minute = 100;
        s.booking.hold_attempts_per_ip_per_minute = 4;
    })
    .await
    else {
        return;
    };
    let row = fixtures::one_row_session(&app, "매크로 농장", 8).await;
    let mut answers = Vec::new();
    // A bot farm: a fresh account for every attempt, all from one address.
    for i in 0..6 {
        let account = app.sign_up(&format!("farm{i}@example.com")).await;
        answers.push(
            app.post(
                HOLD,
                json!({ "s": row.session, "seats": [row.seats[i]], "k": "k" }),
                Some(&account.access_token),
            )
            .await,
        );
    }
    assert!(answers[..4].iter().all(|a| a.get("errors").is_none()), "{answers:#?}");
    for over in &answers[4..] {
        assert_rate_limited(over, 60);
    }
    app.stop().await;
}

async fn an_account_cannot_keep_more_live_reservations_than_the_cap_even_all_at_once(backend: Backend) {
    let Some(app) = spawn(backend, |s| {
        s.booking.max_live_reservations_per_buyer = 2;
    })
    .await
    else {
        return;
    };
    // Five sessions, so that each hold takes another session's lock.
    let mut rows = Vec::new();
    for i in 0..5 {
        rows.push(fixtures::one_row_session(&app, &format!("공연 {i}"), 2).await);
    }
    let bot = app.sign_up("hoarder@example.com").await;
    let attempts = rows
        .iter()
        .flat_map(|row| row.seats.iter().map(move |seat| (row, seat)));
    let answers = futures::future::join_all(attempts.enumerate().map(|(i, (row, seat))| {
        let (app, bot) = (&app, &bot);
        async move {
            app.post(
                HOLD,
                json!({ "s": row.session, "seats": [seat], "k": format!("h-{i}") }),
                Some(&bot.access_token),
            )
            .await
        }
    }))
    .await;
    let granted = answers.iter().filter(|a| a.get("errors").is_none()).count();
    assert_eq!(granted, 2, "{answers:#?}");
    for refused in answers.iter().filter(|a| a.get("errors").is_some()) {
        // Until the first of the holds lapses (10 minutes by default).
        assert_rate_limited(refused, 600);
    }
    // Releasing one makes room for one more.
    let held = answers
        .iter()
        .find_map(|a| a["data"]["holdSeats"]["id"].as_str())
        .expect("a held reservation");
    let released = app
        .post(
            "mutation($r: ID!) { releaseHold(reservationId: $r) { status } }",
            json!({ "r": held }),
            Some(&bot.access_token),
        )
        .await;
    assert!(released.get("errors").is_none(), "{released}");
    let free = fixtures::one_row_session(&app, "공연 5", 1).await;
    let again = app
        .post(
            HOLD,
            json!({ "s": free.session, "seats": [free.seats[0]], "k": "again" }),
            Some(&bot.access_token),
        )
        .await;
    assert!(again.get("errors").is_none(), "{again}");
    app.stop().await;
}

/// With Redis, every instance spends from the same budget: a bot cannot multiply its
/// attempts by spreading them over the instances behind the load balancer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_sharing_redis_share_the_hold_budget() {
    let options = |builder: TestAppBuilder| {
        builder
            .redis()
            .configure(|s| s.booking.hold_attempts_per_account_per_minute = 3)
    };
    let Some(a) = options(TestApp::builder(Backend::Postgres)).spawn().await else {
        return;
    };
    let b = options(a.sibling()).spawn().await.expect("the second instance");
    let row = fixtures::one_row_session(&a, "두 대의 서버", 8).await;
    let bot = a.sign_up("spread@example.com").await;
    for (i, app) in [&a, &b, &a, &b].into_iter().enumerate() {
        let response = app
            .post(
                HOLD,
                json!({ "s": row.session, "seats": [row.seats[i]], "k": format!("s-{i}") }),
                Some(&bot.access_token),
            )
            .await;
        if i < 3 {
            assert!(response.get("errors").is_none(), "{response}");
        } else {
            assert_rate_limited(&response, 60);
        }
    }
    b.stop().await;
    a.stop().await;
}
