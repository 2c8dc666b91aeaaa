//! Typed settings, layered: built-in defaults < `curtain.toml` (optional) < `CURTAIN_*`
//! environment variables < command-line flags.
//!
//! Environment variables name a setting by its section and field joined with `_`
//! (`CURTAIN_SERVER_PORT`, `CURTAIN_DATABASE_URL`, `CURTAIN_GRAPHQL_DEPTH_LIMIT`); the common
//! ones also have short forms (`CURTAIN_PORT`, `CURTAIN_BIND`, `CURTAIN_DATA_DIR`) and the
//! conventional `DATABASE_URL` is accepted too. Secrets are [`SecretString`]s: they never show
//! up in `Debug` output or logs.

use std::path::{Path, PathBuf};

mod auth;
mod booking;
pub(crate) mod cidr;
mod database;
mod demo;
mod events;
mod graphql;
mod jobs;
mod kakao;
mod log;
mod metrics;
mod notify;
mod payments;
mod redis;
mod search;
mod server;
mod storage;
mod websocket;

pub use auth::{AuthSettings, JwtKeySetting};
pub use booking::BookingSettings;
pub use database::{DatabaseSettings, SslMode};
pub use demo::DemoSettings;
pub use events::EventSettings;
pub use graphql::GraphqlSettings;
pub use jobs::JobSettings;
pub use kakao::KakaoSettings;
pub use log::{LogFormat, LogSettings};
pub use metrics::MetricsSettings;
pub use notify::{NotificationSettings, SmtpTls};
pub use payments::PaymentSettings;
pub use redis::RedisSettings;
pub use search::SearchSettings;
pub use server::ServerSettings;
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
