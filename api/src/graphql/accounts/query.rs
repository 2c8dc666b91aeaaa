use async_graphql::{Context, Object};

use super::types::{Account, User};
use crate::domain::accounts;
use crate::graphql::guard::{Role, RoleGuard, Viewer, principal, viewer};
use crate::graphql::{GqlResult, app};

#[derive(Default)]
pub struct AccountQuery;

#[Object]
impl AccountQuery {
    /// The logged-in user; null when anonymous, UNAUTHENTICATED when the token is refused.
    async fn me(&self, ctx: &Context<'_>) -> GqlResult<Option<User>> {
        if *viewer(ctx) == Viewer::Anonymous {
            return Ok(None);
        }
        let principal = principal(ctx)?;
        Ok(Some(User(accounts::find_user(&app(ctx)?.db, principal.user_id).await?)))
    }

    /// Finds an account by email, to manage its role.
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn admin_account_by_email(&self, ctx: &Context<'_>, email: String) -> GqlResult<Option<Account>> {
        let email = crate::domain::email::Email::lookup(&email);
        Ok(accounts::find_by_email(&app(ctx)?.db, &email).await?.map(Account))
    }
}
