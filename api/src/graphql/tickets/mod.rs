//! Tickets: the holder's list and QR codes, transfers, and the key rotation admins do. The
//! door's side (check-in, offline uploads, the door count) is in [`door`].

mod door;

use std::collections::HashMap;

use async_graphql::connection::Connection;
use async_graphql::dataloader::Loader;
use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{seat, section, ticket};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

pub use door::{DoorMutation, DoorQuery, DoorSubscription};

use crate::domain::tickets::{self, links, qr, transfer};
use crate::error::ApiError;
use crate::graphql::audit::AdminWrite;
use crate::graphql::catalog::Session;
use crate::graphql::guard::{Role, RoleGuard, principal, viewer};
use crate::graphql::loaders::{CatalogLoader, LoadError, SessionKey, load_required};
use crate::graphql::relay::{ById, Cursor, ListedById, connection, page_request};
use crate::graphql::{GqlResult, app};
use crate::ids::{NodeKind, encode, expect};

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "entity::TicketState")]
pub enum TicketState {
    /// Opens the door once.
    Valid,
    /// Used: the holder is in.
    CheckedIn,
    /// No longer opens the door (`refunded` says whether its price went back).
    Cancelled,
}

/// The right to enter for one seat.
pub struct Ticket(pub ticket::Model);

impl Ticket {
    fn held_by_viewer(&self, ctx: &Context<'_>) -> bool {
        matches!(viewer(ctx), crate::auth::viewer::Viewer::User(p) if p.user_id == self.0.owner_id)
    }

    /// The QR fields are the holder's alone, and only while the ticket is not cancelled.
    fn shown_to_viewer(&self, ctx: &Context<'_>) -> bool {
        self.held_by_viewer(ctx) && self.0.state != entity::TicketState::Cancelled
    }

    async fn payload(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        if !self.shown_to_viewer(ctx) {
            return Ok(None);
        }
        let app = app(ctx)?;
        Ok(Some(tickets::payload(&app.db, &app.ticket_keys, &self.0).await?))
    }
}

#[Object]
impl Ticket {
    async fn id(&self) -> ID {
        encode(NodeKind::Ticket, self.0.id)
    }
    async fn state(&self) -> TicketState {
        self.0.state.into()
    }
    /// A cancelled ticket whose price went back to the buyer.
    async fn refunded(&self) -> bool {
        self.0.refunded
    }
    async fn seat(&self, ctx: &Context<'_>) -> GqlResult<TicketSeat> {
        Ok(load_required(ctx, SeatOfTicket(self.0.seat_id), || {
            format!("ticket {} has no seat", self.0.id)
        })
        .await?)
    }
    async fn session(&self, ctx: &Context<'_>) -> GqlResult<Session> {
        Ok(Session(
            load_required(ctx, SessionKey(self.0.session_id), || {
                format!("ticket {} has no session", self.0.id)
            })
            .await?,
        ))
    }
    /// The reservation the ticket was bought with.
    async fn reservation_id(&self) -> ID {
        encode(NodeKind::Reservation, self.0.reservation_id)
    }
    /// Whether the caller holds the ticket (false for a buyer who transferred it away).
    async fn is_mine(&self, ctx: &Context<'_>) -> bool {
        self.held_by_viewer(ctx)
    }
    async fn checked_in_at(&self) -> Option<DateTime<Utc>> {
        self.0.checked_in_at
    }
    /// The gate it was checked in at, as the scanner named it.
    async fn gate(&self) -> Option<&str> {
        self.0.gate.as_deref()
    }
    /// The signed payload the QR code carries: a compact JWS (EdDSA, Ed25519) that a scanner
    /// verifies offline with the keys at `/.well-known/curtain-ticket-keys.json`. Null
    /// unless the caller holds the ticket and it is not cancelled.
    async fn qr_payload(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        self.payload(ctx).await
    }
    /// The QR code of `qrPayload`, as an SVG document to show at the door. Null when
    /// `qrPayload` is.
    async fn qr_svg(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        match self.payload(ctx).await? {
            Some(payload) => Ok(Some(qr::svg(&payload)?)),
            None => Ok(None),
        }
    }
    /// A link to the QR code as a PNG, to open, save or print without logging in; it works
    /// for an hour, and stops working when the ticket is transferred or cancelled. Null when
    /// `qrPayload` is.
    async fn qr_png_url(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> {
        if !self.shown_to_viewer(ctx) {
            return Ok(None);
        }
        let app = app(ctx)?;
        let path = links::png_path(&app.db, &app.ticket_keys, &self.0).await?;
        Ok(Some(format!("{}{path}", app.files.base_url())))
    }
}

/// Where a ticket's seat is, as printed on it.
#[derive(SimpleObject, Debug, Clone)]
pub struct TicketSeat {
    /// The seat's ID, as on the seat map.
    pub id: ID,
    pub section: String,
    pub row: String,
    pub number: i32,
    pub grade: String,
}

/// A seat with its section's name, for tickets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SeatOfTicket(pub i64);

impl Loader<SeatOfTicket> for CatalogLoader {
    type Value = TicketSeat;
    type Error = LoadError;

