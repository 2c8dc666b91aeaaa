use sea_orm::entity::prelude::*;

use crate::TicketState;

/// The right to enter for one seat of a confirmed reservation. Its QR payload names the id
/// and `generation`; a transfer bumps the generation, so the old payload stops opening the
/// door.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "tickets")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub reservation_id: i64,
    pub session_id: i64,
    pub seat_id: i64,
    /// Who holds it now: the buyer, or whom it was transferred to.
    pub owner_id: i64,
    pub state: TicketState,
    pub generation: i32,
    /// A cancelled ticket whose price went back to the buyer.
    pub refunded: bool,
    pub checked_in_at: Option<DateTimeUtc>,
    pub gate: Option<String>,
    /// The staff account that scanned it.
    pub checked_in_by: Option<i64>,
    pub cancelled_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
