use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "cast_members")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub name: String,
    /// Romanised or original name, for buyers searching in Latin letters.
    pub english_name: Option<String>,
    pub bio: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::performance_cast::Entity")]
    PerformanceCast,
}

impl Related<super::performance_cast::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::PerformanceCast.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
