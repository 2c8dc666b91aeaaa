//! Spawning test servers: [`TestApp::builder`] starts from settings that suit most tests (no
//! demo catalog, generous limits on log-ins and holds), each option is one method that sets
//! what it needs, and [`TestAppBuilder::spawn`] does what has to wait or may find a service
//! missing (Redis, PostgreSQL, the replica) before starting the server.

use std::path::{Path, PathBuf};
use std::time::Duration;

use curtain::config::Settings;
use curtain::startup::Application;
use secrecy::SecretString;
use tokio::sync::oneshot;

use crate::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Backend, PostgresDatabase, TestApp, create_admin, database_name, redis_url,
    replica_url, s3, toss, with_database,
};

/// A test server to be: settings being built, and what [`spawn`](Self::spawn) still has to do.
#[derive(Debug)]
pub struct TestAppBuilder {
    backend: Backend,
    /// The data directory (JWT key, local files) the settings point at; the app owns it.
    dir: tempfile::TempDir,
    settings: Settings,
    redis: bool,
    replica: bool,
    sibling_of: Option<Sibling>,
    configure: Vec<fn(&mut Settings)>,
}

/// What a second instance shares with the first.
#[derive(Debug)]
struct Sibling {
    database_url: String,
    redis_prefix: Option<String>,
    /// The first instance's data directory, whose JWT signing key the sibling shares.
    data_dir: PathBuf,
}

impl TestApp {
    /// Spawns a server on `backend`; `None` only for PostgreSQL when none is configured
    /// outside CI.
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        Self::builder(backend).spawn().await
    }

    /// A server on `backend` with the options still to choose; the defaults suit most tests
    /// (no demo catalog, generous limits on log-ins and holds).
    pub fn builder(backend: Backend) -> TestAppBuilder {
        let dir = tempfile::tempdir().expect("temporary directory");
        TestAppBuilder {
            backend,
            settings: base_settings(dir.path()),
            dir,
            redis: false,
            replica: false,
            sibling_of: None,
            configure: Vec::new(),
        }
    }

    /// A second server on this one's database (and Redis key space, with `redis`), as
    /// another instance behind the same load balancer, with the options still to choose.
    /// Stop it before this one.
    pub fn sibling(&self) -> TestAppBuilder {
        TestAppBuilder {
            sibling_of: Some(Sibling {
                database_url: self.database_url.clone(),
                redis_prefix: self.redis_prefix.clone(),
                data_dir: self.dir.path().to_path_buf(),
            }),
            ..Self::builder(self.backend)
        }
    }

    /// [`sibling`](Self::sibling) with the default options.
    pub async fn spawn_sibling(&self) -> Option<TestApp> {
        self.sibling().spawn().await
    }

    /// Two instances on one PostgreSQL database and one Redis, as behind a load balancer;
    /// `None` only when PostgreSQL is not configured outside CI. Stop `b` before `a`.
    pub async fn pair_with_redis() -> Option<(TestApp, TestApp)> {
        let a = Self::builder(Backend::Postgres).redis().spawn().await?;
        let b = a.sibling().redis().spawn().await.expect("the second instance");
        Some((a, b))
    }
}

/// The settings every test server starts from, with its data in `data_dir`.
fn base_settings(data_dir: &Path) -> Settings {
    let mut settings = Settings {
        data_dir: data_dir.to_path_buf(),
        ..Settings::default()
    };
    settings.server.port = 0;
    // Metrics on a private listener of their own, as by default, on a free port.
    settings.metrics.port = 0;
    settings.server.shutdown_grace_seconds = 2;
    settings.demo.seed_when_empty = false;
    settings.database.max_connections = 8;
    settings.server.cors_allowed_origins = vec!["https://shop.example".into()];
    // Cheap hashing keeps tests fast; the parameters are stored in each hash anyway.
    settings.auth.argon2_memory_kib = 1024;
    settings.auth.argon2_iterations = 1;
    settings.auth.rate_limit_per_minute = 10_000;
    // Test buyers all come from 127.0.0.1, race for seats and hold many times over; the
    // tests of these limits set real values through `configure`.
    settings.booking.hold_attempts_per_ip_per_minute = 100_000;
    settings.booking.hold_attempts_per_account_per_minute = 10_000;
    settings.booking.max_live_reservations_per_buyer = 1_000;
    // Each test's index lives in memory and is built from its fresh database at start,
    // unless the test is about the files.
    settings.search.in_memory = true;
    settings.search.catch_up_ms = 200;
    settings.booking.sweep_interval_seconds = 0;
    settings.jobs.enabled = false;
    for job in curtain::jobs::Job::ALL {
        settings.jobs.schedules.insert(job.name().into(), String::new());
    }
    // Deliveries are looked for and retried quickly, so tests do not wait long.
    settings.notifications.poll_ms = 100;
    settings.notifications.retry_base_ms = 100;
    settings.notifications.timeout_seconds = 5;
    settings.notifications.max_attempts = 4;
    settings
}

