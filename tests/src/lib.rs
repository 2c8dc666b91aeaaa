//! Test harness: spawns the real Curtain server on port 0 with a fresh database per test and
//! talks to it over HTTP like any client.
//!
//! Every test runs on SQLite. It also runs on PostgreSQL when `CURTAIN_TEST_DATABASE_URL`
//! names a server (a fresh database is created per test and dropped after); without it the
//! PostgreSQL variant says so loudly and, under `CI=true`, fails.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use serde_json;

pub mod abuse_attacker;
pub mod abuse_bench;
pub mod bench;
pub mod cost_bench;
pub mod drill;
pub mod fanout_bench;
pub mod fixtures;
pub mod fuzz;
pub mod kakao;
pub mod outside;
mod postgres;
pub mod reads_bench;
pub mod s3;
pub mod scratch;
pub mod search_bench;
pub mod socket;
mod spawn;
pub mod toss;
pub mod waiting_room_bench;

pub use postgres::database_name;
pub(crate) use postgres::{PostgresDatabase, with_database};
pub use spawn::TestAppBuilder;

/// The admin account every test server has.
pub const ADMIN_EMAIL: &str = "admin@curtain.test";
pub const ADMIN_PASSWORD: &str = "admin password for tests";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The document [`TestApp::log_in`] sends (a server that runs only trusted documents must
/// have it in its manifest).
pub const LOG_IN: &str =
    "mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) { accessToken refreshToken user { id } } }";

pub struct TestApp {
    pub address: String,
    /// Base URL of the private metrics listener, when it is on.
    pub metrics_address: Option<String>,
    pub client: reqwest::Client,
    pub backend: Backend,
    /// The application's own database, for checks and set-up no API offers.
    pub db: sea_orm::DatabaseConnection,
    /// The running application's state, to drive the schema in-process where a test must
    /// control exactly when a subscription is read.
    pub state: curtain::state::AppState,
    /// Its URL, to open a second pool as another instance would.
    pub database_url: String,
    /// The Redis key prefix, when the server uses Redis.
    pub redis_prefix: Option<String>,
    admin_token: String,
    postgres: Option<PostgresDatabase>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
    /// The data directory (JWT key, local files), removed when the app is dropped.
    dir: tempfile::TempDir,
}

/// Runs `$name(&TestApp)` once per backend as `sqlite::$name` and `postgres::$name`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let app = $crate::TestApp::spawn($crate::Backend::Sqlite).await.expect("SQLite is always available");
                    super::$name(&app).await;
                    app.stop().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(app) = $crate::TestApp::spawn($crate::Backend::Postgres).await {
                        super::$name(&app).await;
                        app.stop().await;
                    }
                }
            )*
        }
    };
}

