use sea_orm::entity::prelude::*;

use crate::QueueState;

/// One buyer's place in one session's waiting room; at most one per buyer and session.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "waiting_room_tickets")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub session_id: i64,
    pub user_id: i64,
    /// The place in line; `None` until the admission tick places the ticket.
    pub sequence: Option<i64>,
    pub state: QueueState,
    pub joined_at: DateTimeUtc,
    pub admitted_at: Option<DateTimeUtc>,
    pub admitted_until: Option<DateTimeUtc>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
