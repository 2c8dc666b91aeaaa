use sea_orm::entity::prelude::*;

/// An event written in the same transaction as the change it reports, published to the
/// event bus by the relay.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// What the event is about, e.g. `seat_map`.
    pub topic: String,
    /// The id of the changed thing (a session for seat-map deltas).
    pub aggregate_id: i64,
    /// For seat-map deltas: the session's seat-map version after the change.
    pub version: Option<i64>,
    /// JSON; its shape depends on the topic.
    #[sea_orm(column_type = "Text")]
    pub payload: String,
    pub created_at: DateTimeUtc,
    /// Set once the relay has published the event.
    pub published_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
