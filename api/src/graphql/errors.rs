//! GraphQL's side of errors: an [`ApiError`] as a GraphQL error with `extensions.code` (its
//! cause logged here, inside the request's span, and never sent), codes for the errors
//! async-graphql raises itself (coded by `graphql::pipeline`), and a last pass over every
//! response so that no error reaches a client without `extensions.code`.

use async_graphql::{ErrorExtensionValues, ErrorExtensions, Response, ServerError, Value};

use crate::error::{ApiError, ErrorCode};

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

impl From<ApiError> for async_graphql::Error {
    fn from(err: ApiError) -> Self {
        match &err {
            ApiError::Internal(cause) => {
                tracing::error!(error = ?cause, "internal error while resolving a GraphQL request");
            }
            ApiError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "a store is unreachable; answering UNAVAILABLE");
            }
            _ => {}
        }
        let code = err.code().as_str();
        let field = match &err {
            ApiError::BadUserInput { field, .. } => field.clone(),
            _ => None,
        };
        let retry_after = match &err {
            ApiError::RateLimited { retry_after, .. } => Some(retry_after.as_secs().max(1)),
            _ => None,
        };
        let seat_ids: Option<Vec<String>> = match &err {
            ApiError::SeatUnavailable(seats) => Some(
                seats
                    .iter()
                    .map(|id| crate::ids::encode(crate::ids::NodeKind::Seat, *id).to_string())
                    .collect(),
            ),
            _ => None,
        };
        async_graphql::Error::new(err.message()).extend_with(|_, ext| {
            if let Some(seat_ids) = &seat_ids {
                ext.set("seatIds", seat_ids.clone());
            }
            ext.set("code", code);
            if let Some(field) = &field {
                ext.set("field", field.as_str());
            }
            if let Some(seconds) = retry_after {
                ext.set("retryAfter", seconds);
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_hide_their_cause() {
        let err: async_graphql::Error = ApiError::internal(anyhow::anyhow!("password=hunter2 at db:5432")).into();
        assert_eq!(err.message, "internal server error");
        let ext = err.extensions.expect("extensions");
        assert_eq!(
            ext.get("code"),
            Some(&async_graphql::Value::from("INTERNAL_SERVER_ERROR"))
        );
    }

    #[test]
    fn bad_input_names_the_field() {
        let err: async_graphql::Error = ApiError::bad_input("title", "title must not be empty").into();
        let ext = err.extensions.expect("extensions");
        assert_eq!(ext.get("code"), Some(&async_graphql::Value::from("BAD_USER_INPUT")));
        assert_eq!(ext.get("field"), Some(&async_graphql::Value::from("title")));
    }
}
