//! What follows every mutation, over HTTP and WebSocket alike, done once here rather than in
//! every resolver that writes, where it would be forgotten:
//! - the outbox relay is woken, so that a seat held through the API reaches seat-map
//!   subscribers without waiting for the relay's next poll;
//! - with read replicas, the primary's WAL position is remembered for the viewer, so that
//!   their next reads see what they just wrote (see [`crate::infra::replicas`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextRequest};
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{Response, ServerResult, Variables};

use crate::auth::viewer::Viewer;
use crate::infra::replicas::Replicas;
use crate::outbox::relay::RelayWaker;

pub struct AfterMutation {
    pub relay: RelayWaker,
    pub replicas: Arc<Replicas>,
}

impl ExtensionFactory for AfterMutation {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(AfterMutationExtension {
            relay: self.relay.clone(),
            replicas: self.replicas.clone(),
            mutation: AtomicBool::new(false),
            writer: AtomicI64::new(NO_WRITER),
        })
    }
}

struct AfterMutationExtension {
    relay: RelayWaker,
    replicas: Arc<Replicas>,
    mutation: AtomicBool,
    /// The account calling, read where the request's data is at hand (the `request` hook
    /// runs before it is attached).
    writer: AtomicI64,
}

const NO_WRITER: i64 = i64::MIN;

#[async_graphql::async_trait::async_trait]
impl Extension for AfterMutationExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let mutation = document
            .operations
            .iter()
            .any(|(_, operation)| operation.node.ty == OperationType::Mutation);
        self.mutation.store(mutation, Ordering::Relaxed);
        if mutation && let Some(principal) = ctx.data_opt::<Viewer>().and_then(Viewer::principal) {
            self.writer.store(principal.user_id, Ordering::Relaxed);
        }
        Ok(document)
    }

    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let response = next.run(ctx).await;
        if self.mutation.load(Ordering::Relaxed) {
            self.relay.wake();
            let writer = self.writer.load(Ordering::Relaxed);
            if writer != NO_WRITER {
                self.replicas.wrote(writer).await;
            }
        }
        response
    }
}
