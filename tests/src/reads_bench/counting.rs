//! Statements and transactions per request: the server's own statement counter and
//! PostgreSQL's `pg_stat_database`, read once its statistics have settled.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::Value;

use super::load::{client, post};
use super::process::Server;

/// Transactions the database has ended (committed or rolled back) so far.
pub async fn transactions(db: &DatabaseConnection, database: &str) -> anyhow::Result<i64> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT (xact_commit + xact_rollback)::bigint FROM pg_stat_database WHERE datname = $1",
            [database.into()],
        ))
        .await?
        .context("no such database")?;
    Ok(row.try_get_by_index(0)?)
}

/// A counter of the server's own `/metrics`.
pub async fn server_metric(server: &Server, name: &str, labels: &str) -> anyhow::Result<f64> {
    let text = reqwest::Client::new()
        .get(format!("{}/metrics", server.url))
        .bearer_auth("bench")
        .send()
        .await?
        .text()
        .await?;
    Ok(crate::metric_value(&text, name, labels))
}

/// How long PostgreSQL may take to count a transaction in `pg_stat_database`: a backend
/// reports at most once a second, and an idle one after ten.
const STATS_SETTLE: Duration = Duration::from_millis(11_500);

/// Transactions a second the database ends with no request being served (the servers'
/// background work, and these measurements' own reads).
pub async fn idle_transactions(db: &DatabaseConnection, database: &str) -> anyhow::Result<f64> {
    tokio::time::sleep(STATS_SETTLE).await;
    let before = transactions(db, database).await?;
    tokio::time::sleep(STATS_SETTLE).await;
    Ok((transactions(db, database).await? - before) as f64 / STATS_SETTLE.as_secs_f64())
}

/// Statements and transactions per request: `requests` requests one after another. The
/// statements come from the server's own counter, when it has one; the transactions from
/// `pg_stat_database`, once it has settled, less the idle rate.
#[allow(clippy::too_many_arguments)]
pub async fn per_request(
    server: &Server,
    db: &DatabaseConnection,
    database: &str,
    idle_rate: f64,
    body: &Value,
    requests: u32,
    statements_metric: Option<(&str, &str)>,
) -> anyhow::Result<(Option<f64>, f64)> {
    let client = client(1)?;
    let url = format!("{}/graphql", server.url);
    let bytes = serde_json::to_vec(body)?;
    if !post(&client, &url, &bytes).await {
        bail!("{url} did not answer {body} without errors");
    }
    let statements_before = match statements_metric {
        Some((name, labels)) => Some(server_metric(server, name, labels).await?),
        None => None,
    };
    tokio::time::sleep(STATS_SETTLE).await;
    let xacts_before = transactions(db, database).await?;
    let started = Instant::now();
    for _ in 0..requests {
        post(&client, &url, &bytes).await;
    }
    let statements = match (statements_metric, statements_before) {
        (Some((name, labels)), Some(before)) => {
            Some((server_metric(server, name, labels).await? - before) / f64::from(requests))
        }
        _ => None,
    };
    tokio::time::sleep(STATS_SETTLE).await;
    let xacts = (transactions(db, database).await? - xacts_before) as f64;
    let idle = idle_rate * started.elapsed().as_secs_f64();
    Ok((statements, ((xacts - idle) / f64::from(requests)).max(0.0)))
}
