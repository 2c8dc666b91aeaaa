//! The failure drill at a size CI affords: two real server processes sell one session while
//! one of them is killed with SIGKILL, Redis is stopped and PostgreSQL restarted (the drill's
//! own PostgreSQL and Redis, so nothing else on the machine is disturbed). `curtain-bench
//! drill` runs the same at a larger size. A binary of its own: cargo runs test binaries one
//! after another, so the drill's load does not slow other tests' timing.

use std::time::Duration;

use curtain_tests::drill::{DrillOptions, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_survives_a_killed_instance_a_stopped_redis_and_a_restarted_postgres() {
    let tools = ["pg_config", "redis-server"];
    if let Some(missing) = tools.iter().find(|tool| which(tool).is_none()) {
        curtain_tests::did_not_run(&format!("{missing} is not installed: the failure drill did NOT run"));
        return;
    }
    let report = run(DrillOptions {
        server: env!("CARGO_BIN_EXE_curtain-bench").into(),
        seats: 60,
        buyers: 16,
        subscribers: 20,
        phase: Duration::from_secs(4),
    })
    .await
    .expect("the drill runs");
    report.print();
    let problems = report.problems();
    assert!(problems.is_empty(), "{problems:?}");
}

fn which(tool: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| std::path::Path::new(dir).join(tool))
        .find(|path| path.is_file())
}
