//! The GraphQL schema: roots merged from one module per domain, limits, and error codes.
//!
//! Building the schema needs no database, so `curtain schema` can print the SDL anywhere.
//! Request-scoped data (the caller, dataloaders) is attached per request by the HTTP layer.

mod accounts;
pub mod audit;
pub mod batch;
pub(crate) mod booking;
mod catalog;
pub mod cost;
mod coupons;
pub mod direct;
pub mod errors;
pub mod fanout;
pub mod guard;
mod jobs;
pub mod loaders;
mod no_nul;
mod node;
pub(crate) mod notifications;
mod order;
mod payments;
pub mod persisted;
mod pipeline;
mod posters;
pub mod reads;
pub mod relay;
mod reviews;
mod search;
pub mod spans;
pub(crate) mod tickets;
pub(crate) mod waiting_room;
mod waitlist;

use std::sync::{Arc, OnceLock};

use async_graphql::{Context, MergedObject, MergedSubscription, Schema, SchemaBuilder};
use tracing::Instrument;

use crate::config::GraphqlSettings;
use crate::error::{ApiError, ApiResult};
use crate::infra::replicas::{PrimaryReason, Route};
use crate::state::AppState;
pub(crate) use reads::reader;
pub use reads::{Reads, Source};

#[derive(MergedObject, Default)]
pub struct QueryRoot(
    catalog::CatalogQuery,
    accounts::AccountQuery,
    booking::BookingQuery,
    audit::AuditQuery,
    notifications::NotificationQuery,
    jobs::JobQuery,
    node::NodeQuery,
    search::SearchQuery,
    coupons::CouponQuery,
    coupons::CouponAdminQuery,
    payments::PaymentQuery,
    tickets::TicketQuery,
    tickets::DoorQuery,
    waitlist::WaitlistQuery,
);

#[derive(MergedObject, Default)]
pub struct MutationRoot(
    accounts::AccountMutation,
    booking::BookingMutation,
    catalog::CatalogMutation,
    notifications::NotificationMutation,
    reviews::ReviewMutation,
    posters::PosterMutation,
    coupons::CouponMutation,
    coupons::CouponAdminMutation,
    payments::PaymentMutation,
    waiting_room::WaitingRoomMutation,
    tickets::TicketMutation,
    tickets::DoorMutation,
    waitlist::WaitlistMutation,
);

#[derive(MergedSubscription, Default)]
pub struct SubscriptionRoot(
    booking::BookingSubscription,
    notifications::NotificationSubscription,
    waiting_room::WaitingRoomSubscription,
    tickets::DoorSubscription,
);

/// What resolvers return; `?` on an [`ApiError`] keeps its code.
pub type GqlResult<T> = async_graphql::Result<T>;

pub type CurtainSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// The schema's types alone: no limits, extensions or data.
fn bare_schema() -> SchemaBuilder<QueryRoot, MutationRoot, SubscriptionRoot> {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot::default(),
    )
}

/// The schema's shape as the cost check reads it. It depends only on the compiled types,
/// so it is read from the SDL once per process.
pub fn schema_shape() -> Arc<cost::SchemaShape> {
    static SHAPE: OnceLock<Arc<cost::SchemaShape>> = OnceLock::new();
    SHAPE
        .get_or_init(|| Arc::new(cost::SchemaShape::from_sdl(&sdl())))
        .clone()
}

/// The cost check with the limits of `settings` (see [`cost`]).
pub fn cost_model(settings: &GraphqlSettings) -> cost::CostModel {
    cost::CostModel::new(schema_shape(), cost::CostLimits::from_settings(settings))
}

/// The schema served by a running application. It has no extensions (but resolver spans
/// when the log filter asks for them: see [`spans`]): what every operation goes through
/// (the cost check first of all) runs around its execution, in [`pipeline`], by the
/// `execute` functions below, the only way in. The cost check replaces
/// async-graphql's depth and complexity limits, which expand every fragment at every spread
/// before comparing; its recursion limit is set to the check's own nesting limit, so it
/// never refuses first.
pub fn build_schema(state: AppState) -> CurtainSchema {
    let builder = bare_schema()
        .limit_recursive_depth(cost::NESTING_LIMIT as usize)
        .data(state);
    if spans::resolver_spans_wanted() {
        builder.extension(spans::ResolverSpans).finish()
    } else {
        builder.finish()
    }
}

/// The SDL clients see; `schema.graphql` at the repository root must equal it.
pub fn sdl() -> String {
    bare_schema().finish().sdl()
}

/// The answer to one request over HTTP.
pub enum Answer {
    /// The executor's response.
    Executed(async_graphql::Response),
    /// A query's answer written straight to JSON (see [`direct`]): the whole body,
    /// `{"data":…}`, with no error.
    Written(Vec<u8>),
}

impl Answer {
    /// The answer's errors (a written answer has none).
    pub fn errors(&self) -> &[async_graphql::ServerError] {
        match self {
            Self::Executed(response) => &response.errors,
            Self::Written(_) => &[],
        }
    }
}

