//! The payments table: what the provider approved, and what of it was refunded.

use chrono::Utc;
use entity::{payment, reservation};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use crate::error::ApiResult;
use crate::infra::payments::ProviderPayment;

/// Records an approved payment; recording the same payment again changes nothing, so
/// confirmation, reconciliation and the webhook can all get here.
pub(super) async fn record_payment(
    db: &impl ConnectionTrait,
    reservation: &reservation::Model,
    found: &ProviderPayment,
    provider: &str,
) -> ApiResult<()> {
    let now = Utc::now();
    payment::Entity::insert(payment::ActiveModel {
        reservation_id: Set(reservation.id),
        order_id: Set(found.order_id.clone()),
        payment_key: Set(found.payment_key.clone()),
        provider: Set(provider.to_string()),
        method: Set(found.method.clone()),
        amount: Set(found.total_amount),
        status: Set(found.status.clone()),
        approved_at: Set(found.approved_at.map(|at| at.with_timezone(&Utc))),
        receipt_url: Set(found.receipt.as_ref().and_then(|r| r.url.clone())),
        raw_response: Set(found.raw.to_string()),
        cancel_reason: Set(None),
        cancelled_at: Set(None),
        cancelled_amount: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    })
    .on_conflict(OnConflict::column(payment::Column::PaymentKey).do_nothing().to_owned())
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Marks a recorded payment refunded in full (nothing left), with the provider's answer.
pub(super) async fn record_refund(
    db: &impl ConnectionTrait,
    payment_key: &str,
    answer: Option<&ProviderPayment>,
    reason: &str,
) -> ApiResult<()> {
    let now = Utc::now();
    let mut update = payment::Entity::update_many()
        .col_expr(payment::Column::Status, Expr::value("CANCELED"))
        .col_expr(payment::Column::CancelledAmount, Expr::col(payment::Column::Amount))
        .col_expr(payment::Column::CancelReason, Expr::value(reason))
        .col_expr(payment::Column::CancelledAt, Expr::value(now))
        .col_expr(payment::Column::UpdatedAt, Expr::value(now))
        .filter(payment::Column::PaymentKey.eq(payment_key));
    if let Some(answer) = answer {
        update = update.col_expr(payment::Column::RawResponse, Expr::value(answer.raw.to_string()));
    }
    update.exec(db).await?;
    Ok(())
}

/// Records that `amount` KRW more of `payment` (as read) was refunded: PARTIAL_CANCELED,
/// or CANCELED when nothing is left. Conditional on the refunded total being still what
/// was read, so a refund is never added twice; false when it was not.
pub(super) async fn record_partial_refund(
    db: &impl ConnectionTrait,
    payment: &payment::Model,
    amount: i64,
    answer: Option<&ProviderPayment>,
    reason: &str,
) -> ApiResult<bool> {
    let now = Utc::now();
    let cancelled = payment.cancelled_amount + amount;
    let status = if cancelled >= payment.amount {
        "CANCELED"
    } else {
        "PARTIAL_CANCELED"
    };
    let mut update = payment::Entity::update_many()
        .col_expr(payment::Column::Status, Expr::value(status))
        .col_expr(payment::Column::CancelledAmount, Expr::value(cancelled))
        .col_expr(payment::Column::CancelReason, Expr::value(reason))
        .col_expr(payment::Column::CancelledAt, Expr::value(now))
        .col_expr(payment::Column::UpdatedAt, Expr::value(now))
        .filter(payment::Column::Id.eq(payment.id))
        .filter(payment::Column::CancelledAmount.eq(payment.cancelled_amount));
    if let Some(answer) = answer {
        update = update.col_expr(payment::Column::RawResponse, Expr::value(answer.raw.to_string()));
    }
    Ok(update.exec(db).await?.rows_affected == 1)
}

/// The payment recorded for a reservation.
pub async fn find_payment(db: &impl ConnectionTrait, reservation_id: i64) -> ApiResult<Option<payment::Model>> {
    Ok(payment::Entity::find()
        .filter(payment::Column::ReservationId.eq(reservation_id))
        .one(db)
        .await?)
}
