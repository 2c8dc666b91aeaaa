//! Holding seats and the buyer's reservations.

mod mutation;
mod query;
mod types;

pub use mutation::BookingMutation;
pub use query::BookingQuery;
