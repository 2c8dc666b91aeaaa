//! P5 (`curtain-bench list`): the public performance list page under a steady, paced load,
//! on each backend.

use std::time::Duration;

use serde_json::{Value, json};

use super::load::paced;
use super::process::{pin_load_generator, start_curtain, wait_ready};
use super::{LIST_PAGE, SERVER_CORE, backends, errors_note, json_post, row, verdict};

/// P5: 10,000 requests of the public list page in 30 s (paced), on each backend.
pub async fn list(requests: u64, seconds: u64) -> anyhow::Result<Value> {
    pin_load_generator()?;
    let work = tempfile::tempdir()?;
    let mut figures = serde_json::Map::new();
    println!("P5: {requests} requests of the public performance list in {seconds} s; server on core {SERVER_CORE}");
    row(
        "",
        &["average ms".into(), "p99 ms".into(), "errors".into(), "goal".into()],
    );
    for (backend, url) in backends(work.path(), "curtain_bench_list").await? {
        let data = work.path().join(backend);
        let server = start_curtain(&url, &data, &[])?;
        wait_ready(&server, "/readyz", Duration::from_secs(60)).await?;
        let graphql = format!("{}/graphql", server.url);
        json_post(&graphql, &json!({ "query": LIST_PAGE })).await?;
        let rate = requests as f64 / seconds as f64;
        let load = paced(
            &graphql,
            json!({ "query": LIST_PAGE }),
            rate,
            Duration::from_secs(seconds),
        )
        .await?;
        let met = load.average_ms() <= 2.0 && load.errors == 0;
        row(
            backend,
            &[
                format!("{:.2}", load.average_ms()),
                format!("{:.2}", load.p(0.99)),
                errors_note(&load),
                format!("avg ≤ 2 ms, 0 errors {}", verdict(met)),
            ],
        );
        figures.insert(
            backend.to_lowercase(),
            json!({ "requests": load.requests, "average_ms": load.average_ms(), "p50_ms": load.p(0.5), "p99_ms": load.p(0.99), "errors": load.errors }),
        );
        server.stop();
    }
    Ok(Value::Object(figures))
}
