//! The stand-in's three endpoints (confirm, cancel, look-up by order), answering as Toss
//! does and as the switches tests set on [`TossStandIn`](super::TossStandIn) ask.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use super::{Inner, Shared, TOO_LATE, authorized, error, payment};

pub(super) async fn confirm(
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

pub(super) async fn cancel(
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

pub(super) async fn by_order(
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
