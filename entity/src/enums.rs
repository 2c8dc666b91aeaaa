use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Kind of performance, stored as text so that adding a genre needs no enum migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Genre {
    #[sea_orm(string_value = "MUSICAL")]
    Musical,
    #[sea_orm(string_value = "CONCERT")]
    Concert,
    #[sea_orm(string_value = "THEATRE")]
    Theatre,
    #[sea_orm(string_value = "OPERA")]
    Opera,
    #[sea_orm(string_value = "CLASSICAL")]
    Classical,
    #[sea_orm(string_value = "DANCE")]
    Dance,
}

/// What the box office decided about a session; whether it is on sale is derived from this
/// and the sales window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SessionStatus {
    #[sea_orm(string_value = "SCHEDULED")]
    Scheduled,
    #[sea_orm(string_value = "CANCELLED")]
    Cancelled,
}

/// State of one seat in one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SeatStatus {
    #[sea_orm(string_value = "AVAILABLE")]
    Available,
    #[sea_orm(string_value = "HELD")]
    Held,
    #[sea_orm(string_value = "SOLD")]
    Sold,
    #[sea_orm(string_value = "BLOCKED")]
    Blocked,
}

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    #[sea_orm(string_value = "USER")]
    User,
    #[sea_orm(string_value = "ADMIN")]
    Admin,
    /// Staff at the entrance: scans tickets, sees the door count, nothing else.
    #[sea_orm(string_value = "DOOR")]
    Door,
}

/// Where a reservation stands: HELD → PAYING → CONFIRMED → CANCELLED, HELD → EXPIRED,
/// HELD → RELEASED.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReservationStatus {
    #[sea_orm(string_value = "HELD")]
    Held,
    #[sea_orm(string_value = "PAYING")]
    Paying,
    #[sea_orm(string_value = "CONFIRMED")]
    Confirmed,
    #[sea_orm(string_value = "CANCELLED")]
    Cancelled,
    #[sea_orm(string_value = "EXPIRED")]
    Expired,
    #[sea_orm(string_value = "RELEASED")]
    Released,
}

/// Where a buyer's copy of a coupon is: free to apply, applied to a held reservation, or
/// spent on a paid one. Released, expired and cancelled reservations give it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum UserCouponStatus {
    #[sea_orm(string_value = "AVAILABLE")]
    Available,
    #[sea_orm(string_value = "APPLIED")]
    Applied,
    #[sea_orm(string_value = "USED")]
    Used,
}

/// Where a buyer stands in a session's waiting room: in line, allowed to hold until the
/// ticket's `admitted_until`, told the session sold out (back in line, in the same place,
/// if seats come back), or past the admission window without a hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum QueueState {
    #[sea_orm(string_value = "WAITING")]
    Waiting,
    #[sea_orm(string_value = "ADMITTED")]
    Admitted,
    #[sea_orm(string_value = "SOLD_OUT")]
    SoldOut,
    #[sea_orm(string_value = "EXPIRED")]
    Expired,
}

/// Where a ticket stands: opens the door once (VALID → CHECKED_IN), or no longer does
/// (CANCELLED, with `refunded` saying whether its price went back).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TicketState {
    #[sea_orm(string_value = "VALID")]
    Valid,
    #[sea_orm(string_value = "CHECKED_IN")]
    CheckedIn,
    #[sea_orm(string_value = "CANCELLED")]
    Cancelled,
}

/// Where a buyer's waitlist request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WaitlistState {
    /// In line for seats.
    #[sea_orm(string_value = "WAITING")]
    Waiting,
    /// Seats came back and are held for the buyer (the entry's reservation).
    #[sea_orm(string_value = "OFFERED")]
    Offered,
    /// The offered reservation was paid.
    #[sea_orm(string_value = "BOOKED")]
    Booked,
    /// The offered hold was released or lapsed unpaid (or the offer could not be made: the
    /// buyer already had a reservation under the offer's key).
    #[sea_orm(string_value = "LAPSED")]
    Lapsed,
    /// The buyer left the line.
    #[sea_orm(string_value = "LEFT")]
    Left,
    /// The session's sales ended (closed, or it was cancelled) before seats came back.
    #[sea_orm(string_value = "CLOSED")]
    Closed,
}

/// Where a refund Curtain asked the provider for stands: written PENDING before asking,
/// DONE in the transaction that applies it to the booking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RefundStatus {
    #[sea_orm(string_value = "PENDING")]
    Pending,
    #[sea_orm(string_value = "DONE")]
    Done,
}
