//! Test harness: spawns the real Curtain server on port 0 with a fresh database per test and
//! talks to it over HTTP like any client.
//!
//! Every test runs on SQLite. It also runs on PostgreSQL when `CURTAIN_TEST_DATABASE_URL`
//! names a server (a fresh database is created per test and dropped after); without it the
//! PostgreSQL variant says so loudly and, under `CI=true`, fails.

use std::time::Duration;

use sea_orm::{ConnectionTrait, Database};
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
pub mod fuzz;
pub mod kakao;
pub mod outside;
pub mod reads_bench;
pub mod s3;
pub mod scratch;
pub mod search_bench;
pub mod socket;
mod spawn;
pub mod toss;
pub mod waiting_room_bench;

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

pub(crate) struct PostgresDatabase {
    admin_url: String,
    name: String,
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

/// The database name in a PostgreSQL URL.
pub fn database_name(url: &str) -> &str {
    let base = url.split('?').next().unwrap_or(url);
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    base[authority_start..].split_once('/').map_or("", |(_, name)| name)
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

impl PostgresDatabase {
    pub(crate) async fn create() -> Option<Self> {
        let admin_url = test_env("CURTAIN_TEST_DATABASE_URL", "the PostgreSQL variant of this test")?;
        let name = format!("curtain_test_{}", uuid::Uuid::new_v4().simple());
        let admin = Database::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at CURTAIN_TEST_DATABASE_URL: {e}"));
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("CREATE DATABASE");
        admin.close().await.ok();
        Some(Self { admin_url, name })
    }

    pub(crate) fn url(&self) -> String {
        with_database(&self.admin_url, &self.name)
    }

    pub(crate) async fn drop_database(self) {
        if let Ok(admin) = Database::connect(&self.admin_url).await {
            let _ = admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name))
                .await;
            admin.close().await.ok();
        }
    }
}

/// Replaces the database name in a PostgreSQL URL.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_are_swapped_in_urls() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "t2"),
            "postgres://u:p@h/t2?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h:5432", "t3"), "postgres://h:5432/t3");
        assert_eq!(database_name("postgres://u:p@h:5432/t4?sslmode=disable"), "t4");
        assert_eq!(database_name("postgres://h:5432"), "");
    }
}

/// Catalog fixtures created through the admin API.
pub mod fixtures {
    use serde_json::{Value, json};

    use super::{TestApp, data};

    /// A small hall: section "1층" with rows A (VIP) and B, C (R) of `seats_per_row` seats.
    pub fn small_layout(seats_per_row: i32) -> Value {
        json!({ "sections": [{ "name": "1층", "rows": [
            { "label": "A", "seatCount": seats_per_row, "grade": "VIP" },
            { "label": "B", "seatCount": seats_per_row, "grade": "R" },
            { "label": "C", "seatCount": seats_per_row, "grade": "R", "accessibleSeats": [1] },
        ]}]})
    }

    pub async fn create_venue(app: &TestApp, name: &str, layout: Value) -> String {
        let response = app
            .admin(
                "mutation($input: CreateVenueInput!) { createVenue(input: $input) { id } }",
                json!({ "input": { "name": name, "address": "서울특별시 중구 세종대로 1", "region": "서울", "layout": layout } }),
            )
            .await;
        data(&response)["createVenue"]["id"]
            .as_str()
            .expect("venue id")
            .to_string()
    }

    pub async fn create_performance(
        app: &TestApp,
        venue_id: &str,
        title: &str,
        start_date: &str,
        end_date: &str,
    ) -> String {
        let response = app
            .admin(
                "mutation($input: CreatePerformanceInput!) { createPerformance(input: $input) { id } }",
                json!({ "input": {
                    "title": title, "genre": "MUSICAL", "runningMinutes": 150,
                    "startDate": start_date, "endDate": end_date, "venueId": venue_id,
                }}),
            )
            .await;
        data(&response)["createPerformance"]["id"]
            .as_str()
            .expect("performance id")
            .to_string()
    }

