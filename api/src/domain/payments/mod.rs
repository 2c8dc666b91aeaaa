//! Paying for a held reservation, refunding a cancelled one or some of its seats, and
//! settling payments whose outcome was not known at once (reconciliation and Toss's
//! webhook).
//!
//! The provider is a network service that fails. Three outcomes are told apart: approved
//! (record the payment, confirm the reservation), definitely not approved (back to HELD),
//! and unknown (stay PAYING, so the seats are kept, until `settle` learns the truth from the
//! provider). A payment the provider approved for a reservation that can no longer take it
//! is refunded and the buyer told.

mod cancel;
mod confirm;
mod partial;
mod record;
mod refund_plan;
mod refunds;
mod settle;
mod webhook;

use sea_orm::DatabaseConnection;

pub use cancel::{Canceller, cancel_reservation};
pub use confirm::{ConfirmInput, confirm_payment};
pub use partial::cancel_seats;
pub use record::find_payment;
pub use settle::{reconcile_payments, settle_order};
pub use webhook::{WebhookGate, WebhookOutcome};

use crate::config::PaymentSettings;
use crate::domain::notify::Channels;
use crate::error::ApiError;
use crate::infra::payments::{PaymentProvider, ProviderError};

/// What the payment flow works with.
#[derive(Clone, Copy)]
pub struct PaymentDeps<'a> {
    pub db: &'a DatabaseConnection,
    pub provider: &'a dyn PaymentProvider,
    pub settings: &'a PaymentSettings,
    /// For telling a buyer their late payment was refunded.
    pub channels: Channels,
}

pub use crate::domain::orders::{new_order_id, order_name_of};

/// How a provider failure reaches the client.
fn provider_error(err: ProviderError) -> ApiError {
    match err {
        ProviderError::Declined { message, .. } => ApiError::PaymentFailed(message),
        ProviderError::Unavailable => ApiError::PaymentUnavailable,
        ProviderError::Unknown(_) => ApiError::PaymentPending,
    }
}
