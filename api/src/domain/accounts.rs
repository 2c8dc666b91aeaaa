//! User accounts: sign-up, profile, password and role changes, Kakao linking.
//! Passwords arrive here already hashed; this module never sees a plain password.

use chrono::Utc;
use entity::{Role, dormant_account, user};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, Set};

use super::email::Email;
use super::validate::required_text;
use crate::error::{ApiError, ApiResult};
use crate::ids::UserId;

/// Keeps digits and the usual separators; 9 to 15 digits (Korean mobile numbers have 10-11).
pub fn normalize_phone(phone: &str) -> ApiResult<Option<String>> {
    let phone = phone.trim();
    if phone.is_empty() {
        return Ok(None);
    }
    let digits = phone.chars().filter(char::is_ascii_digit).count();
    if !(9..=15).contains(&digits)
        || !phone
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '-' | ' ' | '+'))
    {
        return Err(ApiError::bad_input("phone", "enter a phone number like 010-1234-5678"));
    }
    Ok(Some(phone.to_string()))
}

#[derive(Debug, Clone)]
pub struct NewAccount {
    pub email: Option<String>,
    pub email_verified: bool,
    pub password_hash: Option<String>,
    pub name: String,
    pub phone: Option<String>,
    pub role: Role,
    pub kakao_id: Option<i64>,
}

#[tracing::instrument(name = "accounts.create_account", skip_all)]
pub async fn create_account(db: &impl ConnectionTrait, account: NewAccount) -> ApiResult<user::Model> {
    let now = Utc::now();
    user::ActiveModel {
        email: Set(account.email),
        email_verified: Set(account.email_verified),
        password_hash: Set(account.password_hash),
        name: Set(required_text("name", &account.name, 100)?),
        phone: Set(account.phone),
        role: Set(account.role),
        kakao_id: Set(account.kakao_id),
        language: Set(DEFAULT_LANGUAGE.to_owned()),
        last_login_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(|e| ApiError::from_db_conflict(e, "an account with this email already exists"))
}

pub async fn find_user(db: &impl ConnectionTrait, id: UserId) -> ApiResult<user::Model> {
    user::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("user"))
}

pub async fn find_by_email(db: &impl ConnectionTrait, email: &Email) -> ApiResult<Option<user::Model>> {
    Ok(user::Entity::find()
        .filter(user::Column::Email.eq(email.as_str()))
        .one(db)
        .await?)
}

pub async fn find_by_kakao_id(db: &impl ConnectionTrait, kakao_id: i64) -> ApiResult<Option<user::Model>> {
    Ok(user::Entity::find()
        .filter(user::Column::KakaoId.eq(kakao_id))
        .one(db)
        .await?)
}

pub async fn record_login(db: &impl ConnectionTrait, user: user::Model) -> ApiResult<user::Model> {
    let mut model = user.into_active_model();
    model.last_login_at = Set(Some(Utc::now()));
    Ok(model.update(db).await?)
}

/// The language of emails to an account that has not chosen one: Korean.
pub const DEFAULT_LANGUAGE: &str = "ko";

/// What a user may change about their own account; `None` keeps the current value.
#[derive(Debug, Default)]
pub struct ProfileChanges {
    pub name: Option<String>,
    pub phone: Option<String>,
    /// `ko` or `en`.
    pub language: Option<&'static str>,
}

/// Changes what is given; an empty phone clears it.
#[tracing::instrument(name = "accounts.update_profile", skip_all, fields(id = id.0))]
pub async fn update_profile(db: &impl ConnectionTrait, id: UserId, changes: ProfileChanges) -> ApiResult<user::Model> {
    let ProfileChanges { name, phone, language } = changes;
    let mut model = find_user(db, id).await?.into_active_model();
    if let Some(language) = language {
        model.language = Set(language.to_owned());
    }
    if let Some(name) = name {
        model.name = Set(required_text("name", &name, 100)?);
    }
    if let Some(phone) = phone {
        model.phone = Set(normalize_phone(&phone)?);
    }
    model.updated_at = Set(Utc::now());
    Ok(model.update(db).await?)
}

