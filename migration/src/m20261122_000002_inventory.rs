//! Sessions (show times), their prices per grade, and the per-session seat inventory.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261122_000001_catalog::{Performances, Seats, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .col(big_pk_auto(Sessions::Id))
                    .col(big_integer(Sessions::PerformanceId))
                    .col(timestamp_with_time_zone(Sessions::StartsAt))
                    .col(timestamp_with_time_zone(Sessions::SalesOpenAt))
                    .col(timestamp_with_time_zone(Sessions::SalesCloseAt))
                    .col(string_len(Sessions::Status, 16))
                    .col(integer(Sessions::TotalSeats))
                    .col(integer(Sessions::AvailableSeats))
                    .col(big_integer(Sessions::SeatMapVersion).default(0))
                    .col(timestamp_with_time_zone(Sessions::CreatedAt))
                    .col(timestamp_with_time_zone(Sessions::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Sessions::Table, Sessions::PerformanceId)
                            .to(Performances::Table, Performances::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .check(Expr::col(Sessions::AvailableSeats).gte(0))
                    .check(Expr::col(Sessions::AvailableSeats).lte(Expr::col(Sessions::TotalSeats)))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            Sessions::Table,
            "idx_sessions_performance_starts",
            &[Sessions::PerformanceId, Sessions::StartsAt, Sessions::Id],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(SessionPrices::Table)
                    .col(big_integer(SessionPrices::SessionId))
                    .col(string_len(SessionPrices::Grade, 20))
                    .col(integer(SessionPrices::Price))
                    .primary_key(Index::create().col(SessionPrices::SessionId).col(SessionPrices::Grade))
                    .foreign_key(
                        ForeignKey::create()
                            .from(SessionPrices::Table, SessionPrices::SessionId)
                            .to(Sessions::Table, Sessions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .check(Expr::col(SessionPrices::Price).gte(0))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(SessionSeats::Table)
                    .col(big_integer(SessionSeats::SessionId))
                    .col(big_integer(SessionSeats::SeatId))
                    .col(string_len(SessionSeats::Status, 16))
                    .col(big_integer_null(SessionSeats::ReservationId))
                    .col(timestamp_with_time_zone_null(SessionSeats::HoldExpiresAt))
                    .col(big_integer(SessionSeats::Version).default(0))
                    .primary_key(Index::create().col(SessionSeats::SessionId).col(SessionSeats::SeatId))
                    .foreign_key(
                        ForeignKey::create()
                            .from(SessionSeats::Table, SessionSeats::SessionId)
                            .to(Sessions::Table, Sessions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(SessionSeats::Table, SessionSeats::SeatId)
                            .to(Seats::Table, Seats::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            SessionSeats::Table,
            "idx_session_seats_seat",
            &[SessionSeats::SeatId],
        )
        .await?;
        index(
            manager,
            SessionSeats::Table,
            "idx_session_seats_reservation",
            &[SessionSeats::ReservationId],
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            SessionSeats::Table.into_iden(),
            SessionPrices::Table.into_iden(),
            Sessions::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Sessions {
    Table,
    Id,
    PerformanceId,
    StartsAt,
    SalesOpenAt,
    SalesCloseAt,
    Status,
    TotalSeats,
    AvailableSeats,
    SeatMapVersion,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum SessionPrices {
    Table,
    SessionId,
    Grade,
    Price,
}

#[derive(DeriveIden, Clone, Copy)]
enum SessionSeats {
    Table,
    SessionId,
    SeatId,
    Status,
    ReservationId,
    HoldExpiresAt,
    Version,
}
