//! P2 (`curtain-bench reads`): the nested catalog read on a demo catalog extended to 100
//! more performances, Curtain beside PostGraphile; prints the table and returns the figures.

use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::{Value, json};

use super::counting::{idle_transactions, per_request};
use super::load::{Load, paced, saturate};
use super::postgraphile::{same_catalog, start_postgraphile};
use super::process::{Server, curtain_binary, pin_load_generator, start_curtain, wait_for, wait_ready};
use super::{LOAD_CORE, P2_CURTAIN, P2_POSTGRAPHILE, SERVER_CORE, json_post, row, scratch_database, verdict};

/// The pause before each measured run (see where it is used).
const SETTLE: Duration = Duration::from_secs(2);
/// What the table counts as a slow paced request.
const SLOW: Duration = Duration::from_millis(10);

/// Adds `count` performances after the demo's (by first day), each with three cast entries
/// and eight sessions, so that pages of 50 and 100 have as much below them as page 20.
async fn extend_catalog(db: &DatabaseConnection, count: i64) -> anyhow::Result<()> {
    let statements = [
        format!(
            "INSERT INTO performances (title, english_title, description, genre, minimum_age, running_minutes,
                 start_date, end_date, venue_id, created_at, updated_at)
             SELECT '벤치 공연 ' || i, 'Bench ' || i, '', 'MUSICAL', 0, 120,
                    CURRENT_DATE + 1000 + i::int, CURRENT_DATE + 1060 + i::int,
                    (SELECT MIN(id) FROM venues) + i % (SELECT COUNT(*) FROM venues), now(), now()
             FROM generate_series(1::bigint, {count}) i"
        ),
        "INSERT INTO performance_cast (performance_id, cast_member_id, role, billing_order)
         SELECT p.id, (SELECT MIN(id) FROM cast_members) + (p.id * 7 + k * 13) % (SELECT COUNT(*) FROM cast_members), '배역 ' || k, k
         FROM performances p CROSS JOIN generate_series(0, 2) k WHERE p.english_title LIKE 'Bench %'"
            .to_string(),
        "INSERT INTO sessions (performance_id, starts_at, sales_open_at, sales_close_at, status, total_seats,
             available_seats, created_at, updated_at)
         SELECT p.id, p.start_date + make_interval(days => k, hours => 19), now(), p.start_date + make_interval(days => k),
                'SCHEDULED', 500, 500 - k, now(), now()
         FROM performances p CROSS JOIN generate_series(0, 7) k WHERE p.english_title LIKE 'Bench %'"
            .to_string(),
    ];
    for sql in statements {
        db.execute_unprepared(&sql).await.context("extending the catalog")?;
    }
    Ok(())
}

