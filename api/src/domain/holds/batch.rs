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
use entity::reservation;
use sea_orm::DatabaseTransaction;

mod reads;
mod writes;

use super::ReadyHold;
use super::decide::{Ask, Win, decide};
use super::pricing::Pricing;
use crate::domain::reservations::seats_in_session;
use crate::error::{ApiError, ApiResult};
use reads::{keys_used, live_reservations, lock_buyers, lock_session, seat_states};
use writes::{Times, insert_reservations, write_seats};

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
            answers[i] = Some(super::guards::replay(txn, existing.clone(), &hold.request).await);
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
            Some(Ok(_)) => Err(super::guards::key_reused()),
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
