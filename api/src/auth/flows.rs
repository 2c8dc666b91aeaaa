//! The log-in flows: sign-up, password log-in, refresh, log-out, password change, Kakao,
//! and turning a bearer token into a [`Viewer`] on every request.

use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::{Role, user};

use super::jwt::TokenError;
use super::limits::{self, Limited};
use super::passwords;
use super::viewer::{Principal, Viewer};
use crate::domain::accounts::{self, NewAccount};
use crate::domain::email::Email;
use crate::domain::refresh_tokens::{self, Rotation};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

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

async fn issue(app: &AppState, user: user::Model, family: Option<refresh_tokens::IssuedToken>) -> ApiResult<Tokens> {
    // Whatever the way in (password, Kakao, a refresh token), a dormant account is
    // reactivated first.
    if user.dormant_at.is_some() {
        return Err(ApiError::AccountDormant);
    }
    let refresh = match family {
        Some(token) => token,
        None => refresh_tokens::start_family(&app.db, user.id, refresh_ttl(app)).await?,
    };
    // The role is read again once the session exists: a demotion committed after this read
    // ends the session (`end_all_sessions` finds it), one committed before is read here. The
    // `user` read before the session began could sign a just-removed ADMIN role into a live
    // session.
    let role = accounts::find_user(&app.db, user.id).await?.role.to_value_string();
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

fn refresh_ttl(app: &AppState) -> chrono::Duration {
    chrono::Duration::days(app.settings.auth.refresh_token_days)
}

pub async fn sign_up(app: &AppState, ip: IpAddr, input: SignUp) -> ApiResult<Tokens> {
    limits::check_rate(app.kv.as_ref(), &app.settings.auth, Limited::SignUp, ip).await?;
    let email = Email::parse(&input.email)?;
    passwords::check_policy(&input.password, Some(email.as_str()), &app.settings.auth)?;
    let phone = match input.phone.as_deref() {
        Some(phone) => accounts::normalize_phone(phone)?,
        None => None,
    };
    let hash = passwords::hash(&input.password, &app.settings.auth).await?;
    let txn = crate::db::begin_write(&app.db).await?;
    let user = accounts::create_account(
        &txn,
        NewAccount {
            email: Some(email.into_string()),
            email_verified: false,
            password_hash: Some(hash),
            name: input.name,
            phone,
            role: Role::User,
            kakao_id: None,
        },
    )
    .await?;
    let user = accounts::record_login(&txn, user).await?;
    let family = refresh_tokens::start_family(&txn, user.id, refresh_ttl(app)).await?;
    txn.commit().await?;
    issue(app, user, Some(family)).await
}

pub async fn log_in(app: &AppState, ip: IpAddr, email: &str, password: &str) -> ApiResult<Tokens> {
    let kv = app.kv.as_ref();
    let auth = &app.settings.auth;
    limits::check_rate(kv, auth, Limited::LogIn, ip).await?;
    let email = Email::lookup(email);
    limits::check_lock(kv, &email, ip).await?;
    let user = accounts::find_by_email(&app.db, &email).await?;
    // A dormant account's email is set aside; its password is checked the same way, one hash
    // whichever account answers, so that timing tells nobody which emails are dormant.
    let dormant = match user {
        Some(_) => None,
        None => super::reactivation::find_dormant(&app.db, &email)
            .await?
            .map(|(_, user)| user),
    };
    let verified = match user
        .as_ref()
        .or(dormant.as_ref())
        .and_then(|u| u.password_hash.as_deref())
    {
        Some(hash) => passwords::verify(password, hash).await,
        None => {
            passwords::verify_against_nothing(password, auth).await;
            false
        }
    };
    if dormant.is_some() && verified {
        // The right password for a dormant account, and only then, is told so.
        return Err(ApiError::AccountDormant);
    }
    let Some(user) = user.filter(|_| verified) else {
        limits::record_failure(kv, auth, &email, ip).await?;
        return Err(unauthenticated(BAD_CREDENTIALS));
    };
    limits::clear_failures(kv, &email, ip).await?;
    issue_after_log_in(app, user).await
}

/// Records the log-in and hands out a fresh session.
pub(super) async fn issue_after_log_in(app: &AppState, user: user::Model) -> ApiResult<Tokens> {
    let user = accounts::record_login(&app.db, user).await?;
    issue(app, user, None).await
}

pub async fn refresh(app: &AppState, ip: IpAddr, token: &str) -> ApiResult<Tokens> {
    limits::check_rate(app.kv.as_ref(), &app.settings.auth, Limited::RefreshToken, ip).await?;
    let txn = crate::db::begin_write(&app.db).await?;
    let rotation = refresh_tokens::rotate(&txn, token, refresh_ttl(app)).await?;
    txn.commit().await?;
    match rotation {
        Rotation::Rotated(next) => {
            let user = accounts::find_user(&app.db, next.user_id).await?;
            issue(app, user, Some(next)).await
        }
        Rotation::Reused { family_id, user_id } => {
            tracing::warn!(
                user_id,
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
pub async fn log_out(app: &AppState, viewer: &Viewer, token: &str) -> ApiResult<()> {
    let Some((family_id, owner)) = refresh_tokens::family_of(&app.db, token).await? else {
        return Err(unauthenticated("the refresh token is not valid"));
    };
    if let Some(principal) = viewer.principal()
        && principal.user_id != owner
    {
        return Err(unauthenticated("the refresh token is not valid"));
    }
    refresh_tokens::revoke_family(&app.db, &family_id).await?;
    end_sessions(app, owner, &[family_id]).await
}

/// Changes the password after checking the current one, and ends every other session.
pub async fn change_password(app: &AppState, principal: &Principal, current: &str, new: &str) -> ApiResult<()> {
    let user = accounts::find_user(&app.db, principal.user_id).await?;
    let matches = match user.password_hash.as_deref() {
        Some(hash) => passwords::verify(current, hash).await,
        // An account created through Kakao sets its first password without one.
        None => true,
    };
    if !matches {
        return Err(ApiError::bad_input(
            "currentPassword",
            "the current password is not correct",
        ));
    }
    passwords::check_policy(new, user.email.as_deref(), &app.settings.auth)?;
    let hash = passwords::hash(new, &app.settings.auth).await?;
    let txn = crate::db::begin_write(&app.db).await?;
    accounts::set_password_hash(&txn, user.id, hash).await?;
    let revoked = refresh_tokens::revoke_other_families(&txn, user.id, Some(&principal.session_id)).await?;
    txn.commit().await?;
    end_sessions(app, user.id, &revoked).await
}

/// Ends every session of a user (after a role change, say).
pub async fn end_all_sessions(app: &AppState, user_id: i64) -> ApiResult<()> {
    let revoked = refresh_tokens::revoke_other_families(&app.db, user_id, None).await?;
    end_sessions(app, user_id, &revoked).await
}

/// Deny-lists the user's revoked sessions for as long as their access tokens can live, then
/// tells the user's open sockets on every instance to check their token again.
async fn end_sessions(app: &AppState, user_id: i64, sessions: &[String]) -> ApiResult<()> {
    if sessions.is_empty() {
        return Ok(());
    }
    deny_access(app.deny_list.as_ref(), &app.settings.auth, sessions).await?;
    crate::live::sockets::announce(app.bus.as_ref(), user_id, Default::default()).await;
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

/// Decides the caller from an `Authorization: Bearer …` token: a valid, unexpired token of a
/// session that was not ended. Fails closed: a token is refused when the deny-list cannot
/// be read.
pub async fn authenticate(app: &AppState, bearer: Option<&str>) -> Viewer {
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
pub async fn check_token(app: &AppState, token: &str) -> TokenCheck {
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
        user_id,
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

trait RoleExt {
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

/// How long a Kakao authorization may take before its state is forgotten.
const KAKAO_STATE_TTL: Duration = Duration::from_secs(600);

/// Starts a Kakao log-in: the state is single-use and bound to the PKCE verifier and the
/// redirect URI, all kept server-side.
pub async fn kakao_authorize(app: &AppState, redirect_uri: &str) -> ApiResult<crate::infra::kakao::Authorization> {
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
pub async fn kakao_log_in(app: &AppState, ip: IpAddr, code: &str, state: &str) -> ApiResult<Tokens> {
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
                        ended_sessions = refresh_tokens::revoke_other_families(&txn, user.id, None).await?;
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
    let family = refresh_tokens::start_family(&txn, user.id, refresh_ttl(app)).await?;
    txn.commit().await?;
    end_sessions(app, user.id, &ended_sessions).await?;
    issue(app, user, Some(family)).await
}
