//! The HTTP surface: GraphQL, the web app, GraphiQL, health, metrics and stored files, behind request ids,
//! tracing, metrics, compression, CORS, body limits, deadlines and load shedding.

mod bearer;
pub mod client_ip;
mod graphql;
mod health;
mod limits;
mod observe;
pub mod serve;
mod tickets;
mod upload;
mod web;
mod webhooks;
mod ws;

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::routing::{get, put};
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::graphql::CurtainSchema;
use crate::state::AppState;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What the handlers need: the shared state and the schema built from it.
#[derive(Clone)]
pub struct HttpState {
    pub app: AppState,
    pub schema: CurtainSchema,
    /// Subscriptions' encodings, shared per shape by the WebSocket endpoint.
    pub fanout: std::sync::Arc<crate::graphql::fanout::Fanout>,
    /// The web pages' Content-Security-Policy headers.
    pub web: std::sync::Arc<web::Policies>,
    /// Persisted queries and trusted documents, by hash.
    pub persisted: std::sync::Arc<crate::graphql::persisted::PersistedDocuments>,
    /// The documents the direct writer has seen (see [`crate::graphql::direct`]).
    pub plans: std::sync::Arc<crate::graphql::direct::Plans>,
}

impl HttpState {
    pub fn new(
        app: AppState,
        schema: CurtainSchema,
        persisted: std::sync::Arc<crate::graphql::persisted::PersistedDocuments>,
    ) -> Self {
        let fanout = std::sync::Arc::new(crate::graphql::fanout::Fanout::new(schema.clone(), app.clone()));
        let posters = web::origin_of(&app.storage.public_url("posters"));
        let web = web::Policies::new(&app.settings, posters);
        Self {
            app,
            schema,
            fanout,
            web,
            persisted,
            plans: Default::default(),
        }
    }
}

pub fn router(state: HttpState) -> Router {
    let settings = &state.app.settings;
    let body_limit = settings.server.body_limit_bytes;
    let files = Router::new()
        // Reads its body itself, after checking the URL's signature.
        .route("/uploads/{*key}", put(upload::put_upload))
        .fallback_service(
            ServiceBuilder::new()
                .layer(SetResponseHeaderLayer::overriding(
                    header::CACHE_CONTROL,
                    // Stored objects get a fresh key when replaced, so they never change in place.
                    HeaderValue::from_static("public, max-age=31536000, immutable"),
                ))
                .service(ServeDir::new(&state.app.files.dir)),
        );
    // The GraphQL handler reads its body itself: JSON up to `body_limit`, multipart with
    // room for one poster.
    let mut sheddable = Router::new()
        .route("/graphql", get(graphql::get_graphql).post(graphql::post_graphql))
        .route("/webhooks/toss", axum::routing::post(webhooks::toss))
        .route("/.well-known/curtain-ticket-keys.json", get(tickets::keys))
        .route("/tickets/{id}/qr.png", get(tickets::qr_png));
    if settings.metrics.token.is_some() {
        sheddable = sheddable.route("/metrics", get(observe::metrics_with_token));
    }
    if settings.graphql.graphiql {
        sheddable = sheddable
            .route("/graphiql", get(web::graphiql_index))
            .route("/graphiql/{*path}", get(web::graphiql_file));
    }
    if settings.server.web_app {
        sheddable = sheddable
            .route("/", get(web::app_index))
            .route("/app/{*path}", get(web::app_file));
    }
    let in_flight = limits::InFlight::new(settings.server.in_flight_limit());
    let sheddable = sheddable
        .nest("/files", files)
        .layer(axum::middleware::from_fn_with_state(in_flight, limits::shed_load));
    let deadlines = limits::Deadlines::from_settings(&settings.server);
    let cors = cors(&settings.server.cors_allowed_origins);
    Router::new()
        .merge(sheddable)
        // Load balancers must see a busy instance as alive and ready: never shed.
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        // Bodies read through extractors are bounded by this (413 beyond it).
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(deadlines, limits::deadlines))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            observe::record_http,
        ))
        .with_state(state)
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(observe::span_for_request))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ))
                .layer(cors)
                .layer(CompressionLayer::new()),
        )
}

/// The metrics listener's routes: `/metrics` only, with no token (keep the listener private).
pub fn metrics_router(state: HttpState) -> Router {
    Router::new().route("/metrics", get(observe::metrics)).with_state(state)
}

/// Browsers may call from the configured origins only; `*` allows any (development).
fn cors(origins: &[String]) -> CorsLayer {
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::OPTIONS])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            header::ACCEPT,
            REQUEST_ID,
            HeaderName::from_static("apollo-require-preflight"),
        ])
        .expose_headers([REQUEST_ID])
        .max_age(Duration::from_secs(3600))
}
