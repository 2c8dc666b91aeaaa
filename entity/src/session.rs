use sea_orm::entity::prelude::*;

use crate::SessionStatus;

/// One show time of a performance.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub performance_id: i64,
    pub starts_at: DateTimeUtc,
    pub sales_open_at: DateTimeUtc,
    pub sales_close_at: DateTimeUtc,
    pub status: SessionStatus,
    pub total_seats: i32,
    /// Pre-aggregated count of AVAILABLE seats, changed in the same transaction as the seats
    /// so that reading it never needs COUNT(*).
    pub available_seats: i32,
    /// Incremented by one in the same transaction as any seat change of this session; seat-map
    /// deltas carry it so that clients can detect a gap and resync.
    pub seat_map_version: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::performance::Entity",
        from = "Column::PerformanceId",
        to = "super::performance::Column::Id",
        on_delete = "Restrict"
    )]
    Performance,
    #[sea_orm(has_many = "super::session_seat::Entity")]
    SessionSeat,
    #[sea_orm(has_many = "super::session_price::Entity")]
    SessionPrice,
}

impl Related<super::performance::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Performance.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
