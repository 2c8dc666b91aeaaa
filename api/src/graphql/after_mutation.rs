//! What follows every mutation, over HTTP and WebSocket alike, done once here rather than in
//! every resolver that writes, where it would be forgotten:
//! - the outbox relay is woken, so that a seat held through the API reaches seat-map
//!   subscribers without waiting for the relay's next poll;
//! - with read replicas, the primary's WAL position is remembered for the viewer, so that
//!   their next reads see what they just wrote (see [`crate::infra::replicas`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery};
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
        })
    }
}

struct AfterMutationExtension {
    relay: RelayWaker,
    replicas: Arc<Replicas>,
    mutation: AtomicBool,
}

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
        Ok(document)
    }

    /// The execution hook, not the request hook: operations over WebSocket are executed
    /// without going through the latter.
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let response = next.run(ctx, operation_name).await;
        if self.mutation.load(Ordering::Relaxed) {
            self.relay.wake();
            if let Some(principal) = ctx.data_opt::<Viewer>().and_then(Viewer::principal) {
                self.replicas.wrote(principal.user_id).await;
            }
        }
        response
    }
}
