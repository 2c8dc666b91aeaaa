use sea_orm::entity::prelude::*;

/// A buyer's rating and words about a performance they attended; one per buyer per
/// performance.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "reviews")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub performance_id: i64,
    pub user_id: i64,
    /// 1 to 5.
    pub rating: i16,
    #[sea_orm(column_type = "Text")]
    pub body: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
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
}

impl Related<super::performance::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Performance.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
