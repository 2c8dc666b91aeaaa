//! Limits that keep slow or numerous clients from tying the server up: a deadline for each
//! request's body and for the whole request, a bound on bodies read into memory, and a bound
//! on requests in flight that sheds the excess at once instead of queueing it.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body::{Frame, SizeHint};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tokio::sync::Semaphore;
use tokio::time::Sleep;

use crate::config::ServerSettings;

/// The deadlines every request runs under.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    body: Duration,
    request: Duration,
}

impl Deadlines {
    pub fn from_settings(server: &ServerSettings) -> Self {
        Self {
            body: Duration::from_millis(server.body_read_timeout_ms),
            request: Duration::from_millis(server.request_timeout_ms),
        }
    }
}

/// Gives the body `body_read_timeout_ms` from the headers to arrive (408 after it) and the
/// whole request `request_timeout_ms` to be answered (503 after it). A WebSocket upgrade is
/// answered at once, so the socket that follows is not cut by either.
pub async fn deadlines(State(deadlines): State<Deadlines>, request: Request, next: Next) -> Response {
    let late = Arc::new(AtomicBool::new(false));
    let request = request.map(|body| {
        Body::new(DeadlineBody {
            inner: body,
            deadline: Box::pin(tokio::time::sleep(deadlines.body)),
            late: late.clone(),
        })
    });
    let answered = tokio::time::timeout(deadlines.request, next.run(request)).await;
    // The handler saw only a failed read; say what really happened.
    if late.load(Ordering::Acquire) {
        return refuse(
            StatusCode::REQUEST_TIMEOUT,
            "BODY_TIMEOUT",
            "the request body took too long to arrive",
        );
    }
    match answered {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(
                timeout_ms = deadlines.request.as_millis() as u64,
                "a request ran past its deadline and was cut off"
            );
            refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "REQUEST_TIMEOUT",
                "the request took too long",
            )
        }
    }
}

/// A refusal in the shape of a GraphQL error (`extensions.code`), after which the
/// connection is not reused: the client may still be sending.
fn refuse(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    let mut response = (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// A request body that fails once its deadline passes, and says so through `late`.
struct DeadlineBody {
    inner: Body,
    deadline: Pin<Box<Sleep>>,
    late: Arc<AtomicBool>,
}

#[derive(Debug)]
struct BodyDeadlinePassed;

impl std::fmt::Display for BodyDeadlinePassed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body took too long to arrive")
    }
}

impl std::error::Error for BodyDeadlinePassed {}

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            self.late.store(true, Ordering::Release);
            return Poll::Ready(Some(Err(Box::new(BodyDeadlinePassed))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Why a body was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Longer than the limit (413).
    TooLarge,
    /// The client stopped sending, or sent too slowly.
    Unreadable,
}

/// Reads a whole body, but not a byte past `limit`.
pub async fn read_body(body: Body, limit: usize) -> Result<Bytes, BodyError> {
    if http_body::Body::size_hint(&body).lower() > limit as u64 {
        return Err(BodyError::TooLarge);
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.is::<LengthLimitError>() => Err(BodyError::TooLarge),
        Err(_) => Err(BodyError::Unreadable),
    }
}

/// Requests allowed in flight at once.
#[derive(Debug, Clone)]
pub struct InFlight(Arc<Semaphore>);

impl InFlight {
    pub fn new(limit: usize) -> Self {
        Self(Arc::new(Semaphore::new(limit.max(1))))
    }
}

/// Refuses a request with 503 and `Retry-After` when the bound on requests in flight is
/// reached: a full server answers the excess in microseconds rather than letting queues grow
/// until every caller times out.
pub async fn shed_load(State(in_flight): State<InFlight>, request: Request, next: Next) -> Response {
    let Ok(_permit) = in_flight.0.clone().try_acquire_owned() else {
        let mut response = refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVER_BUSY",
            "the server is busy; try again in a second",
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    };
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bodies_are_read_up_to_their_limit_only() {
        assert_eq!(read_body(Body::from("12345"), 5).await, Ok(Bytes::from("12345")));
        assert_eq!(read_body(Body::from("123456"), 5).await, Err(BodyError::TooLarge));
    }

    #[tokio::test]
    async fn a_body_that_does_not_arrive_in_time_fails() {
        let (_sender, never) = futures::channel::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
        let late = Arc::new(AtomicBool::new(false));
        let body = Body::new(DeadlineBody {
            inner: Body::from_stream(never),
            deadline: Box::pin(tokio::time::sleep(Duration::from_millis(20))),
            late: late.clone(),
        });
        assert_eq!(read_body(body, 100).await, Err(BodyError::Unreadable));
        assert!(late.load(Ordering::Acquire));
    }
}