impl TestApp {
    /// Stops the server and drops its PostgreSQL database.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
        }
        if let Some(database) = self.postgres.take() {
            database.drop_database().await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// POSTs an anonymous GraphQL request and returns the response body.
    pub async fn gql(&self, query: &str, variables: Value) -> Value {
        self.post(query, variables, None).await
    }

    /// The admin's access token, for requests the helpers do not build.
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// POSTs a GraphQL request as the admin.
    pub async fn admin(&self, query: &str, variables: Value) -> Value {
        self.post(query, variables, Some(&self.admin_token)).await
    }

    /// Signs up a buyer and returns its session.
    pub async fn sign_up(&self, email: &str) -> Session {
        let response = self
            .gql(
                "mutation($input: SignUpInput!) { signUp(input: $input) { accessToken refreshToken user { id } } }",
                json!({ "input": { "email": email, "password": BUYER_PASSWORD, "name": "구매자", "phone": "010-1234-5678" } }),
            )
            .await;
        Session::from_payload(&data(&response)["signUp"])
    }

    /// Logs in by password, panicking on failure.
    pub async fn log_in(&self, email: &str, password: &str) -> Session {
        let response = self.gql(LOG_IN, json!({ "e": email, "p": password })).await;
        Session::from_payload(&data(&response)["logIn"])
    }

    /// POSTs a GraphQL request with an optional bearer token.
    pub async fn post(&self, query: &str, variables: Value, token: Option<&str>) -> Value {
        let mut request = self
            .client
            .post(self.url("/graphql"))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request sent");
        response.json().await.expect("a JSON body")
    }

    /// The text of `/metrics`, from the private metrics listener.
    pub async fn metrics_text(&self) -> String {
        let base = self.metrics_address.as_deref().expect("the metrics listener is on");
        self.client
            .get(format!("{base}/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }

    /// The value of a counter or gauge in `/metrics`, summed over the label sets that
    /// contain `labels` (e.g. `outcome="ok"`).
    pub async fn metric(&self, name: &str, labels: &str) -> f64 {
        metric_value(&self.metrics_text().await, name, labels)
    }
}

/// The value of a counter or gauge in a Prometheus exposition `text`, summed over the label
/// sets that contain `labels`.
pub fn metric_value(text: &str, name: &str, labels: &str) -> f64 {
    text.lines()
        .filter(|line| line.starts_with(name) && line[name.len()..].starts_with(['{', ' ']) && line.contains(labels))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A free TCP port on loopback, for a server started next.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The password every test buyer signs up with.
pub const BUYER_PASSWORD: &str = "buyer password 1234";

/// Tokens of a logged-in test user.
#[derive(Debug, Clone)]
pub struct Session {
    pub access_token: String,
    pub refresh_token: String,
    pub user_id: String,
}

impl Session {
    pub fn from_payload(payload: &Value) -> Self {
        Session {
            access_token: payload["accessToken"].as_str().expect("accessToken").to_string(),
            refresh_token: payload["refreshToken"].as_str().expect("refreshToken").to_string(),
            user_id: payload["user"]["id"].as_str().expect("user id").to_string(),
        }
    }
}

async fn create_admin(db: &sea_orm::DatabaseConnection, auth: &curtain::config::AuthSettings) {
    let hash = curtain::auth::passwords::hash(ADMIN_PASSWORD, auth)
        .await
        .expect("hash");
    let account = curtain::domain::accounts::NewAccount {
        email: Some(ADMIN_EMAIL.into()),
        email_verified: true,
        password_hash: Some(hash),
        name: "Box office".into(),
        phone: Some("010-9999-0000".into()),
        role: curtain::graphql::guard::Role::Admin,
        kakao_id: None,
    };
    curtain::domain::accounts::create_account(db, account)
        .await
        .expect("admin account");
}

/// Says loudly that a test did not run for want of something (a service, a tool); under
/// `CI=true`, where everything must run, fails instead.
pub fn did_not_run(message: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{message} (CI=true requires it)");
    }
    eprintln!("\n!!! {message} !!!\n");
}

/// The environment variable `name`, or `None` after [`did_not_run`] says that `variant` did not
/// run without it.
pub fn test_env(name: &str, variant: &str) -> Option<String> {
    let value = std::env::var(name).ok();
    if value.is_none() {
        did_not_run(&format!("{name} is not set: {variant} did NOT run"));
    }
    value
}

/// The Redis URL for tests; `None` (after a loud notice) when unset outside CI.
pub fn redis_url() -> Option<String> {
    test_env("CURTAIN_TEST_REDIS_URL", "the Redis variant of this test")
}

/// The streaming replica's URL for tests (any database name: each test swaps in its own);
/// `None` (after a loud notice) when unset outside CI.
pub fn replica_url() -> Option<String> {
    test_env(
        "CURTAIN_TEST_REPLICA_URL",
        "the read-replica variant of this test (`.ci/run` makes the replica)",
    )
}

/// Asserts the response has no errors and returns its `data`.
pub fn data(response: &Value) -> &Value {
    assert!(response.get("errors").is_none(), "unexpected errors: {response:#}");
    &response["data"]
}

/// The `extensions.code` of the first error, panicking when there is none.
pub fn error_code(response: &Value) -> &str {
    response["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error with a code, got {response:#}"))
}
