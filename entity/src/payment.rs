use sea_orm::entity::prelude::*;

/// A payment the provider approved for a reservation, and its refund.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "payments")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub reservation_id: i64,
    pub order_id: String,
    pub payment_key: String,
    /// TOSS or SIMULATED.
    pub provider: String,
    pub method: Option<String>,
    pub amount: i64,
    /// The provider's status: DONE, PARTIAL_CANCELED once some of it was refunded, then
    /// CANCELED once nothing is left.
    pub status: String,
    pub approved_at: Option<DateTimeUtc>,
    #[sea_orm(column_type = "Text", nullable)]
    pub receipt_url: Option<String>,
    /// The provider's last answer about this payment, as JSON.
    #[sea_orm(column_type = "Text")]
    pub raw_response: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub cancel_reason: Option<String>,
    pub cancelled_at: Option<DateTimeUtc>,
    /// How much of `amount` has been refunded, in whole KRW; the balance is the rest.
    pub cancelled_amount: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
