//! The refunds Curtain asks the provider for, one `refunds` row each.
//!
//! A refund is claimed (a PENDING row, with its plan and idempotency key) before the
//! provider is asked, and finished (DONE) in the transaction that applies it. So:
//! - at most one refund per booking is unfinished at a time (a partial unique index):
//!   concurrent cancellations of one booking are serialised by the database, each is
//!   planned on the booking as the previous one left it, and no seat is refunded twice;
//! - a request repeated after a crash or an unknown outcome finds its row by key and asks
//!   the provider again with the same key and amount: the provider refunds at most once;
//! - a PENDING row its requester abandoned is finished by the next cancellation of the
//!   booking once it is older than any provider call can take.

use chrono::{Duration, Utc};
use entity::{RefundStatus, ReservationStatus, payment, refund, reservation};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    SqlErr,
};
use sha2::{Digest, Sha256};

use super::refund_plan::{Requested, plan};
use super::{PaymentDeps, provider_error};
use crate::domain::audit::AuditEntry;
use crate::error::{ApiError, ApiResult};
use crate::infra::payments::{ProviderError, ProviderPayment};

/// Claims tried before giving up on a booking whose refunds keep finishing under us.
const CLAIM_ATTEMPTS: usize = 3;

/// The idempotency key of giving `seats` (ascending, distinct) of a booking back: the same
/// payment and seats always make the same key, so a retry can never refund twice.
pub(super) fn partial_key(reservation_id: i64, payment: Option<&payment::Model>, seats: &[i64]) -> String {
    let mut digest = Sha256::new();
    for seat in seats {
        digest.update(seat.to_be_bytes());
    }
    let seats = &hex::encode(digest.finalize())[..32];
    match payment {
        Some(payment) => format!("partial-{}-{seats}", payment.payment_key),
        None => format!("partial-r{reservation_id}-{seats}"),
    }
}

/// The idempotency key of refunding what is left of a payment (`cancelReservation`).
pub(super) fn whole_key(payment: &payment::Model) -> String {
    format!("cancel-{}", payment.payment_key)
}

pub(super) async fn find_by_key(db: &impl ConnectionTrait, key: &str) -> ApiResult<Option<refund::Model>> {
    Ok(refund::Entity::find()
        .filter(refund::Column::IdempotencyKey.eq(key))
        .one(db)
        .await?)
}

/// Claims a refund of the booking under `key`: writes the PENDING row and the plan made on
/// the booking as it is now, in one transaction. Bad input (seats not the booking's, a
/// coupon refusal) changes nothing. Another unfinished refund of the booking is CONFLICT,
/// unless it was abandoned, in which case it is finished first.
///
/// For a buyer (`for_buyer`), the claim also locks the booking's tickets and refuses when
/// one of the requested seats' tickets was transferred away: a transfer checks for a
/// PENDING refund under the same row locks, so a ticket is never both given away and
/// refunded.
pub(super) async fn claim(
    deps: PaymentDeps<'_>,
    reservation_id: i64,
    payment: Option<&payment::Model>,
    key: &str,
    reason: &str,
    requested: Requested<'_>,
    for_buyer: bool,
) -> ApiResult<refund::Model> {
    for _ in 0..CLAIM_ATTEMPTS {
        let txn = crate::db::begin_write(deps.db).await?;
        let now = Utc::now();
        let inserted = refund::ActiveModel {
            reservation_id: Set(reservation_id),
            payment_id: Set(payment.map(|p| p.id)),
            idempotency_key: Set(key.to_string()),
            seat_ids: Set(String::new()),
            whole: Set(false),
            amount: Set(0),
            kept_amount: Set(0),
            kept_discount: Set(0),
            kept_seat_count: Set(0),
            status: Set(RefundStatus::Pending),
            reason: Set(reason.to_string()),
            created_at: Set(now),
            finished_at: Set(None),
            ..Default::default()
        }
        .insert(&txn)
        .await;
        let row = match inserted {
            Ok(row) => row,
            Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                txn.rollback().await?;
                if let Some(same) = find_by_key(deps.db, key).await? {
                    // The same request, made meanwhile: the caller finishes it (or finds it done).
                    return Ok(same);
                }
                let Some(other) = pending_of(deps.db, reservation_id).await? else {
                    continue; // It finished meanwhile.
                };
                if other.created_at > now - abandoned_after(deps) {
                    return Err(ApiError::Conflict(
                        "another cancellation of this booking is under way; try again in a moment".into(),
                    ));
                }
                tracing::warn!(
                    reservation_id,
                    refund_id = other.id,
                    "finishing a refund its requester abandoned"
                );
                finish(deps, other, None).await?;
                continue;
            }
            Err(err) => return Err(err.into()),
        };
        if for_buyer {
            let seats = match requested {
                Requested::Seats(seats) => Some(seats),
                Requested::Whole => None,
            };
            if let Some(why) = crate::domain::tickets::not_refundable(&txn, reservation_id, seats).await? {
                txn.rollback().await?;
                return Err(super::cancel::not_refundable(why));
            }
        }
        // The payment as it is now: a refund that finished since the caller read it changed
        // its balance.
        let payment = match payment {
            Some(payment) => payment::Entity::find_by_id(payment.id).one(&txn).await?,
            None => None,
        };
        let plan = match plan(&txn, reservation_id, payment.as_ref(), requested).await {
            Ok(plan) => plan,
            Err(err) => {
                txn.rollback().await?;
                return Err(err);
            }
        };
        let seat_ids = plan.seats.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        let mut row: refund::ActiveModel = row.into();
        row.seat_ids = Set(seat_ids);
        row.whole = Set(plan.whole);
        row.amount = Set(plan.amount);
        row.kept_amount = Set(plan.kept.amount);
        row.kept_discount = Set(plan.kept.discount);
        row.kept_seat_count = Set(plan.kept.seat_count);
        let row = row.update(&txn).await?;
        txn.commit().await?;
        return Ok(row);
    }
    Err(ApiError::Conflict(
        "the booking keeps changing; try again in a moment".into(),
    ))
}

