use sea_orm::entity::prelude::*;

use crate::SeatStatus;

/// The inventory row of one seat in one session: the unit that holds lock and sell.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "session_seats")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub session_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub seat_id: i64,
    pub status: SeatStatus,
    /// The reservation holding or owning the seat, when HELD or SOLD.
    pub reservation_id: Option<i64>,
    /// When a HELD seat may be taken by someone else.
    pub hold_expires_at: Option<DateTimeUtc>,
    /// Seat-map version at which this seat last changed.
    pub version: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::session::Entity",
        from = "Column::SessionId",
        to = "super::session::Column::Id",
        on_delete = "Cascade"
    )]
    Session,
    #[sea_orm(
        belongs_to = "super::seat::Entity",
        from = "Column::SeatId",
        to = "super::seat::Column::Id",
        on_delete = "Restrict"
    )]
    Seat,
}

impl Related<super::session::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Session.def()
    }
}

impl Related<super::seat::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Seat.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
