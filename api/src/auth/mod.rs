//! Authentication: password hashing and policy, access tokens (JWT), rate limits and
//! lock-out. Who the caller is gets decided once per request from these (see
//! `http::graphql`), and roles are checked by the GraphQL guards.

pub mod flows;
pub mod jwt;
pub mod limits;
pub mod passwords;
pub mod reactivation;
pub mod viewer;
