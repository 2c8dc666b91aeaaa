//! The public catalog (performances, venues, cast, sessions, seat maps) and its admin
//! mutations.

mod admin;
mod inputs;
mod query;
pub(crate) mod types;

pub use admin::CatalogMutation;
pub use query::CatalogQuery;
pub(crate) use query::unfiltered_first_page;
pub use types::{CastMember, CastRole, Performance, Session, Venue};
