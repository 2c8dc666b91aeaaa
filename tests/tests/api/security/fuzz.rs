//! Security: fuzz. Thousands of generated GraphQL requests (valid documents from the schema,
//! then mangled) and malformed WebSocket conversations against the demo catalog, as an
//! anonymous caller, a buyer and an admin: no panic, no 5xx, no internals in any answer.
//!
//! Reproduce a failure with the seed it prints: `CURTAIN_FUZZ_SEED=… cargo test -p
//! curtain-tests --test api security::fuzz`; `CURTAIN_FUZZ_CASES` and
//! `CURTAIN_FUZZ_SOCKETS` change how much is sent.

use std::time::Instant;

use curtain_tests::fuzz::{self, FuzzSettings};
use curtain_tests::{Backend, Options, TestApp};

/// The server runs in this test's own runtime, whose threads are named so that the panic
/// counter sees panics in the server's tasks and in no other test's.
#[test]
fn fuzzed_requests_and_socket_frames_never_panic_fail_or_leak_internals() {
    fuzz::watch_panics();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(fuzz::THREAD_NAME)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let settings = FuzzSettings::from_env();
        let options = Options {
            demo: true,
            ..Options::default()
        };
        let app = TestApp::spawn_with(Backend::Sqlite, options)
            .await
            .expect("SQLite is always available");
        let started = Instant::now();
        let report = fuzz::run(&app, &settings).await;
        eprintln!(
            "fuzz seed {}: {} requests and {} sockets in {:.1?}\n  statuses {:?}\n  codes {:?}\n  manglings {:?}\n  socket endings {:?}",
            settings.seed,
            settings.cases,
            settings.sockets,
            started.elapsed(),
            report.statuses,
            report.codes,
            report.manglings,
            report.socket_endings,
        );
        if std::env::var_os("CURTAIN_FUZZ_SAMPLES").is_some() {
            for (code, sample) in &report.samples {
                eprintln!("{code}: {sample}");
            }
        }
        for timeout in &report.timeouts {
            eprintln!("slow (not a failure here): {timeout}");
        }
        let health = app.client.get(app.url("/healthz")).send().await;
        assert!(
            health.is_ok_and(|r| r.status().is_success()),
            "the server is down after fuzz seed {}",
            settings.seed
        );
        app.stop().await;
        assert_eq!(fuzz::panics_so_far(), 0, "the server panicked under fuzz seed {} (see above)", settings.seed);
        assert!(
            report.failures.is_empty(),
            "{} failures under fuzz seed {}:\n{}",
            report.failures.len(),
            settings.seed,
            report.failures.join("\n\n")
        );
    });
}
