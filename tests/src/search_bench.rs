//! P3 of shared/BENCHMARKS.md, run by `curtain-bench search`: keyword search over a generated
//! catalog of 100,000 performances, 20,000 cast members and 2,000 venues on PostgreSQL.
//!
//! The same queries (fragments of real titles and names, Korean and Latin) run three ways:
//! the GraphQL `search` over loopback HTTP (first with an empty cache, then again from the
//! cache), `ILIKE '%q%'` on PostgreSQL over the same text columns, and the tantivy index
//! alone. Requests are sequential, so the figures are latencies, not throughput.

use std::time::{Duration, Instant};

use anyhow::Context;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::bench::percentile_ms;
use crate::{Backend, TestApp};

const SEARCH: &str = "query($q: String!) { search(query: $q, first: 20) { totalCount
  edges { score node { __typename ... on Performance { id title } ... on CastMember { id name } ... on Venue { id name } } } } }";

/// Generates the catalog with SQL (`generate_series`): names are pseudo-random Hangul
/// syllables plus Latin words, so that fragments are spread the way real names are.
async fn generate(db: &sea_orm::DatabaseConnection, performances: i64, cast: i64, venues: i64) -> anyhow::Result<()> {
    let hangul = |seed: &str, n: usize| -> String {
        (0..n)
            .map(|k| {
                format!(
                    "chr((44032 + (({seed}) * {} + {}) % 2350 * 4)::int)",
                    7919 + 104_729 * k,
                    31 * k
                )
            })
            .collect::<Vec<_>>()
            .join(" || ")
    };
    let words = "(ARRAY['phantom','opera','misérables','chicago','hamlet','carmen','swan','lake','night','dream','symphony','gala','concert','winter','summer','garden','moon','star','river','city'])";
    let statements = [
        format!(
            "INSERT INTO venues (name, address, region, seat_count, created_at, updated_at)
             SELECT {} || ' ' || {words}[1 + i % 20] || ' 홀 ' || i, '서울특별시 중구 ' || i,
                    (ARRAY['서울','부산','대구','인천','광주','대전'])[1 + i % 6], 500, now(), now()
             FROM generate_series(1::bigint, {venues}) i",
            hangul("i", 3)
        ),
        format!(
            "INSERT INTO cast_members (name, english_name, created_at, updated_at)
             SELECT {}, initcap({words}[1 + i % 20]) || ' ' || i, now(), now()
             FROM generate_series(1::bigint, {cast}) i",
            hangul("i + 7", 3)
        ),
        format!(
            "INSERT INTO performances (title, english_title, description, genre, minimum_age, running_minutes,
                 start_date, end_date, venue_id, created_at, updated_at)
             SELECT {} || ' ' || {}, initcap({words}[1 + i % 20] || ' ' || {words}[1 + (i / 20) % 20]) || ' ' || i, '',
                    (ARRAY['MUSICAL','CONCERT','THEATRE','OPERA','CLASSICAL','DANCE'])[1 + i % 6], 0, 120,
                    CURRENT_DATE - (i % 400)::int + 200, CURRENT_DATE - (i % 400)::int + 260,
                    (SELECT MIN(id) FROM venues) + i % {venues}, now(), now()
             FROM generate_series(1::bigint, {performances}) i",
            hangul("i + 13", 3),
            hangul("i + 17", 2)
        ),
        format!(
            "INSERT INTO performance_cast (performance_id, cast_member_id, role, billing_order)
             SELECT p.id, (SELECT MIN(id) FROM cast_members) + (p.id * 7 + k * 3163) % {cast}, '배역 ' || k, k
             FROM performances p CROSS JOIN generate_series(0, 2) k"
        ),
    ];
    for sql in statements {
        db.execute_raw(Statement::from_string(db.get_database_backend(), sql))
            .await
            .context("generating the catalog")?;
    }
    Ok(())
}

/// Query texts: two- and three-syllable fragments of titles and cast names, and Latin words
/// (one with a typo), in a fixed pseudo-random order.
async fn queries(db: &sea_orm::DatabaseConnection, count: usize) -> anyhow::Result<Vec<String>> {
    let sql = format!(
        "SELECT substr(title, 2, 2) FROM performances WHERE id % 997 = 0
         UNION ALL SELECT substr(name, 1, 3) FROM cast_members WHERE id % 211 = 0
         UNION ALL SELECT substr(title, 1, 3) FROM performances WHERE id % 1009 = 0
         LIMIT {count}"
    );
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await?;
    let mut texts: Vec<String> = rows
        .iter()
        .filter_map(|row| row.try_get_by_index::<String>(0).ok())
        .collect();
    texts.extend(["phantom", "phantm", "misérables", "swan lake", "garden moon"].map(String::from));
    Ok(texts)
}

