use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputObject, Object};
use chrono::{DateTime, Utc};
use entity::reservation;

use super::types::{Reservation, ReservationStatus};
use crate::domain::reservations;
use crate::domain::reservations::AdminFilter;
use crate::graphql::guard::{Role, RoleGuard, principal};
use crate::graphql::relay::{ById, Cursor, ListedById, connection, page_request};
use crate::graphql::{GqlResult, app};
use crate::ids::{NodeKind, expect, expect_id};

/// What the box office searches reservations by; every field narrows the search.
#[derive(InputObject, Debug, Default)]
pub struct AdminReservationFilter {
    pub performance_id: Option<ID>,
    pub session_id: Option<ID>,
    /// The buyer's email, exactly (case-insensitive).
    pub buyer_email: Option<String>,
    /// The buyer's name, exactly.
    pub buyer_name: Option<String>,
    pub status: Option<ReservationStatus>,
    pub created_from: Option<DateTime<Utc>>,
    pub created_to: Option<DateTime<Utc>>,
}

/// The `reservations` list's cursors: by id alone.
type NewestFirst = ById<reservation::Model>;
impl ListedById for reservation::Model {
    const LIST: &'static str = "reservations";
    fn id(&self) -> i64 {
        self.id
    }
}

#[derive(Default)]
pub struct BookingQuery;

#[Object]
impl BookingQuery {
    /// One of the caller's reservations; anyone else's is NOT_FOUND.
    #[graphql(guard = "RoleGuard(Role::User)")]
    async fn reservation(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Option<Reservation>> {
        let id = expect_id(&id, "id")?;
        Ok(Some(Reservation(
            crate::domain::reservations::find_owned(&app(ctx)?.db, id, principal(ctx)?.user_id).await?,
        )))
    }

    /// The caller's reservations, newest first.
    #[graphql(guard = "RoleGuard(Role::User)")]
    async fn my_reservations(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        status: Option<ReservationStatus>,
    ) -> GqlResult<Connection<Cursor, Reservation>> {
        let app = app(ctx)?;
        let page = page_request::<NewestFirst>(&app.settings.graphql, first, after)?;
        let rows = reservations::list_mine(&app.db, principal(ctx)?.user_id, status.map(Into::into), page).await?;
        Ok(connection::<NewestFirst, _>(rows, Reservation))
    }

    /// Every reservation, newest first, for the box office; buyers' contact details masked.
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn admin_reservations(
        &self,
        ctx: &Context<'_>,
        filter: Option<AdminReservationFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Connection<Cursor, Reservation>> {
        let app = app(ctx)?;
        let page = page_request::<NewestFirst>(&app.settings.graphql, first, after)?;
        let filter = filter.unwrap_or_default();
        let filter = AdminFilter {
            performance_id: filter
                .performance_id
                .as_ref()
                .map(|id| expect(NodeKind::Performance, id, "filter.performanceId"))
                .transpose()?,
            session_id: filter
                .session_id
                .as_ref()
                .map(|id| expect(NodeKind::Session, id, "filter.sessionId"))
                .transpose()?,
            buyer_email: filter.buyer_email.as_deref().map(crate::domain::email::Email::lookup),
            buyer_name: filter.buyer_name,
            status: filter.status.map(Into::into),
            created_from: filter.created_from,
            created_to: filter.created_to,
        };
        let rows = reservations::search(&crate::graphql::reader(ctx).await?, &filter, page).await?;
        Ok(connection::<NewestFirst, _>(rows, Reservation))
    }
}
