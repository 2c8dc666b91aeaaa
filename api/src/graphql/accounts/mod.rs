//! Accounts: sign-up, log-in (password and Kakao), token renewal, log-out, the caller's own
//! profile, and role management for admins.

mod mutation;
mod query;
mod types;

pub use mutation::AccountMutation;
pub use query::AccountQuery;
pub use types::{Account, account};
