use sea_orm::entity::prelude::*;

/// One seat of a reservation, priced when held. `active` while the reservation holds or owns
/// the seat; a unique index over active rows keeps a seat in one live reservation at most.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "reservation_seats")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub reservation_id: i64,
    pub session_id: i64,
    pub seat_id: i64,
    pub grade: String,
    pub price: i32,
    pub active: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::reservation::Entity",
        from = "Column::ReservationId",
        to = "super::reservation::Column::Id",
        on_delete = "Cascade"
    )]
    Reservation,
}

impl Related<super::reservation::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Reservation.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
