//! The WAL positions the replicas are compared by, read from PostgreSQL: the primary's
//! insert position and a replica's replay position, in bytes.

use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement};

/// The primary's current WAL insert position, in bytes: past every commit that has returned
/// (the write position may lag it with `synchronous_commit = off`).
pub(super) async fn wal_position(db: &DatabaseConnection) -> anyhow::Result<u64> {
    let row = db
        .query_one_raw(Statement::from_string(
            DatabaseBackend::Postgres,
            "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::bigint",
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no WAL position"))?;
    Ok(record_end(u64::try_from(row.try_get_by_index::<i64>(0)?)?))
}

/// The insert position as a replica's replay position would show it. With nothing written
/// since a record that ended exactly on a WAL page, the insert position points past the next
/// page's header (24 bytes; 40 at the start of a segment) while a replica that has everything
/// reports the page boundary: without this, a caught-up replica of an idle primary would look
/// behind for good. No record ends at those offsets, so the correction is exact. (PostgreSQL's
/// default 8 KiB WAL pages and 16 MiB segments.)
fn record_end(position: u64) -> u64 {
    const PAGE: u64 = 8 * 1024;
    const SEGMENT: u64 = 16 * 1024 * 1024;
    if position % SEGMENT == 40 {
        position - 40
    } else if position % PAGE == 24 {
        position - 24
    } else {
        position
    }
}

/// A replica's replay position, in bytes; `None` when it is not in recovery.
pub(super) async fn replay_position(db: &DatabaseConnection) -> anyhow::Result<Option<u64>> {
    let row = db
        .query_one_raw(Statement::from_string(
            DatabaseBackend::Postgres,
            "SELECT pg_is_in_recovery(), pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')::bigint",
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no replay position"))?;
    if !row.try_get_by_index::<bool>(0)? {
        return Ok(None);
    }
    let replayed: Option<i64> = row.try_get_by_index(1)?;
    Ok(replayed.and_then(|r| u64::try_from(r).ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_insert_position_past_a_page_header_is_the_record_end_before_it() {
        assert_eq!(record_end(3 * 8192 + 24), 3 * 8192);
        assert_eq!(record_end(2 * 16 * 1024 * 1024 + 40), 2 * 16 * 1024 * 1024);
        assert_eq!(record_end(3 * 8192 + 100), 3 * 8192 + 100);
        assert_eq!(record_end(3 * 8192), 3 * 8192);
    }
}
