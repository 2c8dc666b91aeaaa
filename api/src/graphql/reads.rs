//! Where a request reads, and the one snapshot a query's reads share.
//!
//! A query's lag-tolerant reads (the catalog and everything its loaders fetch, reviews,
//! public lists, reservation search) go to [`Reads`]: a replica when the request was routed to
//! one, else the primary. Within one query they share one read-only transaction, begun at
//! the first read and ended with the request, so a page of performances, their sessions and
//! their venues are all one state of the catalog, never a mix of two. On PostgreSQL it is
//! `REPEATABLE READ READ ONLY`: every statement sees the snapshot taken at the transaction's
//! first statement. On SQLite a deferred transaction in WAL mode gives the same: the snapshot
//! of its first read, kept until it ends.
//!
//! A query the direct writer answers (see [`super::direct`]) reads its page's relations in
//! one statement instead, which is one snapshot without a transaction.
//!
//! Mutations and subscriptions do not share a snapshot: a mutation must read what it has just
//! written, and a subscription's events must each see the newest state. Their reads run on
//! the pool, each statement on its own. Outside the snapshot too: what a query reads through
//! `app(ctx)?.db` directly (a buyer's own reservations, a waiting room's head counts) and
//! what the catalog cache serves (the first list pages, performance detail).
//!
//! On PostgreSQL a statement that fails inside the snapshot (a cancel, a replica's recovery
//! conflict) fails the snapshot's later statements too, so the rest of that query's reads
//! fail with it; over HTTP a query failing so on a replica is run again on the primary.

use std::sync::Arc;

use async_graphql::Context;
use sea_orm::{DatabaseConnection, DatabaseExecutor, DatabaseTransaction, DbErr};
use tokio::sync::{OnceCell, OwnedSemaphorePermit, Semaphore};

use crate::error::ApiResult;
use crate::infra::replicas::Route;
use crate::metrics::Metrics;

/// Where a request's lag-tolerant reads go: a replica, or the primary.
#[derive(Clone)]
pub struct Reads {
    pub source: Source,
    pub route: Route,
}

/// A connection pool, read either statement by statement or through one snapshot.
#[derive(Clone)]
pub struct Source {
    db: DatabaseConnection,
    snapshot: Option<Arc<Snapshot>>,
}

struct Snapshot {
    /// The transaction, and the permit that let it begin.
    txn: OnceCell<(DatabaseTransaction, Option<OwnedSemaphorePermit>)>,
    permits: Option<Arc<Semaphore>>,
    metrics: Arc<Metrics>,
}

impl Source {
    /// Every read on its own (mutations, subscriptions).
    pub fn each(db: DatabaseConnection) -> Self {
        Self { db, snapshot: None }
    }

    /// Every read in one read-only transaction, begun at the first read (and counted in
    /// `metrics`) once one of `permits` is free (see [`crate::infra::replicas::Replicas::snapshots`]).
    pub fn snapshot(db: DatabaseConnection, metrics: Arc<Metrics>, permits: Option<Arc<Semaphore>>) -> Self {
        let snapshot = Snapshot {
            txn: OnceCell::new(),
            permits,
            metrics,
        };
        Self {
            db,
            snapshot: Some(Arc::new(snapshot)),
        }
    }

    /// The pool, for what must not read through the snapshot.
    pub fn pool(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Where the next read goes.
    pub async fn conn(&self) -> Result<DatabaseExecutor<'_>, DbErr> {
        match &self.snapshot {
            None => Ok(DatabaseExecutor::Connection(&self.db)),
            Some(snapshot) => {
                let (txn, _) = snapshot
                    .txn
                    .get_or_try_init(|| async {
                        let permit = match &snapshot.permits {
                            Some(permits) => Some(
                                permits
                                    .clone()
                                    .acquire_owned()
                                    .await
                                    .map_err(|_| DbErr::Custom("snapshot permits closed".into()))?,
                            ),
                            None => None,
                        };
                        let txn = crate::db::begin_snapshot(&self.db).await?;
                        snapshot.metrics.read_snapshots.inc();
                        Ok::<_, DbErr>((txn, permit))
                    })
                    .await?;
                Ok(DatabaseExecutor::Transaction(txn))
            }
        }
    }

    /// Ends the snapshot, if one was begun. Called once the request's execution is over and
    /// its loaders are gone; a clone still alive then rolls back when dropped instead.
    pub async fn finish(self) {
        let Some(snapshot) = self.snapshot else { return };
        let Ok(snapshot) = Arc::try_unwrap(snapshot) else {
            return;
        };
        if let Some((txn, _permit)) = snapshot.txn.into_inner()
            && let Err(err) = txn.commit().await
        {
            // Nothing was written; the answer already went out whole.
            tracing::debug!(error = %err, "ending a read snapshot failed");
        }
    }
}

/// The connection for reads that may lag the latest write by up to
/// `database.replica_max_lag_ms` (and never a write of the viewer's own): a replica when the
/// request was routed to one, else the primary; through the query's snapshot. Anything a
/// buyer acts on (holds, payments, the seat map, their own reservations) reads
/// `app(ctx)?.db` instead.
pub(crate) async fn reader<'a>(ctx: &Context<'a>) -> ApiResult<DatabaseExecutor<'a>> {
    match ctx.data_opt::<Reads>() {
        Some(reads) => Ok(reads.source.conn().await?),
        None => Ok(DatabaseExecutor::Connection(&super::app(ctx)?.db)),
    }
}
