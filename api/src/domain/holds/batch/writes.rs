//! What a batch writes for its winners: their reservations, their seats (HELD, with the
//! lapsed holds they took over retired), the session's version and counter, and one
//! seat-map delta and reservation event per winner.

use chrono::{DateTime, Utc};
use entity::{ReservationStatus, SeatStatus, reservation, reservation_seat, session, session_seat};
use sea_orm::sea_query::{CaseStatement, Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, FromQueryResult, QueryFilter, QueryTrait, Set,
};

use crate::domain::holds::ReadyHold;
use crate::domain::holds::decide::Win;
use crate::domain::holds::pricing::Pricing;
use crate::domain::inventory::{SeatChange, SeatChanges};
use crate::domain::reservation_flow::ReservationChanged;
use crate::error::{ApiError, ApiResult};
use crate::outbox::{self, topic};

/// When the batch runs, and when its holds lapse.
#[derive(Debug, Clone, Copy)]
pub(super) struct Times {
    pub(super) now: DateTime<Utc>,
    pub(super) expires_at: DateTime<Utc>,
}

/// One reservation per winner, in the winners' order, as the database stored them.
pub(super) async fn insert_reservations(
    txn: &DatabaseTransaction,
    holds: &[ReadyHold],
    winners: &[(usize, Win)],
    priced: &[Vec<(i64, String, i32)>],
    pricing: &Pricing,
    Times { now, expires_at }: Times,
) -> ApiResult<Vec<reservation::Model>> {
    let rows = winners.iter().zip(priced).map(|((i, _), seats)| {
        let hold = &holds[*i];
        reservation::ActiveModel {
            user_id: Set(hold.request.user_id.0),
            session_id: Set(hold.request.session_id.0),
            status: Set(ReservationStatus::Held),
            seat_count: Set(hold.request.seat_ids.len() as i32),
            amount: Set(seats.iter().map(|(_, _, price)| i64::from(*price)).sum()),
            user_coupon_id: Set(None),
            discount: Set(0),
            order_id: Set(Some(crate::domain::orders::new_order_id())),
            order_name: Set(Some(pricing.order_name(seats.len()))),
            idempotency_key: Set(hold.key.clone()),
            expires_at: Set(expires_at),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
    });
    let mut insert = reservation::Entity::insert_many(rows).into_query();
    insert.returning_all();
    let stored = txn
        .query_all(&insert)
        .await
        .map_err(|e| ApiError::from_db_conflict(e, "this idempotency key is being used by another request"))?
        .iter()
        .map(|row| reservation::Model::from_query_result(row, ""))
        .collect::<Result<Vec<_>, _>>()?;
    // Matched by key rather than trusting the order RETURNING gives rows back in.
    winners
        .iter()
        .map(|(i, _)| {
            let hold = &holds[*i];
            stored
                .iter()
                .find(|r| r.user_id == hold.request.user_id && r.idempotency_key == hold.key)
                .cloned()
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("a reservation of the batch was not returned")))
        })
        .collect()
}

