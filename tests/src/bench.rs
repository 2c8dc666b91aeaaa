//! What the benchmarks share: percentiles, and P1's on-sale (a session, its buyers, and the
//! rush of holds), which P8 runs again under attack.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use rand::Rng;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;
use tokio::sync::Semaphore;

use crate::fixtures::day;
use crate::{TestApp, data};

/// The `p` quantile (0–1) of `sorted` latencies, in milliseconds; 0 when there are none.
pub fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1].as_secs_f64() * 1e3
}

const HOLD: &str = "mutation($s: ID!, $seats: [ID!]!, $k: String!) {
    holdSeats(sessionId: $s, seatIds: $seats, idempotencyKey: $k) { id } }";

/// A session on sale in a hall of `seats` R seats (rows of 50), and its adjacent pairs.
pub struct OnSale {
    pub session: String,
    pub pairs: Vec<[String; 2]>,
}

/// A venue of `seats` seats and a performance there; returns the performance's id.
pub async fn on_sale_performance(app: &TestApp, seats: usize) -> String {
    let rows = seats.div_ceil(50);
    let layout = json!({ "sections": [{ "name": "1층", "rows": (0..rows).map(|r| json!({
        "label": format!("R{r}"), "seatCount": 50.min(seats - r * 50), "grade": "R" })).collect::<Vec<_>>() }] });
    let venue = crate::fixtures::create_venue(app, "Bench hall", layout).await;
    crate::fixtures::create_performance(app, &venue, "Bench", &day(0).0, &day(10).0).await
}

