//! Checking a ticket in at the door: exactly once, whichever gate or instance scans it
//! first.
//!
//! The guarantee is the database's: the scan that wins is the one whose conditional update
//! (`state = VALID` and the scanned generation) changes the row, which PostgreSQL and SQLite
//! serialise. Every other scan, at the same moment or later, reads the row and answers
//! ALREADY_CHECKED_IN with when and at which gate the first one was. A scan is refused,
//! with a code of its own, when the payload is not ours, the ticket was cancelled or
//! refunded (or its refund is under way), it is for another session, or it was transferred
//! (its payload is stale).
//!
//! Offline scanners upload later with [`check_in_batch`]: each scan is checked the same way
//! and recorded at the time it was made, and each gets its own answer.

use chrono::{DateTime, Utc};
use entity::{TicketState, session, ticket};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use super::signing::TicketKeys;
use crate::domain::box_office_offset;
use crate::domain::validate::optional_text;
use crate::error::{ApiError, ApiResult};
use crate::ids::{ReservationId, SeatId, UserId};

/// Most scans one `checkInBatch` may carry.
pub const MAX_BATCH: usize = 500;

/// One scan at a door.
#[derive(Debug, Clone)]
pub struct Scan {
    pub payload: String,
    pub gate: Option<String>,
    /// The session the door is letting in; a ticket for another is refused.
    pub session_id: Option<i64>,
    /// When an offline scanner scanned it; `None` for now.
    pub scanned_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// This scan let the holder in.
    Admitted,
    /// An earlier scan did; the ticket says when and at which gate.
    AlreadyCheckedIn,
}

/// A scan's answer: the outcome and the ticket as it now stands.
#[derive(Debug, Clone)]
pub struct CheckIn {
    pub outcome: Outcome,
    pub ticket: ticket::Model,
}

/// Why the door refuses a ticket (defined beside the error that carries it).
pub use crate::error::TicketRefusal as Refusal;

/// Checks one scan in; see the module's documentation.
#[tracing::instrument(name = "tickets.check_in.check_in", skip_all, fields(staff_id = staff_id.0))]
pub async fn check_in(db: &DatabaseConnection, keys: &TicketKeys, staff_id: UserId, scan: Scan) -> ApiResult<CheckIn> {
    let gate = optional_text("gate", scan.gate.as_deref(), 64)?;
    let now = Utc::now();
    // An offline scan is recorded when it happened; a clock ahead of ours cannot date a
    // check-in in the future.
    let at = scan.scanned_at.map_or(now, |at| at.min(now));
    let claims = match keys.verify(db, &scan.payload).await? {
        Ok(claims) => claims,
        Err(forged) => {
            tracing::info!(?forged, "a ticket payload was refused at the door");
            return Err(ApiError::TicketRefused(Refusal::Invalid));
        }
    };
    let ticket = ticket::Entity::find_by_id(claims.tid)
        .one(db)
        .await?
        .filter(|t| t.session_id == claims.sid && t.seat_id == claims.seat)
        .ok_or(ApiError::TicketRefused(Refusal::Invalid))?;
    if let Some(expected) = scan.session_id
        && expected != ticket.session_id
    {
        return Err(ApiError::TicketRefused(Refusal::WrongSession(
            session_start(db, ticket.session_id).await?,
        )));
    }
    refuse_unless_current(&ticket, claims.generation)?;
    let txn = crate::db::write(db).await?;
    let admitted = ticket::Entity::update_many()
        .col_expr(ticket::Column::State, Expr::value(TicketState::CheckedIn))
        .col_expr(ticket::Column::CheckedInAt, Expr::value(at))
        .col_expr(ticket::Column::Gate, Expr::value(gate))
        .col_expr(ticket::Column::CheckedInBy, Expr::value(staff_id))
        .col_expr(ticket::Column::UpdatedAt, Expr::value(now))
        .filter(ticket::Column::Id.eq(ticket.id))
        .filter(ticket::Column::State.eq(TicketState::Valid))
        .filter(ticket::Column::Generation.eq(claims.generation))
        .exec(&txn)
        .await?
        .rows_affected
        == 1;
    if admitted && super::refund_under_way(&txn, ReservationId(ticket.reservation_id), SeatId(ticket.seat_id)).await? {
        // The buyer asked for this seat's money back and the answer is not in: not in
        // through the door meanwhile (a refund claim decides under the ticket's row lock,
        // which our update waited for).
        txn.rollback().await?;
        return Err(ApiError::TicketRefused(Refusal::RefundUnderWay));
    }
    if admitted {
        super::door_changed(&txn, ticket.session_id).await?;
    }
    crate::db::commit(txn).await?;
    let ticket = super::find(db, ticket.id).await?;
    if admitted {
        return Ok(CheckIn {
            outcome: Outcome::Admitted,
            ticket,
        });
    }
    // Another scan changed the ticket between our read and our update.
    refuse_unless_current(&ticket, claims.generation)?;
    match ticket.state {
        TicketState::CheckedIn => Ok(CheckIn {
            outcome: Outcome::AlreadyCheckedIn,
            ticket,
        }),
        TicketState::Valid | TicketState::Cancelled => Err(ApiError::internal(anyhow::anyhow!(
            "ticket {} is neither checked in nor refused after a lost check-in",
            ticket.id
        ))),
    }
}

/// What each scan of an offline scanner's upload came to, in the order sent.
#[tracing::instrument(name = "tickets.check_in.check_in_batch", skip_all)]
pub async fn check_in_batch(
    db: &DatabaseConnection,
    keys: &TicketKeys,
    staff_id: UserId,
    scans: Vec<Scan>,
) -> ApiResult<Vec<ApiResult<CheckIn>>> {
    if scans.len() > MAX_BATCH {
        return Err(ApiError::bad_input(
            "scans",
            format!("upload at most {MAX_BATCH} scans at a time"),
        ));
    }
    let mut answers = Vec::with_capacity(scans.len());
    for scan in scans {
        let answer = check_in(db, keys, staff_id, scan).await;
        // A failure of the service itself fails the upload, so the scanner retries it
        // whole; answers about tickets are per scan.
        let answer = match answer {
            Err(err @ (ApiError::Internal(_) | ApiError::Unavailable(_))) => return Err(err),
            answer => answer,
        };
        answers.push(answer);
    }
    Ok(answers)
}

/// Refuses a ticket that no longer opens the door: a stale payload first (the holder it
/// was shown to no longer has the ticket), then a cancelled ticket.
fn refuse_unless_current(ticket: &ticket::Model, scanned_generation: i32) -> ApiResult<()> {
    if scanned_generation != ticket.generation {
        return Err(ApiError::TicketRefused(Refusal::Transferred));
    }
    if ticket.state == TicketState::Cancelled {
        return Err(ApiError::TicketRefused(if ticket.refunded {
            Refusal::Refunded
        } else {
            Refusal::Cancelled
        }));
    }
    Ok(())
}

async fn session_start(db: &DatabaseConnection, session_id: i64) -> ApiResult<String> {
    let session = session::Entity::find_by_id(session_id)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("session"))?;
    Ok(session
        .starts_at
        .with_timezone(&box_office_offset())
        .format("%Y-%m-%d %H:%M")
        .to_string())
}
