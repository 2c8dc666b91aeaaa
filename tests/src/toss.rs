//! A stand-in for the Toss Payments API, served over real HTTP on a random port, so that
//! Curtain's real Toss client (Basic authentication, idempotency keys, timeouts, retries,
//! circuit breaker) is exercised end to end.
//!
//! It speaks Toss's paths and error format (`{code, message}`), checks the secret key, and
//! replays the stored answer for a repeated `Idempotency-Key`. Cancels are full (no
//! `cancelAmount`: whatever is left) or partial, keep `balanceAmount` and the `cancels`
//! list as Toss does, and are refused beyond the balance (`NOT_CANCELABLE_AMOUNT`) or once
//! nothing is left (`ALREADY_CANCELED_PAYMENT`). Payment keys choose what
//! happens on confirm: `decline…` is refused, `slow…` is approved but answered too late,
//! `lost…` is never approved and answered too late; anything else is approved. Tests can
//! also make it fail, go down, answer lookups slowly or hold them until released, or change
//! payments behind Curtain's back.

mod endpoints;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use self::endpoints::{by_order, cancel, confirm};

/// The secret key test servers are configured with.
pub const SECRET_KEY: &str = "test_sk_curtain_stand_in";

/// How long `slow…` and `lost…` keys keep Curtain waiting (its read timeout in tests is
/// 700 ms).
const TOO_LATE: Duration = Duration::from_millis(1_500);

#[derive(Default)]
struct Inner {
    /// Payments by order ID.
    payments: HashMap<String, Value>,
    /// Answers by idempotency key.
    replies: HashMap<String, (StatusCode, Value)>,
    /// Idempotency keys of every confirm attempt, in order.
    confirm_keys: Vec<String>,
    /// Cancel attempts.
    cancels: usize,
    /// Every cancel attempt: its idempotency key and `cancelAmount` (None: the whole rest).
    cancel_requests: Vec<(String, Option<i64>)>,
    /// Apply this many cancels but answer them too late (the outcome is unknown to Curtain).
    late_cancels: usize,
    /// Every request that reached the stand-in.
    requests: usize,
    /// Answer every request with 503.
    down: bool,
    /// Answer this many confirm attempts with a retryable 500.
    failing_confirms: usize,
    /// How long looking a payment up by order takes.
    lookup_delay: Duration,
    /// Lookups by order so far.
    lookups: usize,
    /// While true, lookups by order wait (after being counted) until it is false again.
    lookups_held: tokio::sync::watch::Sender<bool>,
}

type Shared = Arc<Mutex<Inner>>;

#[derive(Clone)]
pub struct TossStandIn {
    pub base_url: String,
    inner: Shared,
}

fn error(status: StatusCode, code: &str, message: &str) -> (StatusCode, Json<Value>) {
    (status, Json(json!({ "code": code, "message": message })))
}

fn authorized(headers: &HeaderMap) -> bool {
    let expected = format!("Basic {}", STANDARD.encode(format!("{SECRET_KEY}:")));
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == expected)
}

fn payment(payment_key: &str, order_id: &str, amount: i64) -> Value {
    json!({
        "mId": "tosspayments", "version": "2022-11-16",
        "paymentKey": payment_key, "orderId": order_id, "orderName": "stand-in",
        "status": "DONE", "method": "카드", "totalAmount": amount, "balanceAmount": amount,
        "requestedAt": chrono::Utc::now().to_rfc3339(),
        "approvedAt": chrono::Utc::now().with_timezone(&chrono::FixedOffset::east_opt(9 * 3600).expect("offset")).to_rfc3339(),
        "receipt": { "url": format!("https://dashboard.tosspayments.com/receipt/{payment_key}") },
        "cancels": null,
    })
}

impl TossStandIn {
    pub async fn start() -> Self {
        let inner: Shared = Arc::default();
        let router = Router::new()
            .route("/v1/payments/confirm", post(confirm))
            .route("/v1/payments/{payment_key}/cancel", post(cancel))
            .route("/v1/payments/orders/{order_id}", get(by_order))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base_url = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { base_url, inner }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("stand-in state")
    }

    /// Idempotency keys of the confirm attempts so far.
    pub fn confirm_keys(&self) -> Vec<String> {
        self.lock().confirm_keys.clone()
    }

    pub fn cancels(&self) -> usize {
        self.lock().cancels
    }

    /// The `cancelAmount` of every cancel attempt, in order (None: the whole rest).
    pub fn cancel_amounts(&self) -> Vec<Option<i64>> {
        self.lock().cancel_requests.iter().map(|(_, amount)| *amount).collect()
    }

    /// The idempotency key of every cancel attempt, in order.
    pub fn cancel_keys(&self) -> Vec<String> {
        self.lock().cancel_requests.iter().map(|(key, _)| key.clone()).collect()
    }

    /// What Toss has refunded of the order's payment: the sum of its cancels.
    pub fn refunded(&self, order_id: &str) -> i64 {
        self.lock()
            .payments
            .get(order_id)
            .and_then(|p| p["cancels"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|c| c["cancelAmount"].as_i64())
            .sum()
    }

    /// The next `n` cancels are made but answered too late for Curtain's read timeout.
    pub fn answer_cancels_late(&self, n: usize) {
        self.lock().late_cancels = n;
    }

    pub fn requests(&self) -> usize {
        self.lock().requests
    }

    /// Answers everything with 503 while `down`.
    pub fn set_down(&self, down: bool) {
        self.lock().down = down;
    }

    /// The next `n` confirm attempts get a retryable 500.
    pub fn fail_next_confirms(&self, n: usize) {
        self.lock().failing_confirms = n;
    }

    /// Makes every lookup of a payment by order take `delay`.
    pub fn set_lookup_delay(&self, delay: Duration) {
        self.lock().lookup_delay = delay;
    }

    /// Makes lookups of payments by order wait, once counted, until
    /// [`Self::release_lookups`]: a test can then look at what arrived meanwhile without
    /// depending on how fast requests arrive.
    pub fn hold_lookups(&self) {
        self.lock().lookups_held.send_replace(true);
    }

    /// Lets the held lookups (and any later one) answer.
    pub fn release_lookups(&self) {
        self.lock().lookups_held.send_replace(false);
    }

    /// Lookups of payments by order so far (what reconciliation and webhooks ask).
    pub fn lookups(&self) -> usize {
        self.lock().lookups
    }

    /// The payment Toss has for an order.
    pub fn payment(&self, order_id: &str) -> Option<Value> {
        self.lock().payments.get(order_id).cloned()
    }

    /// Toss approves a payment Curtain never heard the answer of.
    pub fn approve(&self, payment_key: &str, order_id: &str, amount: i64) {
        self.lock()
            .payments
            .insert(order_id.to_string(), payment(payment_key, order_id, amount));
    }

    /// Someone cancels the payment in Toss's console.
    pub fn cancel_in_console(&self, order_id: &str) {
        if let Some(payment) = self.lock().payments.get_mut(order_id) {
            payment["status"] = json!("CANCELED");
            payment["balanceAmount"] = json!(0);
        }
    }
}
