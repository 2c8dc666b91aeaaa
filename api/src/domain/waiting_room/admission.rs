//! The admission tick: every instance runs it every `booking.waiting_room_tick_ms` for
//! every enabled room past `opens_at`. Each room's tick is one transaction that first takes
//! the room row's write lock (a no-op update), so ticks of several instances run one after
//! another and never admit a ticket twice; the ticket updates are conditional as well.
//!
//! One tick, in order:
//! 1. **Place** new tickets: the sequence continues from `last_sequence`; tickets joined
//!    before `opens_at` come first, in random order (drawn by the database, once, and
//!    stored), then the rest in join order.
//! 2. **Expire** admitted tickets whose window passed without a hold made since admission.
//! 3. **Sold out or back**: with no seat available, every ticket in line becomes SOLD_OUT;
//!    with seats available again, they are WAITING again in their places.
//! 4. **Admit** the next tickets in sequence order, as many as both limits allow:
//!    - rate: at most `admit_per_minute` admissions in any 60 seconds;
//!    - inventory: *pending* buyers (admitted, window open, no live hold in the session)
//!      may not exceed ⌈available seats ÷ seats per buyer⌉, the fewest buyers who could
//!      take every seat left. So a room admits 250 at once for 1,000 seats at 4 a buyer,
//!      one buyer for the last 3 seats, and nobody while the pending buyers can already
//!      take everything left.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use entity::{QueueState, ReservationStatus, reservation, session, waiting_room, waiting_room_ticket};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Statement,
};

use super::admission_window;
use super::events::{RoomUpdate, TicketChange};
use crate::error::{ApiError, ApiResult};
use crate::infra::bus::SharedBus;

/// Runs one tick of every enabled room that has opened; publishes what changed. Returns
/// the rooms that changed.
#[tracing::instrument(name = "waiting_room.admission.admit_all", skip_all)]
pub async fn admit_all(db: &DatabaseConnection, bus: &SharedBus, seats_per_buyer: usize) -> ApiResult<usize> {
    let now = Utc::now();
    let rooms: Vec<i64> = waiting_room::Entity::find()
        .select_only()
        .column(waiting_room::Column::SessionId)
        .filter(waiting_room::Column::Enabled.eq(true))
        .filter(waiting_room::Column::OpensAt.lte(now))
        .into_tuple()
        .all(db)
        .await?;
    let mut changed = 0;
    for session_id in rooms {
        // One room's failure must not starve the rooms after it, tick after tick.
        let update = match tick(db, session_id, seats_per_buyer, Utc::now()).await {
            Ok(update) => update,
            Err(err) => {
                tracing::warn!(session_id, error = ?err, "a waiting-room tick failed; the next tick tries again");
                continue;
            }
        };
        if let Some(update) = update {
            changed += 1;
            if let Err(err) = bus.publish(&[update.to_event()]).await {
                tracing::warn!(session_id, error = ?err, "publishing a waiting-room update failed; subscribers catch up at the next one");
            }
        }
    }
    Ok(changed)
}

