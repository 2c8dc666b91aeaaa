//! Setting the replica set up: a lazy pool per replica (and one for its monitor), and the
//! settings checked before the service starts.

use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sea_orm::{DatabaseBackend, DatabaseConnection};
use secrecy::SecretString;

use super::{Member, ReplicaState, Replicas};
use crate::config::DatabaseSettings;
use crate::infra::kv::SharedStore;

impl Replicas {
    /// Opens a pool per replica in `settings`; none connects until first used, so a replica
    /// that is down at start does not stop the service.
    pub async fn open(
        primary: DatabaseConnection,
        settings: &DatabaseSettings,
        writes: SharedStore,
    ) -> anyhow::Result<Self> {
        let mut members = Vec::with_capacity(settings.replica_urls.len());
        for url in &settings.replica_urls {
            members.push(Member {
                pool: connect_lazy(url, settings, settings.replica_max_connections).await?,
                monitor: connect_lazy(url, settings, 1).await?,
                state: Mutex::new(ReplicaState::UNKNOWN),
            });
        }
        if !members.is_empty() && primary.get_database_backend() != DatabaseBackend::Postgres {
            anyhow::bail!("database.replica_urls needs a PostgreSQL primary (DATABASE_URL)");
        }
        // The lag bound of a caught-up replica grows to a poll (and a check) before each
        // check lowers it again: with a bound that short, it would be skipped half the time.
        if !members.is_empty() && settings.replica_max_lag_ms <= 2 * settings.replica_poll_ms {
            anyhow::bail!(
                "database.replica_max_lag_ms ({} ms) must be more than twice database.replica_poll_ms ({} ms)",
                settings.replica_max_lag_ms,
                settings.replica_poll_ms
            );
        }
        Ok(Self {
            primary,
            members,
            max_lag: Duration::from_millis(settings.replica_max_lag_ms),
            poll_every: Duration::from_millis(settings.replica_poll_ms.max(10)),
            writes,
            next: AtomicUsize::new(0),
            primary_snapshots: Arc::new(tokio::sync::Semaphore::new(
                (settings.max_connections as usize / 2).max(1),
            )),
        })
    }
}

async fn connect_lazy(
    url: &SecretString,
    settings: &DatabaseSettings,
    max_connections: u32,
) -> anyhow::Result<DatabaseConnection> {
    use secrecy::ExposeSecret;
    let url = url.expose_secret();
    if !url.starts_with("postgres") {
        anyhow::bail!("a replica URL must be a PostgreSQL URL, not {}", crate::db::redact(url));
    }
    let timeout = Duration::from_millis(settings.replica_connect_timeout_ms);
    let mut options = sea_orm::ConnectOptions::new(settings.ssl_mode.apply(url));
    options
        .max_connections(max_connections)
        .min_connections(0)
        .connect_timeout(timeout)
        .acquire_timeout(timeout)
        .connect_lazy(true)
        .sqlx_logging(false);
    // A lazy pool only checks its options here; it connects on first use.
    sea_orm::Database::connect(options)
        .await
        .map_err(|err| anyhow::anyhow!("bad replica URL {}: {err}", crate::db::redact(url)))
}
