//! What a hold request must pass besides free seats: an idempotency key is replayed only
//! for the same request, and a buyer has at most `max_live_reservations` reservations
//! waiting for payment (a bot holding seats across many sessions at once cannot). The
//! per-minute limits on hold attempts are counted before any of this, in the resolvers.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use entity::{ReservationStatus, reservation, user};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

use super::holds::{HoldPolicy, HoldRequest, find_by_key, seats_of};
use crate::error::{ApiError, ApiResult};

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
    user_id: i64,
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

/// Refuses a hold while the buyer already has `max_live_reservations` reservations waiting
/// for payment. Takes the buyer's row lock first (a no-op update), so that concurrent
/// holds of one buyer, in any session, count one after another; on SQLite the write
/// transaction serialises them anyway.
pub(super) async fn check_live_reservations(
    db: &impl ConnectionTrait,
    policy: HoldPolicy,
    user_id: i64,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let locked = user::Entity::update_many()
        .col_expr(user::Column::UpdatedAt, Expr::col(user::Column::UpdatedAt))
        .filter(user::Column::Id.eq(user_id))
        .exec(db)
        .await?
        .rows_affected;
    if locked == 0 {
        return Err(ApiError::NotFound("user"));
    }
    let live: Vec<(ReservationStatus, DateTime<Utc>)> = reservation::Entity::find()
        .select_only()
        .column(reservation::Column::Status)
        .column(reservation::Column::ExpiresAt)
        .filter(reservation::Column::UserId.eq(user_id))
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
        .all(db)
        .await?;
    let lapses: Vec<Option<DateTime<Utc>>> = live
        .into_iter()
        .map(|(status, at)| (status == ReservationStatus::Held).then_some(at))
        .collect();
    match super::holds::live_limit(policy, &lapses, now) {
        Some(refusal) => Err(refusal),
        None => Ok(()),
    }
}
