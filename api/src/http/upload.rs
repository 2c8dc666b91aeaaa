//! File uploads over HTTP: GraphQL multipart requests on `/graphql`, and the PUT target of
//! presigned upload URLs when files are stored locally.

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::HttpState;
use super::limits::{BodyError, read_body};
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
    check_operation_parts(content_type, &body, state.app.settings.server.body_limit_bytes).await?;
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

/// Holds the `operations` and `map` parts to the JSON body limit: only the file may use the
/// room a multipart request has beyond it.
async fn check_operation_parts(content_type: &str, body: &Bytes, limit: usize) -> Result<(), (StatusCode, String)> {
    let malformed = |err: multer::Error| (StatusCode::BAD_REQUEST, format!("malformed multipart request: {err}"));
    let boundary = multer::parse_boundary(content_type).map_err(malformed)?;
    let limits = multer::SizeLimit::new()
        .for_field("operations", limit as u64)
        .for_field("map", limit as u64);
    let stream = futures::stream::once(std::future::ready(Ok::<_, std::convert::Infallible>(body.clone())));
    let mut multipart =
        multer::Multipart::with_constraints(stream, boundary, multer::Constraints::new().size_limit(limits));
    let too_large = || {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the operations and map parts must each be at most {limit} bytes"),
        )
    };
    loop {
        let mut field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => return Ok(()),
            Err(multer::Error::FieldSizeExceeded { .. }) => return Err(too_large()),
            Err(err) => return Err(malformed(err)),
        };
        loop {
            match field.chunk().await {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(multer::Error::FieldSizeExceeded { .. }) => return Err(too_large()),
                Err(err) => return Err(malformed(err)),
            }
        }
    }
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
/// unexpired, and the body has exactly the signed type and length. The body is read only
/// once the URL is known good, and never past the signed length.
pub async fn put_upload(
    State(state): State<HttpState>,
    Path(key): Path<String>,
    Query(query): Query<UploadQuery>,
    headers: HeaderMap,
    body: Body,
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
    let mismatch = || {
        (
            StatusCode::BAD_REQUEST,
            "the body must have exactly the signed Content-Type and length",
        )
            .into_response()
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if content_type != grant.content_type || declared.is_some_and(|length| length != grant.content_length) {
        return mismatch();
    }
    let limit = usize::try_from(grant.content_length)
        .unwrap_or(usize::MAX)
        .min(state.app.settings.storage.max_poster_bytes);
    let body = match read_body(body, limit).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => {
            return (StatusCode::PAYLOAD_TOO_LARGE, "the body is longer than signed").into_response();
        }
        Err(BodyError::Unreadable) => return (StatusCode::BAD_REQUEST, "the body could not be read").into_response(),
    };
    if body.len() as u64 != grant.content_length {
        return mismatch();
    }
    match files.put(&grant.key, body.to_vec(), &grant.content_type).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(err) => {
            tracing::error!(error = ?err, "a presigned upload could not be stored");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