#[tracing::instrument(name = "accounts.set_password_hash", skip_all, fields(id = id.0))]
pub async fn set_password_hash(db: &impl ConnectionTrait, id: UserId, hash: String) -> ApiResult<user::Model> {
    let mut model = find_user(db, id).await?.into_active_model();
    model.password_hash = Set(Some(hash));
    model.updated_at = Set(Utc::now());
    Ok(model.update(db).await?)
}

#[tracing::instrument(name = "accounts.set_role", skip_all, fields(id = id.0))]
pub async fn set_role(db: &impl ConnectionTrait, id: UserId, role: Role) -> ApiResult<user::Model> {
    let mut model = find_user(db, id).await?.into_active_model();
    model.role = Set(role);
    model.updated_at = Set(Utc::now());
    Ok(model.update(db).await?)
}

/// Links a Kakao identity whose verified email matches this account.
///
/// If the account's own email was never verified, whoever signed up with it may not own it
/// (someone can register another person's email first and wait). Kakao has just proven who
/// owns the address, so the unverified account's password is removed and its email marked
/// verified; the caller ends its sessions. The owner can set a password again.
#[tracing::instrument(name = "accounts.link_kakao", skip_all, fields(kakao_id = kakao_id))]
pub async fn link_kakao(db: &impl ConnectionTrait, user: user::Model, kakao_id: i64) -> ApiResult<user::Model> {
    let claimed_unverified = !user.email_verified;
    let mut model = user.into_active_model();
    if claimed_unverified {
        model.password_hash = Set(None);
        model.email_verified = Set(true);
    }
    model.kakao_id = Set(Some(kakao_id));
    model.updated_at = Set(Utc::now());
    model
        .update(db)
        .await
        .map_err(|e| ApiError::from_db_conflict(e, "this Kakao account is linked to another user"))
}

/// `010-1234-5678` → `010-****-5678`: enough for the box office to recognise a buyer.
pub fn mask_phone(phone: &str) -> String {
    let digits: Vec<char> = phone.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < 7 {
        return "*".repeat(digits.len());
    }
    let head: String = digits[..3].iter().collect();
    let tail: String = digits[digits.len() - 4..].iter().collect();
    format!("{head}-****-{tail}")
}

/// `hong.gildong@example.com` → `ho***@example.com`.
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let shown: String = local
                .chars()
                .take(if local.chars().count() > 4 { 2 } else { 1 })
                .collect();
            format!("{shown}***@{domain}")
        }
        None => "***".into(),
    }
}

/// The dormant account whose set-aside email is `email`, with its (kept) user row.
pub async fn find_dormant(
    db: &impl ConnectionTrait,
    email: &Email,
) -> ApiResult<Option<(dormant_account::Model, user::Model)>> {
    let Some(dormant) = dormant_account::Entity::find()
        .filter(dormant_account::Column::Email.eq(email.as_str()))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let user = user::Entity::find_by_id(dormant.user_id).one(db).await?;
    Ok(user.map(|user| (dormant, user)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_data_is_masked() {
        assert_eq!(mask_phone("010-1234-5678"), "010-****-5678");
        assert_eq!(mask_phone("01012345678"), "010-****-5678");
        assert_eq!(mask_email("hong.gildong@example.com"), "ho***@example.com");
        assert_eq!(mask_email("kim@x.kr"), "k***@x.kr");
    }

    #[test]
    fn emails_and_phones_are_checked() {
        let normalize_email = |text: &str| Email::parse(text).map(Email::into_string);
        assert_eq!(normalize_email(" Me@Example.COM ").ok(), Some("me@example.com".into()));
        for bad in ["", "me", "me@", "@x.kr", "me@localhost", "m e@x.kr"] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
        assert_eq!(
            normalize_phone("010-1234-5678").ok(),
            Some(Some("010-1234-5678".into()))
        );
        assert_eq!(normalize_phone("").ok(), Some(None));
        assert!(normalize_phone("call me").is_err());
    }
}
