//! The simulated payment provider of embedded mode: no money moves, so the whole buy flow
//! works offline in the demo. It approves any payment key, except keys starting with
//! `sim_decline` (declined) and `sim_timeout` (no answer, as if Toss timed out after the
//! request went out: the unknown-outcome path).

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::Utc;
use serde_json::json;

use super::{ConfirmRequest, PaymentProvider, ProviderError, ProviderPayment, ProviderResult};

#[derive(Debug, Default)]
pub struct SimulatedProvider {
    /// Approved payments by order, as Toss would remember them.
    payments: Mutex<HashMap<String, ProviderPayment>>,
}

impl SimulatedProvider {
    fn payments(&self) -> std::sync::MutexGuard<'_, HashMap<String, ProviderPayment>> {
        self.payments.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn simulated_payment(request: &ConfirmRequest, status: &str) -> ProviderPayment {
    let raw = json!({
        "paymentKey": request.payment_key,
        "orderId": request.order_id,
        "status": status,
        "method": "SIMULATED",
        "totalAmount": request.amount,
        "approvedAt": Utc::now().fixed_offset().to_rfc3339(),
        "simulated": true,
    });
    let mut payment = ProviderPayment {
        payment_key: request.payment_key.clone(),
        order_id: request.order_id.clone(),
        status: status.to_string(),
        method: Some("SIMULATED".into()),
        total_amount: request.amount,
        approved_at: Some(Utc::now().fixed_offset()),
        receipt: None,
        raw: serde_json::Value::Null,
    };
    payment.raw = raw;
    payment
}

#[async_trait]
impl PaymentProvider for SimulatedProvider {
    fn name(&self) -> &'static str {
        "SIMULATED"
    }

    fn check_available(&self) -> ProviderResult<()> {
        Ok(())
    }

    async fn confirm(&self, request: &ConfirmRequest, _idempotency_key: &str) -> ProviderResult<ProviderPayment> {
        if request.payment_key.starts_with("sim_decline") {
            tracing::info!(
                order_id = request.order_id,
                "SIMULATED payment provider declines the payment"
            );
            return Err(ProviderError::Declined {
                code: "REJECT_CARD_PAYMENT".into(),
                message: "(simulated) the card company declined the payment".into(),
            });
        }
        if request.payment_key.starts_with("sim_timeout") {
            tracing::info!(
                order_id = request.order_id,
                "SIMULATED payment provider does not answer"
            );
            return Err(ProviderError::Unknown("(simulated) no answer".into()));
        }
        tracing::info!(
            order_id = request.order_id,
            "SIMULATED payment provider approves the payment; no money moves"
        );
        let payment = simulated_payment(request, "DONE");
        self.payments().insert(request.order_id.clone(), payment.clone());
        Ok(payment)
    }

    async fn cancel(
        &self,
        payment_key: &str,
        _reason: &str,
        _idempotency_key: &str,
    ) -> ProviderResult<ProviderPayment> {
        let mut payments = self.payments();
        let payment = payments
            .values_mut()
            .find(|p| p.payment_key == payment_key)
            .ok_or_else(|| ProviderError::Declined {
                code: "NOT_FOUND_PAYMENT".into(),
                message: "(simulated) no such payment".into(),
            })?;
        payment.status = "CANCELED".into();
        payment.raw["status"] = json!("CANCELED");
        Ok(payment.clone())
    }

    async fn find_by_order(&self, order_id: &str) -> ProviderResult<Option<ProviderPayment>> {
        Ok(self.payments().get(order_id).cloned())
    }
}
