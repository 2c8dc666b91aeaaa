//! Request spans (with the request id every log line carries), HTTP metrics, and the
//! Prometheus endpoint.

use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Span;

use secrecy::ExposeSecret;

use super::{HttpState, REQUEST_ID};
use crate::metrics::{HttpLabels, PoolLabels, RouteLabels};

pub fn span_for_request(request: &Request<Body>) -> Span {
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!("request", request_id, method = %request.method(), path = request.uri().path())
}

/// Counts and times requests by route template (not raw path, which would explode the
/// number of series).
pub async fn record_http(State(state): State<HttpState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| {
            if request.uri().path().starts_with("/files") {
                "/files".into()
            } else {
                "unmatched".into()
            }
        });
    let method = method_label(request.method()).to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let metrics = &state.app.metrics;
    metrics
        .http_requests
        .get_or_create(&HttpLabels {
            method,
            route: route.clone(),
            status: response.status().as_u16(),
        })
        .inc();
    metrics
        .http_duration
        .get_or_create(&RouteLabels { route })
        .observe(started.elapsed().as_secs_f64());
    response
}

/// Clients may send any method name; only the standard ones get a label of their own.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// `/metrics` on the API port, for bearers of `metrics.token` only.
pub async fn metrics_with_token(State(state): State<HttpState>, headers: HeaderMap) -> Response {
    let presented = super::bearer::from_headers(&headers);
    // No token presented is never allowed, whatever the setting.
    let allowed = state
        .app
        .settings
        .metrics
        .token
        .as_ref()
        .zip(presented)
        .is_some_and(|(token, presented)| constant_time_eq(token.expose_secret().as_bytes(), presented.as_bytes()));
    if !allowed {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "metrics need the metrics token",
        )
            .into_response();
    }
    metrics(State(state)).await.into_response()
}

/// Compares without stopping at the first difference, so timing does not reveal the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

pub async fn metrics(State(state): State<HttpState>) -> impl IntoResponse {
    let (idle, in_use) = crate::db::pool_usage(&state.app.db);
    let metrics = &state.app.metrics;
    metrics
        .db_pool_connections
        .get_or_create(&PoolLabels { state: "idle" })
        .set(i64::from(idle));
    metrics
        .db_pool_connections
        .get_or_create(&PoolLabels { state: "in_use" })
        .set(i64::from(in_use));
    // Its own statements are not a client's: counted as background work.
    let app = state.app.clone();
    let _ = crate::metrics::spawn_background(async move { read_gauges(&app).await }).await;
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.render(),
    )
}

/// Gauges read when scraped: the replicas as their monitor last saw them, this instance's
/// sockets and payment breaker, and a few cheap counts from the database (each given a
/// second at most, so that a slow database does not stall the scrape; a gauge that could not
/// be read keeps its last value).
async fn read_gauges(app: &crate::state::AppState) {
    use crate::metrics::{ConsumerLabels, ReplicaLabels};
    let metrics = &app.metrics;
    for (number, state) in (1u32..).zip(app.replicas.states()) {
        let labels = ReplicaLabels { replica: number };
        metrics.replica_up.get_or_create(&labels).set(i64::from(state.up));
        let lag = state.lag().map_or(f64::NAN, |lag| lag.as_secs_f64());
        metrics.replica_lag.get_or_create(&labels).set(lag);
    }
    let (sockets, operations) = app.sockets.usage();
    metrics
        .websocket_connections
        .set(i64::try_from(sockets).unwrap_or(i64::MAX));
    metrics
        .websocket_operations
        .set(i64::try_from(operations).unwrap_or(i64::MAX));
    metrics
        .payment_breaker_open
        .set(i64::from(app.payments.check_available().is_err()));

    if let Some(count) = within(crate::domain::sessions::count_on_sale(&app.db, chrono::Utc::now())).await {
        metrics.sessions_on_sale.set(i64::try_from(count).unwrap_or(i64::MAX));
    }
    let relay = within(crate::outbox::relay::lag(&app.db)).await;
    let search_index = within(app.search.lag()).await;
    for (consumer, lag) in [("relay", relay), ("search_index", search_index)] {
        if let Some(lag) = lag {
            metrics
                .outbox_lag
                .get_or_create(&ConsumerLabels { consumer })
                .set(lag.as_secs_f64());
        }
    }
}

/// What `future` gives within a second; `None` when it fails or takes longer.
async fn within<T, E>(future: impl Future<Output = Result<T, E>>) -> Option<T> {
    tokio::time::timeout(std::time::Duration::from_secs(1), future)
        .await
        .ok()?
        .ok()
}
