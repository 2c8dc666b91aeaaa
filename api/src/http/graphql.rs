//! GraphQL over HTTP, following the GraphQL-over-HTTP spec rather than the stock integration:
//! `Accept` negotiation between `application/graphql-response+json` and `application/json`,
//! 400 for request errors under the former, 405 for mutations over GET, 406/415 for media
//! types we cannot speak.
//!
//! The stock integration (`async-graphql-axum`) is not a dependency: its handler answers
//! every well-formed request 200 whatever the media type, and has no place for what is done
//! here before execution (the viewer, replica routing) or around it; the WebSocket
//! protocols live in `http::ws` for their close codes, identity re-checks and shared
//! encodings.

mod execution;
mod params;
mod response;

use std::net::IpAddr;

use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use self::execution::{Caching, execute};
use self::params::{is_mutation, parse_query_string, prepare};
use self::response::{JSON, MediaType, body_error, negotiate, not_acceptable, request_error};
use super::client_ip::ClientIp;
use super::limits::read_body;
use super::{HttpState, REQUEST_ID};
use crate::graphql;
use crate::graphql::persisted::Caller;

pub async fn post_graphql(
    State(state): State<HttpState>,
    ClientIp(client_ip): ClientIp,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(media) = negotiate(&headers) else {
        return not_acceptable();
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let body_limit = state.app.settings.server.body_limit_bytes;
    if essence == "multipart/form-data" {
        // Room for one poster besides the operations, which are held to `body_limit` apart.
        let body = match read_body(body, body_limit + state.app.settings.storage.max_poster_bytes).await {
            Ok(body) => body,
            Err(err) => return body_error(media, err),
        };
        return match super::upload::receive_multipart(&state, &headers, content_type, body).await {
            Ok(request) => run_posted(state.clone(), client_ip, &headers, request, media).await,
            Err((status, message)) => request_error(media, status, "BAD_REQUEST", &message),
        };
    }
    // JSON is never buffered past its own limit.
    let body = match read_body(body, body_limit).await {
        Ok(body) => body,
        Err(err) => return body_error(media, err),
    };
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
    run_posted(state, client_ip, &headers, request, media).await
}

/// A request sent by POST (JSON or multipart): checked, then run. POST may register
/// persisted queries, and its answers are for the client alone.
async fn run_posted(
    state: HttpState,
    client_ip: IpAddr,
    headers: &HeaderMap,
    mut request: async_graphql::Request,
    media: MediaType,
) -> Response {
    let caller = Caller {
        ip: client_ip,
        may_register: true,
    };
    if let Err(refusal) = prepare(&state, &mut request, media, caller).await {
        return refusal;
    }
    execute(state, client_ip, headers, request, media, Caching::Private).await
}

/// `GET /graphql`: a WebSocket upgrade (subscriptions), or a query in the query string.
pub async fn get_graphql(State(state): State<HttpState>, ClientIp(client_ip): ClientIp, request: Request) -> Response {
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
                super::ws::upgrade(state, client_ip, request_id, ws)
            }
            Err(rejection) => rejection.into_response(),
        };
    }
    let Some(media) = negotiate(&headers) else {
        return not_acceptable();
    };
    let mut request = match parse_query_string(&parts.uri) {
        Ok(request) => request,
        Err(message) => {
            return request_error(media, StatusCode::BAD_REQUEST, "BAD_REQUEST", &message);
        }
    };
    // A link must not make a browser register documents: GET only runs them.
    if let Err(refusal) = prepare(
        &state,
        &mut request,
        media,
        Caller {
            ip: client_ip,
            may_register: false,
        },
    )
    .await
    {
        return refusal;
    }
    if is_mutation(&mut request, &graphql::cost_model(&state.app.settings.graphql)) {
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
    // Shared caches may keep an anonymous answer for a moment; never one made for a viewer.
    let caching = if headers.contains_key(header::AUTHORIZATION) {
        Caching::Private
    } else {
        Caching::Public(state.app.settings.graphql.get_cache_seconds)
    };
    execute(state, client_ip, &headers, request, media, caching).await
}
