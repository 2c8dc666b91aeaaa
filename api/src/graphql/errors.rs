//! Error codes for the errors async-graphql raises itself (coded by `graphql::pipeline`), and a
//! last pass over every response so that no error reaches a client without `extensions.code`.

use async_graphql::{ErrorExtensionValues, Response, ServerError, Value};

use crate::error::ErrorCode;

pub const GRAPHQL_PARSE_FAILED: &str = "GRAPHQL_PARSE_FAILED";
pub const GRAPHQL_VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";
pub const QUERY_TOO_DEEP: &str = ErrorCode::QueryTooDeep.as_str();
pub const QUERY_TOO_COMPLEX: &str = ErrorCode::QueryTooComplex.as_str();

/// Gives every remaining uncoded error a code and tags internal errors with the request id
/// (so that a user can quote it and the logs can be searched for it).
///
/// The only errors left without a code by then are async-graphql's own input coercion
/// errors raised during execution (an argument of the wrong shape), hence BAD_USER_INPUT.
pub fn finalize(mut response: Response, request_id: Option<&str>) -> Response {
    for err in &mut response.errors {
        let ext = err.extensions.get_or_insert_with(ErrorExtensionValues::default);
        if ext.get("code").is_none() {
            ext.set("code", "BAD_USER_INPUT");
        }
    }
    if let Some(id) = request_id {
        for err in response.errors.iter_mut().filter(|err| is_internal(err)) {
            err.extensions
                .get_or_insert_with(ErrorExtensionValues::default)
                .set("requestId", id);
        }
    }
    response
}

/// `error` with `extensions.code` set to `code`, unless it has a code already.
pub fn with_code(mut error: ServerError, code: &str) -> ServerError {
    let extensions = error.extensions.get_or_insert_with(ErrorExtensionValues::default);
    if extensions.get("code").is_none() {
        extensions.set("code", code);
    }
    error
}

/// A response refused before execution began (a request error: unparsable, invalid, an
/// unknown operation, variables that do not fit): errors at no path, and no data. Such a
/// response is sent without a `data` entry (GraphQL spec, "Response Format").
pub fn never_ran(response: &Response) -> bool {
    response.data == Value::Null && !response.errors.is_empty() && response.errors.iter().all(|e| e.path.is_empty())
}

/// An error coded INTERNAL_SERVER_ERROR: its cause is hidden, and the client gets a request
/// id to quote instead.
pub fn is_internal(err: &ServerError) -> bool {
    err.extensions
        .as_ref()
        .and_then(|ext| ext.get("code"))
        .is_some_and(|code| *code == Value::from("INTERNAL_SERVER_ERROR"))
}

/// An error of the service itself (internal, or the database unreachable): the same
/// request may succeed elsewhere or later.
pub fn is_service_failure(err: &ServerError) -> bool {
    is_internal(err)
        || err
            .extensions
            .as_ref()
            .and_then(|ext| ext.get("code"))
            .is_some_and(|code| *code == Value::from("UNAVAILABLE"))
}
