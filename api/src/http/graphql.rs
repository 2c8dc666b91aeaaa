//! GraphQL over HTTP, following the GraphQL-over-HTTP spec rather than the stock integration:
//! `Accept` negotiation between `application/graphql-response+json` and `application/json`,
//! 400 for request errors under the former, 405 for mutations over GET, 406/415 for media
//! types we cannot speak.

use async_graphql::http::GraphiQLSource;
use async_graphql::parser::parse_query;
use async_graphql::parser::types::{DocumentOperations, OperationType};
use axum::body::Bytes;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, Request, State, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::{HttpState, REQUEST_ID};
use crate::auth::flows;
use crate::graphql;
use crate::graphql::errors;
use crate::state::RequestInfo;

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

/// The media type a response is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MediaType {
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

pub async fn graphiql() -> Html<String> {
    Html(
        GraphiQLSource::build()
            .endpoint("/graphql")
            .title("Curtain GraphiQL")
            .finish(),
    )
}

pub async fn post_graphql(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(media) = negotiate(&headers) else {
        return not_acceptable();
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if essence == "multipart/form-data" {
        return match super::upload::receive_multipart(&state, &headers, content_type, body).await {
            Ok(request) => execute(state.clone(), peer, &headers, request, media).await,
            Err((status, message)) => request_error(media, status, "BAD_REQUEST", &message),
        };
    }
    if body.len() > state.app.settings.server.body_limit_bytes {
        return request_error(
            media,
            StatusCode::PAYLOAD_TOO_LARGE,
            "BAD_REQUEST",
            "the request body is too large",
        );
    }
    if essence != JSON {
        return request_error(
            media,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "BAD_REQUEST",
            "send the GraphQL request as JSON with Content-Type: application/json",
        );
    }
    let request: async_graphql::Request = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(err) => {
            return request_error(
                media,
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                &format!("the body is not a GraphQL request: {err}"),
            );
        }
    };
    execute(state, peer, &headers, request, media).await
}

/// `GET /graphql`: a WebSocket upgrade (subscriptions), or a query in the query string.
pub async fn get_graphql(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let (mut parts, _) = request.into_parts();
    let headers = parts.headers.clone();
    if headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
    {
        return match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
            Ok(ws) => {
                let request_id = headers.get(REQUEST_ID).and_then(|v| v.to_str().ok()).map(str::to_owned);
                super::ws::upgrade(state, peer, request_id, ws)
            }
            Err(rejection) => rejection.into_response(),
        };
    }
    let query = parts.uri.query().map(str::to_owned);
    let Some(media) = negotiate(&headers) else {
        return not_acceptable();
    };
    let request = match async_graphql::http::parse_query_string(query.as_deref().unwrap_or("")) {
        Ok(request) => request,
        Err(err) => {
            return request_error(
                media,
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                &format!("malformed query string: {err}"),
            );
        }
    };
    if is_mutation(&request) {
        let mut response = request_error(
            media,
            StatusCode::METHOD_NOT_ALLOWED,
            "BAD_REQUEST",
            "mutations must be sent with POST",
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    execute(state, peer, &headers, request, media).await
}

async fn execute(
    state: HttpState,
    peer: SocketAddr,
    headers: &HeaderMap,
    request: async_graphql::Request,
    media: MediaType,
) -> Response {
    let request_id = headers.get(REQUEST_ID).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let viewer = flows::authenticate(&state.app, bearer(headers)).await;
    let info = RequestInfo {
        request_id: request_id.clone(),
        client_ip: client_ip(peer, headers, state.app.settings.server.trust_forwarded_for),
    };
    let response = graphql::execute(&state.schema, request.data(viewer).data(info), &state.app.db).await;
    let response = errors::finalize(response, request_id.as_deref());

    let status = if media == MediaType::GraphqlResponse && errors::is_request_error(&response) {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    match serde_json::to_vec(&response) {
        Ok(body) => (status, [(header::CONTENT_TYPE, media.as_str())], body).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "could not serialize a GraphQL response");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Picks the first acceptable media type in the client's order; `None` when we speak none.
/// A missing `Accept` (or a wildcard) gets `application/json`, which every client reads.
fn negotiate(headers: &HeaderMap) -> Option<MediaType> {
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

fn is_mutation(request: &async_graphql::Request) -> bool {
    let Ok(document) = parse_query(&request.query) else {
        return false;
    };
    match &document.operations {
        DocumentOperations::Single(op) => op.node.ty == OperationType::Mutation,
        DocumentOperations::Multiple(ops) => match &request.operation_name {
            Some(name) => ops
                .get(name.as_str())
                .is_some_and(|op| op.node.ty == OperationType::Mutation),
            None => false,
        },
    }
}

/// The token of an `Authorization: Bearer …` header.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// The client's address: the peer, or the first `X-Forwarded-For` hop when configured to
/// trust the proxy in front.
fn client_ip(peer: SocketAddr, headers: &HeaderMap, trust_forwarded_for: bool) -> IpAddr {
    if trust_forwarded_for
        && let Some(ip) = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse().ok())
    {
        return ip;
    }
    peer.ip()
}

fn request_error(media: MediaType, status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    (status, [(header::CONTENT_TYPE, media.as_str())], body.to_string()).into_response()
}

fn not_acceptable() -> Response {
    (
        StatusCode::NOT_ACCEPTABLE,
        format!("this endpoint answers with {GRAPHQL_RESPONSE_JSON} or {JSON}; send an Accept header that allows one"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn mutations_are_recognised() {
        assert!(is_mutation(&async_graphql::Request::new("mutation { x }")));
        assert!(!is_mutation(&async_graphql::Request::new("{ x }")));
        let named = async_graphql::Request::new("query A { x } mutation B { y }").operation_name("B");
        assert!(is_mutation(&named));
    }

    #[test]
    fn forwarded_addresses_are_trusted_only_when_configured() {
        let peer: SocketAddr = ([10, 0, 0, 9], 5000).into();
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.7, 10.0.0.1"));
        assert_eq!(client_ip(peer, &headers, false).to_string(), "10.0.0.9");
        assert_eq!(client_ip(peer, &headers, true).to_string(), "203.0.113.7");
    }
}
