//! First-come coupons: a campaign (`coupons`) with a fixed number to give out, the copies
//! buyers claimed (`user_coupons`), and the copy a reservation applies.
//!
//! `coupons.issued` only moves through a conditional increment (`issued < total_quantity`),
//! and the unique (coupon, user) key keeps a buyer to one copy: together they hold under any
//! concurrency and across instances without a lock.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261122_000001_catalog::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Coupons::Table)
                    .col(big_pk_auto(Coupons::Id))
                    .col(string_len(Coupons::Name, 100))
                    // Exactly one of a fixed amount or a percentage (with an optional cap).
                    .col(big_integer_null(Coupons::DiscountAmount))
                    .col(integer_null(Coupons::DiscountPercent))
                    .col(big_integer_null(Coupons::MaxDiscount))
                    .col(big_integer(Coupons::MinimumOrderAmount).default(0))
                    .col(timestamp_with_time_zone(Coupons::ValidFrom))
                    .col(timestamp_with_time_zone(Coupons::ValidUntil))
                    .col(integer(Coupons::TotalQuantity))
                    .col(integer(Coupons::Issued).default(0))
                    .col(boolean(Coupons::Active).default(true))
                    .col(big_integer_null(Coupons::PerformanceId))
                    .col(timestamp_with_time_zone(Coupons::CreatedAt))
                    .col(timestamp_with_time_zone(Coupons::UpdatedAt))
                    .check(Expr::col(Coupons::Issued).lte(Expr::col(Coupons::TotalQuantity)))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Coupons::Table, Coupons::PerformanceId)
                            .to(Performances::Table, Performances::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            Coupons::Table,
            "idx_coupons_claimable",
            &[Coupons::Active, Coupons::ValidUntil],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(UserCoupons::Table)
                    .col(big_pk_auto(UserCoupons::Id))
                    .col(big_integer(UserCoupons::CouponId))
                    .col(big_integer(UserCoupons::UserId))
                    // AVAILABLE, APPLIED (to a held reservation) or USED (paid).
                    .col(string_len(UserCoupons::Status, 16))
                    .col(timestamp_with_time_zone(UserCoupons::ClaimedAt))
                    .col(timestamp_with_time_zone(UserCoupons::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(UserCoupons::Table, UserCoupons::CouponId)
                            .to(Coupons::Table, Coupons::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(UserCoupons::Table, UserCoupons::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_user_coupons_one_per_buyer")
                    .table(UserCoupons::Table)
                    .col(UserCoupons::CouponId)
                    .col(UserCoupons::UserId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            UserCoupons::Table,
            "idx_user_coupons_user",
            &[UserCoupons::UserId, UserCoupons::Id],
        )
        .await?;

        // SQLite adds one column per ALTER TABLE.
        manager
            .alter_table(
                Table::alter()
                    .table(Reservations::Table)
                    .add_column(big_integer_null(Reservations::UserCouponId))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Reservations::Table)
                    .add_column(big_integer(Reservations::Discount).default(0))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [Reservations::Discount, Reservations::UserCouponId] {
            manager
                .alter_table(Table::alter().table(Reservations::Table).drop_column(column).to_owned())
                .await?;
        }
        for table in [UserCoupons::Table.into_iden(), Coupons::Table.into_iden()] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum Performances {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum Reservations {
    Table,
    UserCouponId,
    Discount,
}

#[derive(DeriveIden, Clone, Copy)]
enum Coupons {
    Table,
    Id,
    Name,
    DiscountAmount,
    DiscountPercent,
    MaxDiscount,
    MinimumOrderAmount,
    ValidFrom,
    ValidUntil,
    TotalQuantity,
    Issued,
    Active,
    PerformanceId,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum UserCoupons {
    Table,
    Id,
    CouponId,
    UserId,
    Status,
    ClaimedAt,
    UpdatedAt,
}
