//! What every operation goes through before and after the schema executes it: the cost
//! check, the NUL check, error codes for parse and validation errors, operation metrics,
//! and what follows a mutation.
//!
//! These run around the execution rather than as schema extensions: async-graphql passes
//! every field of every answer through the resolve hook of each extension the schema has,
//! whether the extension uses the hook or not (a boxed future per field and extension; P2's
//! answer has about 500 fields), and none of these needs more than the request.

use std::time::Instant;

use async_graphql::parser::types::{DocumentOperations, OperationType};
use async_graphql::{Request, Response, ServerError};

use super::errors::{GRAPHQL_PARSE_FAILED, GRAPHQL_VALIDATION_FAILED, with_code};
use crate::auth::viewer::Viewer;
use crate::metrics::{OperationLabels, OperationNameLabels};
use crate::state::AppState;

/// What is known of an operation once it passed the checks.
#[derive(Clone)]
pub struct Admitted {
    ty: OperationType,
    /// The operation's name, as the request or the document gives it.
    name: Option<String>,
    /// Signed-in user, for read-your-writes after a mutation.
    writer: Option<i64>,
    started: Instant,
    root_type: &'static str,
}

impl Admitted {
    pub fn is_mutation(&self) -> bool {
        self.ty == OperationType::Mutation
    }

    pub fn is_query(&self) -> bool {
        self.ty == OperationType::Query
    }

    pub fn is_subscription(&self) -> bool {
        self.ty == OperationType::Subscription
    }

    /// What puts the answer's fields in the order they were selected. Made only when the
    /// executor runs (it copies the document; a direct answer is written in order).
    pub fn selection_order(&self, request: &mut Request) -> Option<std::sync::Arc<super::order::SelectionOrder>> {
        let document = request.parsed_query().ok()?.clone();
        Some(super::order::SelectionOrder::new(
            document,
            self.name.clone(),
            request.variables.clone(),
            self.root_type.to_owned(),
        ))
    }

    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// `query`, `mutation` or `subscription`.
    pub fn kind(&self) -> &'static str {
        match self.ty {
            OperationType::Query => "query",
            OperationType::Mutation => "mutation",
            OperationType::Subscription => "subscription",
        }
    }
}

/// Checks `request` before it is executed, in the order the schema's extensions used to:
/// the cost check (which parses the document once, for everyone after it), text with NUL,
/// then the parse itself. A refusal is the response to send.
pub fn admit(app: &AppState, request: &mut Request, streaming: bool) -> Result<Admitted, Box<Response>> {
    let started = Instant::now();
    let refuse = |error: ServerError| Box::new(Response::from_errors(vec![error]));
    if let Err(refusal) = super::cost_model(&app.settings.graphql).admit(request) {
        tracing::info!(
            measure = refusal.measure,
            cost = refusal.value,
            limit = refusal.limit,
            "refused a GraphQL document before execution"
        );
        return Err(refuse(refusal.into_server_error()));
    }
    if let Some(error) = super::no_nul::check(request) {
        return Err(refuse(error));
    }
    let writer = request
        .data
        .get(&std::any::TypeId::of::<Viewer>())
        .and_then(|viewer| viewer.downcast_ref::<Viewer>())
        .and_then(Viewer::principal)
        .map(|principal| principal.user_id.0);
    let operation_name = request.operation_name.clone();
    let document = match request.parsed_query() {
        Ok(document) => document,
        Err(error) => return Err(refuse(with_code(error, GRAPHQL_PARSE_FAILED))),
    };
    // The same choice, and the same messages, as async-graphql's own; made here to know the
    // operation's type and name, and to code these errors as bad input.
    let unknown = |name: &str| {
        let message = format!(r#"Unknown operation named "{name}""#);
        refuse(with_code(ServerError::new(message, None), "BAD_USER_INPUT"))
    };
    let (name, ty) = match (&document.operations, operation_name) {
        // An anonymous operation has no name to be asked for by.
        (DocumentOperations::Single(_), Some(name)) => return Err(unknown(&name)),
        (DocumentOperations::Single(op), None) => (None, op.node.ty),
        (DocumentOperations::Multiple(ops), Some(name)) => match ops.get(name.as_str()) {
            Some(op) => (Some(name), op.node.ty),
            None => return Err(unknown(&name)),
        },
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
            let (name, op) = ops.iter().next().expect("one operation");
            (Some(name.to_string()), op.node.ty)
        }
        (DocumentOperations::Multiple(_), None) => {
            let error = ServerError::new("Operation name required in request.", None);
            return Err(refuse(with_code(error, "BAD_USER_INPUT")));
        }
    };
    if ty == OperationType::Subscription && !streaming {
        let error = ServerError::new("Subscriptions are not supported on this transport.", None);
        return Err(refuse(with_code(error, "BAD_USER_INPUT")));
    }
    let root_type = match ty {
        OperationType::Query => "QueryRoot",
        OperationType::Mutation => "MutationRoot",
        OperationType::Subscription => "SubscriptionRoot",
    };
    Ok(Admitted {
        ty,
        name,
        writer,
        started,
        root_type,
    })
}

/// Codes what the schema refused before executing (validation: errors at no path, with no
/// data), so that no such error leaves without `extensions.code`.
pub fn code_refusals(mut response: Response) -> Response {
    if super::errors::never_ran(&response) {
        for error in response.errors.iter_mut() {
            let coded = std::mem::replace(error, ServerError::new("", None));
            *error = with_code(coded, GRAPHQL_VALIDATION_FAILED);
        }
    }
    response
}

/// After an operation's (one) response: its metrics, and what follows a mutation that ran
/// (not one the schema refused before running it).
pub async fn finish(app: &AppState, admitted: &Admitted, response: &Response) {
    record(
        app,
        admitted.name.as_deref(),
        admitted.started,
        response.errors.is_empty(),
    );
    if admitted.is_mutation() && !super::errors::never_ran(response) {
        after_mutation(app, admitted.writer).await;
    }
}

/// Counts an operation's response under its name (refusals by a check: `None`), `ok` when
/// it has no error.
pub fn record(app: &AppState, name: Option<&str>, started: Instant, ok: bool) {
    let metrics = &app.metrics;
    let operation = metrics.operation_names.label(label(name));
    let outcome = if ok { "ok" } else { "error" };
    metrics
        .graphql_operations
        .get_or_create(&OperationLabels {
            operation: operation.clone(),
            outcome,
        })
        .inc();
    metrics
        .graphql_duration
        .get_or_create(&OperationNameLabels { operation })
        .observe(started.elapsed().as_secs_f64());
}

/// What follows every mutation, over HTTP and WebSocket alike, done once here rather than in
/// every resolver that writes, where it would be forgotten:
/// - the outbox relay is woken, so that a seat held through the API reaches seat-map
///   subscribers without waiting for the relay's next poll;
/// - with read replicas, the primary's WAL position is remembered for the viewer, so that
///   their next reads see what they just wrote (see [`crate::infra::replicas`]).
async fn after_mutation(app: &AppState, writer: Option<i64>) {
    app.relay.wake();
    if let Some(user_id) = writer {
        app.replicas.wrote(user_id).await;
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
