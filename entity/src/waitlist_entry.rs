use sea_orm::entity::prelude::*;

use crate::WaitlistState;

/// A buyer's standing request for seats of a sold-out session; at most one live (WAITING or
/// OFFERED) per buyer and session.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "waitlist_entries")]
pub struct Model {
    /// Also the place in line: entries are served in id order.
    #[sea_orm(primary_key)]
    pub id: i64,
    pub session_id: i64,
    pub user_id: i64,
    /// Seats wanted, side by side when more than one.
    pub seat_count: i32,
    /// `None`: any grade within `max_price`.
    pub grade: Option<String>,
    /// The most the buyer pays for one seat, in whole KRW; `None`: any price.
    pub max_price: Option<i32>,
    pub state: WaitlistState,
    /// How long offered seats stay held (the hold window when the buyer joined).
    pub hold_seconds: i64,
    /// The most seats the buyer may have in the session once offered (the per-buyer cap
    /// when they joined); `None` for entries made before the cap was kept.
    pub max_seats: Option<i32>,
    /// The HELD reservation made for the entry, once OFFERED.
    pub reservation_id: Option<i64>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
