//! The box office's side: creating, changing, ending and listing coupon campaigns.

use chrono::{DateTime, Utc};
use entity::coupon;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set, SqlErr,
};

use super::Discount;
use crate::domain::paging::{Page, PageRequest};
use crate::domain::validate::required_text;
use crate::error::{ApiError, ApiResult};

/// The most copies one campaign can give out; far above any real rush, low enough that the
/// counter never nears `i32::MAX`.
const MAX_QUANTITY: i32 = 10_000_000;

#[derive(Debug, Clone)]
pub struct NewCoupon {
    pub name: String,
    pub discount: Discount,
    pub minimum_order_amount: i64,
    pub valid_from: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
    pub total_quantity: i32,
    pub performance_id: Option<i64>,
}

/// What `updateCoupon` may change. The discount itself is fixed once copies exist, so that
/// two buyers of one campaign never hold different promises.
#[derive(Debug, Clone, Default)]
pub struct CouponChanges {
    pub name: Option<String>,
    pub minimum_order_amount: Option<i64>,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_until: Option<DateTime<Utc>>,
    pub total_quantity: Option<i32>,
}

pub async fn create_coupon(db: &impl ConnectionTrait, new: NewCoupon) -> ApiResult<coupon::Model> {
    let name = required_text("name", &new.name, 100)?;
    let (discount_amount, discount_percent, max_discount) = match new.discount {
        Discount::Fixed(amount) if amount > 0 => (Some(amount), None, None),
        Discount::Fixed(_) => return Err(ApiError::bad_input("discountAmount", "discountAmount must be positive")),
        Discount::Percent { percent, .. } if !(1..=100).contains(&percent) => {
            return Err(ApiError::bad_input(
                "discountPercent",
                "discountPercent must be between 1 and 100",
            ));
        }
        Discount::Percent { cap: Some(cap), .. } if cap <= 0 => {
            return Err(ApiError::bad_input("maxDiscount", "maxDiscount must be positive"));
        }
        Discount::Percent { percent, cap } => (None, Some(percent), cap),
    };
    check_minimum(new.minimum_order_amount)?;
    check_window(new.valid_from, new.valid_until)?;
    check_quantity(new.total_quantity, 0)?;
    let now = Utc::now();
    // The foreign key says whether the performance exists: no read before the write, so
    // that on SQLite the transaction never has to upgrade a read snapshot to a write.
    coupon::ActiveModel {
        name: Set(name),
        discount_amount: Set(discount_amount),
        discount_percent: Set(discount_percent),
        max_discount: Set(max_discount),
        minimum_order_amount: Set(new.minimum_order_amount),
        valid_from: Set(new.valid_from),
        valid_until: Set(new.valid_until),
        total_quantity: Set(new.total_quantity),
        issued: Set(0),
        active: Set(true),
        performance_id: Set(new.performance_id),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(|err| match err.sql_err() {
        Some(SqlErr::ForeignKeyConstraintViolation(_)) => ApiError::NotFound("performance"),
        _ => ApiError::internal(err),
    })
}

/// Changes a campaign. Every field is checked before anything is written, so bad input
/// changes nothing even outside a transaction; the checks that need the current row
/// (the date window, copies already claimed) run on it under its lock, and the total is
/// written conditionally, because claims move `issued` meanwhile.
pub async fn update_coupon(db: &impl ConnectionTrait, id: i64, changes: CouponChanges) -> ApiResult<coupon::Model> {
    let name = changes
        .name
        .as_deref()
        .map(|name| required_text("name", name, 100))
        .transpose()?;
    if let Some(minimum) = changes.minimum_order_amount {
        check_minimum(minimum)?;
    }
    if let Some(total) = changes.total_quantity {
        check_quantity(total, 0)?;
    }
    if let (Some(from), Some(until)) = (changes.valid_from, changes.valid_until) {
        check_window(from, until)?;
    }
    let current = find_locked(db, id).await?;
    let valid_from = changes.valid_from.unwrap_or(current.valid_from);
    let valid_until = changes.valid_until.unwrap_or(current.valid_until);
    check_window(valid_from, valid_until)?;
    if let Some(total) = changes.total_quantity {
        check_quantity(total, current.issued)?;
    }

    let mut update = coupon::Entity::update_many()
        .col_expr(coupon::Column::UpdatedAt, Expr::value(Utc::now()))
        .col_expr(coupon::Column::ValidFrom, Expr::value(valid_from))
        .col_expr(coupon::Column::ValidUntil, Expr::value(valid_until))
        .filter(coupon::Column::Id.eq(id));
    if let Some(name) = name {
        update = update.col_expr(coupon::Column::Name, Expr::value(name));
    }
    if let Some(minimum) = changes.minimum_order_amount {
        update = update.col_expr(coupon::Column::MinimumOrderAmount, Expr::value(minimum));
    }
    if let Some(total) = changes.total_quantity {
        update = update
            .col_expr(coupon::Column::TotalQuantity, Expr::value(total))
            .filter(coupon::Column::Issued.lte(total));
    }
    if update.exec(db).await?.rows_affected == 0 {
        return Err(ApiError::Conflict(
            "more copies were claimed meanwhile than the new total quantity".into(),
        ));
    }
    find_coupon(db, id).await
}

/// Ends a campaign: nobody can claim it any more, and claimed copies no longer apply.
/// Copies already applied to a reservation keep their discount.
pub async fn deactivate_coupon(db: &impl ConnectionTrait, id: i64) -> ApiResult<coupon::Model> {
    let changed = coupon::Entity::update_many()
        .col_expr(coupon::Column::Active, Expr::value(false))
        .col_expr(coupon::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(coupon::Column::Id.eq(id))
        .exec(db)
        .await?
        .rows_affected;
    if changed == 0 {
        return Err(ApiError::NotFound("coupon"));
    }
    find_coupon(db, id).await
}

/// The coupon, read under its row lock (`FOR UPDATE` on PostgreSQL; on SQLite the write
/// transaction the caller began already serialises writers), so that the checks made on
/// it still hold when it is written.
async fn find_locked(db: &impl ConnectionTrait, id: i64) -> ApiResult<coupon::Model> {
    coupon::Entity::find_by_id(id)
        .lock_exclusive()
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("coupon"))
}

pub async fn find_coupon(db: &impl ConnectionTrait, id: i64) -> ApiResult<coupon::Model> {
    coupon::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("coupon"))
}

