//! Tickets over plain HTTP: the public keys a scanner verifies payloads with, and the PNG QR
//! code behind a ticket's signed link.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::HttpState;
use crate::domain::tickets::{links, qr};

/// `/.well-known/curtain-ticket-keys.json`: every key that may have signed a ticket, as a
/// JSON Web Key Set (RFC 7517, Ed25519 keys per RFC 8037). Scanners fetch it while online
/// and verify payloads offline; retired keys stay here so old tickets keep verifying.
pub async fn keys(State(state): State<HttpState>) -> Response {
    match state.app.ticket_keys.published(&state.app.db).await {
        Ok(keys) => (
            // Short: a revoked key must leave scanners' copies soon.
            [(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=60"))],
            Json(json!({ "keys": keys })),
        )
            .into_response(),
        Err(err) => internal(err),
    }
}

/// `/tickets/{id}/qr.png?gen&exp&kid&sig`: the ticket's QR code, for a genuine, unexpired
/// link to a ticket that still opens the door. Anything else is 404, saying no more.
pub async fn qr_png(
    State(state): State<HttpState>,
    Path(ticket_id): Path<i64>,
    Query(link): Query<links::PngLink>,
) -> Response {
    let app = &state.app;
    let ticket = match links::open(&app.db, &app.ticket_keys, ticket_id, &link).await {
        Ok(Some(ticket)) => ticket,
        Ok(None) => return (StatusCode::NOT_FOUND, "no such ticket link, or it has expired").into_response(),
        Err(err) => return internal(err),
    };
    let png = match crate::domain::tickets::payload(&app.db, &app.ticket_keys, &ticket)
        .await
        .and_then(|payload| qr::png(&payload))
    {
        Ok(png) => png,
        Err(err) => return internal(err),
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("image/png")),
            // The code is the ticket: never kept by shared caches.
            (header::CACHE_CONTROL, HeaderValue::from_static("private, no-store")),
        ],
        png,
    )
        .into_response()
}

fn internal(err: crate::error::ApiError) -> Response {
    tracing::error!(error = ?err.into_anyhow(), "a ticket request failed");
    (StatusCode::INTERNAL_SERVER_ERROR, "internal server error").into_response()
}