impl TestAppBuilder {
    /// Load the demo catalog into the empty database at start; default off.
    pub fn demo(mut self) -> Self {
        self.settings.demo.seed_when_empty = true;
        self
    }

    /// Calls per minute per address to logIn/signUp/refreshToken; default 10,000.
    pub fn rate_limit_per_minute(mut self, calls: u32) -> Self {
        self.settings.auth.rate_limit_per_minute = calls;
        self
    }

    /// Kakao log-in through a Kakao stand-in at `base_url`; Kakao log-in is off without it.
    pub fn kakao(mut self, base_url: &str) -> Self {
        let kakao = &mut self.settings.kakao;
        kakao.client_id = Some("test-client-id".into());
        kakao.client_secret = Some(SecretString::from("test-client-secret"));
        kakao.authorize_url = format!("{base_url}/oauth/authorize");
        kakao.token_url = format!("{base_url}/oauth/token");
        kakao.profile_url = format!("{base_url}/v2/user/me");
        self
    }

    /// Payments through a Toss Payments stand-in at `base_url`; they go to the simulated
    /// provider without it.
    pub fn toss(mut self, base_url: &str) -> Self {
        let payments = &mut self.settings.payments;
        payments.toss_secret_key = Some(SecretString::from(toss::SECRET_KEY));
        payments.toss_base_url = base_url.into();
        // Short enough that a silent stand-in makes a test wait a moment, not minutes.
        payments.read_timeout_ms = 700;
        payments.connect_timeout_ms = 500;
        payments.backoff_base_ms = 10;
        payments.breaker_failure_threshold = 3;
        payments.breaker_open_seconds = 1;
        self
    }

    /// Use Redis at `CURTAIN_TEST_REDIS_URL` for shared state (skipped loudly when unset).
    pub fn redis(mut self) -> Self {
        self.redis = true;
        self
    }

    /// How long a WebSocket client may take to send `connection_init`; default 3 s.
    pub fn ws_init_timeout_ms(mut self, timeout: u64) -> Self {
        self.settings.graphql.ws_init_timeout_ms = timeout;
        self
    }

    /// How long a log-in lock-out lasts; default 15 minutes.
    pub fn lockout_seconds(mut self, seconds: u64) -> Self {
        self.settings.auth.lockout_seconds = seconds;
        self
    }

    /// How long seats stay held; default 10 minutes.
    pub fn hold_seconds(mut self, seconds: i64) -> Self {
        self.settings.booking.hold_seconds = seconds;
        self
    }

    /// Hold requests applied together at most (`booking.hold_batch_max`); default 128.
    pub fn hold_batch_max(mut self, batch: usize) -> Self {
        self.settings.booking.hold_batch_max = batch;
        self
    }

    /// Run the lapsed-hold sweeper every `seconds`; default off, so tests sweep explicitly.
    pub fn sweep_every(mut self, seconds: u64) -> Self {
        self.settings.booking.sweep_interval_seconds = seconds;
        self
    }

    /// Seat-map events buffered per subscriber before it is resynced; default 256.
    pub fn seat_map_buffer(mut self, buffer: usize) -> Self {
        self.settings.events.seat_map_buffer = buffer;
        self
    }

    /// Email through a plain SMTP server on `port` (see [`crate::outside::SmtpSink`]); email
    /// is off without it.
    pub fn smtp(mut self, port: u16) -> Self {
        let notifications = &mut self.settings.notifications;
        notifications.smtp_host = Some("127.0.0.1".into());
        notifications.smtp_port = port;
        notifications.smtp_tls = curtain::config::SmtpTls::None;
        self
    }

    /// A Slack incoming-webhook URL (see [`crate::outside::SlackStandIn`]); Slack is off
    /// without it.
    pub fn slack(mut self, url: &str) -> Self {
        self.settings.notifications.slack_webhook_url = Some(SecretString::from(url));
        self
    }

    /// Run job `name` on a cron schedule (`sec min hour day month weekday`); no job runs on
    /// its own otherwise, so tests run jobs explicitly.
    pub fn job_schedule(mut self, name: &str, cron: &str) -> Self {
        let schedule = self.settings.jobs.schedules.get_mut(name);
        *schedule.unwrap_or_else(|| panic!("no job is named {name}")) = cron.into();
        self.settings.jobs.enabled = true;
        self
    }

    /// Store files in an S3 stand-in at `endpoint` (see [`s3::S3Stub`]); files are stored
    /// locally without it.
    pub fn s3(mut self, endpoint: &str) -> Self {
        s3::configure(&mut self.settings, endpoint);
        self
    }

