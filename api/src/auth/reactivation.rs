//! Coming back to a dormant account. The `mark-dormant` job moved its personal data into
//! `dormant_accounts` (see `jobs::dormancy`); logging in with the right password then
//! answers ACCOUNT_DORMANT, and the owner proves they still hold the email address with a
//! one-time code before the data moves back and they are logged in.

use std::net::IpAddr;
use std::time::Duration;

use chrono::Utc;
use entity::{dormant_account, user};
use rand::Rng;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use sha2::{Digest, Sha256};

use super::flows::{Tokens, issue_after_log_in};
use super::limits::{self, Limited};
use crate::auth::AuthDeps;
use crate::domain::accounts;
use crate::domain::email::Email;
use crate::domain::notify;
use crate::error::{ApiError, ApiResult};

/// How long a reactivation code is good for.
const CODE_TTL: Duration = Duration::from_secs(15 * 60);
/// Wrong codes allowed before the code is void and a new one must be requested.
const MAX_TRIES: u64 = 5;

fn code_key(user_id: i64) -> String {
    format!("reactivation:code:{user_id}")
}

fn tries_key(user_id: i64) -> String {
    format!("reactivation:tries:{user_id}")
}

fn digest(code: &str) -> String {
    hex::encode(Sha256::digest(code.as_bytes()))
}

/// Emails a fresh six-digit code to a dormant account's address. Answers the same whether
/// or not the address belongs to a dormant account.
#[tracing::instrument(name = "auth.request_code", skip_all)]
pub async fn request_code(app: &AuthDeps, ip: IpAddr, email: &str) -> ApiResult<()> {
    limits::check_rate(app.kv.as_ref(), &app.settings.auth, Limited::LogIn, ip).await?;
    let email = Email::lookup(email);
    let Some((dormant, user)) = accounts::find_dormant(&app.db, &email).await? else {
        return Ok(());
    };
    if !app.channels.email {
        tracing::warn!(
            user_id = user.id,
            "a reactivation code was asked for, but email is not configured: it cannot be sent"
        );
        return Ok(());
    }
    let code = format!("{:06}", rand::rng().random_range(0..1_000_000));
    let kv = app.kv.as_ref();
    kv.set(&code_key(user.id), &digest(&code), CODE_TTL)
        .await
        .map_err(ApiError::internal)?;
    kv.delete(&tries_key(user.id)).await.map_err(ApiError::internal)?;
    let (subject, text) = if user.language == "en" {
        (
            "Your Curtain reactivation code".to_string(),
            format!("Your code is {code}. It is valid for 15 minutes."),
        )
    } else {
        (
            "휴면 계정 해제 인증 코드".to_string(),
            format!("인증 코드는 {code} 입니다. 15분 동안 유효합니다."),
        )
    };
    let key = format!("reactivation:{}:{}", user.id, Utc::now().timestamp_millis());
    let recipient = dormant.email.unwrap_or_else(|| email.into_string());
    notify::deliver(&app.db, notify::EMAIL, &key, &recipient, &subject, &text, None).await?;
    Ok(())
}

/// Checks the code, moves the personal data back and logs the owner in.
#[tracing::instrument(name = "auth.reactivate", skip_all)]
pub async fn reactivate(app: &AuthDeps, ip: IpAddr, email: &str, code: &str) -> ApiResult<Tokens> {
    limits::check_rate(app.kv.as_ref(), &app.settings.auth, Limited::LogIn, ip).await?;
    let refused = || ApiError::bad_input("code", "the code is not correct or has expired; request a new one");
    let email = Email::lookup(email);
    let Some((dormant, user)) = accounts::find_dormant(&app.db, &email).await? else {
        return Err(refused());
    };
    let kv = app.kv.as_ref();
    let (tries, _) = kv
        .increment(&tries_key(user.id), CODE_TTL)
        .await
        .map_err(ApiError::internal)?;
    let stored = kv.get(&code_key(user.id)).await.map_err(ApiError::internal)?;
    if tries > MAX_TRIES || stored.as_deref() != Some(digest(code.trim()).as_str()) {
        if tries >= MAX_TRIES {
            kv.delete(&code_key(user.id)).await.map_err(ApiError::internal)?;
        }
        return Err(refused());
    }
    // Spend the code: a second use (or a racing one) finds nothing.
    if kv.take(&code_key(user.id)).await.map_err(ApiError::internal)?.is_none() {
        return Err(refused());
    }
    let now = Utc::now();
    let txn = crate::db::begin_write(&app.db).await?;
    user::Entity::update_many()
        .col_expr(user::Column::Email, Expr::value(dormant.email.clone()))
        .col_expr(user::Column::Name, Expr::value(dormant.name.clone()))
        .col_expr(user::Column::Phone, Expr::value(dormant.phone.clone()))
        .col_expr(
            user::Column::DormantAt,
            Expr::value(Option::<chrono::DateTime<Utc>>::None),
        )
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::Id.eq(user.id))
        .exec(&txn)
        .await?;
    dormant_account::Entity::delete_by_id(user.id).exec(&txn).await?;
    let user = user::Entity::find_by_id(user.id)
        .one(&txn)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    txn.commit().await?;
    tracing::info!(user_id = user.id, "a dormant account was reactivated");
    issue_after_log_in(app, user).await
}
