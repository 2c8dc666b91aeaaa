//! Loading the demo's seat inventory in bulk on PostgreSQL.
//!
//! Every session gets a row per seat of its venue (`session_seats`): about 122,000 rows on
//! the demo's first start, and four fifths of their load time was PostgreSQL checking the
//! table's two foreign keys row by row (a lookup and a key-share lock on the referenced row,
//! twice per row). PostgreSQL's manual, on populating a database, advises dropping foreign
//! keys and adding them back after the load. Done inside the seeding transaction, nothing
//! else ever sees the table without them, and adding a key back checks every row in one
//! query: the rows are checked as strictly as before, only in one pass. A failure anywhere
//! rolls the whole transaction back, keys included.
//!
//! Dropping a key locks its table and the tables it references (`sessions`, `seats`) until
//! the seeding commits, a second or less: on a first start nothing else is running, but
//! `curtain seed-demo` may meet a server already using the database. So the keys are taken
//! off only if the locks come within [`LOCK_WAIT`]; otherwise the load checks row by row.

use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, EntityName, Statement, TransactionTrait};

/// How long taking the keys off may wait for the tables' locks.
const LOCK_WAIT: &str = "2s";

/// The foreign keys of `session_seats` taken off for the load, by name with their
/// definitions as PostgreSQL prints them, to be added back by [`Self::restore`].
#[must_use = "the keys must be added back before the transaction commits"]
pub(super) struct SuspendedKeys(Vec<(String, String)>);

impl SuspendedKeys {
    /// Takes the keys off in `txn` (PostgreSQL only; SQLite's own checks are cheap). Where
    /// the database user may not alter the table, or its locks do not come in time, the keys
    /// stay and are checked row by row.
    pub(super) async fn suspend(txn: &DatabaseTransaction) -> anyhow::Result<Self> {
        if txn.get_database_backend() != DbBackend::Postgres {
            return Ok(Self(Vec::new()));
        }
        // A savepoint, so that a refusal leaves the seeding transaction usable.
        let attempt = txn.begin().await?;
        match take_off(&attempt).await {
            Ok(keys) => {
                attempt.commit().await?;
                Ok(Self(keys))
            }
            Err(err) => {
                attempt.rollback().await?;
                tracing::info!(error = %err, "the demo's seat rows are loaded with their foreign keys checked row by row");
                Ok(Self(Vec::new()))
            }
        }
    }

    /// Adds the keys back; PostgreSQL checks every row against each.
    pub(super) async fn restore(self, txn: &DatabaseTransaction) -> anyhow::Result<()> {
        for (name, definition) in self.0 {
            txn.execute_unprepared(&format!(
                "ALTER TABLE {} ADD CONSTRAINT {} {definition}",
                quoted(table()),
                quoted(&name)
            ))
            .await?;
        }
        Ok(())
    }
}

async fn take_off(txn: &DatabaseTransaction) -> Result<Vec<(String, String)>, DbErr> {
    // Until the seeding commits; rolling back to the savepoint undoes it.
    txn.execute_unprepared(&format!("SET LOCAL lock_timeout = '{LOCK_WAIT}'"))
        .await?;
    let rows = txn
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            format!(
                "SELECT conname::text, pg_get_constraintdef(oid) FROM pg_constraint
                 WHERE conrelid = '{}'::regclass AND contype = 'f' ORDER BY conname",
                quoted(table())
            ),
        ))
        .await?;
    let keys = rows
        .iter()
        .map(|row| Ok((row.try_get_by_index::<String>(0)?, row.try_get_by_index::<String>(1)?)))
        .collect::<Result<Vec<_>, DbErr>>()?;
    for (name, _) in &keys {
        txn.execute_unprepared(&format!(
            "ALTER TABLE {} DROP CONSTRAINT {}",
            quoted(table()),
            quoted(name)
        ))
        .await?;
    }
    Ok(keys)
}

fn table() -> &'static str {
    entity::session_seat::Entity.table_name()
}

/// `name` as a quoted SQL identifier.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
