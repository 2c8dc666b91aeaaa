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

/// The span an operation runs in (HTTP; over a WebSocket the `operation` span of
/// `http::ws` carries the same name).
pub fn operation(name: Option<&str>, kind: &'static str) -> tracing::Span {
    tracing::info_span!("graphql", operation.name = loggable_name(name), operation.kind = kind)
}

/// An operation's name as logged: a client chooses it, so at most [`NAME_LIMIT`] bytes
/// (cut at a character boundary), and `""` for none.
pub fn loggable_name(name: Option<&str>) -> &str {
    let name = name.unwrap_or("");
    if name.len() <= NAME_LIMIT {
        return name;
    }
    let mut end = NAME_LIMIT;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// Longest operation name logged.
pub const NAME_LIMIT: usize = 64;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_operation_name_is_cut_for_the_logs() {
        assert_eq!(loggable_name(None), "");
        assert_eq!(loggable_name(Some("Seats")), "Seats");
        let long = "좌석".repeat(40);
        let cut = loggable_name(Some(&long));
        assert!(cut.len() <= NAME_LIMIT && long.starts_with(cut) && !cut.is_empty());
    }
}
