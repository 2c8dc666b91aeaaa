//! What buyers do with coupons: see what is on offer, claim a copy, apply it to a held
//! reservation (the server recomputes the amount) or take it off again.

use async_graphql::{Context, ID, Object};

use super::types::{Coupon, UserCoupon};
use crate::domain::coupons;
use crate::graphql::booking::Reservation;
use crate::graphql::guard::{Role, RoleGuard, principal};
use crate::graphql::{GqlResult, app};
use crate::ids::{NodeKind, expect, expect_id};

#[derive(Default)]
pub struct CouponQuery;

#[Object]
impl CouponQuery {
    /// Coupons the caller can claim now, those ending soonest first.
    #[graphql(guard = "RoleGuard(Role::User)")]
    async fn available_coupons(&self, ctx: &Context<'_>) -> GqlResult<Vec<Coupon>> {
        let rows = coupons::available_coupons(&app(ctx)?.db, principal(ctx)?.user_id).await?;
        Ok(rows.into_iter().map(Coupon).collect())
    }

    /// The caller's claimed coupons, newest first.
    #[graphql(guard = "RoleGuard(Role::User)")]
    async fn my_coupons(&self, ctx: &Context<'_>) -> GqlResult<Vec<UserCoupon>> {
        let rows = coupons::my_coupons(&app(ctx)?.db, principal(ctx)?.user_id).await?;
        Ok(rows
            .into_iter()
            .map(|(copy, coupon)| UserCoupon(copy, coupon))
            .collect())
    }
}

#[derive(Default)]
pub struct CouponMutation;

#[Object]
impl CouponMutation {
    /// Claims one copy, first come first served: COUPON_SOLD_OUT when none is left,
    /// CONFLICT when the caller already has one.
    #[graphql(guard = "RoleGuard(Role::User)")]
    async fn claim_coupon(&self, ctx: &Context<'_>, coupon_id: ID) -> GqlResult<UserCoupon> {
        let coupon_id = expect_id(&coupon_id, "couponId")?;
        let db = &app(ctx)?.db;
        let copy = coupons::claim_coupon(db, coupon_id, principal(ctx)?.user_id).await?;
        let coupon = coupons::find_coupon(db, coupon_id.0).await?;
        Ok(UserCoupon(copy, coupon))
    }

    /// Applies a claimed coupon to a held reservation (replacing any applied before); the
    /// reservation's `amount` is recomputed.
    #[graphql(guard = "RoleGuard(Role::User)")]
    async fn apply_coupon(&self, ctx: &Context<'_>, reservation_id: ID, user_coupon_id: ID) -> GqlResult<Reservation> {
        let reservation_id = expect(NodeKind::Reservation, &reservation_id, "reservationId")?;
        let user_coupon_id = expect(NodeKind::UserCoupon, &user_coupon_id, "userCouponId")?;
        let reservation =
            coupons::apply_coupon(&app(ctx)?.db, reservation_id, user_coupon_id, principal(ctx)?.user_id).await?;
        Ok(Reservation(reservation))
    }

    /// Takes the coupon off a held reservation, which is full price again.
    #[graphql(guard = "RoleGuard(Role::User)")]
    async fn remove_coupon(&self, ctx: &Context<'_>, reservation_id: ID) -> GqlResult<Reservation> {
        let reservation_id = expect(NodeKind::Reservation, &reservation_id, "reservationId")?;
        let reservation = coupons::remove_coupon(&app(ctx)?.db, reservation_id, principal(ctx)?.user_id).await?;
        Ok(Reservation(reservation))
    }
}
