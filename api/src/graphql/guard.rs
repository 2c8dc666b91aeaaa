//! Who is asking, and the one place where roles are checked.

use async_graphql::{Context, Guard, Result};

use crate::error::ApiError;

/// Roles a caller can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
}

/// The authenticated caller of a request, decided once per request by the HTTP layer.
#[derive(Debug, Clone, Default)]
pub enum Viewer {
    #[default]
    Anonymous,
    /// Authenticated with the configured admin API key.
    AdminKey,
}

impl Viewer {
    pub fn has_role(&self, role: Role) -> bool {
        match (self, role) {
            (Viewer::AdminKey, Role::Admin) => true,
            (Viewer::Anonymous, _) => false,
        }
    }

    pub fn is_authenticated(&self) -> bool {
        !matches!(self, Viewer::Anonymous)
    }
}

/// Field guard: anonymous callers get UNAUTHENTICATED, callers without the role FORBIDDEN.
pub struct RoleGuard(pub Role);

impl Guard for RoleGuard {
    async fn check(&self, ctx: &Context<'_>) -> Result<()> {
        let viewer = ctx.data_opt::<Viewer>().cloned().unwrap_or_default();
        if viewer.has_role(self.0) {
            Ok(())
        } else if viewer.is_authenticated() {
            Err(ApiError::Forbidden.into())
        } else {
            Err(ApiError::Unauthenticated.into())
        }
    }
}
