use sea_orm::entity::prelude::*;

/// A cast member's role in a performance; one member may play several roles.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "performance_cast")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub performance_id: i64,
    pub cast_member_id: i64,
    pub role: String,
    /// Order on the poster: lower is billed first.
    pub billing_order: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::performance::Entity",
        from = "Column::PerformanceId",
        to = "super::performance::Column::Id",
        on_delete = "Cascade"
    )]
    Performance,
    #[sea_orm(
        belongs_to = "super::cast_member::Entity",
        from = "Column::CastMemberId",
        to = "super::cast_member::Column::Id",
        on_delete = "Restrict"
    )]
    CastMember,
}

impl Related<super::performance::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Performance.def()
    }
}

impl Related<super::cast_member::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CastMember.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
