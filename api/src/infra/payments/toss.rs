//! The Toss Payments client: Basic authentication with the secret key, `Idempotency-Key`
//! on every write, connect and read timeouts, bounded retries with exponential backoff and
//! jitter, and a circuit breaker.
//!
//! A call is retried only when the request provably never reached Toss (the connection
//! could not be made) or Toss answered with an error it documents as retryable; always
//! with the same idempotency key, so that Toss does the work at most once. A timeout after
//! the request went out is never retried here: the outcome is unknown and the payment
//! flow leaves it to reconciliation.

use std::time::Duration;

use async_trait::async_trait;
use rand::Rng;
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};

use super::breaker::Permit;
use super::{CircuitBreaker, ConfirmRequest, PaymentProvider, ProviderError, ProviderPayment, ProviderResult};
use crate::config::PaymentSettings;

/// Toss error codes that mean "try again": its own or a card company's transient failure.
const RETRYABLE_CODES: &[&str] = &[
    "PROVIDER_ERROR",
    "FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING",
    "FAILED_INTERNAL_SYSTEM_PROCESSING",
    "UNKNOWN_PAYMENT_ERROR",
];

pub struct TossClient {
    http: reqwest::Client,
    base_url: String,
    secret_key: SecretString,
    max_attempts: u32,
    backoff: Duration,
    breaker: CircuitBreaker,
}

impl std::fmt::Debug for TossClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TossClient")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// Toss's error body.
#[derive(Debug, Deserialize)]
struct TossError {
    code: String,
    message: String,
}

/// How one attempt went.
enum Attempt {
    Answered(Value),
    /// The connection could not be made: the request never left.
    NotSent,
    /// Toss answered with a retryable error.
    Retryable {
        code: String,
        message: String,
    },
}

impl TossClient {
    pub fn new(settings: &PaymentSettings, secret_key: SecretString) -> anyhow::Result<Self> {
        let connect = Duration::from_millis(settings.connect_timeout_ms);
        let read = Duration::from_millis(settings.read_timeout_ms);
        let http = reqwest::Client::builder()
            .connect_timeout(connect)
            .read_timeout(read)
            .timeout(connect + read)
            .build()?;
        Ok(Self {
            http,
            base_url: settings.toss_base_url.trim_end_matches('/').to_string(),
            secret_key,
            max_attempts: settings.max_attempts.max(1),
            backoff: Duration::from_millis(settings.backoff_base_ms),
            breaker: CircuitBreaker::new(
                settings.breaker_failure_threshold,
                Duration::from_secs(settings.breaker_open_seconds),
                // One call's longest wait; a probe still silent after it was lost somewhere.
                connect + read,
            ),
        })
    }

