use sea_orm::entity::prelude::*;

/// The waiting room of one session, configured by the box office.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "waiting_rooms")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub session_id: i64,
    pub enabled: bool,
    pub admit_per_minute: i32,
    /// How long an admitted buyer has to make a hold.
    pub admission_minutes: i32,
    /// Buyers who join before this are drawn in random order at it.
    pub opens_at: DateTimeUtc,
    /// The highest sequence given to a ticket so far.
    pub last_sequence: i64,
    /// Every ticket with a sequence up to this one has been admitted (admission follows
    /// sequence order).
    pub admitted_through: i64,
    /// Set when the session's last seat went: every waiting ticket is SOLD_OUT until seats
    /// come back.
    pub sold_out: bool,
    /// Counts admission ticks that changed something.
    pub tick: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
