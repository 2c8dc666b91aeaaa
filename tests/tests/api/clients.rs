//! Curtain as client developers and buyers meet it, checked by their own tools against the
//! real server: the `graphql-http` audit, the `graphql-ws` reference client's close codes and
//! the legacy protocol, the live introspection against `schema.graphql`, and the web app and
//! GraphiQL in Debian's Chromium. The checks are Node scripts in `tests/clients/` (pinned by
//! its `package-lock.json`); each prints its figures as JSON and exits non-zero on a failure.
//!
//! They need Node.js (20 or newer) and, for the browser checks, `/usr/bin/chromium` (Debian's
//! `chromium` package; `.ci/run` installs it). Without them the checks say so loudly, and fail
//! under `CI=true`.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use curtain_tests::{Backend, TestApp, did_not_run};
use tokio::sync::{Mutex, OnceCell};

/// Where the scripts and their `package.json` are.
fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("clients")
}

const CHROMIUM: &str = "/usr/bin/chromium";
/// How long one script may run before it is stopped and failed.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(180);
/// The WebSocket `connection_init` timeout the close-code check waits out (4408).
const WS_INIT_TIMEOUT_MS: u64 = 1_000;

/// One browser at a time: two Chromiums and the rest of the suite on two cores make timing
/// assertions about live updates meaningless.
static BROWSER: Mutex<()> = Mutex::const_new(());

/// `npm ci` once per test run when `node_modules` is missing or older than the lock file.
static INSTALLED: OnceCell<bool> = OnceCell::const_new();

async fn node_ready() -> bool {
    *INSTALLED
        .get_or_init(|| async {
            if Command::new("node").arg("--version").output().is_err() {
                did_not_run("Node.js is not installed: the client checks (tests/clients) did NOT run");
                return false;
            }
            let dir = clients_dir();
            let installed = dir.join("node_modules/.package-lock.json");
            let stale = match (
                std::fs::metadata(&installed),
                std::fs::metadata(dir.join("package-lock.json")),
            ) {
                (Ok(installed), Ok(lock)) => installed.modified().ok() < lock.modified().ok(),
                _ => true,
            };
            if stale {
                let status = tokio::task::spawn_blocking(move || {
                    Command::new("npm")
                        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                        .current_dir(dir)
                        .status()
                })
                .await
                .expect("npm ci ran");
                assert!(
                    status.is_ok_and(|s| s.success()),
                    "`npm ci` failed in tests/clients: the client checks need its packages"
                );
            }
            true
        })
        .await
}

fn chromium_ready() -> bool {
    if Path::new(CHROMIUM).exists() {
        return true;
    }
    did_not_run("Chromium is not installed (apt install chromium): the browser checks did NOT run");
    false
}

/// Runs `node tests/clients/{script}.mjs {base url}` and fails the test when it fails, with
/// what it printed.
async fn run(script: &str, app: &TestApp) -> String {
    let child = Command::new("node")
        .arg(clients_dir().join(format!("{script}.mjs")))
        .arg(&app.address)
        .env("CURTAIN_WS_INIT_TIMEOUT_MS", WS_INIT_TIMEOUT_MS.to_string())
        .env("CURTAIN_ADMIN_TOKEN", app.admin_token())
        .current_dir(clients_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so that a timeout stops Chromium with it.
        .process_group(0)
        .spawn()
        .unwrap_or_else(|err| panic!("could not run {script}.mjs: {err}"));
    let pid = child.id().to_string();
    let waiting = tokio::task::spawn_blocking(move || child.wait_with_output());
    let output = match tokio::time::timeout(SCRIPT_TIMEOUT, waiting).await {
        Ok(output) => output
            .expect("the script's waiter")
            .unwrap_or_else(|err| panic!("{script}.mjs: {err}")),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", "--", &format!("-{pid}")]).status();
            panic!("{script}.mjs ran longer than {SCRIPT_TIMEOUT:?} and was killed");
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{script}.mjs:\n{stdout}");
    assert!(
        output.status.success(),
        "{script}.mjs failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    stdout
}

async fn spawn_demo() -> TestApp {
    TestApp::builder(Backend::Sqlite)
        .demo()
        .ws_init_timeout_ms(WS_INIT_TIMEOUT_MS)
        .spawn()
        .await
        .expect("SQLite is always available")
}

/// Runs `script` against a fresh server with the demo catalog, when Node (and, for a
/// browser check, Chromium) is there; browser checks one at a time.
async fn check(script: &str, browser: bool) {
    if !node_ready().await || (browser && !chromium_ready()) {
        return;
    }
    let _one_browser = if browser { Some(BROWSER.lock().await) } else { None };
    let app = spawn_demo().await;
    run(script, &app).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_graphql_over_http_audit_finds_no_error_and_no_warning() {
    check("audit", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_graphql_ws_client_sees_every_close_code_when_the_protocol_says() {
    check("ws", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_introspection_equals_schema_graphql() {
    check("schema", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vendored_graphiql_is_the_pinned_npm_packages() {
    check("vendored", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphiql_runs_a_query_and_a_subscription_in_chromium() {
    check("graphiql", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyer_holds_and_pays_in_chromium_while_another_sees_the_seats_sold() {
    check("buyer", true).await;
}
