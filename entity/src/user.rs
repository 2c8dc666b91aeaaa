use sea_orm::entity::prelude::*;

use crate::Role;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Lower-cased; `None` for a Kakao account that shared no email.
    pub email: Option<String>,
    pub email_verified: bool,
    /// Argon2id PHC string; `None` for accounts that log in only through Kakao.
    pub password_hash: Option<String>,
    pub name: String,
    pub phone: Option<String>,
    pub role: Role,
    pub kakao_id: Option<i64>,
    pub last_login_at: Option<DateTimeUtc>,
    /// `ko` or `en`: the language of emails.
    pub language: String,
    /// Set when the account went dormant; its personal data then lives in `dormant_accounts`.
    pub dormant_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::refresh_token::Entity")]
    RefreshToken,
}

impl Related<super::refresh_token::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::RefreshToken.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
