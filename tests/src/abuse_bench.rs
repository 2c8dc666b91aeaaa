//! P8 of shared/BENCHMARKS.md, abuse during an on-sale: P1's rush runs twice, once alone and
//! once while an attacker sends fragment bombs, alias floods, slow headers and socket floods
//! at bounded rates; it compares the buyers' hold latency and `/healthz`'s, and tallies how
//! the attacker was answered.
//!
//! The attacker is a child process (this binary again, `abuse-attacker`, see
//! [`crate::abuse_attacker`]), so that its sockets and tasks are not the server's; it talks
//! to 127.0.0.1 only and stops when told, or after its deadline.

use std::io::Write;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::abuse_attacker::Attack;
use crate::bench::{Rush, hold_rush, on_sale_performance, on_sale_session, percentile_ms, sign_up_buyers};
use crate::fanout_bench::Child;
use crate::{Backend, TestApp};

/// How often `/healthz` is probed.
const PROBE_EVERY: Duration = Duration::from_millis(50);
/// How long the attack runs before the buyers start, so that its sockets are open.
const WARM_UP: Duration = Duration::from_secs(3);

/// Runs the bench on `app`: `buyers` (one hold each per run) on `seats`-seat sessions,
/// `concurrency` in flight.
pub async fn run(
    app: Arc<TestApp>,
    buyers: usize,
    seats: usize,
    concurrency: usize,
    attack: &Attack,
) -> anyhow::Result<Value> {
    let performance = on_sale_performance(&app, seats).await;
    let alone = on_sale_session(&app, &performance, 2).await?;
    let attacked = on_sale_session(&app, &performance, 3).await?;
    let tokens = sign_up_buyers(&app, buyers, "abuse").await?;

    eprintln!("on-sale alone: {buyers} buyers hold 2 seats each, {concurrency} at a time…");
    let probe = Probe::start(&app);
    let quiet = hold_rush(&app, &alone, &tokens, concurrency, "alone").await?;
    let quiet_health = probe.finish().await;

    eprintln!("starting the attacker: {attack:?}");
    let mut child = Child(
        std::process::Command::new(std::env::current_exe()?)
            .arg("abuse-attacker")
            .args(["--url", &app.address, "--session", &attacked.session])
            .args(attack.to_args())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("starting the attacker process")?,
    );
    let mut lines = child.lines()?;
    match lines.recv().await {
        Some(line) if line == "ready" => {}
        other => bail!("the attacker did not get ready: {other:?}"),
    }
    tokio::time::sleep(WARM_UP).await;
    eprintln!("on-sale under attack…");
    let probe = Probe::start(&app);
    let loud = hold_rush(&app, &attacked, &tokens, concurrency, "attacked").await?;
    let loud_health = probe.finish().await;
    if let Some(stdin) = child.0.stdin.as_mut() {
        let _ = writeln!(stdin, "stop");
    }
    let outcomes: Value = match tokio::time::timeout(Duration::from_secs(30), lines.recv()).await {
        Ok(Some(line)) => serde_json::from_str(&line).context("the attacker's report")?,
        _ => bail!("the attacker ended without a report"),
    };
    child.0.wait()?;
    Ok(summarize(
        (buyers, seats, concurrency, app.backend, attack),
        (&quiet, &loud),
        (&quiet_health, &loud_health),
        &outcomes,
    ))
}

/// `/healthz` latencies, probed every [`PROBE_EVERY`] on a connection of its own from a
/// thread of its own: the server's runtime is this process's, and a probe scheduled on it
/// would wait, unmeasured, whenever the server's workers are busy.
struct Probe {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Health>,
}

#[derive(Default)]
struct Health {
    latencies: Vec<Duration>,
    failed: usize,
}

impl Probe {
    fn start(app: &TestApp) -> Probe {
        let stop = Arc::new(AtomicBool::new(false));
        let url = app.url("/healthz");
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut health = Health::default();
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return health;
            };
            runtime.block_on(async {
                let client = reqwest::Client::builder()
                    .timeout(Duration::from_secs(5))
                    .build()
                    .unwrap_or_default();
                let mut ticks = tokio::time::interval(PROBE_EVERY);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                while !flag.load(Ordering::Relaxed) {
                    ticks.tick().await;
                    let started = Instant::now();
                    match client.get(&url).send().await {
                        Ok(response) if response.status().is_success() => health.latencies.push(started.elapsed()),
                        _ => health.failed += 1,
                    }
                }
            });
            health.latencies.sort_unstable();
            health
        });
        Probe { stop, thread }
    }

    async fn finish(self) -> Health {
        self.stop.store(true, Ordering::Relaxed);
        tokio::task::spawn_blocking(move || self.thread.join().unwrap_or_default())
            .await
            .unwrap_or_default()
    }
}

