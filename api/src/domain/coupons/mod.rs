//! First-come coupons: campaigns the box office runs (`campaigns`), copies buyers claim
//! (`claims`), applying a copy to a held reservation until it is paid or given back
//! (`redeem`), and what it still takes off when seats of a paid booking are given back
//! (`kept`).
//!
//! Correctness rests on the database, as with seats: a claim is one conditional increment
//! of `coupons.issued` plus the unique (coupon, user) key, in one transaction; a copy moves
//! between AVAILABLE, APPLIED and USED only by conditional updates on its current status.

use crate::error::{ApiError, ApiResult};

mod campaigns;
mod claims;
mod kept;
mod redeem;

pub use campaigns::{
    CouponChanges, NewCoupon, create_coupon, deactivate_coupon, find_coupon, list_coupons, update_coupon,
};
pub use claims::{available_coupons, claim_coupon, my_coupons};
pub use kept::discount_kept;
pub use redeem::{apply_coupon, discount_for, remove_coupon};
pub(crate) use redeem::{give_back, spend};

/// How a coupon takes money off an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discount {
    /// A fixed amount in whole KRW.
    Fixed(i64),
    /// A percentage of the order, at most `cap` KRW when a cap is set.
    Percent { percent: i32, cap: Option<i64> },
}

impl Discount {
    pub fn of(coupon: &entity::coupon::Model) -> Self {
        match (coupon.discount_amount, coupon.discount_percent) {
            (Some(amount), _) => Self::Fixed(amount),
            (None, Some(percent)) => Self::Percent {
                percent,
                cap: coupon.max_discount,
            },
            // The creation rules make this impossible; taking nothing off is the safe reading.
            (None, None) => Self::Fixed(0),
        }
    }
}

impl Discount {
    /// Reads the discount of `createCoupon`'s input: exactly one of a fixed amount or a
    /// percentage (the cap only with a percentage).
    pub fn from_input(amount: Option<i64>, percent: Option<i32>, cap: Option<i64>) -> ApiResult<Self> {
        match (amount, percent, cap) {
            (Some(amount), None, None) => Ok(Self::Fixed(amount)),
            (None, Some(percent), cap) => Ok(Self::Percent { percent, cap }),
            (Some(_), None, Some(_)) => Err(ApiError::bad_input(
                "maxDiscount",
                "maxDiscount only goes with discountPercent",
            )),
            _ => Err(ApiError::bad_input(
                "discountAmount",
                "give exactly one of discountAmount and discountPercent",
            )),
        }
    }
}
