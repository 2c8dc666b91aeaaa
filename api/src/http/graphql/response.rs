//! The answer's media type and shape (GraphQL over HTTP): `Accept` negotiation, and the
//! statuses and bodies of answers, of requests refused before they ran, and of bad requests.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::graphql::errors;
use crate::http::limits::BodyError;

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
pub(super) const JSON: &str = "application/json";

/// The media type a response is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MediaType {
    /// The spec's own type: request errors get 4xx statuses.
    GraphqlResponse,
    /// The legacy type: every well-formed request gets 200.
    Json,
}

impl MediaType {
    fn as_str(self) -> &'static str {
        match self {
            Self::GraphqlResponse => GRAPHQL_RESPONSE_JSON,
            Self::Json => JSON,
        }
    }
}

/// Picks the first acceptable media type in the client's order; `None` when we speak none.
/// A missing `Accept` (or a wildcard) gets `application/json`, which every client reads.
pub(super) fn negotiate(headers: &HeaderMap) -> Option<MediaType> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Some(MediaType::Json);
    };
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let refused = parts.any(|p| {
            matches!(
                p.trim().replace(' ', "").as_str(),
                "q=0" | "q=0.0" | "q=0.00" | "q=0.000"
            )
        });
        if refused {
            continue;
        }
        match essence.as_str() {
            GRAPHQL_RESPONSE_JSON => return Some(MediaType::GraphqlResponse),
            JSON | "application/*" | "*/*" => return Some(MediaType::Json),
            _ => {}
        }
    }
    if accept.trim().is_empty() {
        Some(MediaType::Json)
    } else {
        None
    }
}

/// Writes a response. One refused before execution began is sent without `data` (GraphQL
/// spec, "Response Format") and, under `application/graphql-response+json`, with a 4xx or
/// 5xx status (GraphQL over HTTP); `application/json` answers every well-formed request 200.
pub(super) fn respond(media: MediaType, response: async_graphql::Response) -> Response {
    let never_ran = errors::never_ran(&response);
    let status = if media == MediaType::GraphqlResponse && never_ran {
        refusal_status(&response)
    } else {
        StatusCode::OK
    };
    let body = if never_ran {
        serde_json::to_vec(&Refusal {
            errors: &response.errors,
            extensions: &response.extensions,
        })
    } else {
        serde_json::to_vec(&response)
    };
    match body {
        Ok(body) => (status, [(header::CONTENT_TYPE, media.as_str())], body).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "could not serialize a GraphQL response");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// A query's answer written straight to JSON (see `graphql::direct`): data, no error.
pub(super) fn respond_written(media: MediaType, body: Vec<u8>) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, media.as_str())], body).into_response()
}

/// A response without `data`.
#[derive(serde::Serialize)]
struct Refusal<'a> {
    errors: &'a [async_graphql::ServerError],
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    extensions: &'a std::collections::BTreeMap<String, async_graphql::Value>,
}

/// The status of a request refused before execution: the service's own failures are 5xx,
/// anything else is the request's fault.
fn refusal_status(response: &async_graphql::Response) -> StatusCode {
    if response.errors.iter().any(errors::is_internal) {
        StatusCode::INTERNAL_SERVER_ERROR
    } else if response.errors.iter().any(errors::is_service_failure) {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::BAD_REQUEST
    }
}

pub(super) fn request_error(media: MediaType, status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    (status, [(header::CONTENT_TYPE, media.as_str())], body.to_string()).into_response()
}

pub(super) fn not_acceptable() -> Response {
    (
        StatusCode::NOT_ACCEPTABLE,
        format!("this endpoint answers with {GRAPHQL_RESPONSE_JSON} or {JSON}; send an Accept header that allows one"),
    )
        .into_response()
}

pub(super) fn body_error(media: MediaType, err: BodyError) -> Response {
    let (status, message) = match err {
        BodyError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "the request body is too large"),
        BodyError::Unreadable => (StatusCode::BAD_REQUEST, "the request body could not be read"),
    };
    request_error(media, status, "BAD_REQUEST", message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_str(value).unwrap_or(HeaderValue::from_static("")),
        );
        headers
    }

    #[test]
    fn accept_headers_are_negotiated_in_order() {
        assert_eq!(negotiate(&HeaderMap::new()), Some(MediaType::Json));
        assert_eq!(
            negotiate(&accept("application/graphql-response+json, application/json;q=0.9")),
            Some(MediaType::GraphqlResponse)
        );
        assert_eq!(negotiate(&accept("application/json")), Some(MediaType::Json));
        assert_eq!(negotiate(&accept("*/*")), Some(MediaType::Json));
        assert_eq!(negotiate(&accept("text/html")), None);
        assert_eq!(negotiate(&accept("application/json;q=0")), None);
    }
}
