//! P1 (`holds`): the on-sale rush, with group commit and (with `--unbatched`) one hold per
//! transaction, checked and set beside its baseline; prints the table and returns figures.

use std::sync::Arc;

use curtain_tests::Backend;
use curtain_tests::bench::{hold_rush, on_sale_performance, on_sale_session, percentile_ms, sign_up_buyers};
use serde_json::json;

use crate::baselines::{pgbench_baseline, sqlite_baseline};
use crate::cli::Rush;
use crate::servers::bench_server_with;

/// What one rush measured.
struct RushFigures {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    held: usize,
    unavailable: usize,
    other: Vec<String>,
    checks: curtain_tests::bench::Checks,
    /// Hold requests per transaction, on average (the combiner's own count).
    mean_batch: Option<f64>,
    /// Transactions the combiner ran, and their mean duration in ms.
    batches: Option<(f64, f64)>,
    baseline: anyhow::Result<f64>,
}

impl RushFigures {
    fn json(&self) -> serde_json::Value {
        json!({
            "attempts_per_second": self.per_second,
            "p50_ms": self.p50_ms, "p99_ms": self.p99_ms,
            "held": self.held, "unavailable": self.unavailable, "other_errors": self.other.len(),
            "sold_twice": self.checks.doubly_held, "stranded": self.checks.stranded,
            "counter_ok": self.checks.counter_ok, "mean_batch": self.mean_batch,
            "transactions": self.batches.map(|b| b.0), "transaction_ms": self.batches.map(|b| b.1),
        })
    }
}

pub(super) async fn holds(rush: &Rush, sqlite: bool, unbatched: bool) -> anyhow::Result<serde_json::Value> {
    let backend = if sqlite { Backend::Sqlite } else { Backend::Postgres };
    let grouped = rush_once(backend, rush, None).await?;
    let single = if unbatched {
        Some(rush_once(backend, rush, Some(1)).await?)
    } else {
        None
    };
    let Rush {
        buyers,
        seats,
        concurrency,
    } = *rush;
    let (name, baseline_name) = if sqlite {
        ("SQLite", "one transaction per hold, in process")
    } else {
        ("PostgreSQL", "pgbench, one transaction per hold")
    };
    let p99_goal = if concurrency >= 1_024 { 250.0 } else { 100.0 };
    println!(
        "\nP1 on-sale contention: {buyers} buyers × 2 seats, {seats}-seat session, {name}, {concurrency} in flight"
    );
    println!(
        "| measure | curtain, group commit | curtain, one hold per transaction | baseline ({baseline_name}) | goal |"
    );
    println!("|---|---|---|---|---|");
    let other = |f: &Option<RushFigures>, show: &dyn Fn(&RushFigures) -> String| {
        f.as_ref().map_or("(--unbatched)".to_string(), show)
    };
    match &grouped.baseline {
        Ok(tps) => println!(
            "| attempts answered per second | {:.0} (**{:.2}×** baseline) | {} | {tps:.0} | ≥ 3× ({:.0}) |",
            grouped.per_second,
            grouped.per_second / tps,
            other(&single, &|f| format!(
                "{:.0} ({:.2}×)",
                f.per_second,
                f.per_second / tps
            )),
            3.0 * tps
        ),
        Err(err) => println!(
            "| attempts answered per second | {:.0} | {} | baseline failed: {err} | ≥ 3× baseline |",
            grouped.per_second,
            other(&single, &|f| format!("{:.0}", f.per_second)),
        ),
    }
    println!(
        "| latency p50 / p99 | {:.1} / **{:.1}** ms | {} | | p99 ≤ {p99_goal:.0} ms |",
        grouped.p50_ms,
        grouped.p99_ms,
        other(&single, &|f| format!("{:.1} / {:.1} ms", f.p50_ms, f.p99_ms)),
    );
    let batch = |f: &RushFigures| match (f.mean_batch, f.batches) {
        (Some(mean), Some((count, ms))) => format!("{mean:.1} ({count:.0} transactions, {ms:.1} ms each)"),
        _ => "?".into(),
    };
    println!(
        "| hold requests per transaction (mean) | {} | {} | 1 | |",
        batch(&grouped),
        other(&single, &|f| batch(f))
    );
    let answers = |f: &RushFigures| format!("{} / {} / {}", f.held, f.unavailable, f.other.len());
    println!(
        "| holds granted / refused (SEAT_UNAVAILABLE) / other errors | {} | {} | | |",
        answers(&grouped),
        other(&single, &|f| answers(f))
    );
    let checks = |f: &RushFigures| {
        format!(
            "{} / {} / {}",
            f.checks.doubly_held,
            f.checks.stranded,
            if f.checks.counter_ok { "yes" } else { "NO" }
        )
    };
    println!(
        "| seats sold twice / stranded / counter exact | {} | {} | | 0 / 0 / yes |",
        checks(&grouped),
        other(&single, &|f| checks(f))
    );
    for figures in std::iter::once(&grouped).chain(&single) {
        if !figures.other.is_empty() {
            println!("other error codes: {:?}", &figures.other[..figures.other.len().min(10)]);
        }
    }
    let mut figures = json!({
        "bench": "P1", "backend": name, "buyers": buyers, "seats": seats, "concurrency": concurrency,
        "pgbench_tps": if sqlite { None } else { grouped.baseline.as_ref().ok() },
        "baseline_tps": grouped.baseline.as_ref().ok(),
        "ratio": grouped.baseline.as_ref().ok().map(|tps| grouped.per_second / tps),
        "p99_goal_ms": p99_goal,
    });
    let object = figures.as_object_mut().expect("an object");
    object.extend(grouped.json().as_object().expect("an object").clone());
    if let Some(single) = &single {
        object.insert("unbatched".into(), single.json());
    }
    Ok(figures)
}

