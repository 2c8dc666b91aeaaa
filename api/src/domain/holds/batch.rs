//! Applying a batch of hold requests for one session in one transaction, with a fixed number
//! of statements whatever the batch's size (group commit).
//!
//! One at a time, a hold is about ten round trips and a commit while the session row is
//! locked, so a hot session sells at most as fast as one row can be locked, changed and
//! committed in series. Here the batch takes the same locks in the same order (the buyers'
//! rows in id order, then the session row), reads what the decision needs in four
//! statements, decides every request in arrival order in memory ([`super::decide`]), and
//! writes the winners with one statement per table. Each request is still all or nothing,
//! with its own reservation, version, seat-map delta and reservation event: the versions of
//! a batch are consecutive and each delta describes one request's seats, exactly as if the
//! requests had come one after another.
//!
//! Correctness does not rest on the batching: another instance's batch for the same session
//! waits for the session lock, and the seats still move with an update conditional on their
//! state (the row count is checked; any surprise rolls the whole batch back, and the caller
//! then applies the requests one at a time).

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use entity::{ReservationStatus, SeatStatus, reservation, reservation_seat, session, session_seat, user};
use sea_orm::sea_query::{CaseStatement, Expr, ExprTrait, LockType, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Set,
};

use super::ReadyHold;
use super::decide::{Ask, Buyer, SeatState, Win, decide};
use super::pricing::Pricing;
use crate::domain::inventory::{SeatChange, SeatChanges};
use crate::domain::reservation_flow::ReservationChanged;
use crate::error::{ApiError, ApiResult};
use crate::outbox::{self, topic};

/// Applies `holds` (all for `session_id`, in arrival order) in the caller's write
/// transaction. The outer error means the batch as a whole failed and nothing of it may be
/// committed; otherwise each request has its own answer.
pub(super) async fn apply(
    txn: &DatabaseTransaction,
    policy: super::HoldPolicy,
    session_id: i64,
    holds: &[ReadyHold],
    pricing: &Pricing,
    now: DateTime<Utc>,
) -> ApiResult<Vec<ApiResult<reservation::Model>>> {
    let mut answers: Vec<Option<ApiResult<reservation::Model>>> = holds.iter().map(|_| None).collect();

    let users: BTreeSet<i64> = holds.iter().map(|h| h.request.user_id.0).collect();
    let present = lock_buyers(txn, &users).await?;
    // Requests made again with a key that was used since they were first looked at (a retry
    // racing its original, perhaps on another instance), and keys used twice in the batch.
    let used = keys_used(txn, holds).await?;
    let mut first_with_key: HashMap<(i64, &str), usize> = HashMap::new();
    let mut twins: Vec<(usize, usize)> = Vec::new();
    for (i, hold) in holds.iter().enumerate() {
        let key = (hold.request.user_id.0, hold.key.as_str());
        if !present.contains(&hold.request.user_id.0) {
            answers[i] = Some(Err(ApiError::NotFound("user")));
        } else if let Some(existing) = used.get(&key) {
            answers[i] = Some(super::super::hold_guards::replay(txn, existing.clone(), &hold.request).await);
        } else if let Some(&first) = first_with_key.get(&key) {
            twins.push((i, first));
        } else {
            first_with_key.insert(key, i);
        }
    }
    let deciding: Vec<usize> = (0..holds.len())
        .filter(|&i| answers[i].is_none() && !twins.iter().any(|(twin, _)| *twin == i))
        .collect();

    let mut buyers = live_reservations(txn, &users, now).await?;
    let start_version = lock_session(txn, session_id).await?;
    for (user_id, seats) in seats_in_session(txn, &users, session_id).await? {
        buyers.entry(user_id).or_default().seats_in_session = seats;
    }
    let wanted: BTreeSet<i64> = deciding
        .iter()
        .flat_map(|&i| holds[i].request.seat_ids.iter().copied())
        .collect();
    let mut seats = seat_states(txn, session_id, &wanted).await?;
    if seats.values().any(|seat| seat.lapsed(now)) && crate::domain::waitlist::anyone_waiting(txn, session_id).await? {
        // While buyers wait in the session's line, a lapsed hold's seats are freed by the
        // sweeper, which offers them to the line first: a public hold does not take them.
        for seat in seats.values_mut().filter(|seat| seat.lapsed(now)) {
            seat.hold_expires_at = None;
        }
    }
    let asks: Vec<Ask<'_>> = deciding
        .iter()
        .map(|&i| Ask {
            user_id: holds[i].request.user_id.0,
            seat_ids: &holds[i].request.seat_ids,
        })
        .collect();
    let decisions = decide(policy, now, &asks, seats, buyers);

    let mut winners: Vec<(usize, Win)> = Vec::new();
    for (&i, decision) in deciding.iter().zip(decisions) {
        match decision {
            Ok(win) => winners.push((i, win)),
            Err(refusal) => answers[i] = Some(Err(refusal)),
        }
    }
    if !winners.is_empty() {
        let times = Times {
            now,
            expires_at: now + policy.hold_for,
        };
        let priced = winners
            .iter()
            .map(|(i, _)| pricing.price(&holds[*i].request.seat_ids))
            .collect::<ApiResult<Vec<_>>>()?;
        let made = insert_reservations(txn, holds, &winners, &priced, pricing, times).await?;
        write_seats(txn, session_id, &winners, &made, &priced, start_version, times).await?;
        for ((i, _), reservation) in winners.iter().zip(made) {
            answers[*i] = Some(Ok(reservation));
        }
    }
    for (twin, first) in twins {
        answers[twin] = Some(match &answers[first] {
            Some(Ok(made)) if holds[twin].same_as(&holds[first]) => Ok(made.clone()),
            Some(Ok(_)) => Err(super::super::hold_guards::key_reused()),
            // The same request refused: the same refusal.
            Some(Err(refusal)) if holds[twin].same_as(&holds[first]) => Err(same_refusal(refusal)),
            _ => Err(ApiError::Conflict(
                "this idempotency key is being used by another request".into(),
            )),
        });
    }
    Ok(answers
        .into_iter()
        .map(|answer| answer.expect("every request is answered"))
        .collect())
}

