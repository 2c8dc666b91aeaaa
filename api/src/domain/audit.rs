//! The audit log of admin actions, written in the same transaction as the action itself.

use chrono::Utc;
use entity::audit_log;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use super::paging::{Page, PageRequest};
use crate::error::ApiResult;

#[derive(Debug, Clone)]
pub struct AuditEntry<'a> {
    pub actor_id: Option<i64>,
    pub action: &'a str,
    pub target_type: &'a str,
    pub target_id: Option<String>,
    pub request_id: Option<String>,
}

pub async fn record(db: &impl ConnectionTrait, entry: AuditEntry<'_>) -> ApiResult<()> {
    audit_log::ActiveModel {
        actor_id: Set(entry.actor_id),
        action: Set(entry.action.to_string()),
        target_type: Set(entry.target_type.to_string()),
        target_id: Set(entry.target_id),
        request_id: Set(entry.request_id),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Newest first; the id alone orders the log, since ids grow with time.
pub async fn list(db: &impl ConnectionTrait, page: PageRequest<()>) -> ApiResult<Page<audit_log::Model>> {
    let mut query = audit_log::Entity::find().order_by_desc(audit_log::Column::Id);
    if let Some(((), id)) = page.after {
        query = query.filter(audit_log::Column::Id.lt(id));
    }
    let rows = query.limit(page.first + 1).all(db).await?;
    Ok(Page::from_overfetch(rows, page.first))
}
