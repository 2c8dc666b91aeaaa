//! Settings of authentication: tokens and their signing keys, passwords, lock-outs, limits.

use secrecy::SecretString;
use serde::Deserialize;

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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtKeySetting {
    pub kid: String,
    /// At least 32 bytes of randomness.
    pub secret: SecretString,
}