    pub async fn create_cast_member(app: &TestApp, name: &str) -> String {
        let response = app
            .admin(
                "mutation($input: CreateCastMemberInput!) { createCastMember(input: $input) { id } }",
                json!({ "input": { "name": name } }),
            )
            .await;
        data(&response)["createCastMember"]["id"]
            .as_str()
            .expect("cast member id")
            .to_string()
    }

    pub async fn add_cast(app: &TestApp, performance_id: &str, cast_member_id: &str, role: &str) -> String {
        let response = app
            .admin(
                "mutation($input: AddPerformanceCastInput!) { addPerformanceCast(input: $input) { id } }",
                json!({ "input": { "performanceId": performance_id, "castMemberId": cast_member_id, "role": role } }),
            )
            .await;
        data(&response)["addPerformanceCast"]["id"]
            .as_str()
            .expect("cast role id")
            .to_string()
    }

    /// A session of the small layout's grades (VIP 150,000 and R 100,000 KRW).
    pub async fn create_session(app: &TestApp, performance_id: &str, starts_at: &str) -> String {
        let response = app
            .admin(
                "mutation($input: CreateSessionInput!) { createSession(input: $input) { id } }",
                json!({ "input": {
                    "performanceId": performance_id, "startsAt": starts_at,
                    "prices": [{ "grade": "VIP", "price": 150000 }, { "grade": "R", "price": 100000 }],
                }}),
            )
            .await;
        data(&response)["createSession"]["id"]
            .as_str()
            .expect("session id")
            .to_string()
    }

    /// A performance titled `title` in a hall of one row of `seats` R seats, with a session on
    /// sale in two days at 50,000 KRW a seat.
    pub async fn one_row_session(app: &TestApp, title: &str, seats: i32) -> OneRow {
        let layout =
            json!({ "sections": [{ "name": "1층", "rows": [{ "label": "A", "seatCount": seats, "grade": "R" }] }] });
        let venue = create_venue(app, &format!("{title} hall"), layout).await;
        let performance = create_performance(app, &venue, title, &day(0).0, &day(10).0).await;
        let response = app
            .admin(
                "mutation($input: CreateSessionInput!) { createSession(input: $input) { id } }",
                json!({ "input": { "performanceId": performance, "startsAt": day(2).1, "prices": [{ "grade": "R", "price": 50000 }] } }),
            )
            .await;
        let session = data(&response)["createSession"]["id"]
            .as_str()
            .expect("session id")
            .to_string();
        let seats = seats_of(app, &session).await;
        OneRow {
            performance,
            session,
            seats,
        }
    }

    /// What [`one_row_session`] made.
    pub struct OneRow {
        pub performance: String,
        pub session: String,
        pub seats: Vec<String>,
    }

    /// The seat ids of a session, in seat-map order.
    pub async fn seats_of(app: &TestApp, session_id: &str) -> Vec<String> {
        let response = app
            .gql(
                "query($s: ID!) { seatMap(sessionId: $s) { seats { id } } }",
                json!({ "s": session_id }),
            )
            .await;
        data(&response)["seatMap"]["seats"]
            .as_array()
            .expect("seats")
            .iter()
            .map(|s| s["id"].as_str().expect("seat id").to_string())
            .collect()
    }

