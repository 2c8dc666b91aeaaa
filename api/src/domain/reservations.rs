//! Listing reservations: a buyer's own, and the box office's search over all of them, both
//! keyset-paged newest first over indexed columns (no OFFSET, no COUNT over the table).

use chrono::{DateTime, Utc};
use entity::{ReservationStatus, reservation, session, user};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait};

use super::paging::{Page, PageRequest};
use crate::error::ApiResult;
use crate::ids::UserId;

pub async fn list_mine(
    db: &impl ConnectionTrait,
    user_id: UserId,
    status: Option<ReservationStatus>,
    page: PageRequest<()>,
) -> ApiResult<Page<reservation::Model>> {
    let mut query = reservation::Entity::find().filter(reservation::Column::UserId.eq(user_id));
    if let Some(status) = status {
        query = query.filter(reservation::Column::Status.eq(status));
    }
    newest_first(db, query, page).await
}

/// What the box office can search reservations by.
#[derive(Debug, Clone, Default)]
pub struct AdminFilter {
    pub performance_id: Option<i64>,
    pub session_id: Option<i64>,
    /// Exact, case-insensitive.
    pub buyer_email: Option<super::email::Email>,
    /// Exact.
    pub buyer_name: Option<String>,
    pub status: Option<ReservationStatus>,
    pub created_from: Option<DateTime<Utc>>,
    pub created_to: Option<DateTime<Utc>>,
}

pub async fn search(
    db: &impl ConnectionTrait,
    filter: &AdminFilter,
    page: PageRequest<()>,
) -> ApiResult<Page<reservation::Model>> {
    let mut query = reservation::Entity::find();
    if let Some(session_id) = filter.session_id {
        query = query.filter(reservation::Column::SessionId.eq(session_id));
    }
    if let Some(performance_id) = filter.performance_id {
        let sessions = session::Entity::find()
            .select_only()
            .column(session::Column::Id)
            .filter(session::Column::PerformanceId.eq(performance_id))
            .into_query();
        query = query.filter(reservation::Column::SessionId.in_subquery(sessions));
    }
    if filter.buyer_email.is_some() || filter.buyer_name.is_some() {
        let mut buyers = user::Entity::find().select_only().column(user::Column::Id);
        if let Some(email) = &filter.buyer_email {
            buyers = buyers.filter(user::Column::Email.eq(email.as_str()));
        }
        if let Some(name) = &filter.buyer_name {
            buyers = buyers.filter(user::Column::Name.eq(name.trim()));
        }
        query = query.filter(reservation::Column::UserId.in_subquery(buyers.into_query()));
    }
    if let Some(status) = filter.status {
        query = query.filter(reservation::Column::Status.eq(status));
    }
    if let Some(from) = filter.created_from {
        query = query.filter(reservation::Column::CreatedAt.gte(from));
    }
    if let Some(to) = filter.created_to {
        query = query.filter(reservation::Column::CreatedAt.lt(to));
    }
    newest_first(db, query, page).await
}

async fn newest_first(
    db: &impl ConnectionTrait,
    mut query: sea_orm::Select<reservation::Entity>,
    page: PageRequest<()>,
) -> ApiResult<Page<reservation::Model>> {
    if let Some(((), id)) = page.after {
        query = query.filter(Condition::all().add(reservation::Column::Id.lt(id)));
    }
    let rows = query
        .order_by_desc(reservation::Column::Id)
        .limit(page.first + 1)
        .all(db)
        .await?;
    Ok(Page::from_overfetch(rows, page.first))
}
