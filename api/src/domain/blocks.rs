//! Box-office blocks: seats kept back from sale (house seats, broken seats, camera positions).

use entity::{SeatStatus, session_seat};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, TransactionSession, TransactionTrait};

use super::inventory::{bump_version, change_available, record_seat_changes};
use crate::error::{ApiError, ApiResult};

/// Blocks (`block = true`) or unblocks every listed seat, or none: only AVAILABLE seats can
/// be blocked and only BLOCKED ones unblocked. Runs in its own transaction, or as a
/// savepoint inside the caller's (so that the caller can audit in the same transaction).
pub async fn set_blocked<C>(db: &C, session_id: i64, seat_ids: &[i64], block: bool) -> ApiResult<u64>
where
    C: ConnectionTrait + TransactionTrait,
{
    let (from, to) = if block {
        (SeatStatus::Available, SeatStatus::Blocked)
    } else {
        (SeatStatus::Blocked, SeatStatus::Available)
    };
    if seat_ids.is_empty() {
        return Err(ApiError::bad_input("seatIds", "choose at least one seat"));
    }
    let txn = db.begin().await?;
    let version = bump_version(&txn, session_id).await?;
    let moved = session_seat::Entity::update_many()
        .col_expr(session_seat::Column::Status, Expr::value(to))
        .col_expr(session_seat::Column::Version, Expr::value(version))
        .filter(session_seat::Column::SessionId.eq(session_id))
        .filter(session_seat::Column::SeatId.is_in(seat_ids.iter().copied()))
        .filter(session_seat::Column::Status.eq(from))
        .exec(&txn)
        .await?
        .rows_affected;
    if moved as usize != seat_ids.len() {
        let present = session_seat::Entity::find()
            .filter(session_seat::Column::SessionId.eq(session_id))
            .filter(session_seat::Column::SeatId.is_in(seat_ids.iter().copied()))
            .all(&txn)
            .await?;
        txn.rollback().await?;
        if present.len() != seat_ids.len() {
            return Err(ApiError::bad_input("seatIds", "a seat does not belong to this session"));
        }
        let wrong: Vec<i64> = present
            .into_iter()
            .filter(|s| s.status != from)
            .map(|s| s.seat_id)
            .collect();
        return Err(ApiError::SeatUnavailable(wrong));
    }
    let delta = if to == SeatStatus::Blocked {
        -(moved as i64)
    } else {
        moved as i64
    };
    let available = change_available(&txn, session_id, delta).await?;
    record_seat_changes(&txn, session_id, version, seat_ids, to, available).await?;
    if !block {
        // Unblocked seats go to the waitlist first, in this transaction.
        super::waitlist::hand_over(&txn, session_id).await?;
    }
    txn.commit().await?;
    Ok(moved)
}
