//! The reservation state machine after a hold: HELD → PAYING → CONFIRMED → CANCELLED, and
//! PAYING → HELD when a payment definitely failed. Holding, releasing and expiring live in
//! `holds`; the payment flow drives these functions. A coupon applied to the reservation is
//! spent on confirmation and given back on cancellation, in the same transactions.
//!
//! Every transition is a conditional update on the current status inside a transaction that
//! holds the session lock, so that a concurrent expiry, release or second payment attempt
//! loses cleanly. Each writes a `reservation` outbox event, and each that changes seats a
//! seat-map delta.

use chrono::Utc;
use entity::{ReservationStatus, SeatStatus, reservation, reservation_seat, session_seat};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, QueryFilter};

use super::inventory::{bump_version, change_available, lock_session, record_seat_changes};
use crate::error::{ApiError, ApiResult};

pub use crate::domain::reservation_events::ReservationChanged;
pub(crate) use crate::domain::reservation_events::record_status_change;

/// HELD → PAYING: the buyer is paying `amount` now. From here the hold no longer lapses (a
/// payment in flight must not lose its seats), and its coupon and amount no longer change
/// (`applyCoupon`/`removeCoupon` move HELD reservations only), so the sweeper and other
/// buyers leave the seats alone until the payment is confirmed or abandoned.
///
/// Conditional on the recorded amount still being `amount`: a coupon applied or removed
/// since the caller read it loses here, in the database, and nothing is charged.
#[tracing::instrument(name = "reservation_flow.start_payment", skip_all, fields(reservation_id = reservation_id, amount = amount))]
pub async fn start_payment(db: &DatabaseConnection, reservation_id: i64, amount: i64) -> ApiResult<reservation::Model> {
    let current = load(db, reservation_id).await?;
    let txn = crate::db::begin_write(db).await?;
    lock_session(&txn, current.session_id).await?;
    let now = Utc::now();
    let moved = reservation::Entity::update_many()
        .col_expr(reservation::Column::Status, Expr::value(ReservationStatus::Paying))
        .col_expr(reservation::Column::UpdatedAt, Expr::value(now))
        .filter(reservation::Column::Id.eq(reservation_id))
        .filter(reservation::Column::Status.eq(ReservationStatus::Held))
        .filter(reservation::Column::ExpiresAt.gt(now))
        .filter(reservation::Column::Amount.eq(amount))
        .exec(&txn)
        .await?
        .rows_affected;
    if moved == 0 {
        txn.rollback().await?;
        let now = load(db, reservation_id).await?;
        if now.status == ReservationStatus::Held && now.amount != amount {
            return Err(amount_changed());
        }
        return Err(not_in_state(&now, "held and unexpired"));
    }
    // The seats must still be this reservation's: a lapsed hold's seats can be taken over.
    let kept = session_seat::Entity::update_many()
        .col_expr(
            session_seat::Column::HoldExpiresAt,
            Expr::value(Option::<chrono::DateTime<Utc>>::None),
        )
        .filter(session_seat::Column::ReservationId.eq(reservation_id))
        .filter(session_seat::Column::Status.eq(SeatStatus::Held))
        .exec(&txn)
        .await?
        .rows_affected;
    if kept != current.seat_count as u64 {
        txn.rollback().await?;
        return Err(ApiError::Conflict(
            "the hold has lapsed and its seats were taken".into(),
        ));
    }
    let paying = load(&txn, reservation_id).await?;
    txn.commit().await?;
    Ok(paying)
}

/// PAYING → HELD: the payment definitely failed. The hold runs on until its original expiry
/// (the sweeper expires it if that has passed).
#[tracing::instrument(name = "reservation_flow.abandon_payment", skip_all, fields(reservation_id = reservation_id))]
pub async fn abandon_payment(db: &DatabaseConnection, reservation_id: i64) -> ApiResult<reservation::Model> {
    let current = load(db, reservation_id).await?;
    let txn = crate::db::begin_write(db).await?;
    lock_session(&txn, current.session_id).await?;
    let moved = transition(
        &txn,
        reservation_id,
        ReservationStatus::Paying,
        ReservationStatus::Held,
        None,
    )
    .await?;
    if moved == 0 {
        txn.rollback().await?;
        return Err(not_in_state(&load(db, reservation_id).await?, "paying"));
    }
    session_seat::Entity::update_many()
        .col_expr(session_seat::Column::HoldExpiresAt, Expr::value(current.expires_at))
        .filter(session_seat::Column::ReservationId.eq(reservation_id))
        .filter(session_seat::Column::Status.eq(SeatStatus::Held))
        .exec(&txn)
        .await?;
    let held = load(&txn, reservation_id).await?;
    txn.commit().await?;
    Ok(held)
}