/// A refusal of the first of two identical requests, for the second. The decision's
/// refusals are all copied; anything else (it cannot happen) is a CONFLICT.
fn same_refusal(refusal: &ApiError) -> ApiError {
    match refusal {
        ApiError::SeatUnavailable(seats) => ApiError::SeatUnavailable(seats.clone()),
        ApiError::BadUserInput { field, message } => ApiError::BadUserInput {
            field: field.clone(),
            message: message.clone(),
        },
        ApiError::RateLimited { message, retry_after } => ApiError::RateLimited {
            message: message.clone(),
            retry_after: *retry_after,
        },
        ApiError::NotFound(what) => ApiError::NotFound(what),
        _ => ApiError::Conflict("this idempotency key is being used by another request".into()),
    }
}

/// Takes the buyers' row locks in id order (so that batches sharing buyers never wait on
/// each other in a circle), before the session lock, as a single hold does: their live
/// reservations, in any session, are then counted one batch after another. Returns the
/// buyers that exist.
async fn lock_buyers(txn: &DatabaseTransaction, users: &BTreeSet<i64>) -> ApiResult<BTreeSet<i64>> {
    let locked: Vec<i64> = user::Entity::find()
        .select_only()
        .column(user::Column::Id)
        .filter(user::Column::Id.is_in(users.iter().copied()))
        .order_by_asc(user::Column::Id)
        // The lock a single hold's no-op update takes: it excludes other holds of the
        // buyer, not rows that merely refer to the buyer.
        .lock(LockType::NoKeyUpdate)
        .into_tuple()
        .all(txn)
        .await?;
    Ok(locked.into_iter().collect())
}

/// Reservations already made with the batch's (buyer, key) pairs.
async fn keys_used<'a>(
    txn: &DatabaseTransaction,
    holds: &'a [ReadyHold],
) -> ApiResult<HashMap<(i64, &'a str), reservation::Model>> {
    let users: BTreeSet<i64> = holds.iter().map(|h| h.request.user_id.0).collect();
    let keys: BTreeSet<&str> = holds.iter().map(|h| h.key.as_str()).collect();
    let found = reservation::Entity::find()
        .filter(reservation::Column::UserId.is_in(users))
        .filter(reservation::Column::IdempotencyKey.is_in(keys.iter().copied()))
        .all(txn)
        .await?;
    Ok(holds
        .iter()
        .filter_map(|hold| {
            let existing = found
                .iter()
                .find(|r| r.user_id == hold.request.user_id && r.idempotency_key == hold.key)?;
            Some(((hold.request.user_id.0, hold.key.as_str()), existing.clone()))
        })
        .collect())
}

