//! Applying a claimed coupon to a held reservation, and what happens to it afterwards: spent
//! when the payment confirms, given back when the reservation is released, expires or is
//! cancelled. The amount is always recomputed here, never taken from the client.
//!
//! Each move is a conditional update on the current status, reservation row first and the
//! coupon copy second in every transaction (here and in `holds`/`reservation_flow`), so that
//! concurrent moves lose cleanly and never deadlock. Coupons change on HELD reservations
//! only: once the payment has started (PAYING), the amount being charged is frozen, and
//! starting and confirming the payment are themselves conditional on that amount.

use chrono::Utc;
use entity::{ReservationStatus, UserCouponStatus, coupon, reservation, session, user_coupon};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect, QueryTrait};

use super::Discount;
use super::campaigns::find_coupon;
use crate::domain::reservations::find_owned;
use crate::error::{ApiError, ApiResult};
use crate::ids::{ReservationId, UserId};

/// What `coupon` takes off an order of `order_amount` KRW: a fixed amount, or a percentage
/// rounded down and capped; never more than the order. Below the coupon's minimum order the
/// coupon does not apply at all.
pub fn discount_for(coupon: &coupon::Model, order_amount: i64) -> ApiResult<i64> {
    if order_amount < coupon.minimum_order_amount {
        return Err(ApiError::bad_input(
            "userCouponId",
            format!(
                "this coupon needs an order of at least {} KRW",
                coupon.minimum_order_amount
            ),
        ));
    }
    let discount = match Discount::of(coupon) {
        Discount::Fixed(amount) => amount,
        Discount::Percent { percent, cap } => {
            let share = order_amount * i64::from(percent) / 100;
            cap.map_or(share, |cap| share.min(cap))
        }
    };
    Ok(discount.clamp(0, order_amount))
}

/// Applies the buyer's coupon copy to their held reservation, replacing any other copy
/// applied before (which goes back to the buyer).
#[tracing::instrument(name = "coupons.redeem.apply_coupon", skip_all)]
pub async fn apply_coupon(
    db: &DatabaseConnection,
    reservation_id: i64,
    user_coupon_id: i64,
    user_id: UserId,
) -> ApiResult<reservation::Model> {
    let reservation = held(db, ReservationId(reservation_id), user_id).await?;
    if reservation.user_coupon_id == Some(user_coupon_id) {
        return Ok(reservation);
    }
    let copy = user_coupon::Entity::find_by_id(user_coupon_id)
        .one(db)
        .await?
        .filter(|c| c.user_id == user_id)
        .ok_or(ApiError::NotFound("coupon"))?;
    if copy.status != UserCouponStatus::Available {
        return Err(ApiError::Conflict(
            "this coupon is already applied to another reservation or used".into(),
        ));
    }
    let coupon = find_coupon(db, copy.coupon_id).await?;
    check_applies(db, &coupon, &reservation).await?;
    let order_amount = reservation.amount + reservation.discount;
    let discount = discount_for(&coupon, order_amount)?;

    let txn = crate::db::begin_write(db).await?;
    let moved = set_coupon(
        &txn,
        &reservation,
        Some(user_coupon_id),
        discount,
        order_amount - discount,
    )
    .await?;
    if moved == 0 {
        txn.rollback().await?;
        return Err(changed_meanwhile());
    }
    if let Some(previous) = reservation.user_coupon_id {
        move_copies(&txn, [previous], UserCouponStatus::Applied, UserCouponStatus::Available).await?;
    }
    let taken = move_copies(
        &txn,
        [user_coupon_id],
        UserCouponStatus::Available,
        UserCouponStatus::Applied,
    )
    .await?;
    if taken == 0 {
        txn.rollback().await?;
        return Err(ApiError::Conflict(
            "this coupon is already applied to another reservation or used".into(),
        ));
    }
    let applied = find_owned(&txn, ReservationId(reservation_id), user_id).await?;
    txn.commit().await?;
    Ok(applied)
}

