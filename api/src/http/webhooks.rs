//! `POST /webhooks/toss`: Toss Payments tells us a payment changed (e.g. cancelled in its
//! console). The body is only a hint of which order to look at: the payment is re-read from
//! Toss and applied idempotently, so a forged or repeated call changes nothing that Toss
//! does not confirm.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::HttpState;
use crate::domain::payments::{WebhookOutcome, settle_order};

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
/// sending it; 503 with `Retry-After` when Toss cannot be asked now or too many orders are
/// being settled on this instance, so that Toss sends it again later; 500 when settling
/// failed otherwise (Toss retries that too). The provider calls this triggers are bounded
/// and coalesced per order, and run apart from this request (see `WebhookGate`).
pub async fn toss(State(state): State<HttpState>, Json(event): Json<TossEvent>) -> Response {
    let Some(order_id) = event.data.order_id.filter(|id| !id.is_empty() && id.len() <= 64) else {
        return (StatusCode::OK, "ignored").into_response();
    };
    let app = state.app.clone();
    let settle = {
        let order_id = order_id.clone();
        move || {
            let app = app.clone();
            let order_id = order_id.clone();
            async move { settle_order(app.payment_deps(), &order_id).await }
        }
    };
    match state.app.webhooks.settle(&order_id, settle).await {
        WebhookOutcome::Applied { changed } => {
            tracing::info!(event_type = event.event_type, order_id, changed, "Toss webhook applied");
            (StatusCode::OK, "ok").into_response()
        }
        WebhookOutcome::Busy => {
            tracing::warn!(order_id, "Toss webhook: too many orders being settled; asked to retry");
            retry_later()
        }
        WebhookOutcome::Unavailable => {
            tracing::warn!(order_id, "Toss webhook: cannot re-read the payment now");
            retry_later()
        }
        WebhookOutcome::Failed => {
            tracing::error!(order_id, "Toss webhook failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "error").into_response()
        }
    }
}

fn retry_later() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "10")],
        "retry later",
    )
        .into_response()
}