/// One rush on a fresh server (`batch_max` overrides `booking.hold_batch_max`), checked,
/// then the baseline on a twin session of the same database.
async fn rush_once(backend: Backend, rush: &Rush, batch_max: Option<usize>) -> anyhow::Result<RushFigures> {
    let app = bench_server_with(backend, batch_max, true).await?;
    let performance = on_sale_performance(&app, rush.seats).await;
    let sale = on_sale_session(&app, &performance, 2).await?;
    // A twin session for the baseline, so that both start from the same empty hall.
    on_sale_session(&app, &performance, 3).await?;
    let app = Arc::new(app);
    let tokens = sign_up_buyers(&app, rush.buyers, "bench").await?;

    let how = if batch_max == Some(1) {
        "one per transaction"
    } else {
        "group commit"
    };
    eprintln!(
        "{} buyers hold 2 seats each, {} at a time ({how})…",
        rush.buyers, rush.concurrency
    );
    let result = hold_rush(&app, &sale, &tokens, rush.concurrency, "bench").await?;
    let checks = curtain_tests::bench::check_inventory(&app.db).await?;
    let (mean_batch, batches) = match app.metrics_address {
        Some(_) => {
            let sum = app.metric("curtain_hold_batch_size_sum", "").await;
            let count = app.metric("curtain_hold_batch_size_count", "").await;
            let seconds = app.metric("curtain_hold_batch_duration_seconds_sum", "").await;
            (
                (count > 0.0).then(|| sum / count),
                (count > 0.0).then(|| (count, 1000.0 * seconds / count)),
            )
        }
        None => (None, None),
    };
    eprintln!("baseline…");
    let baseline = match backend {
        Backend::Postgres => pgbench_baseline(&app.db, &app.database_url, rush.seats, rush.buyers).await,
        Backend::Sqlite => sqlite_baseline(&app.db, rush.seats, rush.buyers).await,
    };
    let figures = RushFigures {
        per_second: rush.buyers as f64 / result.elapsed.as_secs_f64(),
        p50_ms: percentile_ms(&result.latencies, 0.50),
        p99_ms: percentile_ms(&result.latencies, 0.99),
        held: result.held,
        unavailable: result.unavailable,
        other: result.other,
        checks,
        mean_batch,
        batches,
        baseline,
    };
    match Arc::try_unwrap(app) {
        Ok(app) => app.stop().await,
        Err(_) => eprintln!("the server is still referenced; its database is left behind"),
    }
    Ok(figures)
}
