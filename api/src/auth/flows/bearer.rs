//! The caller of each request, from its bearer token.

use entity::Role;

use super::deny_key;
use crate::auth::AuthDeps;
use crate::auth::jwt::TokenError;
use crate::auth::viewer::{Principal, Viewer};
use crate::ids::UserId;

/// Decides the caller from an `Authorization: Bearer …` token: a valid, unexpired token of a
/// session that was not ended. Fails closed: a token is refused when the deny-list cannot
/// be read.
pub async fn authenticate(app: &AuthDeps, bearer: Option<&str>) -> Viewer {
    let Some(token) = bearer else {
        return Viewer::Anonymous;
    };
    match check_token(app, token).await {
        TokenCheck::Valid(principal) => Viewer::User(principal),
        TokenCheck::Refused(err) => Viewer::Rejected(err),
        // An unreachable deny-list must not let a revoked token through.
        TokenCheck::Unknown => Viewer::Rejected(TokenError::Unverifiable),
    }
}

/// What is known of a token now.
#[derive(Debug)]
pub enum TokenCheck {
    /// Valid, unexpired, of a session that was not ended.
    Valid(Principal),
    /// Refused: bad, expired, or of an ended session.
    Refused(TokenError),
    /// Its signature and expiry are good but the deny-list could not be read: whether its
    /// session was ended is unknown. HTTP refuses such a token; an open socket keeps going
    /// and asks again later, so that a blip of the store does not disconnect everyone.
    Unknown,
}

/// Checks `token` (signature, expiry, deny-list), telling "refused" from "could not check".
pub async fn check_token(app: &AuthDeps, token: &str) -> TokenCheck {
    let claims = match app.jwt.verify(token) {
        Ok(claims) => claims,
        Err(err) => return TokenCheck::Refused(err),
    };
    match app.deny_list.get(&deny_key(&claims.sid)).await {
        Ok(None) => {}
        Ok(Some(_)) => return TokenCheck::Refused(TokenError::Invalid),
        Err(err) => {
            tracing::error!(error = ?err, "the token deny-list could not be read");
            return TokenCheck::Unknown;
        }
    }
    let (Ok(user_id), Ok(role)) = (claims.sub.parse::<i64>(), claims.role.parse::<RoleName>()) else {
        return TokenCheck::Refused(TokenError::Invalid);
    };
    TokenCheck::Valid(Principal {
        user_id: UserId(user_id),
        role: role.0,
        session_id: claims.sid,
    })
}

struct RoleName(Role);

impl std::str::FromStr for RoleName {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "USER" => Ok(RoleName(Role::User)),
            "ADMIN" => Ok(RoleName(Role::Admin)),
            "DOOR" => Ok(RoleName(Role::Door)),
            _ => Err(()),
        }
    }
}

pub(super) trait RoleExt {
    fn to_value_string(&self) -> String;
}

impl RoleExt for Role {
    fn to_value_string(&self) -> String {
        match self {
            Role::User => "USER".into(),
            Role::Admin => "ADMIN".into(),
            Role::Door => "DOOR".into(),
        }
    }
}
