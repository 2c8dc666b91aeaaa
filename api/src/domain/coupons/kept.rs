//! What a coupon still takes off a paid booking after some of its seats were given back.
//! The rules (README, "Partial refunds"): the coupon is re-applied to the seats that remain.
//! A percentage applies to what remains; a fixed amount stays while the minimum order is
//! still met, capped at what remains; under the minimum the discount is withdrawn. The
//! buyer never gains a larger discount by giving seats back.

use entity::coupon;

use super::redeem::discount_for;

/// The discount that stays on a booking whose remaining seats cost `kept_order` KRW
/// (before discount), when it had `had` KRW off: 0 under the coupon's minimum order.
pub fn discount_kept(coupon: &coupon::Model, kept_order: i64, had: i64) -> i64 {
    // `discount_for` refuses only an order under the minimum: the discount is withdrawn.
    discount_for(coupon, kept_order).unwrap_or(0).min(had).max(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coupon(amount: Option<i64>, percent: Option<i32>, minimum: i64) -> coupon::Model {
        super::super::redeem::sample_coupon(amount, percent, None, minimum)
    }

    #[test]
    fn a_percentage_applies_to_what_remains() {
        assert_eq!(discount_kept(&coupon(None, Some(10), 0), 150_000, 20_000), 15_000);
    }

    #[test]
    fn a_fixed_discount_stays_while_the_minimum_is_met_and_never_exceeds_what_remains() {
        let fixed = coupon(Some(20_000), None, 100_000);
        assert_eq!(discount_kept(&fixed, 150_000, 20_000), 20_000);
        assert_eq!(discount_kept(&fixed, 99_999, 20_000), 0);
        let generous = coupon(Some(80_000), None, 0);
        assert_eq!(discount_kept(&generous, 50_000, 80_000), 50_000);
    }

    #[test]
    fn giving_seats_back_never_raises_the_discount() {
        // The campaign's minimum was lowered after the purchase; the buyer keeps what they had.
        assert_eq!(discount_kept(&coupon(Some(20_000), None, 0), 150_000, 10_000), 10_000);
    }
}