/// A new session of `performance`, `days` from now, at 50,000 KRW a seat.
pub async fn on_sale_session(app: &TestApp, performance: &str, days: i64) -> anyhow::Result<OnSale> {
    let response = app
        .admin(
            "mutation($input: CreateSessionInput!) { createSession(input: $input) { id } }",
            json!({ "input": { "performanceId": performance, "startsAt": day(days).1, "prices": [{ "grade": "R", "price": 50000 }] } }),
        )
        .await;
    let session = data(&response)["createSession"]["id"]
        .as_str()
        .context("session")?
        .to_string();
    let map = app
        .gql(
            "query($s: ID!) { seatMap(sessionId: $s) { seats { id row } } }",
            json!({ "s": session }),
        )
        .await;
    let seats: Vec<(String, String)> = data(&map)["seatMap"]["seats"]
        .as_array()
        .context("seats")?
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap_or_default().to_string(),
                s["row"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let pairs = seats
        .windows(2)
        .filter(|w| w[0].1 == w[1].1)
        .map(|w| [w[0].0.clone(), w[1].0.clone()])
        .collect();
    Ok(OnSale { session, pairs })
}

/// Signs up `count` buyers, 32 at a time, and returns their access tokens.
pub async fn sign_up_buyers(app: &Arc<TestApp>, count: usize, prefix: &str) -> anyhow::Result<Vec<String>> {
    eprintln!("signing up {count} buyers…");
    let limit = Arc::new(Semaphore::new(32));
    let mut signups = Vec::new();
    for i in 0..count {
        let (app, limit, prefix) = (app.clone(), limit.clone(), prefix.to_string());
        signups.push(tokio::spawn(async move {
            let _permit = limit.acquire().await;
            app.sign_up(&format!("{prefix}-{i}@example.com")).await.access_token
        }));
    }
    let mut tokens = Vec::new();
    for signup in signups {
        tokens.push(signup.await?);
    }
    Ok(tokens)
}

/// What the buyers of a rush got.
pub struct Rush {
    /// Sorted.
    pub latencies: Vec<Duration>,
    pub held: usize,
    pub unavailable: usize,
    /// Other error codes, `no answer: …` when the request failed.
    pub other: Vec<String>,
    pub elapsed: Duration,
}

/// Every buyer (one token each) tries at the same moment to hold a random adjacent pair of
/// `sale`, `concurrency` at a time; idempotency keys start with `run`.
pub async fn hold_rush(
    app: &Arc<TestApp>,
    sale: &OnSale,
    tokens: &[String],
    concurrency: usize,
    run: &str,
) -> anyhow::Result<Rush> {
    let limit = Arc::new(Semaphore::new(concurrency));
    let start_line = Arc::new(tokio::sync::Barrier::new(tokens.len() + 1));
    let mut attempts = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let pair = sale.pairs[rand::rng().random_range(0..sale.pairs.len())].clone();
        let (app, limit, start_line) = (app.clone(), limit.clone(), start_line.clone());
        let body =
            json!({ "query": HOLD, "variables": { "s": sale.session, "seats": pair, "k": format!("{run}-{i}") } });
        let token = token.clone();
        attempts.push(tokio::spawn(async move {
            start_line.wait().await;
            let _permit = limit.acquire().await;
            let started = Instant::now();
            let sent = app
                .client
                .post(app.url("/graphql"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await;
            let answer = match sent {
                Ok(response) => response.json::<serde_json::Value>().await,
                Err(error) => Err(error),
            };
            let code = match answer {
                Ok(answer) => answer["errors"][0]["extensions"]["code"].as_str().map(String::from),
                Err(error) if error.is_timeout() => Some("no answer in 30 s".into()),
                Err(error) if error.is_connect() => Some("connection refused".into()),
                Err(_) => Some("connection dropped".into()),
            };
            (started.elapsed(), code)
        }));
    }
    start_line.wait().await;
    let began = Instant::now();
    let mut rush = Rush {
        latencies: Vec::with_capacity(tokens.len()),
        held: 0,
        unavailable: 0,
        other: Vec::new(),
        elapsed: Duration::ZERO,
    };
    for attempt in attempts {
        let (latency, code) = attempt.await?;
        rush.latencies.push(latency);
        match code.as_deref() {
            None => rush.held += 1,
            Some("SEAT_UNAVAILABLE") => rush.unavailable += 1,
            Some(code) => rush.other.push(code.to_string()),
        }
    }
    rush.elapsed = began.elapsed();
    rush.latencies.sort_unstable();
    Ok(rush)
}

pub struct Checks {
    pub doubly_held: i64,
    pub stranded: i64,
    pub counter_ok: bool,
}

/// Seats in more than one live reservation, seats held or sold without a live reservation
/// (or the other way round), and the counter against a count of the seats.
pub async fn check_inventory(db: &sea_orm::DatabaseConnection) -> anyhow::Result<Checks> {
    let one = |sql: &str| Statement::from_string(db.get_database_backend(), sql.to_string());
    let value = |row: Option<sea_orm::QueryResult>| -> anyhow::Result<i64> {
        Ok(row.context("a row")?.try_get_by_index::<i64>(0)?)
    };
    let doubly_held = value(
        db.query_one_raw(one(
            "SELECT COUNT(*) FROM (SELECT seat_id FROM reservation_seats WHERE active GROUP BY session_id, seat_id HAVING COUNT(*) > 1) d",
        ))
        .await?,
    )?;
    let stranded = value(
        db.query_one_raw(one(
            "SELECT COUNT(*) FROM session_seats ss WHERE ss.status = 'HELD' AND NOT EXISTS (
                 SELECT 1 FROM reservation_seats rs JOIN reservations r ON r.id = rs.reservation_id
                 WHERE rs.active AND rs.seat_id = ss.seat_id AND rs.session_id = ss.session_id
                   AND r.id = ss.reservation_id AND r.status = 'HELD')",
        ))
        .await?,
    )? + value(
        db.query_one_raw(one(
            "SELECT COUNT(*) FROM reservation_seats rs JOIN session_seats ss
                 ON ss.session_id = rs.session_id AND ss.seat_id = rs.seat_id
             WHERE rs.active AND (ss.reservation_id IS DISTINCT FROM rs.reservation_id OR ss.status = 'AVAILABLE')",
        ))
        .await?,
    )?;
    let wrong_counters = value(
        db.query_one_raw(one(
            "SELECT COUNT(*) FROM sessions s WHERE s.available_seats <> (
                 SELECT COUNT(*) FROM session_seats ss WHERE ss.session_id = s.id AND ss.status = 'AVAILABLE')",
        ))
        .await?,
    )?;
    Ok(Checks {
        doubly_held,
        stranded,
        counter_ok: wrong_counters == 0,
    })
}