async fn time_each<F, Fut>(queries: &[String], mut run: F) -> anyhow::Result<Vec<Duration>>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let mut latencies = Vec::with_capacity(queries.len());
    for query in queries {
        let started = Instant::now();
        run(query.clone()).await?;
        latencies.push(started.elapsed());
    }
    latencies.sort_unstable();
    Ok(latencies)
}

/// Runs P3 and prints a table; returns the figures.
pub async fn run(performances: i64, cast: i64, venues: i64, count: usize) -> anyhow::Result<Value> {
    let app = TestApp::spawn(Backend::Postgres)
        .await
        .context("set CURTAIN_TEST_DATABASE_URL to a PostgreSQL server")?;
    eprintln!("generating {performances} performances, {cast} cast members, {venues} venues…");
    let started = Instant::now();
    generate(&app.db, performances, cast, venues).await?;
    let generated = started.elapsed();
    let started = Instant::now();
    let indexed = app.state.search.rebuild(&curtain::jobs::NoProgress).await?;
    let indexing = started.elapsed();
    let texts = queries(&app.db, count).await?;
    eprintln!(
        "{} queries, each through GraphQL (twice), ILIKE and tantivy…",
        texts.len()
    );

    let graphql = |query: String| {
        let app = &app;
        async move {
            let response = app.gql(SEARCH, json!({ "q": query })).await;
            anyhow::ensure!(response.get("errors").is_none(), "search failed: {response}");
            Ok(())
        }
    };
    let cold = time_each(&texts, graphql).await?;
    let warm = time_each(&texts, graphql).await?;
    let db = &app.db;
    let ilike = time_each(&texts, |query| async move {
        let pattern = format!(
            "%{}%",
            query.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
        );
        let sql = "SELECT 'p', id FROM performances WHERE title ILIKE $1 OR english_title ILIKE $1
                   UNION ALL SELECT 'c', id FROM cast_members WHERE name ILIKE $1 OR english_name ILIKE $1
                   UNION ALL SELECT 'v', id FROM venues WHERE name ILIKE $1
                   LIMIT 20";
        db.query_all_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            sql,
            [pattern.into()],
        ))
        .await?;
        Ok(())
    })
    .await?;
    let index = app.state.search.current_index();
    let today = chrono::Utc::now().date_naive();
    let tantivy = time_each(&texts, |query| {
        let index = index.clone();
        async move {
            let mut request = search_index::SearchRequest::new(query, today);
            request.limit = 20;
            index.search(&request).map_err(|e| anyhow::anyhow!("{e}"))?;
            Ok(())
        }
    })
    .await?;

    println!("\nP3 search: {performances} performances, {cast} cast members, {venues} venues on PostgreSQL");
    println!(
        "generated in {:.1} s; indexed {indexed} documents in {:.1} s",
        generated.as_secs_f64(),
        indexing.as_secs_f64()
    );
    println!("| {} queries, sequential | p50 ms | p99 ms |", texts.len());
    println!("|---|---|---|");
    let rows = [
        ("GraphQL search over HTTP, cache miss", &cold),
        ("GraphQL search over HTTP, cache hit", &warm),
        ("ILIKE '%q%' on PostgreSQL (titles and names, LIMIT 20)", &ilike),
        ("tantivy index alone", &tantivy),
    ];
    for (name, latencies) in rows {
        println!(
            "| {name} | {:.2} | {:.2} |",
            percentile_ms(latencies, 0.5),
            percentile_ms(latencies, 0.99)
        );
    }
    let figures = json!({
        "bench": "P3", "performances": performances, "cast": cast, "venues": venues, "queries": texts.len(),
        "indexing_seconds": indexing.as_secs_f64(),
        "graphql_miss_p50_ms": percentile_ms(&cold, 0.5), "graphql_miss_p99_ms": percentile_ms(&cold, 0.99),
        "graphql_hit_p50_ms": percentile_ms(&warm, 0.5), "graphql_hit_p99_ms": percentile_ms(&warm, 0.99),
        "ilike_p50_ms": percentile_ms(&ilike, 0.5), "ilike_p99_ms": percentile_ms(&ilike, 0.99),
        "tantivy_p50_ms": percentile_ms(&tantivy, 0.5), "tantivy_p99_ms": percentile_ms(&tantivy, 0.99),
    });
    app.stop().await;
    Ok(figures)
}
