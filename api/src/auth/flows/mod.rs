//! The log-in flows, a module each: by password (sign-up, log-in, password change), the
//! session (refresh, log-out, ending sessions), Kakao, and the bearer token turned into a
//! [`Viewer`](super::viewer::Viewer) on every request. What they share is here: the tokens a
//! log-in hands out.

mod bearer;
mod kakao;
mod password;
mod sessions;

use chrono::{DateTime, Utc};
use entity::user;

use self::bearer::RoleExt;
pub use self::bearer::{TokenCheck, authenticate, check_token};
pub use self::kakao::{kakao_authorize, kakao_log_in};
pub(in crate::auth) use self::password::issue_after_log_in;
pub use self::password::{change_password, log_in, sign_up};
pub use self::sessions::{deny_access, end_all_sessions, log_out, refresh};
use crate::auth::AuthDeps;
use crate::domain::accounts;
use crate::domain::refresh_tokens;
use crate::error::{ApiError, ApiResult};
use crate::ids::UserId;

/// What a successful log-in hands to the client.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access_token: String,
    pub access_token_expires_at: DateTime<Utc>,
    pub refresh_token: String,
    pub user: user::Model,
}

#[derive(Debug, Clone)]
pub struct SignUp {
    pub email: String,
    pub password: String,
    pub name: String,
    pub phone: Option<String>,
}

/// The one message for every failed password log-in, so that it never tells whether the
/// account exists.
const BAD_CREDENTIALS: &str = "the email or password is not correct";

fn unauthenticated(message: &str) -> ApiError {
    ApiError::Unauthenticated(message.to_string())
}

fn deny_key(session_id: &str) -> String {
    format!("deny:session:{session_id}")
}

async fn issue(app: &AuthDeps, user: user::Model, family: Option<refresh_tokens::IssuedToken>) -> ApiResult<Tokens> {
    // Whatever the way in (password, Kakao, a refresh token), a dormant account is
    // reactivated first.
    if user.dormant_at.is_some() {
        return Err(ApiError::AccountDormant);
    }
    let refresh = match family {
        Some(token) => token,
        None => refresh_tokens::start_family(&app.db, UserId(user.id), refresh_ttl(app)).await?,
    };
    // The role is read again once the session exists: a demotion committed after this read
    // ends the session (`end_all_sessions` finds it), one committed before is read here. The
    // `user` read before the session began could sign a just-removed ADMIN role into a live
    // session.
    let role = accounts::find_user(&app.db, UserId(user.id))
        .await?
        .role
        .to_value_string();
    let (access_token, access_token_expires_at) = app
        .jwt
        .issue(user.id, &role, &refresh.family_id)
        .map_err(ApiError::internal)?;
    Ok(Tokens {
        access_token,
        access_token_expires_at,
        refresh_token: refresh.token,
        user,
    })
}

fn refresh_ttl(app: &AuthDeps) -> chrono::Duration {
    chrono::Duration::days(app.settings.auth.refresh_token_days)
}