/// Each buyer's reservations waiting for payment, over all sessions.
async fn live_reservations(
    txn: &DatabaseTransaction,
    users: &BTreeSet<i64>,
    now: DateTime<Utc>,
) -> ApiResult<HashMap<i64, Buyer>> {
    let rows: Vec<(i64, ReservationStatus, DateTime<Utc>)> = reservation::Entity::find()
        .select_only()
        .column(reservation::Column::UserId)
        .column(reservation::Column::Status)
        .column(reservation::Column::ExpiresAt)
        .filter(reservation::Column::UserId.is_in(users.iter().copied()))
        .filter(
            sea_orm::Condition::any()
                .add(reservation::Column::Status.eq(ReservationStatus::Paying))
                .add(
                    sea_orm::Condition::all()
                        .add(reservation::Column::Status.eq(ReservationStatus::Held))
                        .add(reservation::Column::ExpiresAt.gt(now)),
                ),
        )
        .into_tuple()
        .all(txn)
        .await?;
    let mut buyers: HashMap<i64, Buyer> = HashMap::new();
    for (user_id, status, expires_at) in rows {
        let lapses = (status == ReservationStatus::Held).then_some(expires_at);
        buyers.entry(user_id).or_default().live.push(lapses);
    }
    Ok(buyers)
}

/// Locks the session row (every change to its seats takes this lock first) and reads its
/// seat-map version. On SQLite the write transaction already excludes every other writer.
async fn lock_session(txn: &DatabaseTransaction, session_id: i64) -> ApiResult<i64> {
    let version: Option<i64> = session::Entity::find_by_id(session_id)
        .select_only()
        .column(session::Column::SeatMapVersion)
        // The lock every other seat change takes with its UPDATE: not FOR UPDATE, which
        // would also hold up inserts that merely refer to the session.
        .lock(LockType::NoKeyUpdate)
        .into_tuple()
        .one(txn)
        .await?;
    version.ok_or(ApiError::NotFound("session"))
}

/// Seats each buyer holds or owns in the session (live reservations: held, paying or
/// confirmed), for the per-buyer cap. Also what the waitlist counts before it offers.
pub(crate) async fn seats_in_session(
    txn: &impl ConnectionTrait,
    users: &BTreeSet<i64>,
    session_id: i64,
) -> ApiResult<Vec<(i64, usize)>> {
    let live = [
        ReservationStatus::Held,
        ReservationStatus::Paying,
        ReservationStatus::Confirmed,
    ];
    let counts: Vec<(i64, i64)> = reservation_seat::Entity::find()
        .select_only()
        .column(reservation::Column::UserId)
        .column_as(reservation_seat::Column::Id.count(), "seats")
        .inner_join(reservation::Entity)
        .filter(reservation::Column::UserId.is_in(users.iter().copied()))
        .filter(reservation::Column::SessionId.eq(session_id))
        .filter(reservation::Column::Status.is_in(live))
        .filter(reservation_seat::Column::Active.eq(true))
        .group_by(reservation::Column::UserId)
        .into_tuple()
        .all(txn)
        .await?;
    Ok(counts.into_iter().map(|(user, seats)| (user, seats as usize)).collect())
}

/// A seat, its status, its reservation and when its hold lapses.
type SeatRow = (i64, SeatStatus, Option<i64>, Option<DateTime<Utc>>);

async fn seat_states(
    txn: &DatabaseTransaction,
    session_id: i64,
    seat_ids: &BTreeSet<i64>,
) -> ApiResult<HashMap<i64, SeatState>> {
    let rows: Vec<SeatRow> = session_seat::Entity::find()
        .select_only()
        .column(session_seat::Column::SeatId)
        .column(session_seat::Column::Status)
        .column(session_seat::Column::ReservationId)
        .column(session_seat::Column::HoldExpiresAt)
        .filter(session_seat::Column::SessionId.eq(session_id))
        .filter(session_seat::Column::SeatId.is_in(seat_ids.iter().copied()))
        .into_tuple()
        .all(txn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(seat_id, status, reservation_id, hold_expires_at)| {
            let state = SeatState {
                status,
                reservation_id,
                hold_expires_at,
            };
            (seat_id, state)
        })
        .collect())
}

/// When the batch runs, and when its holds lapse.
#[derive(Debug, Clone, Copy)]
struct Times {
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

/// One reservation per winner, in the winners' order, as the database stored them.
async fn insert_reservations(
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
            order_id: Set(Some(crate::domain::payments::new_order_id())),
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
async fn write_seats(
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
            .map(move |seat| super::pricing::reservation_seat_row(reservation.id, session_id, seat))
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
async fn move_session(txn: &DatabaseTransaction, session_id: i64, version: i64, taken: i64) -> ApiResult<i32> {
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
