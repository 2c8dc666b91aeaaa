//! Running a request: the viewer it acts for, its reads on a replica or on the primary, and
//! the caching headers its answer goes out with.

use std::net::IpAddr;

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;

use super::params::is_mutation;
use super::response::{MediaType, respond, respond_written};
use crate::auth::flows;
use crate::auth::viewer::Viewer;
use crate::graphql;
use crate::graphql::{Answer, errors};
use crate::http::{HttpState, REQUEST_ID};
use crate::infra::replicas::Route;
use crate::state::RequestInfo;

/// What shared caches (a CDN) may do with an answer.
#[derive(Debug, Clone, Copy)]
pub(super) enum Caching {
    /// Keep it for no one but the client (answers to POST, or made for a viewer).
    Private,
    /// An anonymous GET: without errors, anyone may keep it this many seconds (0: no one).
    Public(u64),
}

pub(super) async fn execute(
    state: HttpState,
    client_ip: IpAddr,
    headers: &HeaderMap,
    mut request: async_graphql::Request,
    media: MediaType,
    caching: Caching,
) -> Response {
    let request_id = headers.get(REQUEST_ID).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let viewer = flows::authenticate(&state.app.auth, crate::http::bearer::from_headers(headers)).await;
    let info = RequestInfo {
        request_id: request_id.clone(),
        client_ip,
    };
    let writes = is_mutation(&mut request, &graphql::cost_model(&state.app.settings.graphql));
    let answer = if state.app.replicas.is_empty() {
        graphql::execute(
            &state.schema,
            &state.plans,
            request.data(viewer).data(info),
            &state.app,
            writes,
        )
        .await
    } else {
        execute_routed(&state, request, writes, viewer, info).await
    };
    let (mut answer, ok) = match answer {
        Answer::Executed(response) => {
            let response = errors::finalize(response, request_id.as_deref());
            let ok = response.errors.is_empty();
            (respond(media, response), ok)
        }
        Answer::Written(body) => (respond_written(media, body), true),
    };
    let cache_control = match caching {
        Caching::Public(seconds) if seconds > 0 && ok => {
            HeaderValue::from_str(&format!("public, max-age={seconds}")).unwrap_or(HeaderValue::from_static("no-store"))
        }
        _ => HeaderValue::from_static("private, no-store"),
    };
    let headers = answer.headers_mut();
    headers.insert(header::CACHE_CONTROL, cache_control);
    // The answer depends on the media type asked for and on who asks.
    headers.insert(header::VARY, HeaderValue::from_static("accept, authorization"));
    answer
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
) -> Answer {
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
    let answer = graphql::execute_reading(&state.schema, &state.plans, request, app, reads).await;
    if let Some(copy) = again
        && answer.errors().iter().any(errors::is_service_failure)
    {
        // Marks the replica down when it no longer answers.
        let replica_down = !app.replicas.answers(route).await;
        if replica_down || answer.errors().iter().any(errors::is_internal) {
            tracing::warn!(
                replica_down,
                "a query failed on a read replica; running it again on the primary"
            );
            app.metrics.count_read_route("primary_after_replica_failure");
            return graphql::execute(&state.schema, &state.plans, copy.data(viewer).data(info), app, writes).await;
        }
    }
    answer
}
