//! First-come coupons: the box office's campaigns and the buyers' copies.

mod admin;
mod buyer;
mod types;

pub use admin::{CouponAdminMutation, CouponAdminQuery};
pub use buyer::{CouponMutation, CouponQuery};
pub use types::{UserCoupon, user_coupon};
