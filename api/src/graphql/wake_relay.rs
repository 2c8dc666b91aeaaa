//! Publishes outbox events as soon as a mutation is done, so that a seat held through the
//! API reaches seat-map subscribers without waiting for the relay's next poll. Done once
//! here rather than in every resolver that writes outbox rows, where it would be forgotten.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextRequest};
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{Response, ServerResult, Variables};

use crate::outbox::relay::RelayWaker;

pub struct WakeRelay(pub RelayWaker);

impl ExtensionFactory for WakeRelay {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(WakeRelayExtension {
            waker: self.0.clone(),
            mutation: AtomicBool::new(false),
        })
    }
}

struct WakeRelayExtension {
    waker: RelayWaker,
    mutation: AtomicBool,
}

#[async_graphql::async_trait::async_trait]
impl Extension for WakeRelayExtension {
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

    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let response = next.run(ctx).await;
        if self.mutation.load(Ordering::Relaxed) {
            self.waker.wake();
        }
        response
    }
}