    /// Holds `seat_ids` for the holder of `access_token`; returns the reservation id.
    pub async fn hold(app: &TestApp, access_token: &str, session_id: &str, seat_ids: &[&str], key: &str) -> String {
        let response = app
            .post(
                "mutation($s: ID!, $seats: [ID!]!, $k: String!) {
                    holdSeats(sessionId: $s, seatIds: $seats, idempotencyKey: $k) { id } }",
                json!({ "s": session_id, "seats": seat_ids, "k": key }),
                Some(access_token),
            )
            .await;
        data(&response)["holdSeats"]["id"]
            .as_str()
            .expect("reservation id")
            .to_string()
    }

    /// Takes a held reservation through payment to CONFIRMED, as a successful payment does.
    pub async fn confirm(app: &TestApp, reservation_id: &str) {
        use sea_orm::EntityTrait;
        let id = database_id(reservation_id);
        let amount = entity::reservation::Entity::find_by_id(id)
            .one(&app.db)
            .await
            .expect("read the reservation")
            .expect("the reservation")
            .amount;
        curtain::domain::reservation_flow::start_payment(&app.db, id, amount)
            .await
            .expect("start the payment");
        curtain::domain::reservation_flow::confirm_reservation(&app.db, id, amount)
            .await
            .expect("confirm the reservation");
        app.state.relay.wake();
    }

    /// The app's job environment with `tweak` applied to a copy of its settings.
    pub fn job_env_with(app: &TestApp, tweak: impl FnOnce(&mut curtain::config::Settings)) -> curtain::jobs::JobEnv {
        let mut settings = (*app.state.settings).clone();
        tweak(&mut settings);
        curtain::jobs::JobEnv {
            settings: std::sync::Arc::new(settings),
            ..app.state.job_env()
        }
    }

    /// Runs `job` by hand in `env`, as `curtain job run` does; returns its recorded run.
    /// Panics when another run holds the job.
    pub async fn run_job(env: &curtain::jobs::JobEnv, job: curtain::jobs::Job) -> entity::job_run::Model {
        use curtain::jobs::runner::{self, Outcome, Trigger};
        match runner::run(env, job, Trigger::Manual, &curtain::jobs::NoProgress)
            .await
            .expect("the job runs")
        {
            Outcome::Ran(record) => record,
            Outcome::Busy => panic!("{} was busy", job.name()),
        }
    }

    /// A performance's title as buyers read it (empty when there is none).
    pub async fn performance_title(app: &TestApp, id: &str) -> String {
        let response = app
            .gql(
                "query($id: ID!) { performance(id: $id) { title } }",
                json!({ "id": id }),
            )
            .await;
        data(&response)["performance"]["title"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Moves a session's start to `starts_at`, as time passing would.
    pub async fn move_session(app: &TestApp, session_id: &str, starts_at: chrono::DateTime<chrono::Utc>) {
        use sea_orm::sea_query::Expr;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        entity::session::Entity::update_many()
            .col_expr(entity::session::Column::StartsAt, Expr::value(starts_at))
            .filter(entity::session::Column::Id.eq(database_id(session_id)))
            .exec(&app.db)
            .await
            .expect("move the session");
    }

    /// The database id behind a global GraphQL id.
    pub fn database_id(global_id: &str) -> i64 {
        curtain::ids::decode(&async_graphql::ID::from(global_id))
            .expect("a global id")
            .1
    }

    /// A coupon campaign valid from an hour ago for a week; `discount` holds the discount
    /// fields (`discountAmount`, or `discountPercent` and `maxDiscount`) and any others to set.
    pub async fn create_coupon(app: &TestApp, total_quantity: i32, discount: Value) -> String {
        let now = chrono::Utc::now();
        let mut input = json!({
            "name": "첫 구매 할인", "totalQuantity": total_quantity,
            "validFrom": (now - chrono::Duration::hours(1)).to_rfc3339(),
            "validUntil": (now + chrono::Duration::days(7)).to_rfc3339(),
        });
        if let (Some(input), Some(extra)) = (input.as_object_mut(), discount.as_object()) {
            input.extend(extra.clone());
        }
        let response = app
            .admin(
                "mutation($input: CreateCouponInput!) { createCoupon(input: $input) { id } }",
                json!({ "input": input }),
            )
            .await;
        data(&response)["createCoupon"]["id"]
            .as_str()
            .expect("coupon id")
            .to_string()
    }

    /// A day `days` from today (Korean calendar) as `YYYY-MM-DD`, and 19:30 that evening
    /// (Korean time) as an RFC 3339 instant.
    pub fn day(days: i64) -> (String, String) {
        let korea = chrono::FixedOffset::east_opt(9 * 3600).expect("valid offset");
        let date = chrono::Utc::now().with_timezone(&korea).date_naive() + chrono::Duration::days(days);
        (date.to_string(), format!("{date}T19:30:00+09:00"))
    }
}