/// Finishes a claimed refund: asks the provider (unless done already or nothing is to be
/// refunded) and applies it, whole or partial. A DONE refund is a repeated request: the
/// booking as it is now.
pub(super) async fn finish(
    deps: PaymentDeps<'_>,
    refund: refund::Model,
    audit: Option<AuditEntry<'_>>,
) -> ApiResult<reservation::Model> {
    let payment = match refund.payment_id {
        Some(id) => payment::Entity::find_by_id(id).one(deps.db).await?,
        None => None,
    };
    if refund.status == RefundStatus::Pending {
        let answer = ask_provider(deps, &refund, payment.as_ref()).await?;
        if refund.whole {
            return super::cancel::finish_whole(deps, &refund, payment.as_ref(), answer.as_ref(), audit).await;
        }
        return super::partial::finish_partial(deps, &refund, payment.as_ref(), answer.as_ref(), audit).await;
    }
    let reservation = reservation::Entity::find_by_id(refund.reservation_id)
        .one(deps.db)
        .await?
        .ok_or(ApiError::NotFound("reservation"))?;
    if refund.whole && reservation.status == entity::ReservationStatus::Confirmed {
        // Refunded, but the cancellation itself did not happen (a crash in between).
        return super::cancel::cancel_refunded(deps, refund.reservation_id, audit).await;
    }
    Ok(reservation)
}

/// Asks the provider for the refund. A definite refusal, or a request that provably never
/// reached the provider, ends the claim (nothing was refunded, the same request may be
/// made again); an unknown outcome keeps it for the request to be repeated.
async fn ask_provider(
    deps: PaymentDeps<'_>,
    refund: &refund::Model,
    payment: Option<&payment::Model>,
) -> ApiResult<Option<ProviderPayment>> {
    let Some(payment) = payment else {
        return Ok(None);
    };
    if refund.amount == 0 {
        return Ok(None);
    }
    let result = deps
        .provider
        .cancel(
            &payment.payment_key,
            &refund.reason,
            Some(refund.amount),
            &refund.idempotency_key,
        )
        .await;
    match result {
        Ok(answer) => Ok(Some(answer)),
        // Refunded at the provider already (in its console): the booking can still end.
        Err(ProviderError::Declined { code, .. }) if refund.whole && code == "ALREADY_CANCELED_PAYMENT" => Ok(None),
        // Another attempt with this key is being processed right now.
        Err(ProviderError::Declined { code, .. }) if code == "IDEMPOTENT_REQUEST_PROCESSING" => {
            Err(ApiError::RefundPending)
        }
        Err(ProviderError::Unknown(cause)) => {
            tracing::warn!(
                refund_id = refund.id,
                cause,
                "the refund's outcome is unknown; kept for a retry"
            );
            Err(ApiError::RefundPending)
        }
        Err(err) => {
            tracing::warn!(refund_id = refund.id, provider = deps.provider.name(), error = ?err, "refund refused");
            refund::Entity::delete_many()
                .filter(refund::Column::Id.eq(refund.id))
                .filter(refund::Column::Status.eq(RefundStatus::Pending))
                .exec(deps.db)
                .await?;
            Err(provider_error(err))
        }
    }
}

