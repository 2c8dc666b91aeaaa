//! P7 (`curtain-bench footprint`): the `curtain` binary's time from start to ready and its
//! resident memory at rest, on each backend.

use std::time::Duration;

use serde_json::{Value, json};

use super::process::{Server, start_curtain, wait_ready};
use super::{backends, row, verdict};

/// For `footprint`: stops the server once its RSS has been read at rest.
pub async fn idle_rss(server: &Server, settle: Duration) -> anyhow::Result<f64> {
    tokio::time::sleep(settle).await;
    server.rss_mib()
}

/// P7: time from start to ready (first start on an empty database, then a restart) and
/// resident memory at rest, on each backend.
pub async fn footprint() -> anyhow::Result<Value> {
    let work = tempfile::tempdir()?;
    let mut figures = serde_json::Map::new();
    println!("P7: the `curtain` binary on embedded defaults (demo catalog loaded on first start)");
    row(
        "",
        &[
            "first start s".into(),
            "restart s".into(),
            "idle RSS MiB".into(),
            "goal".into(),
        ],
    );
    for (backend, url) in backends(work.path(), "curtain_bench_footprint").await? {
        let data = work.path().join(backend);
        let first = start_curtain(&url, &data, &[])?;
        let first_ready = wait_ready(&first, "/readyz", Duration::from_secs(60)).await?;
        first.stop();
        let again = start_curtain(&url, &data, &[])?;
        let again_ready = wait_ready(&again, "/readyz", Duration::from_secs(60)).await?;
        let rss = idle_rss(&again, Duration::from_secs(5)).await?;
        again.stop();
        let met = first_ready.as_secs_f64() <= 1.0 && again_ready.as_secs_f64() <= 1.0 && rss <= 40.0;
        row(
            backend,
            &[
                format!("{:.2}", first_ready.as_secs_f64()),
                format!("{:.2}", again_ready.as_secs_f64()),
                format!("{rss:.1}"),
                format!("≤ 1 s, ≤ 40 MiB {}", verdict(met)),
            ],
        );
        figures.insert(
            backend.to_lowercase(),
            json!({ "first_start_seconds": first_ready.as_secs_f64(), "restart_seconds": again_ready.as_secs_f64(), "idle_rss_mib": rss }),
        );
    }
    Ok(Value::Object(figures))
}
