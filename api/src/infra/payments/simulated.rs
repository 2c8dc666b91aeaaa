//! The simulated payment provider of embedded mode: no money moves, so the whole buy flow
//! works offline in the demo. It approves any payment key, except keys starting with
//! `sim_decline` (declined) and `sim_timeout` (no answer, as if Toss timed out after the
//! request went out: the unknown-outcome path). Refunds behave as Toss's: partial or in
//! full, never more than is left, once per idempotency key.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::Utc;
use serde_json::json;

use super::{ConfirmRequest, PaymentProvider, ProviderError, ProviderPayment, ProviderResult};

#[derive(Debug, Default)]
pub struct SimulatedProvider {
    state: Mutex<Simulated>,
}

#[derive(Debug, Default)]
struct Simulated {
    /// Approved payments by order, as Toss would remember them.
    payments: HashMap<String, ProviderPayment>,
    /// Refund answers by idempotency key, replayed for a repeated refund.
    refunds: HashMap<String, ProviderPayment>,
}

impl SimulatedProvider {
    fn state(&self) -> std::sync::MutexGuard<'_, Simulated> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn simulated_payment(request: &ConfirmRequest, status: &str) -> ProviderPayment {
    let raw = json!({
        "paymentKey": request.payment_key,
        "orderId": request.order_id,
        "status": status,
        "method": "SIMULATED",
        "totalAmount": request.amount,
        "balanceAmount": request.amount,
        "approvedAt": Utc::now().fixed_offset().to_rfc3339(),
        "simulated": true,
    });
    let mut payment = ProviderPayment {
        payment_key: request.payment_key.clone(),
        order_id: request.order_id.clone(),
        status: status.to_string(),
        method: Some("SIMULATED".into()),
        total_amount: request.amount,
        balance_amount: Some(request.amount),
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
        self.state().payments.insert(request.order_id.clone(), payment.clone());
        Ok(payment)
    }

    async fn cancel(
        &self,
        payment_key: &str,
        reason: &str,
        amount: Option<i64>,
        idempotency_key: &str,
    ) -> ProviderResult<ProviderPayment> {
        let mut state = self.state();
        if let Some(answer) = state.refunds.get(idempotency_key) {
            return Ok(answer.clone());
        }
        let payment = state
            .payments
            .values_mut()
            .find(|p| p.payment_key == payment_key)
            .ok_or_else(|| ProviderError::Declined {
                code: "NOT_FOUND_PAYMENT".into(),
                message: "(simulated) no such payment".into(),
            })?;
        let balance = payment.balance_amount.unwrap_or(payment.total_amount);
        if payment.is_cancelled() || balance == 0 {
            return Err(ProviderError::Declined {
                code: "ALREADY_CANCELED_PAYMENT".into(),
                message: "(simulated) the payment is already cancelled".into(),
            });
        }
        let amount = amount.unwrap_or(balance);
        if amount <= 0 || amount > balance {
            return Err(ProviderError::Declined {
                code: "NOT_CANCELABLE_AMOUNT".into(),
                message: format!("(simulated) {amount} KRW cannot be refunded; {balance} KRW is left"),
            });
        }
        let left = balance - amount;
        let status = if left == 0 { "CANCELED" } else { "PARTIAL_CANCELED" };
        tracing::info!(
            payment_key,
            amount,
            left,
            "SIMULATED payment provider refunds; no money moves"
        );
        payment.status = status.into();
        payment.balance_amount = Some(left);
        payment.raw["status"] = json!(status);
        payment.raw["balanceAmount"] = json!(left);
        let cancel = json!({
            "cancelAmount": amount,
            "cancelReason": reason,
            "canceledAt": Utc::now().fixed_offset().to_rfc3339(),
        });
        match payment.raw["cancels"].as_array_mut() {
            Some(cancels) => cancels.push(cancel),
            None => payment.raw["cancels"] = json!([cancel]),
        }
        let answer = payment.clone();
        state.refunds.insert(idempotency_key.to_string(), answer.clone());
        Ok(answer)
    }

    async fn find_by_order(&self, order_id: &str) -> ProviderResult<Option<ProviderPayment>> {
        Ok(self.state().payments.get(order_id).cloned())
    }
}
