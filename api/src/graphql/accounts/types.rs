//! Account types. [`User`] is the caller's own view, with personal data in full; [`Account`]
//! is what admins see of others, with email and phone masked.

use async_graphql::{Enum, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::user;

use crate::auth::flows::Tokens;
use crate::domain::accounts::{mask_email, mask_phone};
use crate::ids::{NodeKind, encode};

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "entity::Role")]
pub enum Role {
    /// A buyer.
    User,
    /// Box-office staff: manages the catalog and reservations.
    Admin,
    /// Staff at the entrance: checks tickets in and watches the door count.
    Door,
}

/// A language the service writes emails in.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// 한국어 (the default).
    Ko,
    En,
}

impl Language {
    pub fn code(self) -> &'static str {
        match self {
            Language::Ko => "ko",
            Language::En => "en",
        }
    }

    fn from_code(code: &str) -> Self {
        if code == "en" { Language::En } else { Language::Ko }
    }
}

pub struct User(pub user::Model);

/// The logged-in user's own account.
#[Object]
impl User {
    async fn id(&self) -> ID {
        encode(NodeKind::User, self.0.id)
    }
    async fn email(&self) -> Option<&str> {
        self.0.email.as_deref()
    }
    async fn email_verified(&self) -> bool {
        self.0.email_verified
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn phone(&self) -> Option<&str> {
        self.0.phone.as_deref()
    }
    /// The language of the emails this account receives.
    async fn language(&self) -> Language {
        Language::from_code(&self.0.language)
    }

    async fn role(&self) -> Role {
        self.0.role.into()
    }
    /// False for accounts that log in only through Kakao.
    async fn has_password(&self) -> bool {
        self.0.password_hash.is_some()
    }
    async fn kakao_linked(&self) -> bool {
        self.0.kakao_id.is_some()
    }
    async fn last_login_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_login_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

pub struct Account(pub user::Model);

/// Another user's account as the box office sees it: personal data masked.
#[Object]
impl Account {
    async fn id(&self) -> ID {
        encode(NodeKind::User, self.0.id)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Masked, e.g. `ho***@example.com`.
    async fn email(&self) -> Option<String> {
        self.0.email.as_deref().map(mask_email)
    }
    /// Masked, e.g. `010-****-5678`.
    async fn phone(&self) -> Option<String> {
        self.0.phone.as_deref().map(mask_phone)
    }
    async fn role(&self) -> Role {
        self.0.role.into()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// Tokens after a log-in: send `accessToken` as `Authorization: Bearer …`; keep
/// `refreshToken` safe and trade it for a new pair with `refreshToken` before the access
/// token expires. Each refresh token works once.
pub struct AuthPayload(pub Tokens);

#[Object]
impl AuthPayload {
    async fn access_token(&self) -> &str {
        &self.0.access_token
    }
    async fn access_token_expires_at(&self) -> DateTime<Utc> {
        self.0.access_token_expires_at
    }
    async fn refresh_token(&self) -> &str {
        &self.0.refresh_token
    }
    async fn user(&self) -> User {
        User(self.0.user.clone())
    }
}

/// Where to send the browser to log in with Kakao, and the state to expect back.
#[derive(SimpleObject, Debug)]
pub struct KakaoAuthorization {
    pub url: String,
    pub state: String,
}

/// An account by id, batched over a page (a reservation's buyer, an audit entry's actor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AccountKey(pub i64);

impl async_graphql::dataloader::Loader<AccountKey> for crate::graphql::loaders::CatalogLoader {
    type Value = user::Model;
    type Error = crate::graphql::loaders::LoadError;

    async fn load(
        &self,
        keys: &[AccountKey],
    ) -> Result<std::collections::HashMap<AccountKey, user::Model>, Self::Error> {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        let rows = user::Entity::find()
            .filter(user::Column::Id.is_in(keys.iter().map(|k| k.0)))
            .all(&self.db().await?)
            .await?;
        Ok(rows.into_iter().map(|u| (AccountKey(u.id), u)).collect())
    }
}

/// The account `id`, through the request's loaders; `None` when there is none (a database
/// failure is an error, never a `None`).
pub async fn account(ctx: &async_graphql::Context<'_>, id: i64) -> crate::graphql::GqlResult<Option<Account>> {
    Ok(crate::graphql::loaders::load(ctx, AccountKey(id)).await?.map(Account))
}