/// One admission tick of one room (see the module documentation); `None` when nothing
/// changed or the room is off or not open yet.
#[tracing::instrument(name = "waiting_room.admission.tick", skip_all)]
pub async fn tick(
    db: &DatabaseConnection,
    session_id: i64,
    seats_per_buyer: usize,
    now: DateTime<Utc>,
) -> ApiResult<Option<RoomUpdate>> {
    let txn = crate::db::begin_write(db).await?;
    let locked = waiting_room::Entity::update_many()
        .col_expr(waiting_room::Column::Tick, Expr::col(waiting_room::Column::Tick))
        .filter(waiting_room::Column::SessionId.eq(session_id))
        .filter(waiting_room::Column::Enabled.eq(true))
        .exec(&txn)
        .await?
        .rows_affected;
    let room = match waiting_room::Entity::find_by_id(session_id).one(&txn).await? {
        Some(room) if locked == 1 && room.opens_at <= now => room,
        _ => {
            txn.rollback().await?;
            return Ok(None);
        }
    };
    let mut changes = place_new_tickets(&txn, &room).await?;
    let last_sequence = changes
        .iter()
        .filter_map(|c| c.sequence)
        .max()
        .unwrap_or(room.last_sequence);
    changes.extend(expire_unused(&txn, session_id, now).await?);

    let available: i32 = session::Entity::find_by_id(session_id)
        .select_only()
        .column(session::Column::AvailableSeats)
        .into_tuple()
        .one(&txn)
        .await?
        .ok_or(ApiError::NotFound("session"))?;
    let sold_out = available <= 0;
    // Also catches tickets that joined while the state was turning.
    let (from, to) = if sold_out {
        (QueueState::Waiting, QueueState::SoldOut)
    } else {
        (QueueState::SoldOut, QueueState::Waiting)
    };
    let turned = waiting_room_ticket::Entity::update_many()
        .col_expr(waiting_room_ticket::Column::State, Expr::value(to))
        .col_expr(waiting_room_ticket::Column::UpdatedAt, Expr::value(now))
        .filter(waiting_room_ticket::Column::SessionId.eq(session_id))
        .filter(waiting_room_ticket::Column::State.eq(from))
        .exec(&txn)
        .await?
        .rows_affected;
    // A ticket placed in this tick is listed with its state before the turn.
    for change in &mut changes {
        if change.state == from {
            change.state = to;
        }
    }

    let mut admitted_through = room.admitted_through;
    if !sold_out {
        let admitted = admit_next(&txn, &room, available, seats_per_buyer, now).await?;
        admitted_through = admitted
            .iter()
            .filter_map(|c| c.sequence)
            .max()
            .unwrap_or(admitted_through);
        changes.extend(admitted);
    }

    let changed = !changes.is_empty() || turned > 0 || sold_out != room.sold_out;
    if !changed {
        txn.commit().await?;
        return Ok(None);
    }
    let tick = room.tick + 1;
    waiting_room::Entity::update_many()
        .col_expr(waiting_room::Column::LastSequence, Expr::value(last_sequence))
        .col_expr(waiting_room::Column::AdmittedThrough, Expr::value(admitted_through))
        .col_expr(waiting_room::Column::SoldOut, Expr::value(sold_out))
        .col_expr(waiting_room::Column::Tick, Expr::value(tick))
        .col_expr(waiting_room::Column::UpdatedAt, Expr::value(now))
        .filter(waiting_room::Column::SessionId.eq(session_id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(Some(RoomUpdate {
        session_id,
        tick,
        at: Utc::now(),
        sold_out,
        admitted_through,
        admit_per_minute: room.admit_per_minute,
        tickets: changes,
    }))
}

/// Gives every unplaced ticket its sequence in one statement: the pre-queue (joined before
/// `opens_at`) first in an order the database draws at random, then the others in join
/// order. Returns the placed tickets.
async fn place_new_tickets(db: &impl ConnectionTrait, room: &waiting_room::Model) -> ApiResult<Vec<TicketChange>> {
    let backend = db.get_database_backend();
    let mut next = 0;
    let mut param = || {
        next += 1;
        match backend {
            DatabaseBackend::Postgres => format!("${next}"),
            _ => "?".to_string(),
        }
    };
    let sql = format!(
        r#"UPDATE waiting_room_tickets SET "sequence" = {base} + placed.place_no
           FROM (SELECT id AS ticket_id, ROW_NUMBER() OVER (ORDER BY
                     CASE WHEN joined_at < {opens} THEN 0 ELSE 1 END,
                     CASE WHEN joined_at < {opens_again} THEN random() ELSE 0 END,
                     joined_at, id) AS place_no
                 FROM waiting_room_tickets
                 WHERE session_id = {session} AND "sequence" IS NULL) AS placed
           WHERE waiting_room_tickets.id = placed.ticket_id"#,
        base = param(),
        opens = param(),
        opens_again = param(),
        session = param(),
    );
    let placed = db
        .execute_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [
                room.last_sequence.into(),
                room.opens_at.into(),
                room.opens_at.into(),
                room.session_id.into(),
            ],
        ))
        .await?
        .rows_affected();
    if placed == 0 {
        return Ok(Vec::new());
    }
    let rows: Vec<(i64, Option<i64>, QueueState)> = waiting_room_ticket::Entity::find()
        .select_only()
        .column(waiting_room_ticket::Column::Id)
        .column(waiting_room_ticket::Column::Sequence)
        .column(waiting_room_ticket::Column::State)
        .filter(waiting_room_ticket::Column::SessionId.eq(room.session_id))
        .filter(waiting_room_ticket::Column::Sequence.gt(room.last_sequence))
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, sequence, state)| TicketChange {
            id,
            state,
            sequence,
            admitted_until: None,
        })
        .collect())
}

/// Admitted tickets whose window passed with no hold made since admission become EXPIRED.
async fn expire_unused(db: &impl ConnectionTrait, session_id: i64, now: DateTime<Utc>) -> ApiResult<Vec<TicketChange>> {
    let lapsed = waiting_room_ticket::Entity::find()
        .filter(waiting_room_ticket::Column::SessionId.eq(session_id))
        .filter(waiting_room_ticket::Column::State.eq(QueueState::Admitted))
        .filter(waiting_room_ticket::Column::AdmittedUntil.lt(now))
        .all(db)
        .await?;
    if lapsed.is_empty() {
        return Ok(Vec::new());
    }
    let holds: Vec<(i64, DateTime<Utc>)> = reservation::Entity::find()
        .select_only()
        .column(reservation::Column::UserId)
        .column(reservation::Column::CreatedAt)
        .filter(reservation::Column::SessionId.eq(session_id))
        .filter(reservation::Column::UserId.is_in(lapsed.iter().map(|t| t.user_id)))
        .into_tuple()
        .all(db)
        .await?;
    let mut latest: HashMap<i64, DateTime<Utc>> = HashMap::new();
    for (user_id, at) in holds {
        let entry = latest.entry(user_id).or_insert(at);
        *entry = (*entry).max(at);
    }
    let unused: Vec<i64> = lapsed
        .iter()
        .filter(|t| match (latest.get(&t.user_id), t.admitted_at) {
            (Some(held), Some(admitted)) => *held < admitted,
            _ => true,
        })
        .map(|t| t.id)
        .collect();
    if unused.is_empty() {
        return Ok(Vec::new());
    }
    waiting_room_ticket::Entity::update_many()
        .col_expr(waiting_room_ticket::Column::State, Expr::value(QueueState::Expired))
        .col_expr(waiting_room_ticket::Column::UpdatedAt, Expr::value(now))
        .filter(waiting_room_ticket::Column::Id.is_in(unused.clone()))
        .filter(waiting_room_ticket::Column::State.eq(QueueState::Admitted))
        .exec(db)
        .await?;
    Ok(lapsed
        .into_iter()
        .filter(|t| unused.contains(&t.id))
        .map(|t| TicketChange {
            id: t.id,
            state: QueueState::Expired,
            sequence: t.sequence,
            admitted_until: t.admitted_until,
        })
        .collect())
}