/// P2: Curtain beside PostGraphile v5 on one database; prints the table and returns figures.
pub async fn reads(
    connections: &[usize],
    seconds: u64,
    paced_seconds: u64,
    postgraphile: bool,
) -> anyhow::Result<Value> {
    let admin_url = std::env::var("CURTAIN_TEST_DATABASE_URL")
        .context("set CURTAIN_TEST_DATABASE_URL to a PostgreSQL server (the bench makes its own database there)")?;
    pin_load_generator()?;
    let name = "curtain_bench_reads";
    let url = scratch_database(&admin_url, name).await?;
    let work = tempfile::tempdir()?;
    let seed = Command::new(curtain_binary()?)
        .args(["--database-url", &url, "--data-dir"])
        .arg(work.path().join("seed"))
        .arg("seed-demo")
        .env("CURTAIN_LOG_FILTER", "warn")
        .status()?;
    if !seed.success() {
        bail!("curtain seed-demo failed on {url}");
    }
    let db = Database::connect(&url).await?;
    extend_catalog(&db, 100).await?;
    let duration = Duration::from_secs(seconds);
    let paced_duration = Duration::from_secs(paced_seconds);

    let curtain = start_curtain(
        &url,
        &work.path().join("curtain"),
        &[("CURTAIN_DEMO_SEED_WHEN_EMPTY", "false")],
    )?;
    wait_ready(&curtain, "/readyz", Duration::from_secs(30)).await?;
    let graphql = format!("{}/graphql", curtain.url);
    let ours = json_post(&graphql, &json!({ "query": P2_CURTAIN, "variables": { "first": 20 } })).await?;

    let theirs_server = if postgraphile {
        let server = start_postgraphile(&url, work.path())?;
        wait_for(&server, "/graphql", Duration::from_secs(60), false)
            .await
            .context("PostGraphile did not start (see its log in the bench's temporary directory)")?;
        let theirs = json_post(
            &format!("{}/graphql", server.url),
            &json!({ "query": P2_POSTGRAPHILE, "variables": { "first": 20 } }),
        )
        .await?;
        let compared = same_catalog(&ours, &theirs)?;
        println!("answers checked: both servers give the same {compared} performances, venues, cast and sessions");
        Some(server)
    } else {
        None
    };
    let body = |query: &str, first: i64| json!({ "query": query, "variables": { "first": first } });

    let mut figures = serde_json::Map::new();
    let mut ours_rates = Vec::new();
    let mut theirs_rates = Vec::new();
    let cpu_before = curtain.cpu_seconds()?;
    let mut ours_requests = 0;
    // While one server is measured the other is paused (see `Server::pause`); PostgreSQL
    // still shares the core. Each run starts after `SETTLE`, so that what a server put off
    // while it was paused (timers that came due: V8's collections) is not counted in its run.
    let pause_theirs = || theirs_server.as_ref().map(Server::pause).transpose();
    for &c in connections {
        let quiet = pause_theirs()?;
        tokio::time::sleep(SETTLE).await;
        let load = saturate(&graphql, body(P2_CURTAIN, 20), c, duration).await?;
        drop(quiet);
        ours_requests += load.requests;
        ours_rates.push((c, load.rate(), load.errors));
        if let Some(server) = &theirs_server {
            let _quiet = curtain.pause()?;
            tokio::time::sleep(SETTLE).await;
            let theirs = saturate(
                &format!("{}/graphql", server.url),
                body(P2_POSTGRAPHILE, 20),
                c,
                duration,
            )
            .await?;
            theirs_rates.push((c, theirs.rate(), theirs.errors));
        }
    }
    let cpu_per_request_us = (curtain.cpu_seconds()? - cpu_before) * 1e6 / ours_requests as f64;
    let half = ours_rates.first().map(|r| r.1 / 2.0).unwrap_or(100.0);
    let quiet = pause_theirs()?;
    tokio::time::sleep(SETTLE).await;
    let ours_paced = paced(&graphql, body(P2_CURTAIN, 20), half, paced_duration).await?;
    drop(quiet);
    let theirs_half = theirs_rates.first().map(|r| r.1 / 2.0).unwrap_or(100.0);
    let theirs_paced = match &theirs_server {
        Some(server) => {
            let _quiet = curtain.pause()?;
            tokio::time::sleep(SETTLE).await;
            Some(
                paced(
                    &format!("{}/graphql", server.url),
                    body(P2_POSTGRAPHILE, 20),
                    theirs_half,
                    paced_duration,
                )
                .await?,
            )
        }
        None => None,
    };
    eprintln!("counting statements and transactions per request (PostgreSQL's statistics take seconds to settle)…");
    let idle_rate = idle_transactions(&db, name).await?;
    let mut ours_counts = Vec::new();
    let mut theirs_counts = Vec::new();
    for first in [5, 20, 50, 100] {
        let counts = per_request(
            &curtain,
            &db,
            name,
            idle_rate,
            &body(P2_CURTAIN, first),
            200,
            Some(("curtain_db_statements_total", "origin=\"request\"")),
        )
        .await?;
        ours_counts.push((first, counts.0.unwrap_or(0.0), counts.1));
        if let Some(server) = &theirs_server {
            let counts = per_request(server, &db, name, idle_rate, &body(P2_POSTGRAPHILE, first), 200, None).await?;
            theirs_counts.push((first, counts.1));
        }
    }

    println!();
    println!(
        "P2: performances(first: 20) {{ venue cast sessions }} on PostgreSQL; each server on core {SERVER_CORE}, the load on core {LOAD_CORE}; {seconds} s a saturation run, {paced_seconds} s paced; the server not measured paused"
    );
    row(
        "",
        &[
            "Curtain".into(),
            "PostGraphile v5".into(),
            "ratio".into(),
            "goal".into(),
        ],
    );
    for (i, (c, rate, errors)) in ours_rates.iter().enumerate() {
        let theirs = theirs_rates.get(i);
        let ratio = theirs.map(|t| rate / t.1);
        let goal = if *c == 16 || *c == 128 { "≥ 2×" } else { "" };
        row(
            &format!("requests/s, {c} connections (errors)"),
            &[
                format!("{rate:.0} ({errors})"),
                theirs.map(|t| format!("{:.0} ({})", t.1, t.2)).unwrap_or("-".into()),
                ratio.map(|r| format!("{r:.2}×")).unwrap_or("-".into()),
                match ratio {
                    Some(r) if !goal.is_empty() => format!("{goal} {}", verdict(r >= 2.0)),
                    _ => goal.into(),
                },
            ],
        );
        figures.insert(
            format!("requests_per_second_{c}"),
            json!({ "curtain": rate, "postgraphile": theirs.map(|t| t.1), "ratio": ratio, "errors": errors }),
        );
    }
    let paced_cell = |load: &Load, rate: f64| format!("{:.1} / {:.1} ({rate:.0}/s)", load.p(0.5), load.p(0.99));
    row(
        "p50 / p99 at half the 16-connection rate, ms",
        &[
            paced_cell(&ours_paced, half),
            theirs_paced
                .as_ref()
                .map(|t| paced_cell(t, theirs_half))
                .unwrap_or("-".into()),
            String::new(),
            format!("p99 ≤ 10 ms {}", verdict(ours_paced.p(0.99) <= 10.0)),
        ],
    );
    // The p99 of a minute can hide a stall of a few hundred requests; these show it.
    let tail_cell = |load: &Load| format!("{} / {:.1}", load.over(SLOW), load.p(1.0));
    row(
        "paced requests over 10 ms / slowest, ms",
        &[
            tail_cell(&ours_paced),
            theirs_paced.as_ref().map(tail_cell).unwrap_or("-".into()),
            String::new(),
            String::new(),
        ],
    );
    figures.insert(
        "half_rate".into(),
        json!({ "rate": half, "seconds": paced_seconds, "p50_ms": ours_paced.p(0.5), "p99_ms": ours_paced.p(0.99),
                "over_10_ms": ours_paced.over(SLOW), "max_ms": ours_paced.p(1.0), "errors": ours_paced.errors,
                "postgraphile_rate": theirs_paced.as_ref().map(|_| theirs_half),
                "postgraphile_p50_ms": theirs_paced.as_ref().map(|t| t.p(0.5)), "postgraphile_p99_ms": theirs_paced.as_ref().map(|t| t.p(0.99)),
                "postgraphile_over_10_ms": theirs_paced.as_ref().map(|t| t.over(SLOW)), "postgraphile_max_ms": theirs_paced.as_ref().map(|t| t.p(1.0)) }),
    );
    let constant = ours_counts.first().map(|f| f.1) == ours_counts.last().map(|l| l.1);
    row(
        "statements per request, page 5/20/50/100",
        &[
            ours_counts
                .iter()
                .map(|c| format!("{:.0}", c.1))
                .collect::<Vec<_>>()
                .join("/"),
            "not counted".into(),
            String::new(),
            format!("same at 5 and 100 {}", verdict(constant)),
        ],
    );
    row(
        "transactions per request, page 5/20/50/100",
        &[
            ours_counts
                .iter()
                .map(|c| format!("{:.1}", c.2))
                .collect::<Vec<_>>()
                .join("/"),
            theirs_counts
                .iter()
                .map(|c| format!("{:.1}", c.1))
                .collect::<Vec<_>>()
                .join("/"),
            String::new(),
            "1".into(),
        ],
    );
    row(
        "server CPU per request (16–128 connections)",
        &[
            format!("{cpu_per_request_us:.0} µs"),
            String::new(),
            String::new(),
            String::new(),
        ],
    );
    figures.insert(
        "per_request".into(),
        json!(ours_counts.iter().map(|(first, statements, transactions)| json!({ "first": first, "statements": statements, "transactions": transactions })).collect::<Vec<_>>()),
    );
    figures.insert(
        "postgraphile_per_request".into(),
        json!(
            theirs_counts
                .iter()
                .map(|(first, transactions)| json!({ "first": first, "transactions": transactions }))
                .collect::<Vec<_>>()
        ),
    );
    figures.insert("cpu_per_request_us".into(), json!(cpu_per_request_us));
    drop(theirs_server);
    curtain.stop();
    db.close().await?;
    let admin = Database::connect(&admin_url).await?;
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await?;
    Ok(Value::Object(figures))
}
