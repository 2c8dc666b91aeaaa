use sea_orm::entity::prelude::*;

/// A first-come coupon campaign: `total_quantity` copies, `issued` of them claimed so far.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "coupons")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub name: String,
    /// A fixed discount in whole KRW; set exactly when `discount_percent` is not.
    pub discount_amount: Option<i64>,
    pub discount_percent: Option<i32>,
    /// The most a percentage discount takes off, in whole KRW.
    pub max_discount: Option<i64>,
    /// The order total (before discount) the coupon needs.
    pub minimum_order_amount: i64,
    pub valid_from: DateTimeUtc,
    pub valid_until: DateTimeUtc,
    pub total_quantity: i32,
    /// Only ever moved by a conditional increment, never past `total_quantity`.
    pub issued: i32,
    pub active: bool,
    /// When set, the coupon only applies to this performance's sessions.
    pub performance_id: Option<i64>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::user_coupon::Entity")]
    UserCoupon,
}

impl Related<super::user_coupon::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::UserCoupon.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
