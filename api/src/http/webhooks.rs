//! `POST /webhooks/toss`: Toss Payments tells us a payment changed (e.g. cancelled in its
//! console). The body is only a hint of which order to look at: the payment is re-read from
//! Toss and applied idempotently, so a forged or repeated call changes nothing that Toss
//! does not confirm.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;

use super::HttpState;
use crate::domain::payments::settle_order;
use crate::error::ApiError;

#[derive(Debug, Deserialize)]
pub struct TossEvent {
    #[serde(rename = "eventType", default)]
    event_type: String,
    #[serde(default)]
    data: TossEventData,
}

#[derive(Debug, Default, Deserialize)]
struct TossEventData {
    #[serde(rename = "orderId")]
    order_id: Option<String>,
}

/// Answers 200 once the news is applied (or is about no order of ours), so that Toss stops
/// sending it; 503 when Toss cannot be asked now, so that Toss sends it again later.
pub async fn toss(State(state): State<HttpState>, Json(event): Json<TossEvent>) -> (StatusCode, &'static str) {
    let Some(order_id) = event.data.order_id.filter(|id| !id.is_empty() && id.len() <= 64) else {
        return (StatusCode::OK, "ignored");
    };
    match settle_order(state.app.payment_deps(), &order_id).await {
        Ok(changed) => {
            tracing::info!(event_type = event.event_type, order_id, changed, "Toss webhook applied");
            (StatusCode::OK, "ok")
        }
        Err(err @ (ApiError::PaymentUnavailable | ApiError::PaymentPending)) => {
            tracing::warn!(order_id, error = ?err, "Toss webhook: cannot re-read the payment now");
            (StatusCode::SERVICE_UNAVAILABLE, "retry later")
        }
        Err(err) => {
            tracing::error!(order_id, error = ?err, "Toss webhook failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "error")
        }
    }
}
