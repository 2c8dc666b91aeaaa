//! Tickets: what a confirmed reservation gives its buyer, one per seat, and what the door
//! checks.
//!
//! A ticket is issued in the transaction that confirms its reservation and cancelled in the
//! one that cancels its seat, so a paid seat has exactly one ticket that opens the door
//! (`uq_tickets_live_seat` keeps it so). Its QR payload is signed ([`signing`]) so that a
//! scanner can tell ours from forgeries without a network; check-in ([`check_in`]) is a
//! conditional update, so a ticket opens the door once, whichever gate scans it first.
//! A transfer ([`transfer`]) hands the ticket to another account and makes the payload the
//! old holder saw stale.

pub mod check_in;
pub mod door;
pub mod links;
pub mod qr;
pub mod signing;
pub mod transfer;

use chrono::Utc;
use entity::{RefundStatus, TicketState, payment, refund, reservation, ticket};
use sea_orm::sea_query::{Expr, LockType};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};

pub use signing::{TicketClaims, TicketKeys};

use super::paging::{Page, PageRequest};
use crate::error::{ApiError, ApiResult};
use crate::ids::{ReservationId, SeatId, UserId};
use crate::outbox::{self, topic};

/// The payload of a `ticket` outbox event: the door count of `session_id` changed (tickets
/// issued, cancelled or checked in).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DoorChanged {
    pub session_id: i64,
}

async fn door_changed(db: &impl ConnectionTrait, session_id: i64) -> ApiResult<()> {
    outbox::record(db, topic::TICKET, session_id, None, &DoorChanged { session_id }).await
}

/// Issues a ticket for each of `seat_ids`, held by the reservation's buyer, in the caller's
/// (confirming) transaction.
pub async fn issue(txn: &impl ConnectionTrait, confirmed: &reservation::Model, seat_ids: &[i64]) -> ApiResult<()> {
    if seat_ids.is_empty() {
        return Ok(());
    }
    let now = Utc::now();
    let rows = seat_ids.iter().map(|&seat_id| ticket::ActiveModel {
        reservation_id: Set(confirmed.id),
        session_id: Set(confirmed.session_id),
        seat_id: Set(seat_id),
        owner_id: Set(confirmed.user_id),
        state: Set(TicketState::Valid),
        generation: Set(0),
        refunded: Set(false),
        checked_in_at: Set(None),
        gate: Set(None),
        checked_in_by: Set(None),
        cancelled_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    });
    ticket::Entity::insert_many(rows).exec_without_returning(txn).await?;
    door_changed(txn, confirmed.session_id).await
}

/// Cancels every ticket of a reservation being cancelled, in the caller's transaction.
/// They count as refunded when the reservation was paid (its refund precedes this).
pub async fn cancel_for_reservation(txn: &impl ConnectionTrait, reservation: &reservation::Model) -> ApiResult<u64> {
    let paid = payment::Entity::find()
        .filter(payment::Column::ReservationId.eq(reservation.id))
        .count(txn)
        .await?
        > 0;
    cancel_where(txn, reservation, None, paid).await
}

/// Cancels the tickets of `seat_ids` of a reservation (a partial cancellation), in the
/// caller's transaction; `refunded` says whether their price went back.
pub async fn cancel_for_seats(
    txn: &impl ConnectionTrait,
    reservation: &reservation::Model,
    seat_ids: &[i64],
    refunded: bool,
) -> ApiResult<u64> {
    cancel_where(txn, reservation, Some(seat_ids), refunded).await
}

async fn cancel_where(
    txn: &impl ConnectionTrait,
    reservation: &reservation::Model,
    seat_ids: Option<&[i64]>,
    refunded: bool,
) -> ApiResult<u64> {
    let now = Utc::now();
    let mut update = ticket::Entity::update_many()
        .col_expr(ticket::Column::State, Expr::value(TicketState::Cancelled))
        .col_expr(ticket::Column::Refunded, Expr::value(refunded))
        .col_expr(ticket::Column::CancelledAt, Expr::value(now))
        .col_expr(ticket::Column::UpdatedAt, Expr::value(now))
        .filter(ticket::Column::ReservationId.eq(reservation.id))
        .filter(ticket::Column::State.ne(TicketState::Cancelled));
    if let Some(seat_ids) = seat_ids {
        update = update.filter(ticket::Column::SeatId.is_in(seat_ids.iter().copied()));
    }
    let cancelled = update.exec(txn).await?.rows_affected;
    if cancelled > 0 {
        door_changed(txn, reservation.session_id).await?;
    }
    Ok(cancelled)
}