/// Admits the next tickets in line, as many as the rate and the inventory allow.
async fn admit_next(
    db: &impl ConnectionTrait,
    room: &waiting_room::Model,
    available: i32,
    seats_per_buyer: usize,
    now: DateTime<Utc>,
) -> ApiResult<Vec<TicketChange>> {
    let session_id = room.session_id;
    let per_buyer = seats_per_buyer.max(1) as i64;
    let serves = (i64::from(available) + per_buyer - 1) / per_buyer;
    let pending = pending_buyers(db, session_id, now).await?;
    let recent = waiting_room_ticket::Entity::find()
        .filter(waiting_room_ticket::Column::SessionId.eq(session_id))
        .filter(waiting_room_ticket::Column::AdmittedAt.gt(now - Duration::seconds(60)))
        .count(db)
        .await? as i64;
    let room_for = (serves - pending).min(i64::from(room.admit_per_minute) - recent);
    if room_for <= 0 {
        return Ok(Vec::new());
    }
    let next: Vec<(i64, Option<i64>)> = waiting_room_ticket::Entity::find()
        .select_only()
        .column(waiting_room_ticket::Column::Id)
        .column(waiting_room_ticket::Column::Sequence)
        .filter(waiting_room_ticket::Column::SessionId.eq(session_id))
        .filter(waiting_room_ticket::Column::State.eq(QueueState::Waiting))
        .filter(waiting_room_ticket::Column::Sequence.is_not_null())
        .order_by_asc(waiting_room_ticket::Column::Sequence)
        .limit(room_for as u64)
        .into_tuple()
        .all(db)
        .await?;
    if next.is_empty() {
        return Ok(Vec::new());
    }
    let until = now + admission_window(room);
    waiting_room_ticket::Entity::update_many()
        .col_expr(waiting_room_ticket::Column::State, Expr::value(QueueState::Admitted))
        .col_expr(waiting_room_ticket::Column::AdmittedAt, Expr::value(now))
        .col_expr(waiting_room_ticket::Column::AdmittedUntil, Expr::value(until))
        .col_expr(waiting_room_ticket::Column::UpdatedAt, Expr::value(now))
        .filter(waiting_room_ticket::Column::Id.is_in(next.iter().map(|(id, _)| *id)))
        .filter(waiting_room_ticket::Column::State.eq(QueueState::Waiting))
        .exec(db)
        .await?;
    Ok(next
        .into_iter()
        .map(|(id, sequence)| TicketChange {
            id,
            state: QueueState::Admitted,
            sequence,
            admitted_until: Some(until),
        })
        .collect())
}

/// Admitted buyers whose window is open and who hold nothing live in the session yet.
async fn pending_buyers(db: &impl ConnectionTrait, session_id: i64, now: DateTime<Utc>) -> ApiResult<i64> {
    let admitted: Vec<i64> = waiting_room_ticket::Entity::find()
        .select_only()
        .column(waiting_room_ticket::Column::UserId)
        .filter(waiting_room_ticket::Column::SessionId.eq(session_id))
        .filter(waiting_room_ticket::Column::State.eq(QueueState::Admitted))
        .filter(waiting_room_ticket::Column::AdmittedUntil.gte(now))
        .into_tuple()
        .all(db)
        .await?;
    if admitted.is_empty() {
        return Ok(0);
    }
    let holding: HashSet<i64> = reservation::Entity::find()
        .select_only()
        .column(reservation::Column::UserId)
        .filter(reservation::Column::SessionId.eq(session_id))
        .filter(reservation::Column::UserId.is_in(admitted.iter().copied()))
        .filter(reservation::Column::Status.is_in([
            ReservationStatus::Held,
            ReservationStatus::Paying,
            ReservationStatus::Confirmed,
        ]))
        .into_tuple::<i64>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    Ok(admitted.iter().filter(|user| !holding.contains(user)).count() as i64)
}
