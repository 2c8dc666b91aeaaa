//! Typed settings, layered: built-in defaults < `curtain.toml` (optional) < `CURTAIN_*`
//! environment variables < command-line flags.
//!
//! Environment variables name a setting by its section and field joined with `_`
//! (`CURTAIN_SERVER_PORT`, `CURTAIN_DATABASE_URL`, `CURTAIN_GRAPHQL_DEPTH_LIMIT`); the common
//! ones also have short forms (`CURTAIN_PORT`, `CURTAIN_BIND`, `CURTAIN_DATA_DIR`) and the
//! conventional `DATABASE_URL` is accepted too. Secrets are [`SecretString`]s: they never show
//! up in `Debug` output or logs.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

pub(crate) mod cidr;
mod jobs;
mod metrics;
mod notify;
mod payments;
mod search;
mod storage;
mod websocket;

pub use jobs::JobSettings;
pub use metrics::MetricsSettings;
pub use notify::{NotificationSettings, SmtpTls};
pub use payments::PaymentSettings;
pub use search::SearchSettings;
pub use storage::StorageSettings;
pub use websocket::WebSocketSettings;

pub use cidr::Cidr;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// Everything the service can be configured with.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Directory for the embedded SQLite database and local object storage.
    pub data_dir: PathBuf,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub graphql: GraphqlSettings,
    pub websocket: WebSocketSettings,
    pub demo: DemoSettings,
    pub auth: AuthSettings,
    pub booking: BookingSettings,
    pub events: EventSettings,
    pub notifications: NotificationSettings,
    pub jobs: JobSettings,
    pub search: SearchSettings,
    pub kakao: KakaoSettings,
    pub storage: StorageSettings,
    pub payments: PaymentSettings,
    pub redis: RedisSettings,
    pub log: LogSettings,
    pub metrics: MetricsSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Address to listen on; `0.0.0.0` to accept connections from other machines.
    pub bind: IpAddr,
    /// Port to listen on; `0` picks a free one (the start-up log line says which).
    pub port: u16,
    /// Origins allowed to call the API from a browser. Empty allows none cross-origin;
    /// `["*"]` allows any (for local development only).
    pub cors_allowed_origins: Vec<String>,
    /// Largest request body accepted, in bytes.
    pub body_limit_bytes: usize,
    /// Proxies in front of the service, as address blocks (`["10.0.0.0/8", "127.0.0.1"]`).
    /// Only when the peer is one of them is `X-Forwarded-For` read, and the client is the
    /// rightmost hop that is not one of them. Empty (the default): the peer is the client.
    pub trusted_proxies: Vec<Cidr>,
    /// How long a client may take to send a request's headers (and, on a new connection,
    /// its first request); the connection is closed after it. Hyper also counts an idle
    /// kept-alive connection's wait for its next request against it, so behind a load
    /// balancer keep this above the balancer's idle timeout (or lower that one), or the
    /// balancer may reuse a connection just as it is closed.
    pub header_read_timeout_ms: u64,
    /// How long a client may take to send a request's body, counted from its headers;
    /// 408 after it.
    pub body_read_timeout_ms: u64,
    /// How long a request may take, body included, before it is answered 503. A WebSocket
    /// is not cut by it once upgraded. With Toss configured it must exceed the longest
    /// payment call (`payments.max_attempts` × (`connect_timeout_ms` + `read_timeout_ms`)
    /// plus backoff, about 100 s by default), or the service refuses to start: a client
    /// would be told REQUEST_TIMEOUT while it may have been charged.
    pub request_timeout_ms: u64,
    /// Requests served at once; more are refused at once with 503 and `Retry-After` rather
    /// than queued. `/healthz` and `/readyz` are exempt. Defaults to 256 per CPU core.
    pub max_in_flight_requests: Option<usize>,
    /// Base URL the service is reached at, used to build links to stored files.
    /// Defaults to `http://{bind}:{port}`.
    pub public_url: Option<String>,
    /// Serve the buyer web app at `/` (embedded in the binary).
    pub web_app: bool,
    /// How long in-flight requests may take to finish after a shutdown signal.
    pub shutdown_grace_seconds: u64,
    /// The kernel's send buffer of each accepted connection, in bytes; 0 leaves it to the
    /// kernel, which grows it to megabytes on fast links. Bounding it bounds what thousands
    /// of WebSockets whose clients stop reading can hold, and makes them fall behind (and
    /// resync) sooner.
    pub socket_send_buffer_bytes: usize,
}

