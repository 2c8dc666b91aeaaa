//! Primitives every change to a session's inventory uses, in this order: bump the version
//! (which takes the session row's lock), move seats conditionally, move the counter by the
//! rows that moved.

use chrono::Utc;
use entity::session;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

use crate::error::{ApiError, ApiResult};

/// Bumps the session's seat-map version, taking the session row's write lock; returns the
/// new version.
pub(crate) async fn bump_version(db: &impl ConnectionTrait, session_id: i64) -> ApiResult<i64> {
    session::Entity::update_many()
        .col_expr(
            session::Column::SeatMapVersion,
            Expr::col(session::Column::SeatMapVersion).add(1),
        )
        .filter(session::Column::Id.eq(session_id))
        .exec(db)
        .await?;
    let version: Option<i64> = session::Entity::find_by_id(session_id)
        .select_only()
        .column(session::Column::SeatMapVersion)
        .into_tuple()
        .one(db)
        .await?;
    version.ok_or(ApiError::NotFound("session"))
}

pub(crate) async fn change_available(db: &impl ConnectionTrait, session_id: i64, delta: i64) -> ApiResult<()> {
    if delta != 0 {
        session::Entity::update_many()
            .col_expr(
                session::Column::AvailableSeats,
                Expr::col(session::Column::AvailableSeats).add(delta),
            )
            .col_expr(session::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(session::Column::Id.eq(session_id))
            .exec(db)
            .await?;
    }
    Ok(())
}
