//! The application state every handler and resolver shares. Cheap to clone: each part is a
//! handle (the pool is reference-counted inside).

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::auth::jwt::JwtKeys;
use crate::config::Settings;
use crate::infra::bus::SharedBus;
use crate::infra::kakao::KakaoClient;
use crate::infra::kv::SharedStore;
use crate::live::seat_maps::SeatMapHub;
use crate::metrics::Metrics;
use crate::outbox::relay::RelayWaker;
use crate::storage::LocalFiles;

#[derive(Clone)]
pub struct AppState {
    /// The primary: every write, and every read that must see the latest state.
    pub db: DatabaseConnection,
    /// Streaming replicas for lag-tolerant reads (none unless configured); see
    /// [`crate::infra::replicas`].
    pub replicas: Arc<crate::infra::replicas::Replicas>,
    pub settings: Arc<Settings>,
    pub metrics: Arc<Metrics>,
    pub files: Arc<LocalFiles>,
    /// Where posters are stored: `files`, or S3 when configured.
    pub storage: crate::storage::SharedStorage,
    /// Rate limits, lock-outs, OAuth states: in-process or Redis.
    pub kv: SharedStore,
    /// Revoked sessions, whose access tokens are refused until they expire: in-process or
    /// Redis. Apart from `kv` in process, so that a flood of rate-limit counters (one per
    /// address or email an attacker tries) can never evict a revocation.
    pub deny_list: SharedStore,
    pub jwt: Arc<JwtKeys>,
    /// Carries outbox events to every instance: in-process or Redis pub/sub.
    pub bus: SharedBus,
    /// Call [`RelayWaker::wake`] after committing outbox rows to publish them at once.
    pub relay: RelayWaker,
    /// This instance's live seat maps, shared by every subscription.
    pub seat_maps: Arc<SeatMapHub>,
    /// This instance's live notifications, handed to each account's `notificationReceived`.
    pub notifications: Arc<crate::live::notifications::NotificationHub>,
    /// This instance's live waiting rooms, shared by every `waitingRoomUpdates`.
    pub waiting_rooms: Arc<crate::live::waiting_rooms::WaitingRoomHub>,
    /// This instance's WebSockets: counted per address and account, told of account changes.
    pub sockets: Arc<crate::live::sockets::SocketRegistry>,
    /// Which notification channels (email, Slack) are configured.
    pub channels: crate::domain::notify::Channels,
    /// The jobs running in this process (the leader lock on SQLite).
    pub job_locks: Arc<crate::jobs::lock::LocalLocks>,
    /// Cached reads (search results, hot catalog rows): in-process or Redis. Apart from
    /// `kv`, so that a flood of distinct searches can never evict the token deny-list.
    pub cache: SharedStore,
    /// The catalog cache's loads in flight on this instance, one per entry.
    pub catalog_loads: Arc<crate::catalog_cache::Loads>,
    /// This instance's keyword search index, kept in step through the outbox.
    pub search: Arc<crate::search::SearchService>,
    /// `None` when Kakao log-in is not configured.
    pub kakao: Option<Arc<KakaoClient>>,
    /// Toss Payments, or the simulated provider when no Toss key is configured.
    pub payments: crate::infra::payments::SharedProvider,
    /// Bounds and coalesces the provider calls Toss's public webhook triggers (this instance).
    pub webhooks: Arc<crate::domain::payments::WebhookGate>,
    /// Applies hold requests, combined per session (group commit).
    pub holds: Arc<crate::domain::holds::HoldCombiner>,
    /// What the log-in flows and the token check run with: the same handles as `db`,
    /// `settings`, `kv`, `deny_list`, `jwt`, `bus`, `channels` and `kakao` above, gathered once
    /// at start-up. Whoever swaps one of those (a test replacing a store) swaps it here too,
    /// where the flows read it.
    pub auth: crate::auth::AuthDeps,
    /// The keys that sign tickets' QR payloads, read from the database and kept here.
    pub ticket_keys: Arc<crate::domain::tickets::TicketKeys>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// What the payment flow runs with.
    pub fn payment_deps(&self) -> crate::domain::payments::PaymentDeps<'_> {
        crate::domain::payments::PaymentDeps {
            db: &self.db,
            provider: self.payments.as_ref(),
            settings: &self.settings.payments,
            channels: self.channels,
        }
    }

    /// What scheduled jobs run with.
    pub fn job_env(&self) -> crate::jobs::JobEnv {
        crate::jobs::JobEnv {
            db: self.db.clone(),
            settings: self.settings.clone(),
            channels: self.channels,
            locks: self.job_locks.clone(),
            deny_list: self.deny_list.clone(),
            bus: self.bus.clone(),
            storage: self.storage.clone(),
            payments: self.payments.clone(),
        }
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