/// PAYING → CONFIRMED: a payment of `paid` KRW went through. The seats become SOLD, each
/// gets its ticket, and the applied coupon is spent. Conditional on the recorded amount being what was paid, so a
/// reservation is never confirmed for another amount than the one charged (CONFLICT then:
/// the caller refunds). A coupon copy or seats not as recorded are CONFLICT too (logged as
/// an invariant breach): the payment is refunded rather than kept without a ticket.
#[tracing::instrument(name = "reservation_flow.confirm_reservation", skip_all)]
pub async fn confirm_reservation(
    db: &DatabaseConnection,
    reservation_id: i64,
    paid: i64,
) -> ApiResult<reservation::Model> {
    let Moved { current, txn, version } = move_seats_state(
        db,
        reservation_id,
        ReservationStatus::Paying,
        ReservationStatus::Confirmed,
        Some(paid),
        "paying",
    )
    .await?;
    let spent = super::coupons::spend(&txn, reservation_id).await?;
    // The amount was computed with this copy: it must be the one spent, now.
    if spent != u64::from(current.user_coupon_id.is_some()) {
        txn.rollback().await?;
        tracing::error!(
            reservation_id,
            user_coupon_id = ?current.user_coupon_id,
            spent,
            "invariant breach: the coupon copy of a paying reservation could not be spent; it is not confirmed"
        );
        return Err(cannot_take_payment());
    }
    let seats = seat_ids(&txn, reservation_id).await?;
    let sold = session_seat::Entity::update_many()
        .col_expr(session_seat::Column::Status, Expr::value(SeatStatus::Sold))
        .col_expr(session_seat::Column::Version, Expr::value(version))
        .filter(session_seat::Column::ReservationId.eq(reservation_id))
        .filter(session_seat::Column::Status.eq(SeatStatus::Held))
        .exec(&txn)
        .await?
        .rows_affected;
    if sold as usize != seats.len() {
        txn.rollback().await?;
        tracing::error!(
            reservation_id,
            sold,
            seats = seats.len(),
            "invariant breach: a paying reservation no longer holds all of its seats; it is not confirmed"
        );
        return Err(cannot_take_payment());
    }
    // Sold seats were not available before either: the counter stays, read it for the delta.
    let available = change_available(&txn, current.session_id, 0).await?;
    record_seat_changes(&txn, current.session_id, version, &seats, SeatStatus::Sold, available).await?;
    let confirmed = load(&txn, reservation_id).await?;
    super::tickets::issue(&txn, &confirmed, &seats).await?;
    record_status_change(&txn, &confirmed).await?;
    super::waitlist::offer_booked(&txn, reservation_id).await?;
    txn.commit().await?;
    Ok(confirmed)
}

/// A paying reservation that cannot be confirmed for a reason that should never happen (its
/// coupon copy or seats are not as recorded). CONFLICT, like any reservation that can no
/// longer take its payment, so that the caller refunds what was charged instead of failing
/// with the money taken (and reconciliation failing the same way every run).
fn cannot_take_payment() -> ApiError {
    ApiError::Conflict("the reservation can no longer take this payment".into())
}

