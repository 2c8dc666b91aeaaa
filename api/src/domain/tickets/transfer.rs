//! Handing a ticket to another account: a friend who goes instead.
//!
//! The ticket changes holder and generation in one conditional update (on the holder, the
//! state and the generation the sender saw), so two transfers of one ticket, or a transfer
//! racing a check-in, cannot both win. The new generation makes the payload the sender saw
//! stale: the door refuses it (TICKET_TRANSFERRED) and the new holder's opens it.
//!
//! Policy: only a valid ticket, before its session starts, to an existing active account
//! other than the sender's. The reservation stays the buyer's (payments and receipts are
//! theirs), but a buyer cannot get money back for a ticket they gave away (see
//! [`super::not_refundable`]); the box office still can.

use chrono::Utc;
use entity::{TicketState, reservation, session, ticket, ticket_transfer};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};

use crate::domain::accounts;
use crate::domain::notify::{self, Channels, Facts, Kind};
use crate::error::{ApiError, ApiResult};
use crate::ids::{ReservationId, SeatId, UserId};

#[tracing::instrument(name = "tickets.transfer.transfer", skip_all)]
pub async fn transfer(
    db: &DatabaseConnection,
    channels: Channels,
    sender_id: UserId,
    ticket_id: i64,
    to_email: &str,
) -> ApiResult<ticket::Model> {
    let ticket = super::find(db, ticket_id).await?;
    if ticket.owner_id != sender_id {
        return Err(ApiError::NotFound("ticket"));
    }
    match ticket.state {
        TicketState::Valid => {}
        TicketState::CheckedIn => {
            return Err(ApiError::Conflict("the ticket has been used at the door".into()));
        }
        TicketState::Cancelled => return Err(ApiError::Conflict("the ticket was cancelled".into())),
    }
    let session = session::Entity::find_by_id(ticket.session_id)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("session"))?;
    if session.starts_at <= Utc::now() {
        return Err(ApiError::Conflict(
            "the show has started; tickets can no longer be transferred".into(),
        ));
    }
    let email = crate::domain::email::Email::parse(to_email).map_err(|_| {
        ApiError::bad_input(
            "toEmail",
            "enter the email address of the account to send the ticket to",
        )
    })?;
    let recipient = accounts::find_by_email(db, &email)
        .await?
        .filter(|user| user.dormant_at.is_none())
        .ok_or_else(|| {
            ApiError::bad_input(
                "toEmail",
                "no active Curtain account uses this email; ask them to sign up first",
            )
        })?;
    if recipient.id == sender_id {
        return Err(ApiError::bad_input("toEmail", "the ticket is already yours"));
    }
    let sender = accounts::find_user(db, sender_id).await?;

    let generation = ticket.generation + 1;
    let now = Utc::now();
    let txn = crate::db::write(db).await?;
    let moved = ticket::Entity::update_many()
        .col_expr(ticket::Column::OwnerId, Expr::value(recipient.id))
        .col_expr(ticket::Column::Generation, Expr::value(generation))
        .col_expr(ticket::Column::UpdatedAt, Expr::value(now))
        .filter(ticket::Column::Id.eq(ticket.id))
        .filter(ticket::Column::OwnerId.eq(sender_id))
        .filter(ticket::Column::State.eq(TicketState::Valid))
        .filter(ticket::Column::Generation.eq(ticket.generation))
        .exec(&txn)
        .await?
        .rows_affected;
    if moved == 0 {
        txn.rollback().await?;
        return Err(ApiError::Conflict(
            "the ticket changed meanwhile (used, cancelled or transferred); reload it".into(),
        ));
    }
    // A refund of this seat may be under way; it decided with the ticket's row locked, so
    // checking after our update (which waited for that lock) sees it.
    if super::refund_under_way(&txn, ReservationId(ticket.reservation_id), SeatId(ticket.seat_id)).await? {
        txn.rollback().await?;
        return Err(ApiError::Conflict(
            "a refund of this booking is under way; transfer the ticket once it is done".into(),
        ));
    }
    ticket_transfer::ActiveModel {
        ticket_id: Set(ticket.id),
        from_user_id: Set(sender_id.0),
        to_user_id: Set(recipient.id),
        generation: Set(generation),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let reservation = reservation::Entity::find_by_id(ticket.reservation_id)
        .one(&txn)
        .await?
        .ok_or(ApiError::NotFound("reservation"))?;
    let facts = Facts {
        buyer_name: sender.name,
        seat_count: 1,
        ..notify::reservation_facts(&txn, &reservation).await?
    };
    notify::notify(
        &txn,
        channels,
        UserId(recipient.id),
        Kind::TicketReceived,
        &format!("ticket-received-{}-{generation}", ticket.id),
        &facts,
        serde_json::json!({ "ticketId": ticket.id }),
    )
    .await?;
    let moved = super::find(&txn, ticket.id).await?;
    crate::db::commit(txn).await?;
    Ok(moved)
}
