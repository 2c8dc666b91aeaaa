//! GraphQL operation metrics, recorded by a schema extension so that HTTP and WebSocket
//! operations are counted alike, under the operation's name as the document gives it.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_graphql::Response;
use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute, NextRequest};

use crate::metrics::{Metrics, OperationLabels, OperationNameLabels};

pub struct OperationMetrics(pub Arc<Metrics>);

impl ExtensionFactory for OperationMetrics {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(OperationMetricsExtension {
            metrics: self.0.clone(),
            name: Mutex::new(None),
        })
    }
}

struct OperationMetricsExtension {
    metrics: Arc<Metrics>,
    /// The executed operation's name, once known.
    name: Mutex<Option<String>>,
}

#[async_graphql::async_trait::async_trait]
impl Extension for OperationMetricsExtension {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let started = Instant::now();
        let response = next.run(ctx).await;
        let name = self.name.lock().ok().and_then(|mut name| name.take());
        let operation = self.metrics.operation_names.label(label(name.as_deref()));
        let outcome = if response.errors.is_empty() { "ok" } else { "error" };
        self.metrics
            .graphql_operations
            .get_or_create(&OperationLabels {
                operation: operation.clone(),
                outcome,
            })
            .inc();
        self.metrics
            .graphql_duration
            .get_or_create(&OperationNameLabels { operation })
            .observe(started.elapsed().as_secs_f64());
        response
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        if let (Some(name), Ok(mut slot)) = (operation_name, self.name.lock()) {
            *slot = Some(name.to_string());
        }
        next.run(ctx, operation_name).await
    }
}

/// Operation names come from clients: keep them short and tidy (their number is bounded by
/// [`crate::metrics::OperationNames`]).
fn label(name: Option<&str>) -> String {
    match name {
        Some(name) if !name.is_empty() => name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(64)
            .collect(),
        _ => "anonymous".into(),
    }
}
