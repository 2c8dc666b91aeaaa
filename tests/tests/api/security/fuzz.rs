//! Security: fuzz. Thousands of generated GraphQL requests (valid documents from the schema,
//! then mangled) and malformed WebSocket conversations against the demo catalog, as an
//! anonymous caller, a buyer and an admin: no panic, no 5xx, no internals in any answer.
//!
//! Reproduce a failure with the seed it prints: `CURTAIN_FUZZ_SEED=… cargo test -p
//! curtain-tests --test api security::fuzz`; `CURTAIN_FUZZ_CASES` and
//! `CURTAIN_FUZZ_SOCKETS` change how much is sent.

use std::time::Instant;

use curtain_tests::fuzz::{self, FuzzSettings};
use curtain_tests::{Backend, TestApp, error_code};
use serde_json::json;

#[test]
fn fuzzed_requests_and_socket_frames_never_panic_fail_or_leak_internals_on_sqlite() {
    fuzz_on(Backend::Sqlite);
}

#[test]
fn fuzzed_requests_and_socket_frames_never_panic_fail_or_leak_internals_on_postgres() {
    fuzz_on(Backend::Postgres);
}

/// The server runs in this test's own runtime, whose threads are named so that the panic
/// counter sees panics in the server's tasks and in no other test's.
fn fuzz_on(backend: Backend) {
    fuzz::watch_panics();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(fuzz::THREAD_NAME)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let settings = FuzzSettings::from_env();
        let Some(app) = TestApp::builder(backend).demo().spawn().await else {
            return;
        };
        let started = Instant::now();
        let report = fuzz::run(&app, &settings).await;
        eprintln!(
            "fuzz seed {} on {backend:?}: {} requests and {} sockets in {:.1?}\n  statuses {:?}\n  codes {:?}\n  manglings {:?}\n  socket endings {:?}",
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

// Found by the fuzzer: a NUL in any text reached PostgreSQL, which refused it with an
// internal error. It is now refused up front on every backend.

async fn text_with_a_nul_character_is_refused_before_any_resolver_runs(app: &TestApp) {
    let literal = app
        .admin(
            "{ adminAccountByEmail(email: \"a\\u0000b@example.com\") { email } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&literal), "BAD_USER_INPUT", "{literal:#}");
    let buyer = app.sign_up("nul@example.com").await;
    let variable = app
        .post(
            "mutation($input: UpdateMeInput!) { updateMe(input: $input) { name } }",
            json!({ "input": { "name": "구매자\u{0}" } }),
            Some(&buyer.access_token),
        )
        .await;
    assert_eq!(error_code(&variable), "BAD_USER_INPUT", "{variable:#}");
    assert!(variable["data"].is_null(), "nothing ran: {variable:#}");
}

// Found by the fuzzer: a date PostgreSQL cannot hold (before 4713 BC) reached it and came
// back as an internal error. SQLite keeps dates as text and answers as usual.

async fn a_date_the_database_cannot_hold_is_bad_user_input_not_an_internal_error(app: &TestApp) {
    let response = app
        .gql(
            "query($to: NaiveDate) { performances(filter: { to: $to }) { edges { cursor } } }",
            json!({ "to": "-9999-01-01" }),
        )
        .await;
    if response.get("errors").is_some() {
        assert_eq!(error_code(&response), "BAD_USER_INPUT", "{response:#}");
    }
}

curtain_tests::backend_tests!(
    text_with_a_nul_character_is_refused_before_any_resolver_runs,
    a_date_the_database_cannot_hold_is_bad_user_input_not_an_internal_error,
);
