//! The box office's coupon campaigns. Each mutation records itself in the audit log in the
//! same transaction.

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputObject, Object};
use chrono::{DateTime, Utc};
use entity::coupon;

use super::types::Coupon;
use crate::domain::coupons::{self, CouponChanges, Discount, NewCoupon};
use crate::graphql::audit::AdminWrite;
use crate::graphql::guard::{Role, RoleGuard};
use crate::graphql::relay::{ById, Cursor, ListedById, connection, page_request};
use crate::graphql::{GqlResult, app};
use crate::ids::{NodeKind, expect};

/// A new campaign. Give either `discountAmount` (fixed KRW) or `discountPercent` with an
/// optional `maxDiscount` cap. Amounts are whole KRW.
#[derive(InputObject, Debug)]
pub struct CreateCouponInput {
    pub name: String,
    pub discount_amount: Option<i64>,
    pub discount_percent: Option<i32>,
    pub max_discount: Option<i64>,
    #[graphql(default)]
    pub minimum_order_amount: i64,
    pub valid_from: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
    pub total_quantity: i32,
    /// Restricts the coupon to one performance's sessions.
    pub performance_id: Option<ID>,
}

/// Changes to a campaign; the discount itself cannot change once copies may exist.
#[derive(InputObject, Debug, Default)]
pub struct UpdateCouponInput {
    pub name: Option<String>,
    pub minimum_order_amount: Option<i64>,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_until: Option<DateTime<Utc>>,
    /// Never below the copies already claimed.
    pub total_quantity: Option<i32>,
}

/// The `coupons` list's cursors: by id alone.
type NewestFirst = ById<coupon::Model>;
impl ListedById for coupon::Model {
    const LIST: &'static str = "coupons";
    fn id(&self) -> i64 {
        self.id
    }
}

#[derive(Default)]
pub struct CouponAdminQuery;

#[Object]
impl CouponAdminQuery {
    /// Every coupon campaign, newest first.
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn coupons(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Connection<Cursor, Coupon>> {
        let app = app(ctx)?;
        let page = page_request::<NewestFirst>(&app.settings.graphql, first, after)?;
        let rows = coupons::list_coupons(&app.db, page).await?;
        Ok(connection::<NewestFirst, _>(rows, Coupon))
    }
}

#[derive(Default)]
pub struct CouponAdminMutation;

#[Object]
impl CouponAdminMutation {
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn create_coupon(&self, ctx: &Context<'_>, input: CreateCouponInput) -> GqlResult<Coupon> {
        let new = NewCoupon {
            name: input.name,
            discount: Discount::from_input(input.discount_amount, input.discount_percent, input.max_discount)?,
            minimum_order_amount: input.minimum_order_amount,
            valid_from: input.valid_from,
            valid_until: input.valid_until,
            total_quantity: input.total_quantity,
            performance_id: input
                .performance_id
                .as_ref()
                .map(|id| expect(NodeKind::Performance, id, "performanceId"))
                .transpose()?,
        };
        let write = AdminWrite::begin(ctx).await?;
        let coupon = coupons::create_coupon(write.txn(), new).await?;
        write
            .commit(ctx, "createCoupon", NodeKind::Coupon, Some(coupon.id))
            .await?;
        Ok(Coupon(coupon))
    }

    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn update_coupon(&self, ctx: &Context<'_>, id: ID, input: UpdateCouponInput) -> GqlResult<Coupon> {
        let id = expect(NodeKind::Coupon, &id, "id")?;
        let changes = CouponChanges {
            name: input.name,
            minimum_order_amount: input.minimum_order_amount,
            valid_from: input.valid_from,
            valid_until: input.valid_until,
            total_quantity: input.total_quantity,
        };
        let write = AdminWrite::begin(ctx).await?;
        let coupon = coupons::update_coupon(write.txn(), id, changes).await?;
        write.commit(ctx, "updateCoupon", NodeKind::Coupon, Some(id)).await?;
        Ok(Coupon(coupon))
    }

    /// Ends a campaign: no more claims, and unapplied copies no longer apply.
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn deactivate_coupon(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Coupon> {
        let id = expect(NodeKind::Coupon, &id, "id")?;
        let write = AdminWrite::begin(ctx).await?;
        let coupon = coupons::deactivate_coupon(write.txn(), id).await?;
        write
            .commit(ctx, "deactivateCoupon", NodeKind::Coupon, Some(id))
            .await?;
        Ok(Coupon(coupon))
    }
}
