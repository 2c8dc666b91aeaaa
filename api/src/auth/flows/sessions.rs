//! A session's life after log-in: refreshing it, logging out, ending sessions.

use std::net::IpAddr;
use std::time::Duration;

use super::{Tokens, deny_key, issue, refresh_ttl, unauthenticated};
use crate::auth::AuthDeps;
use crate::auth::limits::{self, Limited};
use crate::auth::viewer::Viewer;
use crate::domain::accounts;
use crate::domain::refresh_tokens::{self, Rotation};
use crate::error::{ApiError, ApiResult};
use crate::ids::UserId;

#[tracing::instrument(name = "auth.refresh", skip_all)]
pub async fn refresh(app: &AuthDeps, ip: IpAddr, token: &str) -> ApiResult<Tokens> {
    limits::check_rate(app.kv.as_ref(), &app.settings.auth, Limited::RefreshToken, ip).await?;
    let txn = crate::db::begin_write(&app.db).await?;
    let rotation = refresh_tokens::rotate(&txn, token, refresh_ttl(app)).await?;
    txn.commit().await?;
    match rotation {
        Rotation::Rotated(next) => {
            let user = accounts::find_user(&app.db, UserId(next.user_id)).await?;
            issue(app, user, Some(next)).await
        }
        Rotation::Reused { family_id, user_id } => {
            tracing::warn!(
                user_id = user_id.0,
                family_id,
                "a spent refresh token was presented again: the session is revoked"
            );
            end_sessions(app, user_id, &[family_id]).await?;
            Err(unauthenticated(
                "this refresh token was already used; the session has been ended, log in again",
            ))
        }
        Rotation::Refused => Err(unauthenticated("the refresh token is not valid; log in again")),
    }
}

/// Ends the session the refresh token belongs to, and stops its access tokens at once.
#[tracing::instrument(name = "auth.log_out", skip_all)]
pub async fn log_out(app: &AuthDeps, viewer: &Viewer, token: &str) -> ApiResult<()> {
    let Some((family_id, owner)) = refresh_tokens::family_of(&app.db, token).await? else {
        return Err(unauthenticated("the refresh token is not valid"));
    };
    if let Some(principal) = viewer.principal()
        && principal.user_id != owner
    {
        return Err(unauthenticated("the refresh token is not valid"));
    }
    refresh_tokens::revoke_family(&app.db, &family_id).await?;
    end_sessions(app, UserId(owner), &[family_id]).await
}

/// Ends every session of a user (after a role change, say).
#[tracing::instrument(name = "auth.end_all_sessions", skip_all)]
pub async fn end_all_sessions(app: &AuthDeps, user_id: UserId) -> ApiResult<()> {
    let revoked = refresh_tokens::revoke_other_families(&app.db, user_id, None).await?;
    end_sessions(app, user_id, &revoked).await
}

/// Deny-lists the user's revoked sessions for as long as their access tokens can live, then
/// tells the user's open sockets on every instance to check their token again.
pub(super) async fn end_sessions(app: &AuthDeps, user_id: UserId, sessions: &[String]) -> ApiResult<()> {
    if sessions.is_empty() {
        return Ok(());
    }
    deny_access(app.deny_list.as_ref(), &app.settings.auth, sessions).await?;
    crate::live::sockets::announce(app.bus.as_ref(), user_id.0, Default::default()).await;
    Ok(())
}

/// Refuses the access tokens of `sessions` (refresh-token families) from now until they
/// would have expired anyway.
pub async fn deny_access(
    kv: &dyn crate::infra::kv::KeyValueStore,
    auth: &crate::config::AuthSettings,
    sessions: &[String],
) -> ApiResult<()> {
    let minutes = u64::try_from(auth.access_token_minutes).unwrap_or(15);
    let ttl = Duration::from_secs(minutes * 60 + 10);
    for session in sessions {
        kv.set(&deny_key(session), "1", ttl).await.map_err(ApiError::internal)?;
    }
    Ok(())
}
