//! Holding seats and the buyer's reservations.

pub(crate) mod live;
mod mutation;
mod query;
mod types;

pub use live::BookingSubscription;
pub use mutation::BookingMutation;
pub use query::BookingQuery;
pub use types::Reservation;
