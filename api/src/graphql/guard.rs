//! The one place where roles are checked. Who the caller is was decided by the HTTP layer
//! (see `auth::flows::authenticate`) and sits in the request data as a [`Viewer`].

use async_graphql::{Context, Guard, Result};
pub use entity::Role;

use crate::auth::jwt::TokenError;
pub use crate::auth::viewer::{Principal, Viewer};
use crate::error::{ApiError, ApiResult};

/// Field guard: `RoleGuard(Role::User)` needs any log-in, `RoleGuard(Role::Admin)` an admin.
/// Anonymous callers get UNAUTHENTICATED, callers without the role FORBIDDEN.
pub struct RoleGuard(pub Role);

impl Guard for RoleGuard {
    async fn check(&self, ctx: &Context<'_>) -> Result<()> {
        let principal = principal(ctx)?;
        match (self.0, principal.role) {
            (Role::User, _) | (Role::Admin, Role::Admin) => Ok(()),
            (Role::Admin, Role::User) => Err(ApiError::Forbidden.into()),
        }
    }
}

pub fn viewer<'a>(ctx: &Context<'a>) -> &'a Viewer {
    static ANONYMOUS: Viewer = Viewer::Anonymous;
    ctx.data_opt::<Viewer>().unwrap_or(&ANONYMOUS)
}

/// The logged-in caller, or UNAUTHENTICATED saying what to do.
pub fn principal<'a>(ctx: &Context<'a>) -> ApiResult<&'a Principal> {
    match viewer(ctx) {
        Viewer::User(principal) => Ok(principal),
        Viewer::Anonymous => Err(ApiError::Unauthenticated("log in to do this".into())),
        Viewer::Rejected(TokenError::Expired) => Err(ApiError::Unauthenticated(
            "the access token has expired; renew it with refreshToken".into(),
        )),
        Viewer::Rejected(_) => Err(ApiError::Unauthenticated(
            "the access token is not valid; log in again".into(),
        )),
    }
}
