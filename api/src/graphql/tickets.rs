//! Tickets: the holder's list and QR codes, transfers, and the door: check-in (one scan or
//! an offline scanner's upload), the door count, and the key rotation admins do.

use std::collections::HashMap;
use std::time::Duration;

use async_graphql::connection::Connection;
use async_graphql::dataloader::Loader;
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use entity::{seat, section, ticket};
use futures::StreamExt;
use futures::stream::BoxStream;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use tokio::sync::broadcast::error::RecvError;

use crate::domain::tickets::check_in::{self, Outcome, Scan};
use crate::domain::tickets::{self, door, links, qr, transfer};
use crate::error::ApiError;
use crate::graphql::audit::record_admin_action;
use crate::graphql::catalog::Session;
use crate::graphql::guard::{Role, RoleGuard, principal, viewer};
use crate::graphql::ids::{NodeKind, encode, expect};
use crate::graphql::loaders::{CatalogLoader, LoadError, SessionKey, load_error};
use crate::graphql::relay::{Cursor, Keyset, connection, page_request};
use crate::graphql::{GqlResult, app, loaders};
use crate::outbox::topic;

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
    /// The QR fields are the holder's alone, and only while the ticket is not cancelled.
    fn shown_to_viewer(&self, ctx: &Context<'_>) -> bool {
        let holder = matches!(viewer(ctx), crate::auth::viewer::Viewer::User(p) if p.user_id == self.0.owner_id);
        holder && self.0.state != entity::TicketState::Cancelled
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
        loaders(ctx)?
            .load_one(SeatOfTicket(self.0.seat_id))
            .await
            .map_err(load_error)?
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("ticket {} has no seat", self.0.id)).into())
    }
    async fn session(&self, ctx: &Context<'_>) -> GqlResult<Session> {
        Ok(loaders(ctx)?
            .load_one(SessionKey(self.0.session_id))
            .await
            .map_err(load_error)?
            .map(Session)
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("ticket {} has no session", self.0.id)))?)
    }
    /// The reservation the ticket was bought with.
    async fn reservation_id(&self) -> ID {
        encode(NodeKind::Reservation, self.0.reservation_id)
    }
    /// Whether the caller holds the ticket (false for a buyer who transferred it away).
    async fn is_mine(&self, ctx: &Context<'_>) -> bool {
        matches!(viewer(ctx), crate::auth::viewer::Viewer::User(p) if p.user_id == self.0.owner_id)
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
            .all(self.db())
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

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckInOutcome {
    /// This scan let the holder in.
    Admitted,
    /// An earlier scan did: see `checkedInAt` and `gate`. Do not let them in again.
    AlreadyCheckedIn,
}

/// What the door learns from a scan.
pub struct CheckIn(check_in::CheckIn);

#[Object]
impl CheckIn {
    async fn outcome(&self) -> CheckInOutcome {
        match self.0.outcome {
            Outcome::Admitted => CheckInOutcome::Admitted,
            Outcome::AlreadyCheckedIn => CheckInOutcome::AlreadyCheckedIn,
        }
    }
    /// When the ticket was checked in: by this scan, or by the earlier one.
    async fn checked_in_at(&self) -> GqlResult<DateTime<Utc>> {
        self.0
            .ticket
            .checked_in_at
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("a checked-in ticket has no time")).into())
    }
    /// At which gate, when the scanner named one.
    async fn gate(&self) -> Option<&str> {
        self.0.ticket.gate.as_deref()
    }
    async fn ticket(&self) -> Ticket {
        Ticket(self.0.ticket.clone())
    }
}

/// One scan an offline scanner made.
#[derive(InputObject, Debug)]
pub struct CheckInScan {
    pub payload: String,
    pub gate: Option<String>,
    /// The session the door was letting in.
    pub session_id: Option<ID>,
    /// When it was scanned; the check-in is recorded at that time (never later than now).
    pub scanned_at: DateTime<Utc>,
}

/// What one scan of an upload came to: a check-in, or why the door refuses the ticket.
#[derive(SimpleObject)]
pub struct CheckInResult {
    /// The scan's place in the upload, from 0.
    pub index: i32,
    pub check_in: Option<CheckIn>,
    pub refusal: Option<CheckInRefusal>,
}

/// Why a ticket was refused, with the code `checkIn` would answer with.
#[derive(SimpleObject, Debug)]
pub struct CheckInRefusal {
    /// TICKET_INVALID, TICKET_CANCELLED, TICKET_REFUNDED, TICKET_WRONG_SESSION,
    /// TICKET_TRANSFERRED, BAD_USER_INPUT, …
    pub code: String,
    pub message: String,
}

/// How many of a session's tickets have come in.
#[derive(SimpleObject, Debug)]
pub struct DoorCount {
    pub session_id: ID,
    /// Tickets checked in.
    pub admitted: i64,
    /// Tickets that may come: checked in or still valid.
    pub expected: i64,
}

impl From<door::DoorCount> for DoorCount {
    fn from(count: door::DoorCount) -> Self {
        Self {
            session_id: encode(NodeKind::Session, count.session_id),
            admitted: count.admitted,
            expected: count.expected,
        }
    }
}

