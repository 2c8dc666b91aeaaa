//! Payment providers: Toss Payments over HTTP ([`TossClient`]), or a simulated provider for
//! the offline demo ([`SimulatedProvider`]), behind one trait so the payment flow does not
//! care which. Toss is used whenever its secret key is configured.

mod breaker;
mod metered;
mod simulated;
mod toss;

use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;

pub use breaker::CircuitBreaker;
pub use metered::Metered;
pub use simulated::SimulatedProvider;
pub use toss::TossClient;

use crate::config::PaymentSettings;

/// What a provider says about one payment (the parts of Toss's Payment object we use).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderPayment {
    pub payment_key: String,
    pub order_id: String,
    /// Toss's status: READY, IN_PROGRESS, WAITING_FOR_DEPOSIT, DONE, CANCELED,
    /// PARTIAL_CANCELED, ABORTED or EXPIRED.
    pub status: String,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub total_amount: i64,
    /// What is left of the payment after its cancels (Toss's `balanceAmount`).
    #[serde(default)]
    pub balance_amount: Option<i64>,
    #[serde(default)]
    pub approved_at: Option<chrono::DateTime<chrono::FixedOffset>>,
    #[serde(default)]
    pub receipt: Option<Receipt>,
    /// The whole answer, kept with the payment record.
    #[serde(skip)]
    pub raw: serde_json::Value,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Receipt {
    pub url: Option<String>,
}

impl ProviderPayment {
    pub fn is_done(&self) -> bool {
        self.status == "DONE"
    }

    /// Refunded in full: nothing is left. A PARTIAL_CANCELED payment still has a balance
    /// and its booking still stands.
    pub fn is_cancelled(&self) -> bool {
        self.status == "CANCELED"
    }

    pub fn is_partially_cancelled(&self) -> bool {
        self.status == "PARTIAL_CANCELED"
    }

    /// Reads a payment from a provider's JSON answer, keeping the whole answer.
    pub fn from_json(raw: serde_json::Value) -> Result<Self, serde_json::Error> {
        let mut payment: ProviderPayment = serde_json::from_value(raw.clone())?;
        payment.raw = raw;
        Ok(payment)
    }
}

/// Why a provider call did not give an answer to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderError {
    /// The provider refused, for good (card declined, wrong amount, …): its code and
    /// message, which the buyer may see.
    Declined { code: String, message: String },
    /// The request provably did not take effect (never reached the provider, or the
    /// circuit breaker is open): safe to give up.
    Unavailable,
    /// The request may or may not have taken effect (a timeout after sending, repeated
    /// server errors): only asking the provider later tells.
    Unknown(String),
}

pub type ProviderResult<T> = Result<T, ProviderError>;

/// One payment confirmation: the buyer paid `amount` for `order_id` in the provider's
/// widget, which handed the client `payment_key`.
#[derive(Debug, Clone)]
pub struct ConfirmRequest {
    pub payment_key: String,
    pub order_id: String,
    pub amount: i64,
}

#[async_trait]
pub trait PaymentProvider: Send + Sync {
    /// TOSS or SIMULATED, as shown in the API and logs.
    fn name(&self) -> &'static str;

    /// Fails fast with [`ProviderError::Unavailable`] while the provider is known to be down.
    fn check_available(&self) -> ProviderResult<()>;

    /// Approves the payment. The same `idempotency_key` must be used for every attempt of
    /// one confirmation.
    async fn confirm(&self, request: &ConfirmRequest, idempotency_key: &str) -> ProviderResult<ProviderPayment>;

    /// Cancels (refunds) `amount` KRW of an approved payment, or whatever is left of it when
    /// `amount` is `None`. The provider refuses more than is left. Every attempt of one
    /// refund must use the same `idempotency_key`, so that it is made at most once.
    async fn cancel(
        &self,
        payment_key: &str,
        reason: &str,
        amount: Option<i64>,
        idempotency_key: &str,
    ) -> ProviderResult<ProviderPayment>;

    /// The payment of an order, `None` when the provider has none.
    async fn find_by_order(&self, order_id: &str) -> ProviderResult<Option<ProviderPayment>>;
}

pub type SharedProvider = Arc<dyn PaymentProvider>;

/// Toss when its secret key is configured, otherwise the simulated provider.
pub fn from_settings(settings: &PaymentSettings) -> anyhow::Result<SharedProvider> {
    match &settings.toss_secret_key {
        Some(key) => Ok(Arc::new(TossClient::new(settings, key.clone())?)),
        None => Ok(Arc::new(SimulatedProvider::default())),
    }
}
