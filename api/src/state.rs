//! The application state every handler and resolver shares. Cheap to clone: each part is a
//! handle (the pool is reference-counted inside).

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::auth::jwt::JwtKeys;
use crate::config::Settings;
use crate::infra::kakao::KakaoClient;
use crate::infra::kv::SharedStore;
use crate::metrics::Metrics;
use crate::storage::LocalFiles;

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub settings: Arc<Settings>,
    pub metrics: Arc<Metrics>,
    pub files: Arc<LocalFiles>,
    /// Deny-list, rate limits, lock-outs, OAuth states: in-process or Redis.
    pub kv: SharedStore,
    pub jwt: Arc<JwtKeys>,
    /// `None` when Kakao log-in is not configured.
    pub kakao: Option<Arc<KakaoClient>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Per-request facts the resolvers need besides the caller.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    /// The `x-request-id` of the request, recorded with admin actions.
    pub request_id: Option<String>,
    /// The client's address, for rate limits and lock-outs.
    pub client_ip: std::net::IpAddr,
}