/// Takes the applied coupon off a held reservation: full price again, the copy back to the
/// buyer. Without a coupon applied this changes nothing.
#[tracing::instrument(name = "coupons.redeem.remove_coupon", skip_all)]
pub async fn remove_coupon(
    db: &DatabaseConnection,
    reservation_id: i64,
    user_id: UserId,
) -> ApiResult<reservation::Model> {
    let reservation = held(db, ReservationId(reservation_id), user_id).await?;
    let Some(copy) = reservation.user_coupon_id else {
        return Ok(reservation);
    };
    let txn = crate::db::begin_write(db).await?;
    let order_amount = reservation.amount + reservation.discount;
    if set_coupon(&txn, &reservation, None, 0, order_amount).await? == 0 {
        txn.rollback().await?;
        return Err(changed_meanwhile());
    }
    move_copies(&txn, [copy], UserCouponStatus::Applied, UserCouponStatus::Available).await?;
    let removed = find_owned(&txn, ReservationId(reservation_id), user_id).await?;
    txn.commit().await?;
    Ok(removed)
}

/// Marks the coupon applied to a reservation as spent, in the transaction that confirms it;
/// returns how many copies were spent (0 or 1), for the caller to check against the
/// reservation.
pub(crate) async fn spend(db: &impl ConnectionTrait, reservation_id: i64) -> ApiResult<u64> {
    let copies = applied_to([reservation_id]);
    Ok(user_coupon::Entity::update_many()
        .col_expr(user_coupon::Column::Status, Expr::value(UserCouponStatus::Used))
        .col_expr(user_coupon::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(user_coupon::Column::Status.eq(UserCouponStatus::Applied))
        .filter(user_coupon::Column::Id.in_subquery(copies))
        .exec(db)
        .await?
        .rows_affected)
}

/// Gives the coupons of these reservations back to their buyers, applied or spent; in the
/// transaction that releases, expires or cancels them. The copies are found through the
/// reservation rows at the time of the update, so a coupon applied concurrently is not
/// missed.
pub(crate) async fn give_back(
    db: &impl ConnectionTrait,
    reservation_ids: impl IntoIterator<Item = i64>,
) -> ApiResult<()> {
    user_coupon::Entity::update_many()
        .col_expr(user_coupon::Column::Status, Expr::value(UserCouponStatus::Available))
        .col_expr(user_coupon::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(user_coupon::Column::Status.is_in([UserCouponStatus::Applied, UserCouponStatus::Used]))
        .filter(user_coupon::Column::Id.in_subquery(applied_to(reservation_ids)))
        .exec(db)
        .await?;
    Ok(())
}

fn applied_to(reservation_ids: impl IntoIterator<Item = i64>) -> sea_orm::sea_query::SelectStatement {
    reservation::Entity::find()
        .select_only()
        .column(reservation::Column::UserCouponId)
        .filter(reservation::Column::Id.is_in(reservation_ids))
        .filter(reservation::Column::UserCouponId.is_not_null())
        .into_query()
}

/// The caller's reservation, if it is still held and unexpired.
async fn held(
    db: &impl ConnectionTrait,
    reservation_id: ReservationId,
    user_id: UserId,
) -> ApiResult<reservation::Model> {
    let reservation = find_owned(db, reservation_id, user_id).await?;
    if reservation.status != ReservationStatus::Held || reservation.expires_at <= Utc::now() {
        return Err(ApiError::Conflict(
            "coupons can only be changed on a held, unexpired reservation".into(),
        ));
    }
    Ok(reservation)
}

/// The coupon must be on offer now and, when it names a performance, be for this one.
async fn check_applies(
    db: &impl ConnectionTrait,
    coupon: &coupon::Model,
    reservation: &reservation::Model,
) -> ApiResult<()> {
    let now = Utc::now();
    if !coupon.active || now < coupon.valid_from || now >= coupon.valid_until {
        return Err(ApiError::bad_input("userCouponId", "this coupon is not valid now"));
    }
    if let Some(performance_id) = coupon.performance_id {
        let session = session::Entity::find_by_id(reservation.session_id)
            .one(db)
            .await?
            .ok_or(ApiError::NotFound("session"))?;
        if session.performance_id != performance_id {
            return Err(ApiError::bad_input(
                "userCouponId",
                "this coupon is for another performance",
            ));
        }
    }
    Ok(())
}

/// Sets the reservation's coupon and amount, if it is still held with the coupon it was
/// read with.
async fn set_coupon(
    db: &impl ConnectionTrait,
    reservation: &reservation::Model,
    user_coupon_id: Option<i64>,
    discount: i64,
    amount: i64,
) -> ApiResult<u64> {
    let now = Utc::now();
    let same_coupon = match reservation.user_coupon_id {
        Some(id) => reservation::Column::UserCouponId.eq(id),
        None => reservation::Column::UserCouponId.is_null(),
    };
    Ok(reservation::Entity::update_many()
        .col_expr(reservation::Column::UserCouponId, Expr::value(user_coupon_id))
        .col_expr(reservation::Column::Discount, Expr::value(discount))
        .col_expr(reservation::Column::Amount, Expr::value(amount))
        .col_expr(reservation::Column::UpdatedAt, Expr::value(now))
        .filter(reservation::Column::Id.eq(reservation.id))
        .filter(reservation::Column::Status.eq(ReservationStatus::Held))
        .filter(reservation::Column::ExpiresAt.gt(now))
        .filter(same_coupon)
        .exec(db)
        .await?
        .rows_affected)
}

async fn move_copies(
    db: &impl ConnectionTrait,
    ids: impl IntoIterator<Item = i64>,
    from: UserCouponStatus,
    to: UserCouponStatus,
) -> ApiResult<u64> {
    Ok(user_coupon::Entity::update_many()
        .col_expr(user_coupon::Column::Status, Expr::value(to))
        .col_expr(user_coupon::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(user_coupon::Column::Id.is_in(ids))
        .filter(user_coupon::Column::Status.eq(from))
        .exec(db)
        .await?
        .rows_affected)
}

fn changed_meanwhile() -> ApiError {
    ApiError::Conflict("the reservation changed meanwhile; try again".into())
}

/// A coupon with these terms, for tests of the discount rules.
#[cfg(test)]
pub(super) fn sample_coupon(
    amount: Option<i64>,
    percent: Option<i32>,
    cap: Option<i64>,
    minimum: i64,
) -> coupon::Model {
    let now = Utc::now();
    coupon::Model {
        id: 1,
        name: "test".into(),
        discount_amount: amount,
        discount_percent: percent,
        max_discount: cap,
        minimum_order_amount: minimum,
        valid_from: now,
        valid_until: now,
        total_quantity: 1,
        issued: 0,
        active: true,
        performance_id: None,
        created_at: now,
        updated_at: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coupon(amount: Option<i64>, percent: Option<i32>, cap: Option<i64>, minimum: i64) -> coupon::Model {
        sample_coupon(amount, percent, cap, minimum)
    }

    #[test]
    fn a_fixed_discount_never_exceeds_the_order() {
        assert_eq!(
            discount_for(&coupon(Some(5_000), None, None, 0), 50_000).ok(),
            Some(5_000)
        );
        assert_eq!(
            discount_for(&coupon(Some(80_000), None, None, 0), 50_000).ok(),
            Some(50_000)
        );
    }

    #[test]
    fn a_percentage_rounds_down_and_stops_at_its_cap() {
        assert_eq!(discount_for(&coupon(None, Some(15), None, 0), 33_333).ok(), Some(4_999));
        assert_eq!(
            discount_for(&coupon(None, Some(10), Some(8_000), 0), 150_000).ok(),
            Some(8_000)
        );
        assert_eq!(
            discount_for(&coupon(None, Some(10), Some(8_000), 0), 50_000).ok(),
            Some(5_000)
        );
    }

    #[test]
    fn an_order_below_the_minimum_gets_no_discount() {
        assert!(discount_for(&coupon(Some(5_000), None, None, 100_000), 99_999).is_err());
        assert_eq!(
            discount_for(&coupon(Some(5_000), None, None, 100_000), 100_000).ok(),
            Some(5_000)
        );
    }
}