impl ServerSettings {
    /// The bound on requests in flight: the configured one, or 256 per CPU core.
    pub fn in_flight_limit(&self) -> usize {
        self.max_in_flight_requests
            .unwrap_or_else(|| 256 * std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://…` or `postgres://…`. Defaults to `{data_dir}/curtain.db`.
    pub url: Option<SecretString>,
    /// Upper bound of the connection pool.
    pub max_connections: u32,
    /// Apply pending migrations when the service starts.
    pub migrate_on_start: bool,
    /// Streaming replicas of the primary (PostgreSQL) that serve lag-tolerant reads: the
    /// catalog, reviews, public lists, admin reservation search. A list, or one string of
    /// comma-separated URLs (`DATABASE_REPLICA_URL`). Empty: every read goes to `url`.
    #[serde(deserialize_with = "one_or_many_urls")]
    pub replica_urls: Vec<SecretString>,
    /// A replica further behind the primary than this is skipped until it catches up.
    pub replica_max_lag_ms: u64,
    /// Upper bound of each replica's connection pool.
    pub replica_max_connections: u32,
    /// How often each replica's replay position (and the primary's WAL position) is read.
    pub replica_poll_ms: u64,
    /// How long a read waits to connect to a replica before the replica is skipped.
    pub replica_connect_timeout_ms: u64,
    /// TLS to PostgreSQL (primary and replicas), unless the URL says `sslmode=` itself:
    /// `auto` (plain TCP to a server on loopback or a Unix socket, where TLS only costs CPU,
    /// and `prefer` elsewhere), or libpq's `disable`, `prefer`, `require`, `verify-ca`,
    /// `verify-full`.
    pub ssl_mode: SslMode,
}

/// How connections to PostgreSQL use TLS; see [`DatabaseSettings::ssl_mode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    Auto,
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    /// `url` with this mode, when it is a PostgreSQL URL that does not choose one itself
    /// (`sslmode=` or `ssl-mode=`) and `PGSSLMODE` does not choose one for it.
    pub fn apply(self, url: &str) -> String {
        self.apply_unless(url, std::env::var_os("PGSSLMODE").is_some())
    }

    fn apply_unless(self, url: &str, chosen_by_environment: bool) -> String {
        let postgres = url.starts_with("postgres://") || url.starts_with("postgresql://");
        let chosen = query_pairs(url).any(|(key, _)| key == "sslmode" || key == "ssl-mode");
        if !postgres || chosen || chosen_by_environment {
            return url.to_owned();
        }
        let mode = match self {
            Self::Auto if is_local(url) => "disable",
            Self::Auto | Self::Prefer => "prefer",
            Self::Disable => "disable",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        };
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}sslmode={mode}")
    }
}

/// The `key=value` pairs of a URL's query.
fn query_pairs(url: &str) -> impl Iterator<Item = (&str, &str)> {
    url.split_once('?')
        .map(|(_, query)| query)
        .unwrap_or("")
        .split('&')
        .filter_map(|pair| pair.split_once('='))
}

/// Whether a PostgreSQL URL's server is this machine: loopback, or a Unix socket. A `host=`
/// or `hostaddr=` in the query names the server instead of the URL's host.
fn is_local(url: &str) -> bool {
    let local = |host: &str| {
        host.is_empty()
            || host.starts_with('/')
            || host.eq_ignore_ascii_case("localhost")
            || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
    };
    let named: Vec<&str> = query_pairs(url)
        .filter(|(key, _)| *key == "host" || *key == "hostaddr")
        .map(|(_, value)| value)
        .collect();
    if !named.is_empty() {
        return named.iter().all(|host| local(host));
    }
    let rest = url.split_once("://").map(|(_, rest)| rest).unwrap_or(url);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map(|(_, host)| host).unwrap_or(authority);
    let host = if let Some(bracketed) = host_port.strip_prefix('[') {
        bracketed.split_once(']').map(|(host, _)| host).unwrap_or(bracketed)
    } else {
        host_port.split_once(':').map(|(host, _)| host).unwrap_or(host_port)
    };
    local(host)
}

