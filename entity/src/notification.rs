use sea_orm::entity::prelude::*;

/// Something a buyer is told about, shown in the app and pushed to its subscription.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "notifications")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: i64,
    /// e.g. `HOLD_PLACED`, `SHOW_REMINDER`.
    pub kind: String,
    /// Unique: the same event never notifies twice.
    pub dedupe_key: String,
    pub title: String,
    #[sea_orm(column_type = "Text")]
    pub body: String,
    /// JSON with the ids a client needs to link to (reservation, performance).
    #[sea_orm(column_type = "Text")]
    pub data: String,
    pub read_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
