//! Log-in with Kakao (OAuth 2 with PKCE).

use std::net::IpAddr;
use std::time::Duration;

use entity::Role;

use super::sessions::end_sessions;
use super::{Tokens, issue, refresh_ttl, unauthenticated};
use crate::auth::AuthDeps;
use crate::auth::limits::{self, Limited};
use crate::domain::accounts::{self, NewAccount};
use crate::domain::email::Email;
use crate::domain::refresh_tokens;
use crate::error::{ApiError, ApiResult};
use crate::ids::UserId;

/// How long a Kakao authorization may take before its state is forgotten.
const KAKAO_STATE_TTL: Duration = Duration::from_secs(600);

/// Starts a Kakao log-in: the state is single-use and bound to the PKCE verifier and the
/// redirect URI, all kept server-side.
pub async fn kakao_authorize(app: &AuthDeps, redirect_uri: &str) -> ApiResult<crate::infra::kakao::Authorization> {
    let kakao = app
        .kakao
        .as_ref()
        .ok_or_else(|| ApiError::Conflict("Kakao log-in is not configured on this server".into()))?;
    let allowed = &app.settings.kakao.allowed_redirect_uris;
    if !allowed.is_empty() && !allowed.iter().any(|u| u == redirect_uri) {
        return Err(ApiError::bad_input("redirectUri", "this redirect URI is not allowed"));
    }
    let authorization = kakao
        .authorize(redirect_uri)
        .map_err(|_| ApiError::bad_input("redirectUri", "the redirect URI is not a URL"))?;
    let stored = serde_json::json!({ "verifier": authorization.verifier, "redirect_uri": redirect_uri }).to_string();
    app.kv
        .set(
            &format!("kakao:state:{}", authorization.state),
            &stored,
            KAKAO_STATE_TTL,
        )
        .await
        .map_err(ApiError::internal)?;
    Ok(authorization)
}

/// Finishes a Kakao log-in: the returning Kakao user, or the account with the same verified
/// email (now linked), or a new account.
#[tracing::instrument(name = "auth.kakao_log_in", skip_all)]
pub async fn kakao_log_in(app: &AuthDeps, ip: IpAddr, code: &str, state: &str) -> ApiResult<Tokens> {
    limits::check_rate(app.kv.as_ref(), &app.settings.auth, Limited::LogIn, ip).await?;
    let kakao = app
        .kakao
        .as_ref()
        .ok_or_else(|| ApiError::Conflict("Kakao log-in is not configured on this server".into()))?;
    let stored = app
        .kv
        .take(&format!("kakao:state:{state}"))
        .await
        .map_err(ApiError::internal)?;
    let Some(stored) = stored.and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok()) else {
        return Err(ApiError::bad_input(
            "state",
            "this log-in attempt is unknown or was already used; start again",
        ));
    };
    let (Some(verifier), Some(redirect_uri)) = (stored["verifier"].as_str(), stored["redirect_uri"].as_str()) else {
        return Err(ApiError::internal(anyhow::anyhow!("a stored Kakao state is malformed")));
    };
    let profile = kakao.profile(code, verifier, redirect_uri).await.map_err(|err| {
        tracing::warn!(error = ?err, "Kakao log-in failed");
        unauthenticated("Kakao did not confirm this log-in; start again")
    })?;

    let txn = crate::db::begin_write(&app.db).await?;
    let mut ended_sessions = Vec::new();
    let user = match accounts::find_by_kakao_id(&txn, profile.id).await? {
        Some(user) => user,
        None => {
            let linked = match profile.verified_email() {
                Some(email) => accounts::find_by_email(&txn, &Email::lookup(&email)).await?,
                None => None,
            };
            match linked {
                Some(user) => {
                    if !user.email_verified {
                        // See `accounts::link_kakao`: whoever holds sessions on an account
                        // with an unproven email is shut out now.
                        ended_sessions = refresh_tokens::revoke_other_families(&txn, UserId(user.id), None).await?;
                    }
                    accounts::link_kakao(&txn, user, profile.id).await?
                }
                None => {
                    accounts::create_account(
                        &txn,
                        NewAccount {
                            email: profile.verified_email(),
                            email_verified: profile.verified_email().is_some(),
                            password_hash: None,
                            name: profile.display_name(),
                            phone: None,
                            role: Role::User,
                            kakao_id: Some(profile.id),
                        },
                    )
                    .await?
                }
            }
        }
    };
    if user.dormant_at.is_some() {
        // Refused before anything is written: no log-in time, no session nobody gets.
        txn.rollback().await?;
        return Err(ApiError::AccountDormant);
    }
    let user = accounts::record_login(&txn, user).await?;
    let family = refresh_tokens::start_family(&txn, UserId(user.id), refresh_ttl(app)).await?;
    txn.commit().await?;
    end_sessions(app, UserId(user.id), &ended_sessions).await?;
    issue(app, user, Some(family)).await
}