/// CONFIRMED → CANCELLED (after the refund): the seats are for sale again and their tickets
/// no longer open the door. `audit`, when
/// the box office cancels, is recorded with the change.
#[tracing::instrument(name = "reservation_flow.cancel_confirmed", skip_all)]
pub async fn cancel_confirmed(
    db: &DatabaseConnection,
    reservation_id: i64,
    audit: Option<super::audit::AuditEntry<'_>>,
) -> ApiResult<reservation::Model> {
    let Moved { current, txn, version } = move_seats_state(
        db,
        reservation_id,
        ReservationStatus::Confirmed,
        ReservationStatus::Cancelled,
        None,
        "confirmed",
    )
    .await?;
    super::coupons::give_back(&txn, [reservation_id]).await?;
    let seats = seat_ids(&txn, reservation_id).await?;
    let freed = session_seat::Entity::update_many()
        .col_expr(session_seat::Column::Status, Expr::value(SeatStatus::Available))
        .col_expr(session_seat::Column::ReservationId, Expr::value(Option::<i64>::None))
        .col_expr(session_seat::Column::Version, Expr::value(version))
        .filter(session_seat::Column::ReservationId.eq(reservation_id))
        .filter(session_seat::Column::Status.eq(SeatStatus::Sold))
        .exec(&txn)
        .await?
        .rows_affected;
    reservation_seat::Entity::update_many()
        .col_expr(reservation_seat::Column::Active, Expr::value(false))
        .filter(reservation_seat::Column::ReservationId.eq(reservation_id))
        .exec(&txn)
        .await?;
    let available = change_available(&txn, current.session_id, freed as i64).await?;
    record_seat_changes(
        &txn,
        current.session_id,
        version,
        &seats,
        SeatStatus::Available,
        available,
    )
    .await?;
    let cancelled = load(&txn, reservation_id).await?;
    super::tickets::cancel_for_reservation(&txn, &cancelled).await?;
    record_status_change(&txn, &cancelled).await?;
    if let Some(entry) = audit {
        super::audit::record(&txn, entry).await?;
    }
    // Under the same lock: the line gets the seats before the public can see them free.
    super::waitlist::hand_over(&txn, current.session_id).await?;
    txn.commit().await?;
    Ok(cancelled)
}

/// A reservation moved to a new status inside an open transaction that has also taken the
/// next seat-map version of its session, for the caller to change its seats under.
struct Moved {
    current: reservation::Model,
    txn: DatabaseTransaction,
    version: i64,
}

/// Begins a transition that changes seats: bumps the session's seat-map version (which
/// also serialises it with holds) and moves the reservation `from` → `to` (only while its
/// amount is `amount`, when given), or answers that it is no longer `from_name`. `current`
/// is the reservation as it was moved, read inside the transaction.
async fn move_seats_state(
    db: &DatabaseConnection,
    reservation_id: i64,
    from: ReservationStatus,
    to: ReservationStatus,
    amount: Option<i64>,
    from_name: &str,
) -> ApiResult<Moved> {
    let session_id = load(db, reservation_id).await?.session_id;
    let txn = crate::db::begin_write(db).await?;
    let version = bump_version(&txn, session_id).await?;
    if transition(&txn, reservation_id, from, to, amount).await? == 0 {
        txn.rollback().await?;
        let now = load(db, reservation_id).await?;
        if now.status == from && amount.is_some_and(|amount| amount != now.amount) {
            return Err(amount_changed());
        }
        return Err(not_in_state(&now, from_name));
    }
    let current = load(&txn, reservation_id).await?;
    Ok(Moved { current, txn, version })
}

async fn transition(
    db: &impl ConnectionTrait,
    reservation_id: i64,
    from: ReservationStatus,
    to: ReservationStatus,
    amount: Option<i64>,
) -> ApiResult<u64> {
    let mut update = reservation::Entity::update_many()
        .col_expr(reservation::Column::Status, Expr::value(to))
        .col_expr(reservation::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(reservation::Column::Id.eq(reservation_id))
        .filter(reservation::Column::Status.eq(from));
    if let Some(amount) = amount {
        update = update.filter(reservation::Column::Amount.eq(amount));
    }
    Ok(update.exec(db).await?.rows_affected)
}

async fn load(db: &impl ConnectionTrait, reservation_id: i64) -> ApiResult<reservation::Model> {
    reservation::Entity::find_by_id(reservation_id)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("reservation"))
}

async fn seat_ids(db: &impl ConnectionTrait, reservation_id: i64) -> ApiResult<Vec<i64>> {
    Ok(reservation_seat::Entity::find()
        .filter(reservation_seat::Column::ReservationId.eq(reservation_id))
        .filter(reservation_seat::Column::Active.eq(true))
        .all(db)
        .await?
        .into_iter()
        .map(|seat| seat.seat_id)
        .collect())
}

fn amount_changed() -> ApiError {
    ApiError::Conflict(
        "the reservation's amount changed meanwhile (a coupon was applied or removed); pay the new amount".into(),
    )
}

fn not_in_state(reservation: &reservation::Model, wanted: &str) -> ApiError {
    let status = format!("{:?}", reservation.status).to_uppercase();
    ApiError::Conflict(format!("the reservation is {status}, not {wanted}"))
}
