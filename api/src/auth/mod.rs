//! Authentication: password hashing and policy, access tokens (JWT), rate limits and
//! lock-out. Who the caller is gets decided once per request from these (see
//! `http::graphql`), and roles are checked by the GraphQL guards.

pub mod flows;
pub mod jwt;
pub mod limits;
pub mod passwords;
pub mod reactivation;
pub mod viewer;

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::config::Settings;
use crate::domain::notify::Channels;
use crate::infra::bus::SharedBus;
use crate::infra::kakao::KakaoClient;
use crate::infra::kv::SharedStore;

/// What the log-in flows and the token check run with: the handles of the application
/// state they use, gathered once at start-up (`AppState::auth`), so that `auth` sits below
/// the state that holds it rather than reaching up into it.
#[derive(Clone)]
pub struct AuthDeps {
    /// The primary: accounts and refresh tokens are read and written there.
    pub db: DatabaseConnection,
    pub settings: Arc<Settings>,
    /// Rate limits, lock-outs, OAuth states.
    pub kv: SharedStore,
    /// Revoked sessions (see `AppState::deny_list`).
    pub deny_list: SharedStore,
    pub jwt: Arc<jwt::JwtKeys>,
    /// Where an ended session is announced to the account's open sockets.
    pub bus: SharedBus,
    /// Whether email is configured (a reactivation code needs it).
    pub channels: Channels,
    /// `None` when Kakao log-in is not configured.
    pub kakao: Option<Arc<KakaoClient>>,
}