    async fn load(&self, keys: &[SeatOfTicket]) -> Result<HashMap<SeatOfTicket, TicketSeat>, LoadError> {
        let rows = seat::Entity::find()
            .find_also_related(section::Entity)
            .filter(seat::Column::Id.is_in(keys.iter().map(|k| k.0)))
            .all(&self.db().await?)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(seat, section)| {
                let shown = TicketSeat {
                    id: encode(NodeKind::Seat, seat.id),
                    section: section.map(|s| s.name).unwrap_or_default(),
                    row: seat.row_label,
                    number: seat.number,
                    grade: seat.grade,
                };
                (SeatOfTicket(seat.id), shown)
            })
            .collect())
    }
}

/// The `tickets` list's cursors: by id alone.
type NewestFirst = ById<ticket::Model>;
impl ListedById for ticket::Model {
    const LIST: &'static str = "tickets";
    fn id(&self) -> i64 {
        self.id
    }
}

#[derive(Default)]
pub struct TicketQuery;

#[Object]
impl TicketQuery {
    /// The tickets the caller holds (bought, or transferred to them), newest first.
    #[graphql(guard = "RoleGuard(Role::User)")]
    async fn my_tickets(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        #[graphql(default = false)] include_cancelled: bool,
    ) -> GqlResult<Connection<Cursor, Ticket>> {
        let app = app(ctx)?;
        let page = page_request::<NewestFirst>(&app.settings.graphql, first, after)?;
        let rows = tickets::list_mine(&app.db, principal(ctx)?.user_id, include_cancelled, page).await?;
        Ok(connection::<NewestFirst, _>(rows, Ticket))
    }

    /// One ticket the caller holds.
    #[graphql(guard = "RoleGuard(Role::User)")]
    async fn ticket(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Ticket> {
        let raw = expect(NodeKind::Ticket, &id, "id")?;
        let ticket = tickets::find(&app(ctx)?.db, raw).await?;
        if ticket.owner_id != principal(ctx)?.user_id {
            return Err(ApiError::NotFound("ticket").into());
        }
        Ok(Ticket(ticket))
    }
}

#[derive(Default)]
pub struct TicketMutation;

#[Object]
impl TicketMutation {
    /// Sends one of the caller's tickets to another account (by its email), before the show.
    /// The ticket is signed again for its new holder; the QR code the caller had stops
    /// opening the door. The recipient is notified.
    #[graphql(guard = "RoleGuard(Role::User)")]
    async fn transfer_ticket(&self, ctx: &Context<'_>, ticket_id: ID, to_email: String) -> GqlResult<Ticket> {
        let raw = expect(NodeKind::Ticket, &ticket_id, "ticketId")?;
        let app = app(ctx)?;
        let moved = transfer::transfer(&app.db, app.channels, principal(ctx)?.user_id, raw, &to_email).await?;
        Ok(Ticket(moved))
    }

    /// Starts signing tickets with a new key; returns its key id. Tickets signed with older
    /// keys stay valid (those keys stay published), unless `revokePrevious` (a key leaked):
    /// then payloads signed with older keys are refused (TICKET_INVALID) until their holders
    /// open their tickets again, which shows a payload signed with the new key; scanners
    /// must fetch the key set again. Other instances sign with the new key within ten
    /// seconds and refuse revoked keys at once.
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn rotate_ticket_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = false)] revoke_previous: bool,
    ) -> GqlResult<String> {
        let app = app(ctx)?;
        let write = AdminWrite::begin(ctx).await?;
        let kid = app.ticket_keys.rotate(write.txn(), revoke_previous).await?;
        write.commit(ctx, "rotateTicketKey", NodeKind::Ticket, None).await?;
        app.ticket_keys.refresh(&app.db).await?;
        Ok(kid)
    }
}
