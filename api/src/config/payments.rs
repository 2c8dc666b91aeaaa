//! Settings of payments: the Toss Payments client, its failure handling, and cancellations.

use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PaymentSettings {
    /// Toss Payments secret key (`test_sk_…` or `live_sk_…`). Without it payments go to the
    /// built-in SIMULATED provider, which moves no money.
    pub toss_secret_key: Option<SecretString>,
    /// Toss Payments client key, handed to the payment widget.
    pub toss_client_key: Option<String>,
    /// Base URL of the Toss Payments API.
    pub toss_base_url: String,
    /// How long connecting to Toss may take.
    pub connect_timeout_ms: u64,
    /// How long Toss may stay silent while answering; after that the outcome is unknown.
    pub read_timeout_ms: u64,
    /// Attempts per call, counting the first (only calls that provably did not reach Toss,
    /// or got a retryable error, are repeated).
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubled for each further one, with jitter.
    pub backoff_base_ms: u64,
    /// Failures in a row that open the circuit breaker.
    pub breaker_failure_threshold: u32,
    /// How long the open breaker refuses calls before letting a probe through.
    pub breaker_open_seconds: u64,
    /// Buyers cannot cancel a paid reservation later than this many hours before the show
    /// (admins can).
    pub cancel_cutoff_hours: i64,
    /// A reservation left PAYING this long is settled by reconciliation, asking Toss.
    pub reconcile_after_seconds: i64,
    /// Orders one instance settles at once for Toss's webhook (each asks Toss about the
    /// order); a webhook beyond that is answered 503 so that Toss sends it again later.
    /// Webhooks about an order already being settled do not count: they are coalesced.
    pub webhook_concurrency: usize,
}

impl Default for PaymentSettings {
    fn default() -> Self {
        Self {
            toss_secret_key: None,
            toss_client_key: None,
            toss_base_url: "https://api.tosspayments.com".into(),
            connect_timeout_ms: 3_000,
            read_timeout_ms: 30_000,
            max_attempts: 3,
            backoff_base_ms: 200,
            breaker_failure_threshold: 5,
            breaker_open_seconds: 30,
            cancel_cutoff_hours: 24,
            reconcile_after_seconds: 60,
            webhook_concurrency: 8,
        }
    }
}

impl PaymentSettings {
    /// The longest one call to Toss can take: every attempt waiting out its connect and read
    /// timeouts, plus the longest backoffs between them. A request that asks Toss must be
    /// allowed at least this long (see `server.request_timeout_ms`).
    pub fn longest_call(&self) -> Duration {
        let attempts = self.max_attempts.max(1);
        let per_attempt = Duration::from_millis(self.connect_timeout_ms.saturating_add(self.read_timeout_ms));
        let backoff = Duration::from_millis(self.backoff_base_ms);
        // As the Toss client backs off: up to `base × 2^(attempt-2)` before attempt 2, 3, …
        let backoffs = (2..=attempts)
            .map(|attempt| backoff.saturating_mul(1 << (attempt - 2).min(10)))
            .fold(Duration::ZERO, Duration::saturating_add);
        per_attempt.saturating_mul(attempts).saturating_add(backoffs)
    }
}
