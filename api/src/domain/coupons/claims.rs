//! Claiming coupons, first come first served.
//!
//! A claim is one transaction: the insert of the buyer's copy, which the unique (coupon,
//! user) key refuses for a second copy, and the conditional increment
//! `UPDATE coupons SET issued = issued + 1 WHERE id = ? AND issued < total_quantity AND
//! active AND valid now`, which rolls the copy back with it when no copy is left. No lock of our
//! own: the row lock the UPDATE takes orders concurrent claims on every instance alike.

use chrono::{DateTime, Utc};
use entity::{UserCouponStatus, coupon, user_coupon};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Set,
};

use super::campaigns::find_coupon;
use crate::error::{ApiError, ApiResult};
use crate::ids::{CouponId, UserId};

/// How many claimable campaigns `availableCoupons` lists at most.
const AVAILABLE_LIMIT: u64 = 100;

/// Gives the buyer one copy of the coupon, if any is left.
#[tracing::instrument(name = "coupons.claims.claim_coupon", skip_all, fields(coupon_id = coupon_id.0, user_id = user_id.0))]
pub async fn claim_coupon(
    db: &DatabaseConnection,
    coupon_id: CouponId,
    user_id: UserId,
) -> ApiResult<user_coupon::Model> {
    let coupon = find_coupon(db, coupon_id.0).await?;
    let now = Utc::now();
    check_claimable(&coupon, now)?;
    // On a rush most claims come after the last copy; saying so without a transaction keeps
    // the coupon row's lock for the claims that can still succeed. The UPDATE below decides.
    if coupon.issued >= coupon.total_quantity {
        return Err(ApiError::CouponSoldOut);
    }
    if find_copy(db, coupon_id, user_id).await?.is_some() {
        return Err(already_claimed());
    }

    let txn = crate::db::begin_write(db).await?;
    // The copy first, the counter second: the coupon row is the one every claimer queues on,
    // and this way its lock is held from the UPDATE to the COMMIT only.
    let copy = user_coupon::ActiveModel {
        coupon_id: Set(coupon_id.0),
        user_id: Set(user_id.0),
        status: Set(UserCouponStatus::Available),
        claimed_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await;
    let copy = match copy {
        Ok(copy) => copy,
        Err(err) => {
            txn.rollback().await?;
            return Err(match ApiError::from_db_conflict(err, "") {
                ApiError::Conflict(_) => already_claimed(),
                other => other,
            });
        }
    };
    let issued = coupon::Entity::update_many()
        .col_expr(coupon::Column::Issued, Expr::col(coupon::Column::Issued).add(1))
        .filter(coupon::Column::Id.eq(coupon_id))
        .filter(coupon::Column::Active.eq(true))
        .filter(Expr::col(coupon::Column::Issued).lt(Expr::col(coupon::Column::TotalQuantity)))
        .filter(coupon::Column::ValidFrom.lte(now))
        .filter(coupon::Column::ValidUntil.gt(now))
        .exec(&txn)
        .await?
        .rows_affected;
    if issued == 0 {
        // Rolls the copy back with it.
        txn.rollback().await?;
        // Deactivated or expired meanwhile, or the last copy went to someone else.
        check_claimable(&find_coupon(db, coupon_id.0).await?, now)?;
        return Err(ApiError::CouponSoldOut);
    }
    txn.commit().await?;
    Ok(copy)
}

/// Campaigns the buyer can claim now: active, within their dates, copies left, and not
/// claimed by this buyer yet. Those ending soonest first.
pub async fn available_coupons(db: &impl ConnectionTrait, user_id: UserId) -> ApiResult<Vec<coupon::Model>> {
    let now = Utc::now();
    let mine = user_coupon::Entity::find()
        .select_only()
        .column(user_coupon::Column::CouponId)
        .filter(user_coupon::Column::UserId.eq(user_id))
        .into_query();
    Ok(coupon::Entity::find()
        .filter(coupon::Column::Active.eq(true))
        .filter(coupon::Column::ValidFrom.lte(now))
        .filter(coupon::Column::ValidUntil.gt(now))
        .filter(Expr::col(coupon::Column::Issued).lt(Expr::col(coupon::Column::TotalQuantity)))
        .filter(coupon::Column::Id.not_in_subquery(mine))
        .order_by_asc(coupon::Column::ValidUntil)
        .order_by_asc(coupon::Column::Id)
        .limit(AVAILABLE_LIMIT)
        .all(db)
        .await?)
}

/// The buyer's copies with their campaigns, newest first.
pub async fn my_coupons(
    db: &impl ConnectionTrait,
    user_id: UserId,
) -> ApiResult<Vec<(user_coupon::Model, coupon::Model)>> {
    let rows = user_coupon::Entity::find()
        .find_also_related(coupon::Entity)
        .filter(user_coupon::Column::UserId.eq(user_id))
        .order_by_desc(user_coupon::Column::Id)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(copy, coupon)| Some((copy, coupon?)))
        .collect())
}

async fn find_copy(
    db: &impl ConnectionTrait,
    coupon_id: CouponId,
    user_id: UserId,
) -> ApiResult<Option<user_coupon::Model>> {
    Ok(user_coupon::Entity::find()
        .filter(user_coupon::Column::CouponId.eq(coupon_id))
        .filter(user_coupon::Column::UserId.eq(user_id))
        .one(db)
        .await?)
}

fn check_claimable(coupon: &coupon::Model, now: DateTime<Utc>) -> ApiResult<()> {
    if !coupon.active {
        return Err(ApiError::Conflict("this coupon is no longer offered".into()));
    }
    if now < coupon.valid_from {
        return Err(ApiError::Conflict("this coupon cannot be claimed yet".into()));
    }
    if now >= coupon.valid_until {
        return Err(ApiError::Conflict("this coupon has expired".into()));
    }
    Ok(())
}

fn already_claimed() -> ApiError {
    ApiError::Conflict("you have already claimed this coupon".into())
}
