use async_graphql::{Context, ID, Object};

use super::types::Reservation;
use crate::domain::holds;
use crate::graphql::guard::{Role, RoleGuard, principal};
use crate::graphql::ids::{NodeKind, expect};
use crate::graphql::{GqlResult, app};

#[derive(Default)]
pub struct BookingQuery;

#[Object]
impl BookingQuery {
    /// One of the caller's reservations; anyone else's is NOT_FOUND.
    #[graphql(guard = "RoleGuard(Role::User)")]
    async fn reservation(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Option<Reservation>> {
        let id = expect(NodeKind::Reservation, &id, "id")?;
        Ok(Some(Reservation(
            holds::find_owned(&app(ctx)?.db, id, principal(ctx)?.user_id).await?,
        )))
    }
}
