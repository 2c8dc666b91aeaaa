use sea_orm::entity::prelude::*;

use crate::Genre;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "performances")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub title: String,
    pub english_title: Option<String>,
    pub description: String,
    pub genre: Genre,
    /// Youngest age admitted; 0 means all ages.
    pub minimum_age: i32,
    pub running_minutes: i32,
    /// First and last day of the run, in the venue's local calendar.
    pub start_date: Date,
    pub end_date: Date,
    /// Object-storage key of the poster, if one was uploaded.
    pub poster_key: Option<String>,
    pub venue_id: i64,
    /// Set when the run was long over and its seat inventory and poster were purged.
    pub purged_at: Option<DateTimeUtc>,
    /// Sum of the ratings of its reviews, changed in the same transaction as the reviews;
    /// with `review_count` it gives the average without scanning reviews.
    pub rating_sum: i64,
    pub review_count: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::venue::Entity",
        from = "Column::VenueId",
        to = "super::venue::Column::Id",
        on_delete = "Restrict"
    )]
    Venue,
    #[sea_orm(has_many = "super::session::Entity")]
    Session,
    #[sea_orm(has_many = "super::performance_cast::Entity")]
    PerformanceCast,
}

impl Related<super::venue::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Venue.def()
    }
}

impl Related<super::session::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Session.def()
    }
}

impl Related<super::performance_cast::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::PerformanceCast.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
