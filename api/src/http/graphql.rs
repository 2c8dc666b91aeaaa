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

use async_graphql::parser::types::{DocumentOperations, OperationType};
use std::net::IpAddr;

use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::client_ip::ClientIp;
use super::limits::{BodyError, read_body};
use super::{HttpState, REQUEST_ID};
use crate::auth::flows;
use crate::auth::viewer::Viewer;
use crate::graphql;
use crate::graphql::cost::CostModel;
use crate::graphql::errors;
use crate::graphql::persisted::{self, Caller};
use crate::infra::replicas::Route;
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

/// The GraphQL request in a GET's query string: `query`, `operationName`, and `variables` and
/// `extensions` as JSON (GraphQL over HTTP). async-graphql's own parser reads
/// `operation_name`, so a named operation of a document with several would not run.
fn parse_query_string(uri: &axum::http::Uri) -> Result<async_graphql::Request, String> {
    use std::collections::HashMap;
    let axum::extract::Query(mut params) = axum::extract::Query::<HashMap<String, String>>::try_from_uri(uri)
        .map_err(|err| format!("malformed query string: {err}"))?;
    let json = |name: &str, params: &mut HashMap<String, String>| -> Result<Option<serde_json::Value>, String> {
        params
            .remove(name)
            .filter(|text| !text.is_empty())
            .map(|text| serde_json::from_str(&text).map_err(|err| format!("`{name}` is not JSON: {err}")))
            .transpose()
            .map(|value| value.filter(|value: &serde_json::Value| !value.is_null()))
    };
    let mut request = async_graphql::Request::new(params.remove("query").unwrap_or_default());
    request.operation_name = params.remove("operationName").filter(|name| !name.is_empty());
    if let Some(variables) = json("variables", &mut params)? {
        request.variables =
            serde_json::from_value(variables).map_err(|_| "`variables` must be a JSON object".to_owned())?;
    }
    if let Some(extensions) = json("extensions", &mut params)? {
        request.extensions =
            serde_json::from_value(extensions).map_err(|_| "`extensions` must be a JSON object".to_owned())?;
    }
    Ok(request)
}

/// Checks a request's parameters and puts in the document a persisted query names: a
/// refusal is the answer to send (bad parameters are 400 whatever the media type).
async fn prepare(
    state: &HttpState,
    request: &mut async_graphql::Request,
    media: MediaType,
    caller: Caller,
) -> Result<(), Response> {
    if request.query.is_empty() && !persisted::names_a_document(request) {
        return Err(request_error(
            media,
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "the request has no `query`: send the GraphQL document as `query`, or a persisted query's hash in `extensions.persistedQuery`",
        ));
    }
    if let Some(message) = persisted::parameters_error(request) {
        return Err(request_error(media, StatusCode::BAD_REQUEST, "BAD_REQUEST", message));
    }
    match state.persisted.resolve(request, caller).await {
        Ok(()) => Ok(()),
        Err(error) => Err(respond(media, async_graphql::Response::from_errors(vec![error]))),
    }
}

fn body_error(media: MediaType, err: BodyError) -> Response {
    let (status, message) = match err {
        BodyError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "the request body is too large"),
        BodyError::Unreadable => (StatusCode::BAD_REQUEST, "the request body could not be read"),
    };
    request_error(media, status, "BAD_REQUEST", message)
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

/// What shared caches (a CDN) may do with an answer.
#[derive(Debug, Clone, Copy)]
enum Caching {
    /// Keep it for no one but the client (answers to POST, or made for a viewer).
    Private,
    /// An anonymous GET: without errors, anyone may keep it this many seconds (0: no one).
    Public(u64),
}

async fn execute(
    state: HttpState,
    client_ip: IpAddr,
    headers: &HeaderMap,
    mut request: async_graphql::Request,
    media: MediaType,
    caching: Caching,
) -> Response {
    let request_id = headers.get(REQUEST_ID).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let viewer = flows::authenticate(&state.app.auth, super::bearer::from_headers(headers)).await;
    let info = RequestInfo {
        request_id: request_id.clone(),
        client_ip,
    };
    let writes = is_mutation(&mut request, &graphql::cost_model(&state.app.settings.graphql));
    let response = if state.app.replicas.is_empty() {
        graphql::execute(&state.schema, request.data(viewer).data(info), &state.app, writes).await
    } else {
        execute_routed(&state, request, writes, viewer, info).await
    };
    let response = errors::finalize(response, request_id.as_deref());
    let cache_control = match caching {
        Caching::Public(seconds) if seconds > 0 && response.errors.is_empty() => {
            HeaderValue::from_str(&format!("public, max-age={seconds}")).unwrap_or(HeaderValue::from_static("no-store"))
        }
        _ => HeaderValue::from_static("private, no-store"),
    };
    let mut answer = respond(media, response);
    let headers = answer.headers_mut();
    headers.insert(header::CACHE_CONTROL, cache_control);
    // The answer depends on the media type asked for and on who asks.
    headers.insert(header::VARY, HeaderValue::from_static("accept, authorization"));
    answer
}

