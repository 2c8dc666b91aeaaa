//! The buyer's notifications: a list, an unread count, marking read, and a live
//! subscription fed by the event bus (so a notification made on any instance arrives).

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, Object, Subscription};
use chrono::{DateTime, Utc};
use entity::notification;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use tokio::sync::broadcast::error::RecvError;

use crate::domain::notifications;
use crate::domain::notify::Pushed;
use crate::graphql::fanout::{self, SharedEvent};
use crate::graphql::guard::{Role, RoleGuard, principal};
use crate::graphql::relay::{ById, Cursor, ListedById, connection, page_request};
use crate::graphql::{GqlResult, app};
use crate::ids::{NodeKind, UserId, encode, expect};
use crate::state::AppState;

/// Something the buyer was told.
#[derive(Clone)]
pub struct Notification(Pushed, Option<DateTime<Utc>>);

impl Notification {
    /// Its database id.
    pub(crate) fn number(&self) -> i64 {
        self.0.id
    }
}

impl From<notification::Model> for Notification {
    fn from(row: notification::Model) -> Self {
        let data = serde_json::from_str(&row.data).unwrap_or(serde_json::Value::Null);
        Self(
            Pushed {
                id: row.id,
                user_id: row.user_id,
                kind: row.kind,
                title: row.title,
                body: row.body,
                data,
                created_at: row.created_at,
            },
            row.read_at,
        )
    }
}

#[Object]
impl Notification {
    async fn id(&self) -> ID {
        encode(NodeKind::Notification, self.0.id)
    }
    /// HOLD_PLACED, PAYMENT_CONFIRMED, RESERVATION_CANCELLED, HOLD_EXPIRED, SHOW_REMINDER,
    /// REVIEW_PROMPT or DORMANCY_WARNING.
    async fn kind(&self) -> &str {
        &self.0.kind
    }
    /// In the buyer's language.
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn body(&self) -> &str {
        &self.0.body
    }
    /// IDs to link to, e.g. `{"reservationId": "…"}`.
    async fn data(&self) -> async_graphql::Json<serde_json::Value> {
        async_graphql::Json(self.0.data.clone())
    }
    async fn read_at(&self) -> Option<DateTime<Utc>> {
        self.1
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// The `notifications` list's cursors: by id alone.
type NewestFirst = ById<notification::Model>;
impl ListedById for notification::Model {
    const LIST: &'static str = "notifications";
    fn id(&self) -> i64 {
        self.id
    }
}

#[derive(Default)]
pub struct NotificationQuery;

#[Object]
impl NotificationQuery {
    /// The caller's notifications, newest first.
    #[graphql(guard = "RoleGuard(Role::User)")]
    async fn my_notifications(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        unread_only: Option<bool>,
    ) -> GqlResult<Connection<Cursor, Notification>> {
        let app = app(ctx)?;
        let page = page_request::<NewestFirst>(&app.settings.graphql, first, after)?;
        let rows =
            notifications::list_mine(&app.db, principal(ctx)?.user_id, unread_only.unwrap_or(false), page).await?;
        Ok(connection::<NewestFirst, _>(rows, Notification::from))
    }

    #[graphql(guard = "RoleGuard(Role::User)")]
    async fn unread_notification_count(&self, ctx: &Context<'_>) -> GqlResult<u64> {
        Ok(notifications::unread_count(&app(ctx)?.db, principal(ctx)?.user_id).await?)
    }
}

#[derive(Default)]
pub struct NotificationMutation;

#[Object]
impl NotificationMutation {
    /// Marks the caller's notifications read (at most 500 per call); returns how many were unread.
    #[graphql(guard = "RoleGuard(Role::User)")]
    async fn mark_notifications_read(&self, ctx: &Context<'_>, ids: Vec<ID>) -> GqlResult<u64> {
        let ids = ids
            .iter()
            .map(|id| expect(NodeKind::Notification, id, "ids"))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(notifications::mark_read(&app(ctx)?.db, principal(ctx)?.user_id, &ids).await?)
    }
}

#[derive(Default)]
pub struct NotificationSubscription;

#[Subscription]
impl NotificationSubscription {
    /// Each new notification of the caller, as it is made. Pushes are best effort: after a
    /// reconnect, read `myNotifications(unreadOnly: true)` for anything missed.
    #[graphql(guard = "RoleGuard(Role::User)")]
    async fn notification_received(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<BoxStream<'static, Notification>> {
        let user_id = principal(ctx)?.user_id;
        if let Some(notification) = fanout::preset(ctx, |event| match event {
            SharedEvent::Notification(notification) => Some(notification),
            _ => None,
        }) {
            return Ok(futures::stream::iter(notification).boxed());
        }
        Ok(events(app(ctx)?, user_id).boxed())
    }
}

/// Each new notification of `user_id`, as this instance hears of it.
pub(crate) fn events(app: &AppState, user_id: UserId) -> impl Stream<Item = Notification> + Send + use<> {
    let notifications = app.notifications.watch(user_id.0);
    futures::stream::unfold(notifications, |mut notifications| async move {
        loop {
            match notifications.recv().await {
                Ok(pushed) => return Some((Notification(Pushed::clone(&pushed), None), notifications)),
                // Pushes are best effort; the list has whatever was skipped.
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return None,
            }
        }
    })
}
