use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use async_graphql::{Context, Enum, ID, Object};
use chrono::{DateTime, Utc};
use entity::{coupon, user_coupon};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::domain::coupons::Discount;
use crate::graphql::GqlResult;
use crate::graphql::catalog::Performance;
use crate::graphql::loaders::{CatalogLoader, LoadError, PerformanceKey, load};
use crate::ids::{NodeKind, encode};

pub struct Coupon(pub coupon::Model);

/// A first-come coupon campaign: `totalQuantity` copies, given out until none is left.
#[Object]
impl Coupon {
    async fn id(&self) -> ID {
        encode(NodeKind::Coupon, self.0.id)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// A fixed discount in whole KRW; null for a percentage coupon.
    async fn discount_amount(&self) -> Option<i64> {
        match Discount::of(&self.0) {
            Discount::Fixed(amount) => Some(amount),
            Discount::Percent { .. } => None,
        }
    }
    /// A percentage off the order; null for a fixed coupon.
    async fn discount_percent(&self) -> Option<i32> {
        self.0.discount_percent
    }
    /// The most a percentage coupon takes off, in whole KRW.
    async fn max_discount(&self) -> Option<i64> {
        self.0.max_discount
    }
    /// The order total (before discount) the coupon needs, in whole KRW.
    async fn minimum_order_amount(&self) -> i64 {
        self.0.minimum_order_amount
    }
    async fn valid_from(&self) -> DateTime<Utc> {
        self.0.valid_from
    }
    async fn valid_until(&self) -> DateTime<Utc> {
        self.0.valid_until
    }
    async fn total_quantity(&self) -> i32 {
        self.0.total_quantity
    }
    /// Copies claimed so far.
    async fn issued_count(&self) -> i32 {
        self.0.issued
    }
    async fn remaining_count(&self) -> i32 {
        (self.0.total_quantity - self.0.issued).max(0)
    }
    /// False once the box office ended the campaign.
    async fn active(&self) -> bool {
        self.0.active
    }
    /// The only performance the coupon applies to; null for any.
    async fn performance(&self, ctx: &Context<'_>) -> GqlResult<Option<Performance>> {
        let Some(id) = self.0.performance_id else {
            return Ok(None);
        };
        Ok(load(ctx, PerformanceKey(id)).await?.map(Performance::new))
    }
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "entity::UserCouponStatus")]
pub enum UserCouponStatus {
    /// Claimed and free to apply.
    Available,
    /// Applied to a reservation that is not paid yet.
    Applied,
    /// Spent on a paid reservation.
    Used,
}

pub struct UserCoupon(pub user_coupon::Model, pub coupon::Model);

/// A buyer's copy of a coupon.
#[Object]
impl UserCoupon {
    async fn id(&self) -> ID {
        encode(NodeKind::UserCoupon, self.0.id)
    }
    async fn status(&self) -> UserCouponStatus {
        self.0.status.into()
    }
    async fn claimed_at(&self) -> DateTime<Utc> {
        self.0.claimed_at
    }
    async fn coupon(&self) -> Coupon {
        Coupon(self.1.clone())
    }
}

/// A buyer's copy with its campaign, batched over a page of reservations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserCouponKey(pub i64);

impl Loader<UserCouponKey> for CatalogLoader {
    type Value = (user_coupon::Model, coupon::Model);
    type Error = LoadError;

    async fn load(&self, keys: &[UserCouponKey]) -> Result<HashMap<UserCouponKey, Self::Value>, Self::Error> {
        let rows = user_coupon::Entity::find()
            .find_also_related(coupon::Entity)
            .filter(user_coupon::Column::Id.is_in(keys.iter().map(|k| k.0)))
            .all(&self.db().await?)
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(copy, coupon)| Some((UserCouponKey(copy.id), (copy, coupon?))))
            .collect())
    }
}

/// One of the buyer's copies, through the request's dataloader.
pub async fn user_coupon(ctx: &Context<'_>, id: i64) -> GqlResult<Option<UserCoupon>> {
    Ok(load(ctx, UserCouponKey(id))
        .await?
        .map(|(copy, coupon)| UserCoupon(copy, coupon)))
}
