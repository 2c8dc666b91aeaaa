//! SeaORM entities for Curtain.
//!
//! Data only: each module mirrors one table created by the `migration` crate. Business rules
//! live in the api crate's `domain` modules, and the GraphQL types there are separate from
//! these models so that a table column never becomes public API by accident.

pub mod audit_log;
pub mod cast_member;
pub mod coupon;
pub mod delivery;
pub mod dormant_account;
pub mod job_run;
pub mod notification;
pub mod outbox;
pub mod payment;
pub mod performance;
pub mod performance_cast;
pub mod refresh_token;
pub mod refund;
pub mod reservation;
pub mod reservation_seat;
pub mod review;
pub mod seat;
pub mod section;
pub mod session;
pub mod session_price;
pub mod session_seat;
pub mod ticket;
pub mod ticket_key;
pub mod ticket_transfer;
pub mod user;
pub mod user_coupon;
pub mod venue;
pub mod waiting_room;
pub mod waiting_room_ticket;
pub mod waitlist_entry;

mod enums;
pub use enums::{
    Genre, QueueState, RefundStatus, ReservationStatus, Role, SeatStatus, SessionStatus, TicketState, UserCouponStatus,
    WaitlistState,
};
