//! A request's parameters: read from a GET's query string, checked (a persisted query's
//! hash included), and looked at for whether the operation it runs is a mutation.

use async_graphql::parser::types::{DocumentOperations, OperationType};
use axum::http::StatusCode;
use axum::response::Response;

use super::response::{MediaType, request_error, respond};
use crate::graphql::cost::CostModel;
use crate::graphql::persisted::{self, Caller};
use crate::http::HttpState;

/// The GraphQL request in a GET's query string: `query`, `operationName`, and `variables` and
/// `extensions` as JSON (GraphQL over HTTP). async-graphql's own parser reads
/// `operation_name`, so a named operation of a document with several would not run.
pub(super) fn parse_query_string(uri: &axum::http::Uri) -> Result<async_graphql::Request, String> {
    use std::collections::HashMap;
    let axum::extract::Query(mut params) = axum::extract::Query::<HashMap<String, String>>::try_from_uri(uri)
        .map_err(|err| format!("malformed query string: {err}"))?;
    let json = |name: &str, params: &mut HashMap<String, String>| -> Result<Option<serde_json::Value>, String> {
        params
            .remove(name)
            .filter(|text| !text.is_empty())
            .map(|text| serde_json::from_str(&text).map_err(|err| format!("`{name}` is not JSON: {err}")))
            .transpose()
            .map(|value| value.filter(|value: &serde_json::Value| !value.is_null()))
    };
    let mut request = async_graphql::Request::new(params.remove("query").unwrap_or_default());
    request.operation_name = params.remove("operationName").filter(|name| !name.is_empty());
    if let Some(variables) = json("variables", &mut params)? {
        request.variables =
            serde_json::from_value(variables).map_err(|_| "`variables` must be a JSON object".to_owned())?;
    }
    if let Some(extensions) = json("extensions", &mut params)? {
        request.extensions =
            serde_json::from_value(extensions).map_err(|_| "`extensions` must be a JSON object".to_owned())?;
    }
    Ok(request)
}

/// Checks a request's parameters and puts in the document a persisted query names: a
/// refusal is the answer to send (bad parameters are 400 whatever the media type).
pub(super) async fn prepare(
    state: &HttpState,
    request: &mut async_graphql::Request,
    media: MediaType,
    caller: Caller,
) -> Result<(), Response> {
    if request.query.is_empty() && !persisted::names_a_document(request) {
        return Err(request_error(
            media,
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "the request has no `query`: send the GraphQL document as `query`, or a persisted query's hash in `extensions.persistedQuery`",
        ));
    }
    if let Some(message) = persisted::parameters_error(request) {
        return Err(request_error(media, StatusCode::BAD_REQUEST, "BAD_REQUEST", message));
    }
    match state.persisted.resolve(request, caller).await {
        Ok(()) => Ok(()),
        Err(error) => Err(respond(media, async_graphql::Response::from_errors(vec![error]))),
    }
}

/// Whether the operation a request would run is a mutation: the named one, or the only one
/// (a single operation runs without being named, even when the document names it).
///
/// The parser is recursive, so only a document within the cost check's text limits is
/// parsed here; one beyond them goes on to be refused by the check itself. The parse is kept
/// in the request, so the document is parsed once.
pub(super) fn is_mutation(request: &mut async_graphql::Request, cost: &CostModel) -> bool {
    if cost.check_text(&request.query).is_err() {
        return false;
    }
    let operation_name = request.operation_name.clone();
    let Ok(document) = request.parsed_query() else {
        return false;
    };
    runs_mutation(document, operation_name.as_deref())
}

fn runs_mutation(document: &async_graphql::parser::types::ExecutableDocument, operation_name: Option<&str>) -> bool {
    let ty = match &document.operations {
        DocumentOperations::Single(op) => Some(op.node.ty),
        DocumentOperations::Multiple(ops) => match operation_name {
            Some(name) => ops.get(name).map(|op| op.node.ty),
            None if ops.len() == 1 => ops.values().next().map(|op| op.node.ty),
            None => None,
        },
    };
    ty == Some(OperationType::Mutation)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graphql;

    #[test]
    fn mutations_are_recognised() {
        let cost = graphql::cost_model(&crate::config::GraphqlSettings::default());
        let mutation = |query: &str, name: Option<&str>| {
            let mut request = async_graphql::Request::new(query);
            if let Some(name) = name {
                request = request.operation_name(name);
            }
            is_mutation(&mut request, &cost)
        };
        assert!(mutation("mutation { x }", None));
        assert!(!mutation("{ x }", None));
        assert!(mutation("query A { x } mutation B { y }", Some("B")));
        // One named operation runs without `operationName`: it must not slip through GET.
        assert!(mutation("mutation LogIn { x }", None));
        assert!(!mutation("query Venues { x }", None));
        // Several operations and no name: nothing runs (the executor refuses it).
        assert!(!mutation("query A { x } mutation B { y }", None));
    }

    #[test]
    fn a_document_past_the_text_limits_is_not_parsed_to_look_for_a_mutation() {
        let cost = graphql::cost_model(&crate::config::GraphqlSettings::default());
        // Deep enough to exhaust a recursive parser's stack; refused by the check unparsed.
        let bomb = format!("{{ x(a: {}1{}) }}", "[".repeat(100_000), "]".repeat(100_000));
        let mut request = async_graphql::Request::new(bomb);
        assert!(!is_mutation(&mut request, &cost));
    }
}