    /// Sends one call with retries; returns the JSON of a successful answer.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        idempotency_key: Option<&str>,
    ) -> ProviderResult<Value> {
        let mut reached = None;
        for attempt in 1..=self.max_attempts {
            if attempt > 1 {
                tokio::time::sleep(self.backoff_for(attempt)).await;
            }
            let Some(permit) = self.breaker.allow() else {
                break;
            };
            match self
                .attempt(permit, method.clone(), path, body.as_ref(), idempotency_key)
                .await?
            {
                Attempt::Answered(value) => return Ok(value),
                Attempt::NotSent => {
                    tracing::warn!(path, attempt, "could not connect to Toss Payments");
                }
                Attempt::Retryable { code, message } => {
                    tracing::warn!(
                        path,
                        attempt,
                        code,
                        message,
                        "Toss Payments answered with a retryable error"
                    );
                    reached = Some(code);
                }
            }
        }
        match reached {
            // Toss saw the request and failed: whether it did the work only it can tell later.
            Some(code) => Err(ProviderError::Unknown(format!("Toss kept failing with {code}"))),
            None => Err(ProviderError::Unavailable),
        }
    }

    /// One attempt, reporting its outcome to the breaker through `permit` (if this future is
    /// dropped first, the permit says so).
    async fn attempt(
        &self,
        permit: Permit<'_>,
        method: Method,
        path: &str,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> ProviderResult<Attempt> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base_url))
            .basic_auth(self.secret_key.expose_secret(), Some(""));
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(err) if err.is_connect() => {
                permit.failure();
                return Ok(Attempt::NotSent);
            }
            Err(err) => {
                permit.failure();
                tracing::warn!(path, error = %err, "no answer from Toss Payments; the outcome is unknown");
                return Err(ProviderError::Unknown(err.to_string()));
            }
        };
        let status = response.status();
        let value: Value = match response.json().await {
            Ok(value) => value,
            Err(err) => {
                permit.failure();
                return Err(ProviderError::Unknown(format!("unreadable answer ({status}): {err}")));
            }
        };
        if status.is_success() {
            permit.success();
            return Ok(Attempt::Answered(value));
        }
        let error: TossError = serde_json::from_value(value).unwrap_or(TossError {
            code: format!("HTTP_{}", status.as_u16()),
            message: "Toss Payments answered with an error".into(),
        });
        if status.is_server_error()
            || status == StatusCode::TOO_MANY_REQUESTS
            || RETRYABLE_CODES.contains(&error.code.as_str())
        {
            permit.failure();
            return Ok(Attempt::Retryable {
                code: error.code,
                message: error.message,
            });
        }
        // A definite refusal: Toss is up and answering.
        permit.success();
        Err(ProviderError::Declined {
            code: error.code,
            message: error.message,
        })
    }

    /// Exponential backoff with full jitter: up to `base × 2^(attempt-2)`.
    fn backoff_for(&self, attempt: u32) -> Duration {
        let ceiling = self.backoff.saturating_mul(1 << attempt.saturating_sub(2).min(10));
        let millis = ceiling.as_millis().max(1) as u64;
        Duration::from_millis(rand::rng().random_range(millis / 2..=millis))
    }
}

fn payment(value: Value) -> ProviderResult<ProviderPayment> {
    ProviderPayment::from_json(value).map_err(|err| ProviderError::Unknown(format!("unexpected payment object: {err}")))
}

#[async_trait]
impl PaymentProvider for TossClient {
    fn name(&self) -> &'static str {
        "TOSS"
    }

    fn check_available(&self) -> ProviderResult<()> {
        if self.breaker.is_open() {
            return Err(ProviderError::Unavailable);
        }
        Ok(())
    }

    async fn confirm(&self, request: &ConfirmRequest, idempotency_key: &str) -> ProviderResult<ProviderPayment> {
        let body = json!({
            "paymentKey": request.payment_key,
            "orderId": request.order_id,
            "amount": request.amount,
        });
        match self
            .call(Method::POST, "/v1/payments/confirm", Some(body), Some(idempotency_key))
            .await
        {
            Ok(value) => payment(value),
            // Toss already approved this payment (an earlier confirmation whose answer was
            // lost): not a refusal, an outcome only reading the payment back can tell.
            Err(ProviderError::Declined { code, .. }) if code == "ALREADY_PROCESSED_PAYMENT" => Err(
                ProviderError::Unknown("Toss says the payment was already processed".into()),
            ),
            Err(err) => Err(err),
        }
    }

    async fn cancel(
        &self,
        payment_key: &str,
        reason: &str,
        amount: Option<i64>,
        idempotency_key: &str,
    ) -> ProviderResult<ProviderPayment> {
        let path = format!("/v1/payments/{}/cancel", path_segment(payment_key));
        let mut body = json!({ "cancelReason": reason });
        // Without `cancelAmount` Toss refunds whatever is left.
        if let Some(amount) = amount {
            body["cancelAmount"] = json!(amount);
        }
        payment(
            self.call(Method::POST, &path, Some(body), Some(idempotency_key))
                .await?,
        )
    }

    async fn find_by_order(&self, order_id: &str) -> ProviderResult<Option<ProviderPayment>> {
        let path = format!("/v1/payments/orders/{}", path_segment(order_id));
        match self.call(Method::GET, &path, None, None).await {
            Ok(value) => payment(value).map(Some),
            Err(ProviderError::Declined { code, .. }) if code == "NOT_FOUND_PAYMENT" => Ok(None),
            Err(err) => Err(err),
        }
    }
}

/// Keeps a client-supplied key from reaching another path: only URL-safe characters pass.
fn path_segment(value: &str) -> String {
    value
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '=' | '.'))
        .collect()
}
