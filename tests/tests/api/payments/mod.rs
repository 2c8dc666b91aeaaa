//! Payments against a stand-in Toss server over real HTTP: approval, tampering, refusals,
//! unknown outcomes settled by reconciliation, retries with one idempotency key, the
//! circuit breaker, refunds, the webhook, and payments approved too late. Also the
//! simulated provider of the offline demo. Helpers here; the tests in `confirm`, `refunds`
//! and `offline`.

use std::time::Duration;

use curtain_tests::fixtures;
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

mod confirm;
mod offline;
mod partial;
mod refunds;

type TestFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + 'a>>;

async fn run(
    backend: curtain_tests::Backend,
    test: impl for<'a> FnOnce(&'a TestApp, &'a TossStandIn) -> TestFuture<'a>,
) {
    let toss = TossStandIn::start().await;
    let Some(app) = TestApp::builder(backend).toss(&toss.base_url).spawn().await else {
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
    let row = fixtures::one_row_session(app, "결제", seats).await;
    (row.session, row.seats)
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
