//! The one place where roles are checked. Who the caller is was decided by the HTTP layer
//! (see `auth::flows::authenticate`) and sits in the request data as a [`Viewer`].

use async_graphql::{Context, Guard, Result};
pub use entity::Role;

use crate::auth::jwt::TokenError;
pub use crate::auth::viewer::{Principal, Viewer};
use crate::error::{ApiError, ApiResult};

/// Field guard: `RoleGuard(Role::User)` needs any log-in, `RoleGuard(Role::Door)` door staff
/// or an admin, `RoleGuard(Role::Admin)` an admin. Anonymous callers get UNAUTHENTICATED,
/// callers without the role FORBIDDEN.
pub struct RoleGuard(pub Role);

impl Guard for RoleGuard {
    async fn check(&self, ctx: &Context<'_>) -> Result<()> {
        let principal = principal(ctx)?;
        if rank(principal.role) >= rank(self.0) {
            Ok(())
        } else {
            Err(ApiError::Forbidden.into())
        }
    }
}

/// How much a role may do: each role may do what the ones below it may. Door staff may
/// also buy tickets of their own, like any account.
pub fn rank(role: Role) -> u8 {
    match role {
        Role::User => 0,
        Role::Door => 1,
        Role::Admin => 2,
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
        Viewer::Rejected(TokenError::Unverifiable) => Err(ApiError::unavailable(anyhow::anyhow!(
            "the token deny-list cannot be read"
        ))),
        Viewer::Rejected(_) => Err(ApiError::Unauthenticated(
            "the access token is not valid; log in again".into(),
        )),
    }
}
