//! Liveness and readiness for load balancers and orchestrators.

use axum::extract::State;
use axum::http::StatusCode;

use super::HttpState;

/// The process is up and serving HTTP: `ok`, then a line per read replica saying whether it
/// is in use and how far behind it is. A replica never makes this fail: reads go to the
/// primary while it is away.
pub async fn healthz(State(state): State<HttpState>) -> String {
    let mut body = String::from("ok\n");
    for (number, replica) in (1..).zip(state.app.replicas.states()) {
        let line = match (replica.up, replica.lag()) {
            (true, Some(lag)) => format!("replica {number}: up, lag {:.3} s\n", lag.as_secs_f64()),
            (true, None) => format!("replica {number}: up, too far behind to measure\n"),
            (false, _) => format!("replica {number}: down\n"),
        };
        body.push_str(&line);
    }
    body
}

/// The process can do useful work: its database answers.
pub async fn readyz(State(state): State<HttpState>) -> (StatusCode, &'static str) {
    match state.app.db.ping().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed: database unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable")
        }
    }
}
