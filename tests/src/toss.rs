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

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

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

async fn confirm(
    State(inner): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let payment_key = body["paymentKey"].as_str().unwrap_or_default().to_string();
    let order_id = body["orderId"].as_str().unwrap_or_default().to_string();
    let amount = body["amount"].as_i64().unwrap_or_default();
    {
        let mut state = inner.lock().expect("state");
        state.requests += 1;
        if state.down {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "FAILED_INTERNAL_SYSTEM_PROCESSING",
                "잠시 후 다시 시도해주세요.",
            );
        }
        if !authorized(&headers) {
            return error(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED_KEY",
                "인증되지 않은 시크릿 키 혹은 클라이언트 키 입니다.",
            );
        }
        state.confirm_keys.push(key.clone());
        if state.failing_confirms > 0 {
            state.failing_confirms -= 1;
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "FAILED_INTERNAL_SYSTEM_PROCESSING",
                "내부 시스템 처리 작업이 실패했습니다. 잠시 후 다시 시도해주세요.",
            );
        }
        if let Some((status, reply)) = state.replies.get(&key) {
            return (*status, Json(reply.clone()));
        }
        // Toss's answer to a second confirmation of an approved payment under a new key.
        if state.payments.get(&order_id).is_some_and(|p| p["status"] == "DONE") {
            let reply = json!({ "code": "ALREADY_PROCESSED_PAYMENT", "message": "이미 처리된 결제 입니다." });
            return (StatusCode::BAD_REQUEST, Json(reply));
        }
        if payment_key.starts_with("decline") {
            let reply =
                json!({ "code": "REJECT_CARD_PAYMENT", "message": "한도초과 혹은 잔액부족으로 결제에 실패했습니다." });
            state.replies.insert(key, (StatusCode::BAD_REQUEST, reply.clone()));
            return (StatusCode::BAD_REQUEST, Json(reply));
        }
        if !payment_key.starts_with("lost") {
            let approved = payment(&payment_key, &order_id, amount);
            state.payments.insert(order_id.clone(), approved.clone());
            state.replies.insert(key, (StatusCode::OK, approved));
        }
    }
    if payment_key.starts_with("slow") || payment_key.starts_with("lost") {
        tokio::time::sleep(TOO_LATE).await;
    }
    match inner.lock().expect("state").payments.get(&order_id) {
        Some(approved) => (StatusCode::OK, Json(approved.clone())),
        None => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "FAILED_INTERNAL_SYSTEM_PROCESSING",
            "처리되지 않았습니다.",
        ),
    }
}

async fn cancel(
    State(inner): State<Shared>,
    Path(payment_key): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let (reply, late) = {
        let mut state = inner.lock().expect("state");
        match cancel_now(&mut state, &payment_key, &headers, &body) {
            Ok(reply) => {
                let late = state.late_cancels > 0;
                state.late_cancels = state.late_cancels.saturating_sub(1);
                (Ok(reply), late)
            }
            Err(refusal) => (Err(refusal), false),
        }
    };
    if late {
        tokio::time::sleep(TOO_LATE).await;
    }
    match reply {
        Ok(payment) => (StatusCode::OK, Json(payment)),
        Err(refusal) => refusal,
    }
}

/// One cancel, as Toss makes it: the answer stored under its idempotency key and replayed
/// for a repeat (whatever the repeat's body); partial when `cancelAmount` is given.
fn cancel_now(
    state: &mut Inner,
    payment_key: &str,
    headers: &HeaderMap,
    body: &Value,
) -> Result<Value, (StatusCode, Json<Value>)> {
    state.requests += 1;
    if state.down {
        return Err(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "FAILED_INTERNAL_SYSTEM_PROCESSING",
            "잠시 후 다시 시도해주세요.",
        ));
    }
    if !authorized(headers) {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED_KEY",
            "인증되지 않은 시크릿 키 혹은 클라이언트 키 입니다.",
        ));
    }
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let amount = body["cancelAmount"].as_i64();
    state.cancels += 1;
    state.cancel_requests.push((key.clone(), amount));
    if let Some((_, reply)) = state.replies.get(&key).filter(|_| !key.is_empty()) {
        return Ok(reply.clone());
    }
    let Some(payment) = state.payments.values_mut().find(|p| p["paymentKey"] == payment_key) else {
        return Err(error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND_PAYMENT",
            "존재하지 않는 결제 정보 입니다.",
        ));
    };
    let balance = payment["balanceAmount"]
        .as_i64()
        .or_else(|| payment["totalAmount"].as_i64())
        .unwrap_or_default();
    if payment["status"] == "CANCELED" || balance == 0 {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "ALREADY_CANCELED_PAYMENT",
            "이미 취소된 결제 입니다.",
        ));
    }
    let amount = amount.unwrap_or(balance);
    if amount <= 0 || amount > balance {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "NOT_CANCELABLE_AMOUNT",
            "취소 할 수 없는 금액 입니다.",
        ));
    }
    let left = balance - amount;
    payment["status"] = json!(if left == 0 { "CANCELED" } else { "PARTIAL_CANCELED" });
    payment["balanceAmount"] = json!(left);
    let entry = json!({
        "transactionKey": format!("tx-{}", uuid::Uuid::new_v4().simple()),
        "cancelReason": body["cancelReason"],
        "cancelAmount": amount,
        "taxFreeAmount": 0,
        "taxExemptionAmount": 0,
        "refundableAmount": left,
        "easyPayDiscountAmount": 0,
        "canceledAt": chrono::Utc::now().with_timezone(&chrono::FixedOffset::east_opt(9 * 3600).expect("offset")).to_rfc3339(),
        "cancelStatus": "DONE",
    });
    match payment["cancels"].as_array_mut() {
        Some(cancels) => cancels.push(entry),
        None => payment["cancels"] = json!([entry]),
    }
    let reply = payment.clone();
    if !key.is_empty() {
        state.replies.insert(key, (StatusCode::OK, reply.clone()));
    }
    Ok(reply)
}

async fn by_order(
    State(inner): State<Shared>,
    Path(order_id): Path<String>,
    headers: HeaderMap,
) -> (StatusCode, Json<Value>) {
    let (delay, mut held) = {
        let mut state = inner.lock().expect("state");
        state.lookups += 1;
        (state.lookup_delay, state.lookups_held.subscribe())
    };
    // Only fails if the sender is gone, which it is not while the stand-in runs.
    let _ = held.wait_for(|held| !*held).await;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut state = inner.lock().expect("state");
    state.requests += 1;
    if state.down {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "FAILED_INTERNAL_SYSTEM_PROCESSING",
            "잠시 후 다시 시도해주세요.",
        );
    }
    if !authorized(&headers) {
        return error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED_KEY",
            "인증되지 않은 시크릿 키 혹은 클라이언트 키 입니다.",
        );
    }
    match state.payments.get(&order_id) {
        Some(payment) => (StatusCode::OK, Json(payment.clone())),
        None => error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND_PAYMENT",
            "존재하지 않는 결제 정보 입니다.",
        ),
    }
}