/// Executes one request with fresh per-request dataloaders (see [`loaders::per_request`]),
/// every read on the primary: a query's reads through one snapshot (see [`reads`]), a
/// mutation's (`writes`) each on its own.
pub async fn execute(
    schema: &CurtainSchema,
    plans: &direct::Plans,
    request: async_graphql::Request,
    app: &AppState,
    writes: bool,
) -> Answer {
    let db = &app.db;
    let source = if writes {
        Source::each(db.clone())
    } else {
        Source::snapshot(
            db.clone(),
            app.metrics.clone(),
            app.replicas.snapshots(Route::Primary(PrimaryReason::NoReplica)),
        )
    };
    let reads = Reads {
        source,
        route: Route::Primary(PrimaryReason::NoReplica),
    };
    execute_reading(schema, plans, request, app, reads).await
}

/// Executes one request whose lag-tolerant reads (the catalog and its loaders, reviews,
/// public lists, reservation search: see [`reader`]) go to `reads`, and everything else to
/// the primary (through the same snapshot when `reads` is the primary's). A query the
/// [`direct`] writer knows (in `plans`, the instance's) is answered by it.
pub async fn execute_reading(
    schema: &CurtainSchema,
    plans: &direct::Plans,
    mut request: async_graphql::Request,
    app: &AppState,
    reads: Reads,
) -> Answer {
    let started = std::time::Instant::now();
    let admitted = match pipeline::admit(app, &mut request, false) {
        Ok(admitted) => admitted,
        Err(refusal) => {
            pipeline::record(app, None, started, false);
            return Answer::Executed(*refusal);
        }
    };
    let source = reads.source.clone();
    let span = spans::operation(admitted.name(), admitted.kind());
    // The text and the parsed document, borrowed at once (the parse is cached in the request).
    let query = std::mem::take(&mut request.query);
    let known = match request.parsed_query() {
        Ok(document) if admitted.is_query() => Some(plans.known(&query, admitted.name(), document).await),
        _ => None,
    };
    request.query = query;
    if let Some(direct::Known::Direct(plan)) = &known {
        let answer = direct::answer(app, plan, &request.variables, &source);
        match answer.instrument(span.clone()).await {
            Ok(body) => {
                source.finish().await;
                app.metrics.graphql_direct_answers.inc();
                pipeline::record(app, admitted.name(), started, true);
                return Answer::Written(body);
            }
            // The executor answers, and says what went wrong.
            Err(direct::Fallback) => {
                app.metrics.graphql_direct_fallbacks.inc();
            }
        }
    }
    let order = admitted.selection_order(&mut request);
    let primary = match reads.route {
        Route::Primary(_) => source.clone(),
        Route::Replica(_) => Source::each(app.db.clone()),
    };
    let (loaders, batches) = loaders::per_request(primary, source.clone());
    let response = batch::drive(schema.execute(request.data(loaders).data(reads)), batches)
        .instrument(span)
        .await;
    source.finish().await;
    let mut response = pipeline::code_refusals(response);
    if let Some(order) = order {
        order.apply(&mut response.data);
    }
    pipeline::finish(app, &admitted, &response).await;
    if let Some(known) = known
        && response.errors.is_empty()
    {
        plans.answered_cleanly(known).await;
    }
    Answer::Executed(response)
}

/// Executes one operation as a stream of responses (one for a query or mutation, one per
/// event for a subscription), with its own dataloaders; every read on its own, so that each
/// event sees the newest state.
pub fn execute_stream(
    schema: &CurtainSchema,
    mut request: async_graphql::Request,
    app: &AppState,
) -> futures::stream::BoxStream<'static, async_graphql::Response> {
    use futures::StreamExt;
    let admitted = match pipeline::admit(app, &mut request, true) {
        Ok(admitted) => admitted,
        Err(refusal) => return futures::stream::once(async move { *refusal }).boxed(),
    };
    let db = &app.db;
    let (loaders, batches) = loaders::per_request(Source::each(db.clone()), Source::each(db.clone()));
    let order = admitted.selection_order(&mut request);
    let responses =
        batch::drive_stream(Box::pin(schema.execute_stream(request.data(loaders))), batches).map(move |response| {
            let mut response = pipeline::code_refusals(response);
            if let Some(order) = &order {
                order.apply(&mut response.data);
            }
            response
        });
    if admitted.is_subscription() {
        return responses.boxed();
    }
    // A query or mutation: one response, counted and followed up like one over HTTP.
    let app = app.clone();
    responses
        .then(move |response| {
            let app = app.clone();
            let admitted = admitted.clone();
            async move {
                pipeline::finish(&app, &admitted, &response).await;
                response
            }
        })
        .boxed()
}

pub(crate) fn app<'a>(ctx: &Context<'a>) -> ApiResult<&'a AppState> {
    ctx.data::<AppState>()
        .map_err(|_| ApiError::internal(anyhow::anyhow!("application state missing from the schema")))
}

pub(crate) fn request_info<'a>(ctx: &Context<'a>) -> ApiResult<&'a crate::state::RequestInfo> {
    ctx.data::<crate::state::RequestInfo>()
        .map_err(|_| ApiError::internal(anyhow::anyhow!("request info missing from the request")))
}

pub(crate) fn loaders<'a>(ctx: &Context<'a>) -> ApiResult<&'a loaders::Loaders> {
    ctx.data::<loaders::Loaders>()
        .map_err(|_| ApiError::internal(anyhow::anyhow!("dataloaders missing from the request")))
}
