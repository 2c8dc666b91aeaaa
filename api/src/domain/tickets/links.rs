//! The link to a ticket's PNG QR code, which its holder opens in a browser (no access token
//! there) to save or print it.
//!
//! The link is signed with the ticket keys, so that any instance behind the load balancer
//! can check it, and names the ticket's generation, so that a link shared before a transfer
//! stops working after it. It lapses after [`LINK_TTL`]; the app asks for a fresh one.

use chrono::{Duration, Utc};
use entity::{TicketState, ticket};
use sea_orm::{ConnectionTrait, EntityTrait};

use super::signing::TicketKeys;
use crate::error::ApiResult;

/// How long a PNG link works.
pub const LINK_TTL: Duration = Duration::hours(1);

fn message(ticket_id: i64, generation: i32, expires: i64) -> String {
    format!("ticket-qr-png:{ticket_id}:{generation}:{expires}")
}

/// The path and query of the PNG link of `ticket` (to put after the public base URL).
pub async fn png_path(db: &impl ConnectionTrait, keys: &TicketKeys, ticket: &ticket::Model) -> ApiResult<String> {
    let expires = (Utc::now() + LINK_TTL).timestamp();
    let (kid, signature) = keys
        .sign_detached(db, &message(ticket.id, ticket.generation, expires))
        .await?;
    Ok(format!(
        "/tickets/{}/qr.png?gen={}&exp={expires}&kid={kid}&sig={signature}",
        ticket.id, ticket.generation
    ))
}

/// A PNG link's parameters, as the query string carries them.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct PngLink {
    #[serde(rename = "gen")]
    pub generation: i32,
    pub exp: i64,
    pub kid: String,
    pub sig: String,
}

/// The ticket a PNG link shows, when the link is genuine, unexpired, and the ticket still
/// has that generation and is not cancelled; `None` otherwise (the handler answers 404 and
/// tells nothing more).
pub async fn open(
    db: &impl ConnectionTrait,
    keys: &TicketKeys,
    ticket_id: i64,
    link: &PngLink,
) -> ApiResult<Option<ticket::Model>> {
    if link.exp < Utc::now().timestamp() {
        return Ok(None);
    }
    let genuine = keys
        .verify_detached(db, &link.kid, &message(ticket_id, link.generation, link.exp), &link.sig)
        .await?;
    if !genuine {
        return Ok(None);
    }
    let ticket = ticket::Entity::find_by_id(ticket_id).one(db).await?;
    Ok(ticket.filter(|t| t.generation == link.generation && t.state != TicketState::Cancelled))
}
