//! Refresh tokens: opaque random strings stored only as hashes, grouped in one family per
//! log-in. Each use spends the token and issues the next one in the family; presenting a
//! spent token again means it was stolen (the thief or the owner used it first), so the
//! whole family is revoked.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{Duration, Utc};
use entity::refresh_token;
use rand::RngCore;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set};
use sha2::{Digest, Sha256};

use crate::error::ApiResult;
use crate::ids::UserId;

/// A token to hand to the client, and the family (log-in session) it belongs to.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: String,
    pub family_id: String,
    pub user_id: i64,
}

/// What presenting a refresh token led to.
#[derive(Debug)]
pub enum Rotation {
    Rotated(IssuedToken),
    /// Unknown, expired or revoked: the caller must log in again.
    Refused,
    /// A spent token came back: the family is now revoked.
    Reused {
        family_id: String,
        user_id: UserId,
    },
}

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

async fn insert(
    db: &impl ConnectionTrait,
    user_id: UserId,
    family_id: String,
    ttl: Duration,
) -> ApiResult<IssuedToken> {
    let token = new_token();
    let now = Utc::now();
    refresh_token::ActiveModel {
        user_id: Set(user_id.0),
        family_id: Set(family_id.clone()),
        token_hash: Set(hash(&token)),
        expires_at: Set(now + ttl),
        used_at: Set(None),
        revoked_at: Set(None),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(IssuedToken {
        token,
        family_id,
        user_id: user_id.0,
    })
}

/// Starts a new family for a log-in.
pub async fn start_family(db: &impl ConnectionTrait, user_id: UserId, ttl: Duration) -> ApiResult<IssuedToken> {
    insert(db, user_id, uuid::Uuid::new_v4().to_string(), ttl).await
}

/// Spends `token` and issues its successor. Run inside a transaction.
pub async fn rotate(db: &impl ConnectionTrait, token: &str, ttl: Duration) -> ApiResult<Rotation> {
    let Some(current) = refresh_token::Entity::find()
        .filter(refresh_token::Column::TokenHash.eq(hash(token)))
        .one(db)
        .await?
    else {
        return Ok(Rotation::Refused);
    };
    let now = Utc::now();
    if current.revoked_at.is_some() || current.expires_at <= now {
        return Ok(Rotation::Refused);
    }
    // Spend it only if nobody has: of two concurrent uses exactly one wins, and the other is
    // treated as the replay it is.
    let spent = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::UsedAt, Expr::value(now))
        .filter(refresh_token::Column::Id.eq(current.id))
        .filter(refresh_token::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    if spent.rows_affected == 0 {
        revoke_family(db, &current.family_id).await?;
        return Ok(Rotation::Reused {
            family_id: current.family_id,
            user_id: UserId(current.user_id),
        });
    }
    Ok(Rotation::Rotated(
        insert(db, UserId(current.user_id), current.family_id, ttl).await?,
    ))
}

/// The family a live token belongs to, for log-out.
pub async fn family_of(db: &impl ConnectionTrait, token: &str) -> ApiResult<Option<(String, i64)>> {
    Ok(refresh_token::Entity::find()
        .filter(refresh_token::Column::TokenHash.eq(hash(token)))
        .one(db)
        .await?
        .map(|t| (t.family_id, t.user_id)))
}

pub async fn revoke_family(db: &impl ConnectionTrait, family_id: &str) -> ApiResult<()> {
    refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(refresh_token::Column::FamilyId.eq(family_id))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Revokes every live family of the user except `keep`; returns the revoked family ids so
/// that their access tokens can be deny-listed.
pub async fn revoke_other_families(
    db: &impl ConnectionTrait,
    user_id: UserId,
    keep: Option<&str>,
) -> ApiResult<Vec<String>> {
    let mut query = refresh_token::Entity::find()
        .select_only()
        .column(refresh_token::Column::FamilyId)
        .distinct()
        .filter(refresh_token::Column::UserId.eq(user_id))
        .filter(refresh_token::Column::RevokedAt.is_null());
    if let Some(keep) = keep {
        query = query.filter(refresh_token::Column::FamilyId.ne(keep));
    }
    let families: Vec<String> = query.into_tuple().all(db).await?;
    for family in &families {
        revoke_family(db, family).await?;
    }
    Ok(families)
}
