//! P6 (`coupons`): the coupon rush, then the copies issued and the buyers holding two
//! counted in the database; prints the table and returns figures.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use curtain_tests::Backend;
use curtain_tests::bench::{percentile_ms, sign_up_buyers};
use curtain_tests::fixtures::create_coupon;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;
use tokio::sync::Semaphore;

use crate::servers::bench_server;

const CLAIM: &str = "mutation($c: ID!) { claimCoupon(couponId: $c) { id } }";

pub(super) async fn coupon_rush(buyers: usize, copies: i32, concurrency: usize) -> anyhow::Result<serde_json::Value> {
    let app = Arc::new(bench_server(Backend::Postgres).await?);
    let coupon = create_coupon(&app, copies, json!({ "discountAmount": 5000 })).await;
    let tokens = sign_up_buyers(&app, buyers, "rush").await?;

    eprintln!("{buyers} buyers claim one of {copies} coupons, {concurrency} at a time…");
    let limit = Arc::new(Semaphore::new(concurrency));
    let start_line = Arc::new(tokio::sync::Barrier::new(buyers + 1));
    let mut attempts = Vec::new();
    for token in tokens {
        let (app, limit, start_line, coupon) = (app.clone(), limit.clone(), start_line.clone(), coupon.clone());
        attempts.push(tokio::spawn(async move {
            start_line.wait().await;
            let _permit = limit.acquire().await;
            let started = Instant::now();
            let response = app.post(CLAIM, json!({ "c": coupon }), Some(&token)).await;
            let code = response["errors"][0]["extensions"]["code"].as_str().map(String::from);
            (started.elapsed(), code)
        }));
    }
    start_line.wait().await;
    let began = Instant::now();
    let mut latencies = Vec::new();
    let (mut won, mut sold_out, mut other) = (0usize, 0usize, Vec::new());
    for attempt in attempts {
        let (latency, code) = attempt.await?;
        latencies.push(latency);
        match code.as_deref() {
            None => won += 1,
            Some("COUPON_SOLD_OUT") => sold_out += 1,
            Some(code) => other.push(code.to_string()),
        }
    }
    let elapsed = began.elapsed();
    latencies.sort_unstable();

    let count = |sql: &'static str| {
        let app = app.clone();
        async move {
            let row = app
                .db
                .query_one_raw(Statement::from_string(app.db.get_database_backend(), sql.to_string()))
                .await?
                .context("a row")?;
            anyhow::Ok(row.try_get_by_index::<i64>(0)?)
        }
    };
    let issued = count("SELECT CAST(SUM(issued) AS BIGINT) FROM coupons").await?;
    let copies_held = count("SELECT COUNT(*) FROM user_coupons").await?;
    let users_with_two = count(
        "SELECT COUNT(*) FROM (SELECT user_id FROM user_coupons GROUP BY coupon_id, user_id HAVING COUNT(*) > 1) d",
    )
    .await?;

    let per_second = buyers as f64 / elapsed.as_secs_f64();
    println!("\nP6 coupon rush: {buyers} buyers claim one of {copies} coupons, PostgreSQL, {concurrency} in flight");
    println!("| measure | curtain (HTTP GraphQL) |");
    println!("|---|---|");
    println!("| coupons issued (counter / copies) | {issued} / {copies_held} |");
    println!("| users with two | {users_with_two} |");
    println!(
        "| claims won / COUPON_SOLD_OUT / other errors | {won} / {sold_out} / {} |",
        other.len()
    );
    println!("| claims answered per second | {per_second:.0} |");
    println!(
        "| latency p50 / p99 | {:.1} / {:.1} ms |",
        percentile_ms(&latencies, 0.50),
        percentile_ms(&latencies, 0.99)
    );
    if !other.is_empty() {
        println!("other error codes: {:?}", &other[..other.len().min(10)]);
    }
    let figures = json!({
        "bench": "P6", "buyers": buyers, "coupons": copies, "concurrency": concurrency,
        "issued": issued, "copies": copies_held, "users_with_two": users_with_two,
        "won": won, "sold_out": sold_out, "other_errors": other.len(),
        "claims_per_second": per_second,
        "p50_ms": percentile_ms(&latencies, 0.50),
        "p99_ms": percentile_ms(&latencies, 0.99),
    });
    match Arc::try_unwrap(app) {
        Ok(app) => app.stop().await,
        Err(_) => eprintln!("the server is still referenced; its database is left behind"),
    }
    Ok(figures)
}
