//! P1's baselines: the same conditional hold straight on the database, through pgbench on
//! PostgreSQL or from tasks in this process on SQLite.

use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use sea_orm::{ConnectionTrait, Statement};

/// The twin session the baselines use (the newest) and its first seat's id.
async fn twin_session(db: &sea_orm::DatabaseConnection) -> anyhow::Result<(i64, i64)> {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT session_id, MIN(seat_id) FROM session_seats WHERE session_id = (SELECT MAX(id) FROM sessions) GROUP BY session_id"
                .to_string(),
        ))
        .await?
        .context("the twin session")?;
    Ok((row.try_get_by_index(0)?, row.try_get_by_index(1)?))
}

/// pgbench's script on SQLite: the version bump and the conditional UPDATE of two adjacent
/// seats, one write transaction per hold, from 32 tasks over the server's own pool.
pub(super) async fn sqlite_baseline(
    db: &sea_orm::DatabaseConnection,
    seats: usize,
    transactions: usize,
) -> anyhow::Result<f64> {
    let (session, base) = twin_session(db).await?;
    let clients = 32.min(transactions).max(1);
    let per_client = (transactions / clients).max(1);
    let started = Instant::now();
    let tasks = (0..clients).map(|_| {
        let db = db.clone();
        tokio::spawn(async move {
            for _ in 0..per_client {
                let a = base + rand::random_range(0..seats.saturating_sub(1).max(1)) as i64;
                let txn = curtain::db::begin_write(&db).await?;
                let backend = txn.get_database_backend();
                txn.execute_raw(Statement::from_string(
                    backend,
                    format!("UPDATE sessions SET seat_map_version = seat_map_version + 1 WHERE id = {session}"),
                ))
                .await?;
                txn.execute_raw(Statement::from_string(
                    backend,
                    format!(
                        "UPDATE session_seats SET status = 'HELD', version = version + 1
                         WHERE session_id = {session} AND seat_id IN ({a}, {}) AND status = 'AVAILABLE'",
                        a + 1
                    ),
                ))
                .await?;
                txn.commit().await?;
            }
            anyhow::Ok(())
        })
    });
    for task in futures::future::join_all(tasks).await {
        task??;
    }
    Ok((clients * per_client) as f64 / started.elapsed().as_secs_f64())
}

/// The same conditional hold, straight through pgbench on the twin session (same hall, no
/// holds yet) in the same database: version bump, then the conditional UPDATE of two
/// adjacent seats, committed.
pub(super) async fn pgbench_baseline(
    db: &sea_orm::DatabaseConnection,
    database_url: &str,
    seats: usize,
    transactions: usize,
) -> anyhow::Result<f64> {
    let (session, base) = twin_session(db).await?;
    let script = std::env::temp_dir().join(format!("curtain-p1-{}.sql", std::process::id()));
    std::fs::write(
        &script,
        format!(
            "\\set a random(0, {last})
BEGIN;
UPDATE sessions SET seat_map_version = seat_map_version + 1 WHERE id = {session};
UPDATE session_seats SET status = 'HELD', version = version + 1
 WHERE session_id = {session} AND seat_id IN ({base} + :a, {base} + :a + 1) AND status = 'AVAILABLE';
COMMIT;
",
            last = seats.saturating_sub(2)
        ),
    )?;
    let clients = 32.min(transactions);
    let output = Command::new("pgbench")
        .args([
            "-n",
            "-c",
            &clients.to_string(),
            "-j",
            "2",
            "-t",
            &(transactions / clients).max(1).to_string(),
            "-f",
        ])
        .arg(&script)
        .arg(database_url)
        .output()
        .context("cannot run pgbench (apt-get install postgresql-client)")?;
    let _ = std::fs::remove_file(&script);
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!("pgbench failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    text.lines()
        .find_map(|line| {
            line.strip_prefix("tps = ")?
                .split_whitespace()
                .next()?
                .parse::<f64>()
                .ok()
        })
        .context("no tps in pgbench's output")
}
