//! Reservations and the seats they hold. A seat can be in at most one live reservation: a
//! partial unique index on (session, seat) over the active rows is the last line of defence
//! behind the conditional updates of `session_seats`.

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
                    .table(Reservations::Table)
                    .col(big_pk_auto(Reservations::Id))
                    .col(big_integer(Reservations::UserId))
                    .col(big_integer(Reservations::SessionId))
                    .col(string_len(Reservations::Status, 16))
                    .col(integer(Reservations::SeatCount))
                    .col(big_integer(Reservations::Amount))
                    .col(string_len(Reservations::IdempotencyKey, 100))
                    .col(timestamp_with_time_zone(Reservations::ExpiresAt))
                    .col(timestamp_with_time_zone(Reservations::CreatedAt))
                    .col(timestamp_with_time_zone(Reservations::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Reservations::Table, Reservations::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Reservations::Table, Reservations::SessionId)
                            .to(Sessions::Table, Sessions::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_reservations_idempotency")
                    .table(Reservations::Table)
                    .col(Reservations::UserId)
                    .col(Reservations::IdempotencyKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            Reservations::Table,
            "idx_reservations_user",
            &[Reservations::UserId, Reservations::Id],
        )
        .await?;
        index(
            manager,
            Reservations::Table,
            "idx_reservations_session",
            &[Reservations::SessionId, Reservations::Status],
        )
        .await?;
        index(
            manager,
            Reservations::Table,
            "idx_reservations_expiry",
            &[Reservations::Status, Reservations::ExpiresAt],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(ReservationSeats::Table)
                    .col(big_pk_auto(ReservationSeats::Id))
                    .col(big_integer(ReservationSeats::ReservationId))
                    .col(big_integer(ReservationSeats::SessionId))
                    .col(big_integer(ReservationSeats::SeatId))
                    .col(string_len(ReservationSeats::Grade, 20))
                    .col(integer(ReservationSeats::Price))
                    // True while the reservation holds or owns the seat.
                    .col(boolean(ReservationSeats::Active))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ReservationSeats::Table, ReservationSeats::ReservationId)
                            .to(Reservations::Table, Reservations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_reservation_seats_live")
                    .table(ReservationSeats::Table)
                    .col(ReservationSeats::SessionId)
                    .col(ReservationSeats::SeatId)
                    .unique()
                    .and_where(Expr::col(ReservationSeats::Active).eq(true))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            ReservationSeats::Table,
            "idx_reservation_seats_reservation",
            &[ReservationSeats::ReservationId],
        )
        .await?;
        // The sweeper looks for expired holds per session.
        index(
            manager,
            SessionSeats::Table,
            "idx_session_seats_hold_expiry",
            &[SessionSeats::Status, SessionSeats::HoldExpiresAt],
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_session_seats_hold_expiry")
                    .table(SessionSeats::Table)
                    .to_owned(),
            )
            .await?;
        for table in [ReservationSeats::Table.into_iden(), Reservations::Table.into_iden()] {
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
enum Sessions {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum SessionSeats {
    Table,
    Status,
    HoldExpiresAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Reservations {
    Table,
    Id,
    UserId,
    SessionId,
    Status,
    SeatCount,
    Amount,
    IdempotencyKey,
    ExpiresAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum ReservationSeats {
    Table,
    Id,
    ReservationId,
    SessionId,
    SeatId,
    Grade,
    Price,
    Active,
}
