use sea_orm::entity::prelude::*;

use crate::RefundStatus;

/// One refund Curtain asked the provider for: some seats of a paid booking, or what was
/// left of it. Written before the provider is asked, so a repeated request finishes it
/// with the same idempotency key and amount; at most one PENDING per reservation.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "refunds")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub reservation_id: i64,
    /// None for a booking confirmed without a payment.
    pub payment_id: Option<i64>,
    /// Sent to the provider as `Idempotency-Key`: derived from the payment and the seats.
    pub idempotency_key: String,
    /// The seats given back, ascending, comma-separated.
    #[sea_orm(column_type = "Text")]
    pub seat_ids: String,
    /// True when this refund ends the whole booking.
    pub whole: bool,
    /// What is refunded, in whole KRW.
    pub amount: i64,
    /// The booking's amount, discount and seat count afterwards.
    pub kept_amount: i64,
    pub kept_discount: i64,
    pub kept_seat_count: i32,
    pub status: RefundStatus,
    #[sea_orm(column_type = "Text")]
    pub reason: String,
    pub created_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
}

impl Model {
    /// The seats given back.
    pub fn seats(&self) -> Vec<i64> {
        self.seat_ids.split(',').filter_map(|id| id.parse().ok()).collect()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
