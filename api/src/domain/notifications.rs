//! A buyer's in-app notifications: listing (keyset, newest first), counting the unread,
//! marking read. Creating them is `crate::domain::notify`.

use chrono::Utc;
use entity::notification;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};

use super::paging::{Page, PageRequest};
use crate::error::{ApiError, ApiResult};
use crate::ids::UserId;

pub async fn list_mine(
    db: &impl ConnectionTrait,
    user_id: UserId,
    unread_only: bool,
    page: PageRequest<()>,
) -> ApiResult<Page<notification::Model>> {
    let mut query = notification::Entity::find().filter(notification::Column::UserId.eq(user_id));
    if unread_only {
        query = query.filter(notification::Column::ReadAt.is_null());
    }
    if let Some(((), id)) = page.after {
        query = query.filter(notification::Column::Id.lt(id));
    }
    let rows = query
        .order_by_desc(notification::Column::Id)
        .limit(page.first + 1)
        .all(db)
        .await?;
    Ok(Page::from_overfetch(rows, page.first))
}

pub async fn unread_count(db: &impl ConnectionTrait, user_id: UserId) -> ApiResult<u64> {
    Ok(notification::Entity::find()
        .filter(notification::Column::UserId.eq(user_id))
        .filter(notification::Column::ReadAt.is_null())
        .count(db)
        .await?)
}

/// Marks the caller's own notifications among `ids` read; returns how many changed.
/// Most notifications one `markNotificationsRead` may name.
pub const MAX_MARK_READ: usize = 500;

pub async fn mark_read(db: &impl ConnectionTrait, user_id: UserId, ids: &[i64]) -> ApiResult<u64> {
    if ids.is_empty() {
        return Ok(0);
    }
    // One statement binds every id: bounded, so that no list can reach the database's own
    // limit on bound parameters (an internal error) or hold the row locks for long.
    if ids.len() > MAX_MARK_READ {
        return Err(ApiError::bad_input(
            "ids",
            format!("mark at most {MAX_MARK_READ} notifications read at a time"),
        ));
    }
    Ok(notification::Entity::update_many()
        .col_expr(notification::Column::ReadAt, Expr::value(Utc::now()))
        .filter(notification::Column::UserId.eq(user_id))
        .filter(notification::Column::Id.is_in(ids.iter().copied()))
        .filter(notification::Column::ReadAt.is_null())
        .exec(db)
        .await?
        .rows_affected)
}
