//! The audit log: every admin mutation records who did what to which object, and when, in
//! the same transaction as the change; admins read it newest first.

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};
use entity::audit_log;

use super::accounts::Account;
use super::guard::{Role, RoleGuard, principal};
use super::relay::{ById, Cursor, ListedById, connection, page_request};
use super::{GqlResult, app, request_info};
use crate::domain::audit;
use crate::error::ApiResult;
use crate::ids::{NodeKind, encode};

/// The write transaction of an admin action. The only way to commit it is
/// [`AdminWrite::commit`], which writes the action's audit entry in the same transaction, so
/// no admin change can land unaudited; dropped without it, the transaction rolls back.
pub struct AdminWrite(sea_orm::DatabaseTransaction);

impl AdminWrite {
    /// Begins the write (see [`crate::db::write`]).
    pub async fn begin(ctx: &Context<'_>) -> ApiResult<Self> {
        Ok(Self(crate::db::write(&app(ctx)?.db).await?))
    }

    /// The transaction, for the domain functions that make the change.
    pub fn txn(&self) -> &sea_orm::DatabaseTransaction {
        &self.0
    }

    /// Records `action` by the caller on `target`, then commits both.
    pub async fn commit(
        self,
        ctx: &Context<'_>,
        action: &str,
        target_type: NodeKind,
        target: Option<i64>,
    ) -> ApiResult<()> {
        audit::record(&self.0, admin_action(ctx, action, target_type, target)?).await?;
        crate::db::commit(self.0).await
    }
}

/// The audit entry for an admin action by the caller on `target`, for a domain function
/// that records it inside its own transaction.
pub fn admin_action<'a>(
    ctx: &Context<'_>,
    action: &'a str,
    target_type: NodeKind,
    target: Option<i64>,
) -> ApiResult<audit::AuditEntry<'a>> {
    let actor = principal(ctx)?.user_id;
    let request_id = request_info(ctx).ok().and_then(|info| info.request_id.clone());
    Ok(audit::AuditEntry {
        actor_id: Some(actor.0),
        action,
        target_type: target_type.name(),
        target_id: target.map(|id| encode(target_type, id).to_string()),
        request_id,
    })
}

pub struct AuditEntry(audit_log::Model);

/// One admin action.
#[Object]
impl AuditEntry {
    async fn id(&self) -> ID {
        encode(NodeKind::AuditEntry, self.0.id)
    }
    /// The mutation, e.g. `createVenue`.
    async fn action(&self) -> &str {
        &self.0.action
    }
    async fn target_type(&self) -> &str {
        &self.0.target_type
    }
    /// Global ID of the object acted on.
    async fn target_id(&self) -> Option<ID> {
        self.0.target_id.clone().map(ID)
    }
    /// Quote it to find the request in the logs.
    async fn request_id(&self) -> Option<&str> {
        self.0.request_id.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// Who did it (null once the account is gone).
    async fn actor(&self, ctx: &Context<'_>) -> GqlResult<Option<Account>> {
        match self.0.actor_id {
            Some(actor) => super::accounts::account(ctx, actor).await,
            None => Ok(None),
        }
    }
}

/// The `auditLog` list's cursors: by id alone.
type AuditById = ById<audit_log::Model>;
impl ListedById for audit_log::Model {
    const LIST: &'static str = "auditLog";
    fn id(&self) -> i64 {
        self.id
    }
}

#[derive(Default)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
    /// Admin actions, newest first.
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Connection<Cursor, AuditEntry>> {
        let app = app(ctx)?;
        let page = page_request::<AuditById>(&app.settings.graphql, first, after)?;
        let rows = audit::list(&app.db, page).await?;
        Ok(connection::<AuditById, _>(rows, AuditEntry))
    }
}
