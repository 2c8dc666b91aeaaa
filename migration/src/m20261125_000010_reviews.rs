//! Buyers' reviews of performances, and the per-performance rating totals kept beside them so
//! that a listing never aggregates reviews row by row.

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
                    .table(Reviews::Table)
                    .col(big_pk_auto(Reviews::Id))
                    .col(big_integer(Reviews::PerformanceId))
                    .col(big_integer(Reviews::UserId))
                    .col(small_integer(Reviews::Rating))
                    .col(text(Reviews::Body))
                    .col(timestamp_with_time_zone(Reviews::CreatedAt))
                    .col(timestamp_with_time_zone(Reviews::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Reviews::Table, Reviews::PerformanceId)
                            .to(Performances::Table, Performances::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Reviews::Table, Reviews::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // One review per buyer per performance, guaranteed even under concurrent requests.
        manager
            .create_index(
                Index::create()
                    .name("uq_reviews_user_performance")
                    .table(Reviews::Table)
                    .col(Reviews::UserId)
                    .col(Reviews::PerformanceId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // A performance's reviews, newest first, by keyset.
        index(
            manager,
            Reviews::Table,
            "idx_reviews_performance",
            &[Reviews::PerformanceId, Reviews::Id],
        )
        .await?;
        // SQLite adds one column per ALTER TABLE.
        manager
            .alter_table(
                Table::alter()
                    .table(Performances::Table)
                    .add_column(big_integer(Performances::RatingSum).default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Performances::Table)
                    .add_column(integer(Performances::ReviewCount).default(0))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [Performances::ReviewCount, Performances::RatingSum] {
            manager
                .alter_table(Table::alter().table(Performances::Table).drop_column(column).to_owned())
                .await?;
        }
        manager.drop_table(Table::drop().table(Reviews::Table).to_owned()).await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Reviews {
    Table,
    Id,
    PerformanceId,
    UserId,
    Rating,
    Body,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Performances {
    Table,
    Id,
    RatingSum,
    ReviewCount,
}

#[derive(DeriveIden, Clone, Copy)]
enum Users {
    Table,
    Id,
}