/// Marks the refund DONE, in the transaction that applies it; false when it already was.
pub(super) async fn mark_done(db: &impl ConnectionTrait, refund_id: i64) -> ApiResult<bool> {
    let marked = refund::Entity::update_many()
        .col_expr(refund::Column::Status, Expr::value(RefundStatus::Done))
        .col_expr(refund::Column::FinishedAt, Expr::value(Utc::now()))
        .filter(refund::Column::Id.eq(refund_id))
        .filter(refund::Column::Status.eq(RefundStatus::Pending))
        .exec(db)
        .await?
        .rows_affected;
    Ok(marked == 1)
}

/// Finishes refunds their requesters abandoned (a client gone while the provider's answer
/// was unknown, a crash): a PENDING one is asked again with the same key, so the provider
/// refunds at most once; a whole refund that is DONE while its booking is still CONFIRMED
/// (a crash between the refund and the cancellation) gets its cancellation. The
/// reconciliation job's work; returns how many were finished.
pub(super) async fn finish_abandoned(deps: PaymentDeps<'_>, limit: u64) -> ApiResult<u64> {
    let confirmed = Query::select()
        .column(reservation::Column::Id)
        .from(reservation::Entity)
        .and_where(reservation::Column::Status.eq(ReservationStatus::Confirmed))
        .to_owned();
    let stale = refund::Entity::find()
        .filter(
            Condition::any()
                .add(refund::Column::Status.eq(RefundStatus::Pending))
                .add(
                    Condition::all()
                        .add(refund::Column::Whole.eq(true))
                        .add(refund::Column::ReservationId.in_subquery(confirmed)),
                ),
        )
        .filter(refund::Column::CreatedAt.lt(Utc::now() - abandoned_after(deps)))
        .order_by_asc(refund::Column::Id)
        .limit(limit)
        .all(deps.db)
        .await?;
    let mut finished = 0;
    for refund in stale {
        let id = refund.id;
        match finish(deps, refund, None).await {
            Ok(_) => finished += 1,
            Err(ApiError::RefundPending) => {
                tracing::info!(
                    refund_id = id,
                    "an abandoned refund's outcome is still unknown; next run"
                );
            }
            Err(err) => {
                tracing::error!(refund_id = id, error = ?err.into_anyhow(), "cannot finish an abandoned refund")
            }
        }
    }
    Ok(finished)
}

/// The booking's unfinished refund, if one is under way.
pub(super) async fn pending_of(db: &impl ConnectionTrait, reservation_id: i64) -> ApiResult<Option<refund::Model>> {
    Ok(refund::Entity::find()
        .filter(refund::Column::ReservationId.eq(reservation_id))
        .filter(refund::Column::Status.eq(RefundStatus::Pending))
        .one(db)
        .await?)
}

/// Whether a PENDING refund's requester can no longer be applying it.
pub(super) fn is_abandoned(deps: PaymentDeps<'_>, refund: &refund::Model) -> bool {
    refund.created_at <= Utc::now() - abandoned_after(deps)
}

/// How old a PENDING refund must be to count as abandoned: longer than twice any provider
/// call can take, so that a requester still waiting for the provider is never overtaken.
fn abandoned_after(deps: PaymentDeps<'_>) -> Duration {
    let longest = deps.settings.longest_call().saturating_mul(2);
    Duration::from_std(longest)
        .unwrap_or(Duration::MAX)
        .max(Duration::seconds(30))
}