/// Accepts a list of URLs or one string of comma-separated ones.
fn one_or_many_urls<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<SecretString>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Urls {
        One(String),
        Many(Vec<String>),
    }
    let urls = match Urls::deserialize(deserializer)? {
        Urls::One(text) => text.split(',').map(str::to_owned).collect(),
        Urls::Many(list) => list,
    };
    Ok(urls
        .into_iter()
        .map(|url| url.trim().to_owned())
        .filter(|url| !url.is_empty())
        .map(SecretString::from)
        .collect())
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GraphqlSettings {
    /// Deepest field nesting a query may have, counted through fragments (introspection
    /// fields excluded). Over it: `QUERY_TOO_DEEP`.
    pub depth_limit: usize,
    /// Highest estimated cost a document may have: every field costs 1, a list multiplies
    /// what is selected inside it by its size (a connection by `first`, or the default page
    /// size; a seat list by `seat_map_size_estimate`; any other list by
    /// `list_size_estimate`), and a seat map costs its seats once more for being read.
    /// Over it: `QUERY_TOO_COMPLEX`. See `graphql::cost`.
    pub complexity_limit: usize,
    /// Largest `first` a connection accepts.
    pub max_page_size: u32,
    /// Page size when `first` is not given.
    pub default_page_size: u32,
    /// Serve GraphiQL at `/graphiql`.
    pub graphiql: bool,
    /// Accept automatic persisted queries: documents registered by their SHA-256 and then
    /// sent by hash alone (see `graphql::persisted`).
    pub persisted_queries: bool,
    /// Run only the operations of `persisted_manifest` (trusted documents), for production
    /// APIs whose only clients are your own apps.
    pub persisted_only: bool,
    /// A manifest of persisted operations: Apollo's `persisted-query-manifest.json` or a map
    /// of ids to documents. Required by `persisted_only`; otherwise its operations are
    /// registered at start.
    pub persisted_manifest: Option<PathBuf>,
    /// How long shared caches (a CDN) may keep an anonymous query's answer to GET, when it
    /// has no errors (`Cache-Control: public, max-age=…`); 0: never. Anything else is
    /// `private, no-store`.
    pub get_cache_seconds: u64,
    /// How long a WebSocket client has to send `connection_init` before it is closed (4408).
    pub ws_init_timeout_ms: u64,
    /// Longest document (query text) accepted, in bytes, checked before it is parsed.
    pub document_bytes_limit: usize,
    /// Most lexical tokens (names, punctuation, values) a document may have, checked before
    /// it is parsed.
    pub token_limit: usize,
    /// Most fields and fragments a document may select once its fragments are expanded.
    pub selection_limit: usize,
    /// Most fragment spreads (named or inline) a document may have once expanded.
    pub fragment_spread_limit: usize,
    /// Most fields at the root of the operations, counted through fragments.
    pub root_field_limit: usize,
    /// Most aliased fields, counted through fragments.
    pub alias_limit: usize,
    /// Items assumed in a plain list (not a connection, not seats) when estimating cost.
    pub list_size_estimate: usize,
    /// Seats assumed in one seat map when estimating cost: by default the most a venue may
    /// have, so the estimate holds for any session without asking the database.
    pub seat_map_size_estimate: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DemoSettings {
    /// Load the demo catalog when the database has no venues at start-up.
    pub seed_when_empty: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// Lifetime of an access token.
    pub access_token_minutes: i64,
    /// Lifetime of a refresh token (each use replaces it with a new one).
    pub refresh_token_days: i64,
    /// Signing keys; the first signs, all verify. Rotate by adding a new key first and
    /// removing the old one after `access_token_minutes`. With none, a key is generated and
    /// kept in the data directory.
    pub jwt_keys: Vec<JwtKeySetting>,
    pub password_min_length: usize,
    /// Argon2id memory cost in KiB (19,456 is OWASP's recommendation).
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    /// Failed log-ins for one account from one address within the window that lock it.
    pub lockout_threshold: u32,
    pub lockout_window_seconds: u64,
    /// How long a lock lasts.
    pub lockout_seconds: u64,
    /// Calls per minute per client address to logIn, signUp and refreshToken (each).
    pub rate_limit_per_minute: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BookingSettings {
    /// How long seats stay held for an unpaid reservation.
    pub hold_seconds: i64,
    /// Seats one buyer may hold or own in one session.
    pub max_seats_per_buyer: usize,
    /// How often lapsed holds are swept back to AVAILABLE (0 turns the sweeper off).
    pub sweep_interval_seconds: u64,
    /// `holdSeats`/`holdBestAvailable` calls one account may make per minute; beyond it,
    /// RATE_LIMITED (0: no limit).
    pub hold_attempts_per_account_per_minute: u32,
    /// `holdSeats`/`holdBestAvailable` calls from one client address per minute, over all
    /// accounts; beyond it, RATE_LIMITED (0: no limit). Higher than the per-account limit,
    /// because many buyers can share an address (an office, a mobile carrier).
    pub hold_attempts_per_ip_per_minute: u32,
    /// Reservations one account may have waiting for payment (HELD or PAYING) at once,
    /// over all sessions; one more hold is RATE_LIMITED until one is paid, released or
    /// lapses. Counted in the hold's transaction, so it holds under any concurrency.
    pub max_live_reservations_per_buyer: usize,
    /// How often each instance runs the admission of every open waiting room (see
    /// [`crate::domain::waiting_room`]); 0 turns admission off on this instance.
    pub waiting_room_tick_ms: u64,
    /// The least time between two position events of one `waitingRoomUpdates` subscriber;
    /// a change of state (admitted, sold out) is sent at once.
    pub waiting_room_event_interval_ms: u64,
    /// Hold requests for one session applied together in one transaction at most (group
    /// commit; see `domain::holds::combiner`). 1 applies every hold on its own.
    pub hold_batch_max: usize,
}

/// The outbox relay and the live seat map.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventSettings {
    /// How often the outbox relay looks for events written by other instances. Events
    /// written by this instance are relayed at once.
    pub relay_poll_ms: u64,
    /// How long published events are kept; seat-map subscribers can resume from
    /// `afterVersion` within this window.
    pub outbox_retention_hours: i64,
    /// Seat-map events buffered per subscriber; one that falls further behind gets a fresh
    /// snapshot instead.
    pub seat_map_buffer: usize,
    /// How often each watched session's version is compared with the database, so that a
    /// seat map converges even when a bus message was lost.
    pub seat_map_check_ms: u64,
    /// For subscribers that ask to `coalesce`: during a burst, the deltas of each period this
    /// long go out merged into one (the first change of a quiet spell goes at once).
    pub seat_map_coalesce_ms: u64,
}

impl Default for EventSettings {
    fn default() -> Self {
        Self {
            relay_poll_ms: 100,
            outbox_retention_hours: 24,
            seat_map_buffer: 256,
            seat_map_check_ms: 2_000,
            seat_map_coalesce_ms: 250,
        }
    }
}

impl Default for BookingSettings {
    fn default() -> Self {
        Self {
            hold_seconds: 600,
            max_seats_per_buyer: 4,
            sweep_interval_seconds: 5,
            hold_attempts_per_account_per_minute: 10,
            hold_attempts_per_ip_per_minute: 60,
            max_live_reservations_per_buyer: 4,
            waiting_room_tick_ms: 1_000,
            waiting_room_event_interval_ms: 1_000,
            hold_batch_max: 128,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtKeySetting {
    pub kid: String,
    /// At least 32 bytes of randomness.
    pub secret: SecretString,
}

/// Kakao log-in (OAuth 2.0 authorization code with PKCE). Off until `client_id` is set.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KakaoSettings {
    /// The app's REST API key.
    pub client_id: Option<String>,
    pub client_secret: Option<SecretString>,
    pub authorize_url: String,
    pub token_url: String,
    pub profile_url: String,
    /// Redirect URIs clients may ask for; empty allows any (Kakao still checks its own list).
    pub allowed_redirect_uris: Vec<String>,
    /// Timeout of each call to Kakao.
    pub timeout_seconds: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisSettings {
    /// `redis://host:6379`; when set, rate limits, lock-outs, the token deny-list and OAuth
    /// states are shared by every instance. Also read from `REDIS_URL`.
    pub url: Option<SecretString>,
    /// Prefix of every key, so that several deployments can share one Redis.
    pub key_prefix: String,
}

impl Default for RedisSettings {
    fn default() -> Self {
        Self {
            url: None,
            key_prefix: "curtain:".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// `tracing` filter directives, e.g. `info,curtain=debug`. `RUST_LOG` wins when set.
    pub filter: String,
    /// `pretty` for people, `json` for log collectors.
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            server: ServerSettings::default(),
            database: DatabaseSettings::default(),
            graphql: GraphqlSettings::default(),
            websocket: WebSocketSettings::default(),
            demo: DemoSettings::default(),
            auth: AuthSettings::default(),
            booking: BookingSettings::default(),
            events: EventSettings::default(),
            notifications: NotificationSettings::default(),
            jobs: JobSettings::default(),
            search: SearchSettings::default(),
            kakao: KakaoSettings::default(),
            storage: StorageSettings::default(),
            payments: PaymentSettings::default(),
            redis: RedisSettings::default(),
            log: LogSettings::default(),
            metrics: MetricsSettings::default(),
        }
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            bind: IpAddr::from([127, 0, 0, 1]),
            port: 8080,
            cors_allowed_origins: Vec::new(),
            body_limit_bytes: 2 * 1024 * 1024,
            trusted_proxies: Vec::new(),
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 30_000,
            request_timeout_ms: 120_000,
            max_in_flight_requests: None,
            public_url: None,
            web_app: true,
            shutdown_grace_seconds: 20,
            socket_send_buffer_bytes: 0,
        }
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: None,
            max_connections: 16,
            migrate_on_start: true,
            replica_urls: Vec::new(),
            replica_max_lag_ms: 5_000,
            replica_max_connections: 16,
            replica_poll_ms: 250,
            replica_connect_timeout_ms: 2_000,
            ssl_mode: SslMode::Auto,
        }
    }
}

impl Default for GraphqlSettings {
    fn default() -> Self {
        Self {
            depth_limit: 12,
            complexity_limit: 250_000,
            max_page_size: 100,
            default_page_size: 20,
            graphiql: true,
            persisted_queries: true,
            persisted_only: false,
            persisted_manifest: None,
            get_cache_seconds: 5,
            ws_init_timeout_ms: 3_000,
            document_bytes_limit: 16 * 1024,
            token_limit: 4_000,
            selection_limit: 2_000,
            fragment_spread_limit: 500,
            root_field_limit: 32,
            alias_limit: 64,
            list_size_estimate: 20,
            // The largest seat map a venue may have (`domain::venues::MAX_SEATS_PER_VENUE`,
            // which a test there keeps equal); settings sit below the domain.
            seat_map_size_estimate: 20_000,
        }
    }
}

impl Default for DemoSettings {
    fn default() -> Self {
        Self { seed_when_empty: true }
    }
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            access_token_minutes: 15,
            refresh_token_days: 14,
            jwt_keys: Vec::new(),
            password_min_length: 10,
            argon2_memory_kib: 19_456,
            argon2_iterations: 2,
            lockout_threshold: 5,
            lockout_window_seconds: 15 * 60,
            lockout_seconds: 15 * 60,
            rate_limit_per_minute: 30,
        }
    }
}

