//! Accounts by password: sign-up, log-in and a password change.

use std::net::IpAddr;

use entity::{Role, user};

use super::sessions::end_sessions;
use super::{BAD_CREDENTIALS, SignUp, Tokens, issue, refresh_ttl, unauthenticated};
use crate::auth::AuthDeps;
use crate::auth::limits::{self, Limited};
use crate::auth::passwords;
use crate::auth::viewer::Principal;
use crate::domain::accounts::{self, NewAccount};
use crate::domain::email::Email;
use crate::domain::refresh_tokens;
use crate::error::{ApiError, ApiResult};
use crate::ids::UserId;

#[tracing::instrument(name = "auth.sign_up", skip_all)]
pub async fn sign_up(app: &AuthDeps, ip: IpAddr, input: SignUp) -> ApiResult<Tokens> {
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
    let family = refresh_tokens::start_family(&txn, UserId(user.id), refresh_ttl(app)).await?;
    txn.commit().await?;
    issue(app, user, Some(family)).await
}

#[tracing::instrument(name = "auth.log_in", skip_all)]
pub async fn log_in(app: &AuthDeps, ip: IpAddr, email: &str, password: &str) -> ApiResult<Tokens> {
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
        None => crate::domain::accounts::find_dormant(&app.db, &email)
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
pub(in crate::auth) async fn issue_after_log_in(app: &AuthDeps, user: user::Model) -> ApiResult<Tokens> {
    let user = accounts::record_login(&app.db, user).await?;
    issue(app, user, None).await
}

/// Changes the password after checking the current one, and ends every other session.
#[tracing::instrument(name = "auth.change_password", skip_all)]
pub async fn change_password(app: &AuthDeps, principal: &Principal, current: &str, new: &str) -> ApiResult<()> {
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
    accounts::set_password_hash(&txn, UserId(user.id), hash).await?;
    let revoked = refresh_tokens::revoke_other_families(&txn, UserId(user.id), Some(&principal.session_id)).await?;
    txn.commit().await?;
    end_sessions(app, UserId(user.id), &revoked).await
}