/// Why a buyer may not have money back for a seat: its ticket is no longer theirs to give
/// up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotRefundable {
    /// Transferred to someone else.
    Transferred,
    /// Used at the door.
    Used,
}

/// Why the buyer may not have money back for `seat_ids` (or all seats), if they may not.
/// Inside a refund claim's transaction this takes row locks on the reservation's tickets (in
/// id order; PostgreSQL. SQLite's write transactions are serialised already), so that the
/// claim and a concurrent transfer or check-in never both win: those check for a PENDING
/// refund after their own update, which waits for these locks.
pub async fn not_refundable(
    txn: &impl ConnectionTrait,
    reservation_id: i64,
    seat_ids: Option<&[i64]>,
) -> ApiResult<Option<NotRefundable>> {
    let buyer = reservation::Entity::find_by_id(reservation_id)
        .one(txn)
        .await?
        .ok_or(ApiError::NotFound("reservation"))?
        .user_id;
    let tickets = ticket::Entity::find()
        .filter(ticket::Column::ReservationId.eq(reservation_id))
        .order_by_asc(ticket::Column::Id)
        .lock(LockType::Update)
        .all(txn)
        .await?;
    let asked = tickets
        .iter()
        .filter(|t| t.state != TicketState::Cancelled && seat_ids.is_none_or(|seats| seats.contains(&t.seat_id)));
    let mut answer = None;
    for ticket in asked {
        if ticket.owner_id != buyer {
            return Ok(Some(NotRefundable::Transferred));
        }
        if ticket.state == TicketState::CheckedIn {
            answer = Some(NotRefundable::Used);
        }
    }
    Ok(answer)
}

/// Whether a refund of the reservation covering `seat_id` is under way (a PENDING refund of
/// it, or of the whole booking): the ticket must neither change hands nor open the door
/// until it is settled.
pub(crate) async fn refund_under_way(
    db: &impl ConnectionTrait,
    reservation_id: ReservationId,
    seat_id: SeatId,
) -> ApiResult<bool> {
    let pending = refund::Entity::find()
        .filter(refund::Column::ReservationId.eq(reservation_id))
        .filter(
            Condition::any()
                .add(refund::Column::Status.eq(RefundStatus::Pending))
                .add(refund::Column::Whole.eq(true)),
        )
        .all(db)
        .await?;
    Ok(pending.iter().any(|refund| {
        refund.whole
            || refund
                .seat_ids
                .split(',')
                .any(|seat| seat.trim().parse::<i64>() == Ok(seat_id.0))
    }))
}

pub async fn find(db: &impl ConnectionTrait, id: i64) -> ApiResult<ticket::Model> {
    ticket::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("ticket"))
}

/// The tickets of a reservation, in seat order.
pub async fn of_reservation(db: &impl ConnectionTrait, reservation_id: i64) -> ApiResult<Vec<ticket::Model>> {
    Ok(ticket::Entity::find()
        .filter(ticket::Column::ReservationId.eq(reservation_id))
        .order_by_asc(ticket::Column::SeatId)
        .all(db)
        .await?)
}

/// The tickets `owner_id` holds, newest first (keyset on the id).
pub async fn list_mine(
    db: &impl ConnectionTrait,
    owner_id: UserId,
    include_cancelled: bool,
    page: PageRequest<()>,
) -> ApiResult<Page<ticket::Model>> {
    let mut query = ticket::Entity::find().filter(ticket::Column::OwnerId.eq(owner_id));
    if !include_cancelled {
        query = query.filter(ticket::Column::State.ne(TicketState::Cancelled));
    }
    if let Some(((), id)) = page.after {
        query = query.filter(ticket::Column::Id.lt(id));
    }
    let rows = query
        .order_by_desc(ticket::Column::Id)
        .limit(page.first + 1)
        .all(db)
        .await?;
    Ok(Page::from_overfetch(rows, page.first))
}

/// The signed payload of a ticket as it stands. Deterministic (Ed25519 signs the same
/// claims the same way), so the QR code a holder sees does not change between views.
pub async fn payload(db: &impl ConnectionTrait, keys: &TicketKeys, ticket: &ticket::Model) -> ApiResult<String> {
    let claims = TicketClaims {
        tid: ticket.id,
        sid: ticket.session_id,
        seat: ticket.seat_id,
        generation: ticket.generation,
        iat: ticket.created_at.timestamp(),
    };
    keys.sign(db, &claims).await
}