/// Every campaign, newest first.
pub async fn list_coupons(db: &impl ConnectionTrait, page: PageRequest<()>) -> ApiResult<Page<coupon::Model>> {
    let mut query = coupon::Entity::find();
    if let Some(((), id)) = page.after {
        query = query.filter(coupon::Column::Id.lt(id));
    }
    let rows = query
        .order_by_desc(coupon::Column::Id)
        .limit(page.first + 1)
        .all(db)
        .await?;
    Ok(Page::from_overfetch(rows, page.first))
}

fn check_minimum(minimum: i64) -> ApiResult<()> {
    if minimum < 0 {
        return Err(ApiError::bad_input(
            "minimumOrderAmount",
            "minimumOrderAmount must not be negative",
        ));
    }
    Ok(())
}

fn check_window(from: DateTime<Utc>, until: DateTime<Utc>) -> ApiResult<()> {
    if from >= until {
        return Err(ApiError::bad_input("validUntil", "validUntil must be after validFrom"));
    }
    Ok(())
}

fn check_quantity(total: i32, issued: i32) -> ApiResult<()> {
    if !(1..=MAX_QUANTITY).contains(&total) {
        return Err(ApiError::bad_input(
            "totalQuantity",
            format!("totalQuantity must be between 1 and {MAX_QUANTITY}"),
        ));
    }
    if total < issued {
        return Err(ApiError::bad_input(
            "totalQuantity",
            format!("{issued} copies are already claimed; totalQuantity cannot be less"),
        ));
    }
    Ok(())
}
