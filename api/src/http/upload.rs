//! File uploads over HTTP: GraphQL multipart requests on `/graphql`, and the PUT target of
//! presigned upload URLs when files are stored locally.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::HttpState;
use crate::storage::Storage;

/// Headers a browser cannot send cross-site without a CORS preflight; one of them must be
/// present on a multipart request, as the multipart request spec advises against CSRF.
const PREFLIGHT_HEADERS: [&str; 3] = [
    "apollo-require-preflight",
    "x-apollo-operation-name",
    "graphql-preflight",
];

/// Parses a GraphQL multipart request (one file at most, within the poster limit); `Err`
/// carries the status and message to answer with.
pub async fn receive_multipart(
    state: &HttpState,
    headers: &HeaderMap,
    content_type: &str,
    body: Bytes,
) -> Result<async_graphql::Request, (StatusCode, String)> {
    let preflighted = PREFLIGHT_HEADERS
        .iter()
        .any(|name| headers.get(*name).is_some_and(|v| !v.is_empty()));
    if !preflighted {
        return Err((
            StatusCode::BAD_REQUEST,
            "multipart requests must carry a non-simple header such as Apollo-Require-Preflight: true".into(),
        ));
    }
    let max_file = state.app.settings.storage.max_poster_bytes;
    let options = async_graphql::http::MultipartOptions::default()
        .max_file_size(max_file)
        .max_num_files(1);
    async_graphql::http::receive_body(Some(content_type), futures::io::Cursor::new(body), options)
        .await
        .map_err(|err| match err {
            async_graphql::ParseRequestError::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the file must be at most {max_file} bytes"),
            ),
            other => (StatusCode::BAD_REQUEST, format!("malformed multipart request: {other}")),
        })
}

/// The query of a signed local upload URL.
#[derive(Debug, Deserialize)]
pub struct UploadQuery {
    expires: i64,
    length: u64,
    #[serde(rename = "type")]
    content_type: String,
    signature: String,
}

/// `PUT /files/uploads/{key}`: stores the body under `key` when the URL's signature is good,
/// unexpired, and the body has exactly the signed type and length.
pub async fn put_upload(
    State(state): State<HttpState>,
    Path(key): Path<String>,
    Query(query): Query<UploadQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let files = &state.app.files;
    let grant = match files.verify_upload(&key, query.expires, query.length, &query.content_type, &query.signature) {
        Ok(grant) => grant,
        Err(reason) => return (StatusCode::FORBIDDEN, reason).into_response(),
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type != grant.content_type || body.len() as u64 != grant.content_length {
        return (
            StatusCode::BAD_REQUEST,
            "the body must have exactly the signed Content-Type and length",
        )
            .into_response();
    }
    match files.put(&grant.key, body.to_vec(), &grant.content_type).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(err) => {
            tracing::error!(error = ?err, "a presigned upload could not be stored");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
