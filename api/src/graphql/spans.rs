//! Tracing below the HTTP request: a span for each GraphQL operation, and, when asked for,
//! one for each resolver of note.
//!
//! The operation's span (`graphql`, at INFO) carries its name and kind; it sits inside the
//! HTTP request's span (or the WebSocket operation's), so every line logged while it runs
//! carries the request id. Database statements get spans of their own from SeaORM
//! (`sea_orm.*`, at INFO, off by default: see the README's "Logs and traces").
//!
//! Resolver spans cost a boxed future per field, so the extension that makes them is in
//! the schema only when the log filter enables `curtain::graphql::resolve` at DEBUG when
//! the server starts (`RUST_LOG=info,curtain::graphql::resolve=debug`). Even then only the
//! resolvers of note get one: the operation's root fields and every field with a selection
//! of its own (an object or a list of objects, where loaders and queries run); a scalar
//! read off its parent's row is not worth a span.

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo};
use async_graphql::{ServerResult, Value};
use tracing::Instrument;

/// The target whose DEBUG level turns resolver spans on.
pub const RESOLVE_TARGET: &str = "curtain::graphql::resolve";

/// Whether the subscriber installed now wants resolver spans.
pub fn resolver_spans_wanted() -> bool {
    tracing::enabled!(target: RESOLVE_TARGET, tracing::Level::DEBUG)
}

/// The span an operation runs in.
pub fn operation(name: Option<&str>, kind: &'static str) -> tracing::Span {
    tracing::info_span!("graphql", operation.name = name.unwrap_or(""), operation.kind = kind)
}

/// Adds a DEBUG span around each resolver of note (see the module's documentation).
pub struct ResolverSpans;

impl ExtensionFactory for ResolverSpans {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ResolverSpans)
    }
}

#[async_trait::async_trait]
impl Extension for ResolverSpans {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        let of_note = info.path_node.parent.is_none() || !info.field.selection_set.node.items.is_empty();
        if !of_note || info.is_for_introspection {
            return next.run(ctx, info).await;
        }
        let span = tracing::debug_span!(
            target: RESOLVE_TARGET,
            "resolve",
            path = %info.path_node,
            parent = info.parent_type,
            returns = info.return_type,
        );
        next.run(ctx, info).instrument(span).await
    }
}
