//! Counts every call to the payment provider by outcome, for `/metrics`: a provider wrapped
//! once at start-up, so no call site can forget to count.

use std::sync::Arc;

use async_trait::async_trait;

use super::{ConfirmRequest, PaymentProvider, ProviderError, ProviderPayment, ProviderResult, SharedProvider};
use crate::metrics::Metrics;

pub struct Metered {
    inner: SharedProvider,
    metrics: Arc<Metrics>,
}

impl Metered {
    pub fn wrap(inner: SharedProvider, metrics: Arc<Metrics>) -> SharedProvider {
        Arc::new(Self { inner, metrics })
    }

    fn count<T>(&self, result: ProviderResult<T>) -> ProviderResult<T> {
        let outcome = match &result {
            Ok(_) => "ok",
            Err(ProviderError::Declined { .. }) => "refused",
            // Refused before any call went out: the breaker is open.
            Err(ProviderError::Unavailable) if self.inner.check_available().is_err() => "breaker_open",
            Err(_) => "error",
        };
        self.metrics.count_payment_call(outcome);
        result
    }
}

#[async_trait]
impl PaymentProvider for Metered {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn check_available(&self) -> ProviderResult<()> {
        self.inner.check_available()
    }

    async fn confirm(&self, request: &ConfirmRequest, idempotency_key: &str) -> ProviderResult<ProviderPayment> {
        self.count(self.inner.confirm(request, idempotency_key).await)
    }

    async fn cancel(
        &self,
        payment_key: &str,
        reason: &str,
        amount: Option<i64>,
        idempotency_key: &str,
    ) -> ProviderResult<ProviderPayment> {
        self.count(self.inner.cancel(payment_key, reason, amount, idempotency_key).await)
    }

    async fn find_by_order(&self, order_id: &str) -> ProviderResult<Option<ProviderPayment>> {
        self.count(self.inner.find_by_order(order_id).await)
    }
}