impl Default for KakaoSettings {
    fn default() -> Self {
        Self {
            client_id: None,
            client_secret: None,
            authorize_url: "https://kauth.kakao.com/oauth/authorize".into(),
            token_url: "https://kauth.kakao.com/oauth/token".into(),
            profile_url: "https://kapi.kakao.com/v2/user/me".into(),
            allowed_redirect_uris: Vec::new(),
            timeout_seconds: 10,
        }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            filter: "info,sea_orm=warn".into(),
            format: LogFormat::Pretty,
        }
    }
}

/// Sections whose fields may be named `CURTAIN_{SECTION}_{FIELD}`.
const SECTIONS: &[&str] = &[
    "server",
    "database",
    "graphql",
    "websocket",
    "demo",
    "auth",
    "booking",
    "events",
    "notifications",
    "jobs",
    "search",
    "kakao",
    "storage",
    "payments",
    "redis",
    "log",
    "metrics",
];

/// Short environment names for the settings people change most.
const ALIASES: &[(&str, &str)] = &[
    ("port", "server.port"),
    ("bind", "server.bind"),
    ("public_url", "server.public_url"),
];

/// Where the settings file is looked for when no path is given.
pub const DEFAULT_CONFIG_FILE: &str = "curtain.toml";

impl Settings {
    /// Reads defaults, then the TOML file (if it exists), then the environment.
    pub fn load(config_file: Option<&Path>) -> Result<Self, Box<figment::Error>> {
        let file = config_file.unwrap_or(Path::new(DEFAULT_CONFIG_FILE));
        if config_file.is_some() && !file.exists() {
            return Err(Box::new(figment::Error::from(format!(
                "configuration file {} does not exist",
                file.display()
            ))));
        }
        Self::figment(file).extract().map_err(Box::new)
    }

