use sea_orm::entity::prelude::*;

use crate::ReservationStatus;

/// A buyer's hold on seats of one session, and what becomes of it.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "reservations")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: i64,
    pub session_id: i64,
    pub status: ReservationStatus,
    pub seat_count: i32,
    /// What the buyer pays in whole KRW: the seats' prices when held, less `discount`.
    pub amount: i64,
    /// The buyer's coupon applied to this reservation, if any.
    pub user_coupon_id: Option<i64>,
    /// What the applied coupon takes off, in whole KRW.
    pub discount: i64,
    /// The order ID the payment provider knows this reservation by (URL-safe, unique).
    pub order_id: Option<String>,
    /// What the buyer sees in the payment window, e.g. the performance and seat count.
    pub order_name: Option<String>,
    /// The client's key: the same key from the same buyer never makes a second hold.
    pub idempotency_key: String,
    /// When an unpaid hold lapses.
    pub expires_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::reservation_seat::Entity")]
    ReservationSeat,
}

impl Related<super::reservation_seat::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ReservationSeat.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
