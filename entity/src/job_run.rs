use sea_orm::entity::prelude::*;

/// One run of a scheduled job, by the scheduler or by hand.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "job_runs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub job: String,
    /// `SCHEDULE` or `MANUAL`.
    pub trigger: String,
    /// `RUNNING`, `SUCCEEDED` or `FAILED`.
    pub status: String,
    /// How many things the run processed.
    pub items: i64,
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
    pub started_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
