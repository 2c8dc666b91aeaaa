//! Box-office blocks: seats kept back from sale (house seats, broken seats, camera positions).

use entity::{SeatStatus, session_seat};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, TransactionTrait};

use super::inventory::{bump_version, change_available};
use crate::error::{ApiError, ApiResult};

/// Blocks every listed seat or none; only AVAILABLE seats can be blocked.
pub async fn block_seats(db: &DatabaseConnection, session_id: i64, seat_ids: &[i64]) -> ApiResult<u64> {
    set_blocked(db, session_id, seat_ids, SeatStatus::Available, SeatStatus::Blocked).await
}

/// Unblocks every listed seat or none; only BLOCKED seats can be unblocked.
pub async fn unblock_seats(db: &DatabaseConnection, session_id: i64, seat_ids: &[i64]) -> ApiResult<u64> {
    set_blocked(db, session_id, seat_ids, SeatStatus::Blocked, SeatStatus::Available).await
}

async fn set_blocked(
    db: &DatabaseConnection,
    session_id: i64,
    seat_ids: &[i64],
    from: SeatStatus,
    to: SeatStatus,
) -> ApiResult<u64> {
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
    change_available(&txn, session_id, delta).await?;
    txn.commit().await?;
    Ok(moved)
}