    fn figment(file: &Path) -> Figment {
        Figment::new()
            .merge(Toml::file(file))
            .merge(Env::raw().only(&["DATABASE_URL"]).map(|_| "database.url".into()))
            .merge(
                Env::raw()
                    .only(&["DATABASE_REPLICA_URL"])
                    .map(|_| "database.replica_urls".into()),
            )
            .merge(Env::raw().only(&["REDIS_URL"]).map(|_| "redis.url".into()))
            // `CURTAIN_TEST_*` belongs to the test suite, not to the service.
            .merge(
                Env::prefixed("CURTAIN_")
                    .filter(|key| !key.as_str().to_ascii_lowercase().starts_with("test_"))
                    .map(|key| env_key_to_path(key.as_str()).into()),
            )
    }

    /// Refuses a request deadline shorter than the longest call to Toss (when Toss is
    /// configured; the simulated provider does not wait): a `confirmPayment` cut off by it
    /// would tell the buyer REQUEST_TIMEOUT while the payment may have gone through.
    pub fn check_request_deadline(&self) -> Result<(), String> {
        if self.payments.toss_secret_key.is_none() {
            return Ok(());
        }
        let deadline = std::time::Duration::from_millis(self.server.request_timeout_ms);
        let longest = self.payments.longest_call();
        if deadline < longest {
            return Err(format!(
                "server.request_timeout_ms ({} ms) is shorter than the longest call to Toss Payments \
                 ({} ms: payments.max_attempts × (connect_timeout_ms + read_timeout_ms) + backoff); \
                 raise it (CURTAIN_SERVER_REQUEST_TIMEOUT_MS) or lower the payment timeouts",
                self.server.request_timeout_ms,
                longest.as_millis()
            ));
        }
        Ok(())
    }

