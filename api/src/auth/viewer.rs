//! Who is calling: decided once per request from the bearer token.

use entity::Role;

use super::jwt::TokenError;

use crate::ids::UserId;

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    pub role: Role,
    /// The log-in session (refresh-token family) of the access token.
    pub session_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Viewer {
    #[default]
    Anonymous,
    /// A token was presented and refused (expired, forged, revoked); the caller is treated
    /// as anonymous, and anything needing a log-in says why.
    Rejected(TokenError),
    User(Principal),
}

impl Viewer {
    pub fn principal(&self) -> Option<&Principal> {
        match self {
            Viewer::User(principal) => Some(principal),
            _ => None,
        }
    }
}
