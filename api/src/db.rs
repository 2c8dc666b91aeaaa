//! Connecting to the database (SQLite or PostgreSQL through the same code) and migrating it.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    AccessMode, ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, IsolationLevel,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use secrecy::{ExposeSecret, SecretString};

use crate::error::{ApiError, ApiResult};
use crate::metrics::Metrics;

/// Opens a pool on `url`, counting every statement into `metrics`.
///
/// SQLite runs in WAL mode with a busy timeout so that readers never block the writer and
/// concurrent writers queue instead of failing at once; foreign keys are enforced.
pub async fn connect(
    url: &SecretString,
    max_connections: u32,
    metrics: Option<Arc<Metrics>>,
) -> anyhow::Result<DatabaseConnection> {
    let url = url.expose_secret();
    if let Some(dir) = sqlite_path(url)
        .and_then(|path| std::path::Path::new(path).parent())
        .filter(|dir| !dir.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    }
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
        });
    let mut db = Database::connect(options)
        .await
        .with_context(|| format!("cannot connect to the database at {}", redact(url)))?;
    if let Some(metrics) = metrics {
        db.set_metric_callback(move |info| {
            // `RUST_LOG=curtain::sql=trace` shows every statement (parameters are not logged).
            tracing::trace!(target: "curtain::sql", elapsed_us = info.elapsed.as_micros() as u64, failed = info.failed, sql = %info.statement.sql);
            metrics.record_statement(info.elapsed, info.failed);
        });
    }
    Ok(db)
}

/// Starts a transaction that writes. On SQLite it takes the write lock at `BEGIN IMMEDIATE`:
/// a deferred transaction that reads first and writes later fails at once with
/// SQLITE_BUSY_SNAPSHOT ("database is locked") when another connection wrote in between,
/// and no busy timeout helps. PostgreSQL ignores the option.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    })
    .await
}

/// Starts a read-only transaction whose statements all see one state of the database:
/// `REPEATABLE READ READ ONLY` on PostgreSQL (the snapshot of its first statement); on SQLite
/// a deferred transaction in WAL mode gives the same (the snapshot of its first read, kept
/// until it ends).
pub async fn begin_snapshot(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    match db.get_database_backend() {
        DbBackend::Postgres => {
            db.begin_with_config(Some(IsolationLevel::RepeatableRead), Some(AccessMode::ReadOnly))
                .await
        }
        // SQLite has one isolation level, and refuses to be told one.
        _ => db.begin().await,
    }
}

/// [`begin_write`] for a resolver: a failure is an internal error, so the database's text
/// never becomes a client message (async-graphql would show any `Display` error as it is).
pub async fn write(db: &DatabaseConnection) -> ApiResult<DatabaseTransaction> {
    begin_write(db).await.map_err(ApiError::from)
}

/// Commits `txn`; a failure is an internal error, for the same reason as [`write`].
pub async fn commit(txn: DatabaseTransaction) -> ApiResult<()> {
    txn.commit().await.map_err(ApiError::from)
}

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None).await.context("database migration failed")
}

/// Idle and in-use connections of the pool, for the metrics endpoint.
pub fn pool_usage(db: &DatabaseConnection) -> (u32, u32) {
    let (size, idle) = match db.get_database_backend() {
        DbBackend::Sqlite => {
            let pool = db.get_sqlite_connection_pool();
            (pool.size(), pool.num_idle() as u32)
        }
        _ => {
            let pool = db.get_postgres_connection_pool();
            (pool.size(), pool.num_idle() as u32)
        }
    };
    (idle, size.saturating_sub(idle))
}

fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then_some(path)
}

/// The URL without its password, for error messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}://{}:***@{}", &url[..scheme_end], user, &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/curtain"),
            "postgres://app:***@db:5432/curtain"
        );
        assert_eq!(
            redact("sqlite://data/curtain.db?mode=rwc"),
            "sqlite://data/curtain.db?mode=rwc"
        );
    }

    #[test]
    fn sqlite_paths_are_found_in_urls() {
        assert_eq!(
            sqlite_path("sqlite://data/curtain.db?mode=rwc"),
            Some("data/curtain.db")
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://x"), None);
    }
}