    /// The database URL in force: the configured one, or the SQLite file in the data directory.
    pub fn database_url(&self) -> SecretString {
        match &self.database.url {
            Some(url) => SecretString::from(self.database.ssl_mode.apply(url.expose_secret())),
            None => {
                let path = self.data_dir.join("curtain.db");
                SecretString::from(format!("sqlite://{}?mode=rwc", path.display()))
            }
        }
    }

    /// True when the database in force is the embedded SQLite file.
    pub fn uses_sqlite(&self) -> bool {
        self.database_url().expose_secret().starts_with("sqlite:")
    }

    /// Where the search index lives (unless `search.in_memory`).
    pub fn search_dir(&self) -> PathBuf {
        self.data_dir.join("search")
    }

    /// Where locally stored files (posters) live.
    pub fn files_dir(&self) -> PathBuf {
        self.data_dir.join("files")
    }
}

/// Turns `SERVER_PORT` into `server.port`, `DATA_DIR` into `data_dir`, `PORT` into `server.port`.
fn env_key_to_path(key: &str) -> String {
    let key = key.to_ascii_lowercase();
    if let Some((_, path)) = ALIASES.iter().find(|(alias, _)| *alias == key) {
        return (*path).to_string();
    }
    for section in SECTIONS {
        if let Some(field) = key.strip_prefix(section).and_then(|rest| rest.strip_prefix('_')) {
            return format!("{section}.{field}");
        }
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_to_postgres_is_off_on_this_machine_and_preferred_elsewhere_unless_the_url_says() {
        let auto = SslMode::Auto;
        let apply = |mode: SslMode, url: &str| mode.apply_unless(url, false);
        assert_eq!(
            apply(auto, "postgres://u@127.0.0.1:5432/db"),
            "postgres://u@127.0.0.1:5432/db?sslmode=disable"
        );
        assert_eq!(
            apply(auto, "postgres://u:p@localhost/db?x=1"),
            "postgres://u:p@localhost/db?x=1&sslmode=disable"
        );
        assert_eq!(
            apply(auto, "postgres://[::1]:5433/db"),
            "postgres://[::1]:5433/db?sslmode=disable"
        );
        assert_eq!(
            apply(auto, "postgres:///db?host=/run/postgresql"),
            "postgres:///db?host=/run/postgresql&sslmode=disable"
        );
        assert_eq!(
            apply(auto, "postgresql://db.internal:5432/db"),
            "postgresql://db.internal:5432/db?sslmode=prefer"
        );
        assert_eq!(
            apply(auto, "postgres://10.0.0.5/db"),
            "postgres://10.0.0.5/db?sslmode=prefer"
        );
        assert_eq!(
            apply(SslMode::Require, "postgres://127.0.0.1/db"),
            "postgres://127.0.0.1/db?sslmode=require"
        );
        let chosen = "postgres://db.internal/db?sslmode=verify-full";
        assert_eq!(apply(auto, chosen), chosen, "the URL's own choice wins");
        assert_eq!(
            apply(auto, "sqlite://data/curtain.db?mode=rwc"),
            "sqlite://data/curtain.db?mode=rwc"
        );
        assert_eq!(
            apply(auto, "postgres://db.internal/db?ssl-mode=verify-full"),
            "postgres://db.internal/db?ssl-mode=verify-full",
            "sqlx's other spelling is a choice too"
        );
        assert_eq!(
            apply(auto, "postgres:///db?host=db.remote"),
            "postgres:///db?host=db.remote&sslmode=prefer",
            "a remote host= is not this machine"
        );
        assert_eq!(
            auto.apply_unless("postgres://db.internal/db", true),
            "postgres://db.internal/db",
            "PGSSLMODE chooses"
        );
    }

    #[test]
    fn the_request_deadline_must_outlast_the_longest_payment_call() {
        let mut settings = Settings::default();
        assert_eq!(settings.payments.longest_call().as_millis(), 3 * 33_000 + 200 + 400);
        settings.payments.toss_secret_key = Some(SecretString::from("test_sk_x"));
        assert_eq!(settings.check_request_deadline(), Ok(()), "the defaults fit");
        settings.server.request_timeout_ms = 60_000;
        let refused = settings.check_request_deadline().expect_err("60 s is too short");
        assert!(refused.contains("request_timeout_ms"), "{refused}");
        settings.payments.read_timeout_ms = 15_000;
        assert_eq!(
            settings.check_request_deadline(),
            Ok(()),
            "shorter payment timeouts fit"
        );
        settings.payments.toss_secret_key = None;
        settings.server.request_timeout_ms = 300;
        assert_eq!(
            settings.check_request_deadline(),
            Ok(()),
            "the simulated provider never waits"
        );
    }

    #[test]
    fn environment_keys_map_to_sections_and_aliases() {
        assert_eq!(env_key_to_path("SERVER_PORT"), "server.port");
        assert_eq!(env_key_to_path("PORT"), "server.port");
        assert_eq!(env_key_to_path("DATABASE_MAX_CONNECTIONS"), "database.max_connections");
        assert_eq!(env_key_to_path("GRAPHQL_DEPTH_LIMIT"), "graphql.depth_limit");
        assert_eq!(env_key_to_path("DATA_DIR"), "data_dir");
        assert_eq!(env_key_to_path("STORAGE_S3_BUCKET"), "storage.s3_bucket");
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API returns its own error type.
    fn the_file_is_overridden_by_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("curtain.toml", "[server]\nport = 9000\nbind = \"0.0.0.0\"\n")?;
            jail.set_env("CURTAIN_PORT", "9100");
            jail.set_env("DATABASE_URL", "postgres://localhost/curtain");
            jail.set_env("CURTAIN_TEST_DATABASE_URL", "postgres://ignored");
            let settings = Settings::load(None).map_err(|e| *e)?;
            assert_eq!(settings.server.port, 9100);
            assert_eq!(settings.server.bind.to_string(), "0.0.0.0");
            assert_eq!(
                settings.database_url().expose_secret(),
                "postgres://localhost/curtain?sslmode=disable"
            );
            assert!(
                !format!("{settings:?}").contains("postgres://localhost"),
                "secrets must not print"
            );
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API returns its own error type.
    fn trusted_proxies_are_address_blocks_and_the_old_switch_is_refused() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("CURTAIN_SERVER_TRUSTED_PROXIES", r#"["10.0.0.0/8", "127.0.0.1"]"#);
            let settings = Settings::load(None).map_err(|e| *e)?;
            let proxies: Vec<String> = settings
                .server
                .trusted_proxies
                .iter()
                .map(ToString::to_string)
                .collect();
            assert_eq!(proxies, ["10.0.0.0/8", "127.0.0.1/32"]);

            jail.set_env("CURTAIN_SERVER_TRUSTED_PROXIES", r#"["10.0.0.0/40"]"#);
            assert!(Settings::load(None).is_err(), "a bad block is refused at start-up");
            jail.set_env("CURTAIN_SERVER_TRUSTED_PROXIES", "[]");
            // Trusting every peer's leftmost hop was the flaw: the old switch must not load.
            jail.set_env("CURTAIN_SERVER_TRUST_FORWARDED_FOR", "true");
            assert!(Settings::load(None).is_err());
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API returns its own error type.
    fn replicas_are_one_comma_separated_string_or_a_list() {
        figment::Jail::expect_with(|jail| {
            let urls = |settings: &Settings| -> Vec<String> {
                let urls = settings.database.replica_urls.iter();
                urls.map(|url| url.expose_secret().to_owned()).collect()
            };
            assert!(urls(&Settings::load(None).map_err(|e| *e)?).is_empty());
            jail.set_env("DATABASE_REPLICA_URL", "postgres://r1/curtain, postgres://r2/curtain");
            let settings = Settings::load(None).map_err(|e| *e)?;
            assert_eq!(urls(&settings), ["postgres://r1/curtain", "postgres://r2/curtain"]);
            assert!(!format!("{settings:?}").contains("r1"), "replica URLs must not print");
            jail.clear_env();
            jail.create_file(
                "curtain.toml",
                "[database]\nreplica_urls = [\"postgres://r3/curtain\"]\n",
            )?;
            assert_eq!(urls(&Settings::load(None).map_err(|e| *e)?), ["postgres://r3/curtain"]);
            Ok(())
        });
    }

    #[test]
    fn the_default_database_is_sqlite_in_the_data_dir() {
        let settings = Settings::default();
        assert!(settings.uses_sqlite());
        assert!(settings.database_url().expose_secret().contains("data/curtain.db"));
    }
}