/// Moves the winners' seats to HELD, retires the lapsed holds they took over, gives the
/// winners their seat rows, moves the session's version and counter, and records one
/// seat-map delta and one reservation event per winner.
pub(super) async fn write_seats(
    txn: &DatabaseTransaction,
    session_id: i64,
    winners: &[(usize, Win)],
    made: &[reservation::Model],
    priced: &[Vec<(i64, String, i32)>],
    start_version: i64,
    Times { now, expires_at }: Times,
) -> ApiResult<()> {
    let reclaimed: Vec<(i64, Option<i64>)> = winners.iter().flat_map(|(_, win)| win.reclaimed.clone()).collect();
    if !reclaimed.is_empty() {
        // Under the partial unique index a seat has one active row, so seat × old
        // reservation cannot reach a row that is not one of these pairs.
        reservation_seat::Entity::update_many()
            .col_expr(reservation_seat::Column::Active, Expr::value(false))
            .filter(reservation_seat::Column::SessionId.eq(session_id))
            .filter(reservation_seat::Column::SeatId.is_in(reclaimed.iter().map(|(seat, _)| *seat)))
            .filter(reservation_seat::Column::ReservationId.is_in(reclaimed.iter().filter_map(|(_, r)| *r)))
            .exec(txn)
            .await?;
    }

    let mut owner = CaseStatement::new();
    let mut version = CaseStatement::new();
    let mut all_seats = Vec::new();
    for (n, (reservation, seats)) in made.iter().zip(priced).enumerate() {
        let seats: Vec<i64> = seats.iter().map(|(id, _, _)| *id).collect();
        let column = Expr::col(session_seat::Column::SeatId);
        owner = owner.case(column.clone().is_in(seats.iter().copied()), reservation.id);
        version = version.case(column.is_in(seats.iter().copied()), start_version + n as i64 + 1);
        all_seats.extend(seats.iter().copied());
    }
    let moved = session_seat::Entity::update_many()
        .col_expr(session_seat::Column::Status, Expr::value(SeatStatus::Held))
        .col_expr(session_seat::Column::ReservationId, owner.into())
        .col_expr(session_seat::Column::HoldExpiresAt, Expr::value(expires_at))
        .col_expr(session_seat::Column::Version, version.into())
        .filter(session_seat::Column::SessionId.eq(session_id))
        .filter(session_seat::Column::SeatId.is_in(all_seats.iter().copied()))
        .filter(
            sea_orm::Condition::any()
                .add(session_seat::Column::Status.eq(SeatStatus::Available))
                .add(
                    sea_orm::Condition::all()
                        .add(session_seat::Column::Status.eq(SeatStatus::Held))
                        .add(session_seat::Column::HoldExpiresAt.lt(now)),
                ),
        )
        .exec(txn)
        .await?
        .rows_affected;
    if moved as usize != all_seats.len() {
        return Err(ApiError::internal(anyhow::anyhow!(
            "a batch found {} of its {} seats as it had read them",
            moved,
            all_seats.len()
        )));
    }

    reservation_seat::Entity::insert_many(made.iter().zip(priced).flat_map(|(reservation, seats)| {
        seats
            .iter()
            .map(move |seat| crate::domain::reservations::reservation_seat_row(reservation.id, session_id, seat))
    }))
    .exec_without_returning(txn)
    .await
    .map_err(|e| ApiError::from_db_conflict(e, "a seat is already in another reservation"))?;

    let from_available: i64 = winners.iter().map(|(_, win)| win.from_available as i64).sum();
    let available_after = move_session(txn, session_id, start_version + winners.len() as i64, from_available).await?;

    let mut available = i64::from(available_after) + from_available;
    let mut events = Vec::with_capacity(winners.len() * 2);
    for (n, (((_, win), reservation), seats)) in winners.iter().zip(made).zip(priced).enumerate() {
        available -= win.from_available as i64;
        let changes = SeatChanges {
            changes: seats
                .iter()
                .map(|&(seat_id, _, _)| SeatChange {
                    seat_id,
                    status: SeatStatus::Held,
                })
                .collect(),
            available_count: available as i32,
        };
        let version = start_version + n as i64 + 1;
        events.push(outbox::row(topic::SEAT_MAP, session_id, Some(version), &changes)?);
        events.push(outbox::row(
            topic::RESERVATION,
            reservation.id,
            None,
            &ReservationChanged::of(reservation),
        )?);
    }
    outbox::record_all(txn, events).await
}

/// Sets the session's version to `version` and takes `taken` seats off its counter; returns
/// the new counter.
pub(super) async fn move_session(
    txn: &DatabaseTransaction,
    session_id: i64,
    version: i64,
    taken: i64,
) -> ApiResult<i32> {
    let update = Query::update()
        .table(session::Entity)
        .value(session::Column::SeatMapVersion, version)
        .value(
            session::Column::AvailableSeats,
            Expr::col(session::Column::AvailableSeats).sub(taken),
        )
        .value(session::Column::UpdatedAt, Utc::now())
        .and_where(session::Column::Id.eq(session_id))
        .returning_col(session::Column::AvailableSeats)
        .to_owned();
    let row = txn.query_one(&update).await?.ok_or(ApiError::NotFound("session"))?;
    Ok(row.try_get_by_index::<i32>(0)?)
}
