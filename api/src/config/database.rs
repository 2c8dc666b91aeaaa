//! Settings of the database: the primary, its replicas, the pools, and TLS to PostgreSQL.

use secrecy::SecretString;
use serde::Deserialize;

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
}