/// Writes a response. One refused before execution began is sent without `data` (GraphQL
/// spec, "Response Format") and, under `application/graphql-response+json`, with a 4xx or
/// 5xx status (GraphQL over HTTP); `application/json` answers every well-formed request 200.
fn respond(media: MediaType, response: async_graphql::Response) -> Response {
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

/// Executes a request with its lag-tolerant reads on a replica when one may serve it (see
/// [`crate::infra::replicas`]). A query that fails on the replica with an internal error (a
/// recovery conflict, say), or for any reason of the service's own when the replica then no
/// longer answers (it went away mid-request), is run again on the primary, once: a query
/// changes nothing, so running it twice is safe. UNAVAILABLE with the replica answering (Redis
/// away) is answered as it is. (After a mutation, the viewer's
/// write position is remembered by `graphql::after_mutation`, over WebSocket too.)
async fn execute_routed(
    state: &HttpState,
    request: async_graphql::Request,
    writes: bool,
    viewer: Viewer,
    info: RequestInfo,
) -> async_graphql::Response {
    let app = &state.app;
    let writer = viewer.principal().map(|principal| principal.user_id.0);
    let route = app.replicas.route(writes, writer).await;
    app.metrics.count_read_route(route.label());
    let again = matches!(route, Route::Replica(_)).then(|| {
        let mut copy = async_graphql::Request::new(request.query.clone()).variables(request.variables.clone());
        copy.operation_name = request.operation_name.clone();
        copy.extensions = request.extensions.clone();
        copy
    });
    let pool = app.replicas.pool(route).clone();
    let source = if writes {
        graphql::Source::each(pool)
    } else {
        graphql::Source::snapshot(pool, app.metrics.clone(), app.replicas.snapshots(route))
    };
    let reads = graphql::Reads { source, route };
    let request = request.data(viewer.clone()).data(info.clone());
    let response = graphql::execute_reading(&state.schema, request, app, reads).await;
    if let Some(copy) = again
        && response.errors.iter().any(errors::is_service_failure)
    {
        // Marks the replica down when it no longer answers.
        let replica_down = !app.replicas.answers(route).await;
        if replica_down || response.errors.iter().any(errors::is_internal) {
            tracing::warn!(
                replica_down,
                "a query failed on a read replica; running it again on the primary"
            );
            app.metrics.count_read_route("primary_after_replica_failure");
            return graphql::execute(&state.schema, copy.data(viewer).data(info), app, writes).await;
        }
    }
    response
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

/// Whether the operation a request would run is a mutation: the named one, or the only one
/// (a single operation runs without being named, even when the document names it).
///
/// The parser is recursive, so only a document within the cost check's text limits is
/// parsed here; one beyond them goes on to be refused by the check itself. The parse is kept
/// in the request, so the document is parsed once.
fn is_mutation(request: &mut async_graphql::Request, cost: &CostModel) -> bool {
    if cost.check_text(&request.query).is_err() {
        return false;
    }
    let operation_name = request.operation_name.clone();
    let Ok(document) = request.parsed_query() else {
        return false;
    };
    runs_mutation(document, operation_name.as_deref())
}

fn runs_mutation(document: &async_graphql::parser::types::ExecutableDocument, operation_name: Option<&str>) -> bool {
    let ty = match &document.operations {
        DocumentOperations::Single(op) => Some(op.node.ty),
        DocumentOperations::Multiple(ops) => match operation_name {
            Some(name) => ops.get(name).map(|op| op.node.ty),
            None if ops.len() == 1 => ops.values().next().map(|op| op.node.ty),
            None => None,
        },
    };
    ty == Some(OperationType::Mutation)
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
        let cost = graphql::cost_model(&crate::config::GraphqlSettings::default());
        let mutation = |query: &str, name: Option<&str>| {
            let mut request = async_graphql::Request::new(query);
            if let Some(name) = name {
                request = request.operation_name(name);
            }
            is_mutation(&mut request, &cost)
        };
        assert!(mutation("mutation { x }", None));
        assert!(!mutation("{ x }", None));
        assert!(mutation("query A { x } mutation B { y }", Some("B")));
        // One named operation runs without `operationName`: it must not slip through GET.
        assert!(mutation("mutation LogIn { x }", None));
        assert!(!mutation("query Venues { x }", None));
        // Several operations and no name: nothing runs (the executor refuses it).
        assert!(!mutation("query A { x } mutation B { y }", None));
    }

    #[test]
    fn a_document_past_the_text_limits_is_not_parsed_to_look_for_a_mutation() {
        let cost = graphql::cost_model(&crate::config::GraphqlSettings::default());
        // Deep enough to exhaust a recursive parser's stack; refused by the check unparsed.
        let bomb = format!("{{ x(a: {}1{}) }}", "[".repeat(100_000), "]".repeat(100_000));
        let mut request = async_graphql::Request::new(bomb);
        assert!(!is_mutation(&mut request, &cost));
    }
}
