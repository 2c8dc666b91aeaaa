//! Settings of the shared Redis.

use secrecy::SecretString;
use serde::Deserialize;

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