fn summarize(
    (buyers, seats, concurrency, backend, attack): (usize, usize, usize, Backend, &Attack),
    (quiet, loud): (&Rush, &Rush),
    (quiet_health, loud_health): (&Health, &Health),
    outcomes: &Value,
) -> Value {
    let p = |rush: &Rush, q: f64| percentile_ms(&rush.latencies, q);
    let h = |health: &Health, q: f64| percentile_ms(&health.latencies, q);
    let ratio = p(loud, 0.99) / p(quiet, 0.99).max(f64::MIN_POSITIVE);
    let database = if backend == Backend::Sqlite {
        "SQLite"
    } else {
        "PostgreSQL"
    };
    println!(
        "\nP8 abuse during an on-sale: {buyers} buyers × 2 seats, {seats}-seat sessions, {database}, {concurrency} in flight"
    );
    println!(
        "attacker: {}/s fragment bombs, {}/s alias floods, {} slow-header connections, {} sockets sending {}/s junk",
        attack.bombs_per_second,
        attack.floods_per_second,
        attack.slow_connections,
        attack.sockets,
        attack.junk_per_second
    );
    println!("| measure | alone | under attack | goal |");
    println!("|---|---|---|---|");
    println!(
        "| buyers' hold p50 / p99 | {:.1} / {:.1} ms | {:.1} / {:.1} ms | |",
        p(quiet, 0.5),
        p(quiet, 0.99),
        p(loud, 0.5),
        p(loud, 0.99)
    );
    println!("| hold p99 under attack ÷ alone | | {ratio:.2}× | ≤ 1.2× |");
    for (name, rush) in [("alone", quiet), ("under attack", loud)] {
        if !rush.other.is_empty() {
            println!(
                "other answers to buyers {name}: {:?}",
                &rush.other[..rush.other.len().min(5)]
            );
        }
    }
    println!(
        "| holds granted / SEAT_UNAVAILABLE / other | {} / {} / {} | {} / {} / {} | other: 0 |",
        quiet.held,
        quiet.unavailable,
        quiet.other.len(),
        loud.held,
        loud.unavailable,
        loud.other.len()
    );
    println!(
        "| /healthz p50 / p99 / max | {:.1} / {:.1} / {:.1} ms | {:.1} / {:.1} / {:.1} ms | p99 ≤ 10 ms |",
        h(quiet_health, 0.5),
        h(quiet_health, 0.99),
        h(quiet_health, 1.0),
        h(loud_health, 0.5),
        h(loud_health, 0.99),
        h(loud_health, 1.0)
    );
    println!(
        "| /healthz probes failed | {} of {} | {} of {} | 0 |",
        quiet_health.failed,
        quiet_health.latencies.len() + quiet_health.failed,
        loud_health.failed,
        loud_health.latencies.len() + loud_health.failed
    );
    let checks = crate::cost_bench::worst_case_check_times();
    println!("\n| cost check on the worst document the size limit admits | median | goal |");
    println!("|---|---|---|");
    for (document, time) in &checks {
        println!("| {document} | {:.3} ms | ≤ 1 ms |", time.as_secs_f64() * 1000.0);
    }
    println!("\n| attack | attempts | how they ended |");
    println!("|---|---|---|");
    for (kind, tally) in outcomes.as_object().into_iter().flatten() {
        let sent: u64 = tally
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(_, n)| n.as_u64())
            .sum();
        let answers: Vec<String> = tally
            .as_object()
            .into_iter()
            .flatten()
            .map(|(outcome, n)| format!("{outcome}: {n}"))
            .collect();
        println!("| {kind} | {sent} | {} |", answers.join(", "));
    }
    json!({
        "bench": "P8", "buyers": buyers, "seats": seats, "concurrency": concurrency, "database": database,
        "attack": attack.to_json(),
        "alone": { "p50_ms": p(quiet, 0.5), "p99_ms": p(quiet, 0.99), "held": quiet.held,
                   "unavailable": quiet.unavailable, "other_errors": quiet.other.len(),
                   "healthz_p99_ms": h(quiet_health, 0.99), "healthz_failed": quiet_health.failed },
        "attacked": { "p50_ms": p(loud, 0.5), "p99_ms": p(loud, 0.99), "held": loud.held,
                      "unavailable": loud.unavailable, "other_errors": loud.other.len(),
                      "healthz_p99_ms": h(loud_health, 0.99), "healthz_max_ms": h(loud_health, 1.0),
                      "healthz_failed": loud_health.failed },
        "p99_ratio": ratio,
        "cost_check_ms": checks.iter().map(|(document, time)| json!({ "document": document, "median_ms": time.as_secs_f64() * 1000.0 })).collect::<Vec<_>>(),
        "attacker": outcomes,
    })
}