struct NewestFirst;
impl Keyset for NewestFirst {
    const LIST: &'static str = "tickets";
    type Key = ();
    type Row = ticket::Model;
    fn position(row: &Self::Row) -> (String, i64) {
        (String::new(), row.id)
    }
    fn parse_key(_: &str) -> Option<()> {
        Some(())
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

    /// Admitted and expected tickets of a session, for the door manager.
    #[graphql(guard = "RoleGuard(Role::Door)")]
    async fn door_count(&self, ctx: &Context<'_>, session_id: ID) -> GqlResult<DoorCount> {
        let raw = expect(NodeKind::Session, &session_id, "sessionId")?;
        Ok(door::count(&app(ctx)?.db, raw).await?.into())
    }
}

#[derive(Default)]
pub struct TicketMutation;

#[Object]
impl TicketMutation {
    /// Checks a scanned ticket in: ADMITTED the first time, ALREADY_CHECKED_IN (with when
    /// and where) afterwards, exactly once whichever gate scans first. Refused with
    /// TICKET_INVALID, TICKET_CANCELLED, TICKET_REFUNDED, TICKET_WRONG_SESSION (when
    /// `sessionId`, the session this door lets in, is another) or TICKET_TRANSFERRED.
    #[graphql(guard = "RoleGuard(Role::Door)")]
    async fn check_in(
        &self,
        ctx: &Context<'_>,
        payload: String,
        gate: Option<String>,
        session_id: Option<ID>,
    ) -> GqlResult<CheckIn> {
        let session_id = session_id
            .map(|id| expect(NodeKind::Session, &id, "sessionId"))
            .transpose()?;
        let app = app(ctx)?;
        let scan = Scan {
            payload,
            gate,
            session_id,
            scanned_at: None,
        };
        let done = check_in::check_in(&app.db, &app.ticket_keys, principal(ctx)?.user_id, scan).await?;
        Ok(CheckIn(done))
    }

    /// Uploads the scans an offline scanner made (at most 500), each checked in as
    /// `checkIn` would at the time it was scanned. Conflicts come back per scan: a ticket
    /// another gate let in first is ALREADY_CHECKED_IN with that gate and time.
    #[graphql(guard = "RoleGuard(Role::Door)")]
    async fn check_in_batch(&self, ctx: &Context<'_>, scans: Vec<CheckInScan>) -> GqlResult<Vec<CheckInResult>> {
        let mut parsed = Vec::with_capacity(scans.len());
        for (index, scan) in scans.into_iter().enumerate() {
            let session_id = scan
                .session_id
                .map(|id| expect(NodeKind::Session, &id, &format!("scans[{index}].sessionId")))
                .transpose()?;
            parsed.push(Scan {
                payload: scan.payload,
                gate: scan.gate,
                session_id,
                scanned_at: Some(scan.scanned_at),
            });
        }
        let app = app(ctx)?;
        let answers = check_in::check_in_batch(&app.db, &app.ticket_keys, principal(ctx)?.user_id, parsed).await?;
        Ok(answers
            .into_iter()
            .enumerate()
            .map(|(index, answer)| {
                let index = i32::try_from(index).unwrap_or(i32::MAX);
                match answer {
                    Ok(done) => CheckInResult {
                        index,
                        check_in: Some(CheckIn(done)),
                        refusal: None,
                    },
                    Err(err) => CheckInResult {
                        index,
                        check_in: None,
                        refusal: Some(CheckInRefusal {
                            code: err.code().as_str().to_string(),
                            message: err.message(),
                        }),
                    },
                }
            })
            .collect())
    }

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
    /// must fetch the key set again. Other instances follow within a minute.
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn rotate_ticket_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = false)] revoke_previous: bool,
    ) -> GqlResult<String> {
        let app = app(ctx)?;
        let txn = crate::db::write(&app.db).await?;
        let kid = app.ticket_keys.rotate(&txn, revoke_previous).await?;
        record_admin_action(ctx, &txn, "rotateTicketKey", NodeKind::Ticket, None).await?;
        crate::db::commit(txn).await?;
        app.ticket_keys.refresh(&app.db).await?;
        Ok(kid)
    }
}

/// Longest a door count waits to fold more changes into one answer.
const DOOR_COUNT_COALESCE: Duration = Duration::from_millis(200);

#[derive(Default)]
pub struct TicketSubscription;

#[Subscription]
impl TicketSubscription {
    /// The session's door count now, then again after each change (check-ins, tickets
    /// issued or cancelled), on whichever instance it happened; changes close together come
    /// as one count.
    #[graphql(guard = "RoleGuard(Role::Door)")]
    async fn door_count_updates(
        &self,
        ctx: &Context<'_>,
        session_id: ID,
    ) -> async_graphql::Result<BoxStream<'static, DoorCount>> {
        let raw = expect(NodeKind::Session, &session_id, "sessionId")?;
        let app = app(ctx)?.clone();
        let events = app.bus.subscribe();
        let first = door::count(&app.db, raw).await?;
        let later = futures::stream::unfold((events, app), move |(mut events, app)| async move {
            loop {
                match events.recv().await {
                    Ok(event) if event.topic == topic::TICKET && event.aggregate_id == raw => break,
                    Err(RecvError::Lagged(_)) => break,
                    Ok(_) => continue,
                    Err(RecvError::Closed) => return None,
                }
            }
            tokio::time::sleep(DOOR_COUNT_COALESCE).await;
            // Whatever arrived while waiting is in the count about to be read.
            while let Ok(_) | Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) = events.try_recv() {}
            match door::count(&app.db, raw).await {
                Ok(count) => Some((DoorCount::from(count), (events, app))),
                Err(err) => {
                    tracing::warn!(error = ?err.into_anyhow(), "a door count could not be read; the subscription ends");
                    None
                }
            }
        });
        Ok(futures::stream::once(async move { DoorCount::from(first) })
            .chain(later)
            .boxed())
    }
}