    /// Keep the search index on disk in the data directory, as in production, instead of
    /// in memory.
    pub fn search_on_disk(mut self) -> Self {
        self.settings.search.in_memory = false;
        self
    }

    /// Read lag-tolerant queries from the streaming replica at `CURTAIN_TEST_REPLICA_URL`
    /// (PostgreSQL only; skipped loudly when unset). Its state is checked every 50 ms and it
    /// is skipped when more than 5 s behind.
    pub fn replica(mut self) -> Self {
        self.replica = true;
        self
    }

    /// Any other setting: applied last, over everything above (several in the order given).
    pub fn configure(mut self, configure: fn(&mut Settings)) -> Self {
        self.configure.push(configure);
        self
    }

    /// Spawns the server; `None` when a service it needs (PostgreSQL, Redis, the replica)
    /// is not configured outside CI.
    pub async fn spawn(mut self) -> Option<TestApp> {
        let redis_prefix = match self.redis {
            true => Some(self.attach_redis()?),
            false => None,
        };
        let postgres = self.attach_database().await?;
        if self.replica {
            self.attach_replica()?;
        }
        for configure in &self.configure {
            configure(&mut self.settings);
        }
        Some(self.start(redis_prefix, postgres).await)
    }

    /// Points the settings at Redis; returns the key prefix, or `None` when Redis is not
    /// configured outside CI.
    fn attach_redis(&mut self) -> Option<String> {
        let redis = &mut self.settings.redis;
        redis.url = Some(SecretString::from(redis_url()?));
        // Every test server keeps its own keys (keys expire on their own), unless it is
        // a sibling of another.
        redis.key_prefix = match self.sibling_of.as_ref().and_then(|s| s.redis_prefix.clone()) {
            Some(prefix) => prefix,
            None => format!("curtain-test-{}:", uuid::Uuid::new_v4().simple()),
        };
        Some(redis.key_prefix.clone())
    }

    /// Points the settings at the first instance's database for a sibling, or a fresh one
    /// on PostgreSQL (returned, to drop when the app stops); `None` when PostgreSQL is not
    /// configured outside CI.
    async fn attach_database(&mut self) -> Option<Option<PostgresDatabase>> {
        match (&self.sibling_of, self.backend) {
            (Some(sibling), _) => {
                // Instances behind one load balancer accept each other's tokens.
                let key = "jwt-signing-key";
                std::fs::copy(sibling.data_dir.join(key), self.dir.path().join(key)).expect("share the signing key");
                self.settings.database.url = Some(SecretString::from(sibling.database_url.clone()));
                Some(None)
            }
            (None, Backend::Sqlite) => Some(None),
            (None, Backend::Postgres) => {
                let database = PostgresDatabase::create().await?;
                self.settings.database.url = Some(SecretString::from(database.url()));
                Some(Some(database))
            }
        }
    }

    /// Adds the replica of the database the settings point at; `None` when no replica is
    /// configured outside CI.
    fn attach_replica(&mut self) -> Option<()> {
        let primary = secrecy::ExposeSecret::expose_secret(&self.settings.database_url()).to_string();
        let replica = with_database(&replica_url()?, database_name(&primary));
        let database = &mut self.settings.database;
        database.replica_urls = vec![SecretString::from(replica)];
        database.replica_poll_ms = 50;
        database.replica_max_lag_ms = 5_000;
        Some(())
    }

    /// Starts the server on the finished settings and logs the admin in.
    async fn start(self, redis_prefix: Option<String>, postgres: Option<PostgresDatabase>) -> TestApp {
        let Self {
            backend,
            dir,
            settings,
            sibling_of,
            ..
        } = self;
        if std::env::var_os("TEST_LOG").is_some() {
            curtain::telemetry::init(&settings.log);
        }
        let auth = settings.auth.clone();
        let database_url = secrecy::ExposeSecret::expose_secret(&settings.database_url()).to_string();
        let app = Application::build(settings).await.expect("the application builds");
        let address = format!("http://127.0.0.1:{}", app.port());
        let metrics_address = app.metrics_address().map(|a| format!("http://{a}"));
        let db = app.state().db.clone();
        let state = app.state().clone();
        if sibling_of.is_none() {
            create_admin(&db, &auth).await;
        }
        let (shutdown, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until(async move {
            let _ = stopped.await;
        }));
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("HTTP client");
        let mut app = TestApp {
            address,
            metrics_address,
            client,
            backend,
            db,
            state,
            database_url,
            redis_prefix,
            admin_token: String::new(),
            postgres,
            shutdown: Some(shutdown),
            server: Some(server),
            dir,
        };
        app.admin_token = app.log_in(ADMIN_EMAIL, ADMIN_PASSWORD).await.access_token;
        app
    }
}
