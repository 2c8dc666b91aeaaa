//! An idempotency key is replayed only for the same request. (A buyer's limit on
//! reservations waiting for payment is counted with the hold itself: `holds::decide`.) The
//! per-minute limits on hold attempts are counted in the resolvers.

use std::collections::BTreeSet;

use entity::reservation;
use sea_orm::ConnectionTrait;

use super::HoldRequest;
use crate::domain::reservations::{find_by_key, seats_of};
use crate::error::{ApiError, ApiResult};
use crate::ids::UserId;

/// The idempotency key a buyer gave for a hold, trimmed, or BAD_USER_INPUT (field
/// `idempotencyKey`): 1 to 100 characters, and not in the server's own namespace. The
/// waitlist's offers are saved under `waitlist:{entry}` with the same unique key on buyer and
/// idempotency key as buyers' holds: a buyer's own hold with such a key would make the offer
/// for their entry collide with it. Every hold path calls this before looking the key up.
pub fn client_key(key: &str) -> ApiResult<&str> {
    let key = key.trim();
    if key.is_empty() || key.len() > 100 {
        return Err(ApiError::bad_input(
            "idempotencyKey",
            "the idempotency key must have 1 to 100 characters",
        ));
    }
    if crate::domain::waitlist::is_server_key(key) {
        return Err(ApiError::bad_input(
            "idempotencyKey",
            "idempotency keys starting with \"waitlist:\" are reserved for seats offered from the waitlist; choose another key",
        ));
    }
    Ok(key)
}

/// The reservation an idempotency key was used for, when the request is the same one
/// again: the same session and exactly the same seats. Anything else is CONFLICT.
pub(super) async fn replay(
    db: &impl ConnectionTrait,
    existing: reservation::Model,
    request: &HoldRequest,
) -> ApiResult<reservation::Model> {
    let wanted: BTreeSet<i64> = request.seat_ids.iter().copied().collect();
    let same = existing.session_id == request.session_id
        && existing.seat_count as usize == request.seat_ids.len()
        && seats_of(db, existing.id)
            .await?
            .iter()
            .map(|seat| seat.seat_id)
            .collect::<BTreeSet<_>>()
            == wanted;
    if !same {
        return Err(key_reused());
    }
    Ok(existing)
}

/// For `holdBestAvailable`, which chooses its seats: the reservation an idempotency key was
/// already used for, when that was the same request (the session, `count` seats of
/// `grade`); `None` for a fresh key; CONFLICT for a key used for anything else.
pub async fn replay_best_available(
    db: &impl ConnectionTrait,
    user_id: UserId,
    idempotency_key: &str,
    session_id: i64,
    count: usize,
    grade: &str,
) -> ApiResult<Option<reservation::Model>> {
    let Some(existing) = find_by_key(db, user_id, idempotency_key.trim()).await? else {
        return Ok(None);
    };
    let seats = seats_of(db, existing.id).await?;
    if existing.session_id != session_id
        || existing.seat_count as usize != count
        || seats.iter().any(|seat| seat.grade != grade)
    {
        return Err(key_reused());
    }
    Ok(Some(existing))
}

pub(super) fn key_reused() -> ApiError {
    ApiError::Conflict(
        "this idempotency key was already used for a different hold; use a new key for a new request".into(),
    )
}
