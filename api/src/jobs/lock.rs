//! Only one instance runs a given job at a time. On PostgreSQL a transaction-scoped
//! advisory lock does it (released by the database even if the process dies); on SQLite,
//! which one instance owns, a lock in this process does.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction, Statement};

use super::Job;

/// The jobs running in this process.
#[derive(Default)]
pub struct LocalLocks(Mutex<HashSet<Job>>);

/// Held while a job runs; [`JobLock::release`] (or dropping it) releases the lock.
pub enum JobLock {
    /// `None` once released.
    Postgres(Option<DatabaseTransaction>),
    Local(Arc<LocalLocks>, Job),
}

impl JobLock {
    /// Releases the lock now. Dropping a transaction only queues its rollback until the
    /// connection is next used, so the lock could outlive the run; ending it here does not.
    pub async fn release(mut self) -> anyhow::Result<()> {
        if let Self::Postgres(txn) = &mut self
            && let Some(txn) = txn.take()
        {
            txn.rollback().await?;
        }
        Ok(())
    }
}

impl Drop for JobLock {
    fn drop(&mut self) {
        if let Self::Local(locks, job) = self {
            locks.0.lock().unwrap_or_else(PoisonError::into_inner).remove(job);
        }
        // A PostgreSQL lock not released ends with its transaction, rolled back on drop.
    }
}

/// Takes the job's lock, or `None` when another run holds it.
pub async fn try_lock(db: &DatabaseConnection, locks: &Arc<LocalLocks>, job: Job) -> anyhow::Result<Option<JobLock>> {
    if db.get_database_backend() == DatabaseBackend::Postgres {
        let txn = crate::db::begin_write(db).await?;
        let row = txn
            .query_one_raw(Statement::from_sql_and_values(
                DatabaseBackend::Postgres,
                "SELECT pg_try_advisory_xact_lock($1)",
                [key(job).into()],
            ))
            .await?;
        let locked = match row {
            Some(row) => row.try_get_by_index::<bool>(0)?,
            None => false,
        };
        if locked {
            return Ok(Some(JobLock::Postgres(Some(txn))));
        }
        txn.rollback().await?;
        return Ok(None);
    }
    let fresh = locks.0.lock().unwrap_or_else(PoisonError::into_inner).insert(job);
    Ok(fresh.then(|| JobLock::Local(locks.clone(), job)))
}

/// A stable 64-bit key per job (FNV-1a of its name), the same on every instance.
fn key(job: Job) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in "curtain-job:".bytes().chain(job.name().bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_and_distinct() {
        let keys: HashSet<i64> = Job::ALL.iter().map(|job| key(*job)).collect();
        assert_eq!(keys.len(), Job::ALL.len());
        assert_eq!(key(Job::ExpireHolds), key(Job::ExpireHolds));
    }
}
