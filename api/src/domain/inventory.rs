//! Primitives every change to a session's inventory uses, in this order: bump the version
//! (which takes the session row's lock), move seats conditionally, move the counter by the
//! rows that moved.

use chrono::Utc;
use entity::{SeatStatus, session};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

use crate::error::{ApiError, ApiResult};

/// Takes the session row's write lock without changing anything: for transactions that may
/// turn out to change no seat (and so must not bump the version).
pub(crate) async fn lock_session(db: &impl ConnectionTrait, session_id: i64) -> ApiResult<()> {
    let locked = session::Entity::update_many()
        .col_expr(
            session::Column::SeatMapVersion,
            Expr::col(session::Column::SeatMapVersion),
        )
        .filter(session::Column::Id.eq(session_id))
        .exec(db)
        .await?
        .rows_affected;
    if locked == 0 {
        return Err(ApiError::NotFound("session"));
    }
    Ok(())
}

/// Bumps the session's seat-map version, taking the session row's write lock; returns the
/// new version. One statement (`RETURNING`), because it runs under the session lock where
/// every round trip counts on sale day.
pub(crate) async fn bump_version(db: &impl ConnectionTrait, session_id: i64) -> ApiResult<i64> {
    let update = Query::update()
        .table(session::Entity)
        .value(
            session::Column::SeatMapVersion,
            Expr::col(session::Column::SeatMapVersion).add(1),
        )
        .and_where(session::Column::Id.eq(session_id))
        .returning_col(session::Column::SeatMapVersion)
        .to_owned();
    let row = db.query_one(&update).await?.ok_or(ApiError::NotFound("session"))?;
    Ok(row.try_get_by_index::<i64>(0)?)
}

/// The session's seat-map version as this connection sees it.
pub(crate) async fn current_version(db: &impl ConnectionTrait, session_id: i64) -> ApiResult<i64> {
    let version: Option<i64> = session::Entity::find_by_id(session_id)
        .select_only()
        .column(session::Column::SeatMapVersion)
        .into_tuple()
        .one(db)
        .await?;
    version.ok_or(ApiError::NotFound("session"))
}

/// Moves the session's available-seat counter by `delta`; returns the new count.
pub(crate) async fn change_available(db: &impl ConnectionTrait, session_id: i64, delta: i64) -> ApiResult<i32> {
    let update = Query::update()
        .table(session::Entity)
        .value(
            session::Column::AvailableSeats,
            Expr::col(session::Column::AvailableSeats).add(delta),
        )
        .value(session::Column::UpdatedAt, Utc::now())
        .and_where(session::Column::Id.eq(session_id))
        .returning_col(session::Column::AvailableSeats)
        .to_owned();
    let row = db.query_one(&update).await?.ok_or(ApiError::NotFound("session"))?;
    Ok(row.try_get_by_index::<i32>(0)?)
}

/// One seat's new status, as a seat-map delta reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SeatChange {
    pub seat_id: i64,
    pub status: SeatStatus,
}

/// What one transaction did to a session's seats: the payload of a seat-map outbox event.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SeatChanges {
    pub changes: Vec<SeatChange>,
    /// The session's available-seat counter after the change.
    pub available_count: i32,
}

/// Writes the seat-map delta of a change, in the changing transaction: the seats in
/// `seat_ids` now have `status`, the session is at `version` with `available_count` seats
/// available (as [`change_available`] returned it).
pub(crate) async fn record_seat_changes(
    db: &impl ConnectionTrait,
    session_id: i64,
    version: i64,
    seat_ids: &[i64],
    status: SeatStatus,
    available_count: i32,
) -> ApiResult<()> {
    let changes = SeatChanges {
        changes: seat_ids.iter().map(|&seat_id| SeatChange { seat_id, status }).collect(),
        available_count,
    };
    crate::outbox::record(db, crate::outbox::topic::SEAT_MAP, session_id, Some(version), &changes).await
}
