//! Business rules, one module per part of the domain, as functions over
//! `&impl ConnectionTrait` so that callers can compose them inside one transaction.
//! Nothing here knows about GraphQL or HTTP.

pub mod accounts;
pub mod audit;
pub mod best_available;
pub mod blocks;
pub mod cast;
pub mod catalog_events;
pub mod coupons;
pub mod email;
pub mod holds;
pub mod inventory;
pub mod notifications;
pub mod notify;
pub mod orders;
pub mod paging;
pub mod payments;
pub mod performances;
pub mod posters;
pub mod refresh_tokens;
pub mod reservation_events;
pub mod reservation_flow;
pub mod reservations;
pub mod reviews;
pub mod seat_map;
pub mod seat_returns;
pub mod sessions;
pub mod tickets;
pub mod venues;
pub mod waiting_room;
pub mod waitlist;

mod validate;

/// Time zone of the box office calendar: run dates are calendar days in Korea (no DST).
pub fn box_office_offset() -> chrono::FixedOffset {
    chrono::FixedOffset::east_opt(9 * 3600).expect("+09:00 is a valid offset")
}
