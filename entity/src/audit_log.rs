use sea_orm::entity::prelude::*;

/// One admin action: who did what to which object, when, in which request.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub actor_id: Option<i64>,
    /// The mutation, e.g. `createVenue`.
    pub action: String,
    pub target_type: String,
    /// Global ID of the target, when there is one.
    pub target_id: Option<String>,
    pub request_id: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
