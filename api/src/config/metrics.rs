//! Where Prometheus metrics are served, and how many label values clients can create.

use std::net::IpAddr;

use secrecy::SecretString;
use serde::Deserialize;

/// `/metrics` is served on a listener of its own, on the loopback address by default, so that
/// the public API port never shows it. Behind a firewall, bind it to an address the scraper
/// reaches; or give a `token` to also serve it on the API port to bearers of that token.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSettings {
    /// Serve `/metrics` on `bind:port`.
    pub listen: bool,
    /// Address of the metrics listener; keep it off the public network.
    pub bind: IpAddr,
    /// Port of the metrics listener; `0` picks a free one (the start-up log says which).
    pub port: u16,
    /// When set, `/metrics` is also served on the API port to `Authorization: Bearer <token>`.
    pub token: Option<SecretString>,
    /// Distinct GraphQL operation names that get a label of their own; operations named
    /// after the first this many are counted as `other`, so clients cannot grow the metrics
    /// without bound.
    pub max_operation_labels: usize,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self {
            listen: true,
            bind: IpAddr::from([127, 0, 0, 1]),
            port: 9464,
            token: None,
            max_operation_labels: 100,
        }
    }
}
