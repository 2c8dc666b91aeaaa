//! The waitlist of sold-out sessions (`waitlist_entries`): a buyer's standing request for
//! seats, in line by id (join order), handed seats that come back before the public sees
//! them.
//!
//! The partial unique index keeps one live entry (WAITING or OFFERED) per buyer and session
//! whatever the concurrency; entries that ended (BOOKED, LAPSED, LEFT) stay as history and do
//! not stop the buyer joining again.

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
                    .table(WaitlistEntries::Table)
                    .col(big_pk_auto(WaitlistEntries::Id))
                    .col(big_integer(WaitlistEntries::SessionId))
                    .col(big_integer(WaitlistEntries::UserId))
                    .col(integer(WaitlistEntries::SeatCount))
                    // Null: any grade the buyer's price allows.
                    .col(string_len_null(WaitlistEntries::Grade, 32))
                    // Null: any price. Otherwise the most the buyer pays for one seat.
                    .col(integer_null(WaitlistEntries::MaxPrice))
                    // WAITING, OFFERED, BOOKED, LAPSED or LEFT.
                    .col(string_len(WaitlistEntries::State, 16))
                    // How long seats offered to this entry stay held: the hold window when
                    // the buyer joined, so that the hand-over needs no settings.
                    .col(big_integer(WaitlistEntries::HoldSeconds))
                    // The HELD reservation made for the entry, once OFFERED.
                    .col(big_integer_null(WaitlistEntries::ReservationId))
                    .col(timestamp_with_time_zone(WaitlistEntries::CreatedAt))
                    .col(timestamp_with_time_zone(WaitlistEntries::UpdatedAt))
                    .check(Expr::col(WaitlistEntries::SeatCount).gt(0))
                    .check(Expr::col(WaitlistEntries::HoldSeconds).gt(0))
                    .foreign_key(
                        ForeignKey::create()
                            .from(WaitlistEntries::Table, WaitlistEntries::SessionId)
                            .to(Sessions::Table, Sessions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(WaitlistEntries::Table, WaitlistEntries::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(WaitlistEntries::Table, WaitlistEntries::ReservationId)
                            .to(Reservations::Table, Reservations::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_waitlist_entries_live")
                    .table(WaitlistEntries::Table)
                    .col(WaitlistEntries::SessionId)
                    .col(WaitlistEntries::UserId)
                    .unique()
                    .and_where(Expr::col(WaitlistEntries::State).is_in(["WAITING", "OFFERED"]))
                    .to_owned(),
            )
            .await?;
        // The line of a session, in join order.
        index(
            manager,
            WaitlistEntries::Table,
            "idx_waitlist_entries_line",
            &[WaitlistEntries::SessionId, WaitlistEntries::State, WaitlistEntries::Id],
        )
        .await?;
        // From a reservation (paid, released, expired) to the entry it was offered to.
        index(
            manager,
            WaitlistEntries::Table,
            "idx_waitlist_entries_reservation",
            &[WaitlistEntries::ReservationId],
        )
        .await?;
        index(
            manager,
            WaitlistEntries::Table,
            "idx_waitlist_entries_buyer",
            &[WaitlistEntries::UserId, WaitlistEntries::Id],
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(WaitlistEntries::Table).to_owned())
            .await
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
enum Reservations {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum WaitlistEntries {
    Table,
    Id,
    SessionId,
    UserId,
    SeatCount,
    Grade,
    MaxPrice,
    State,
    HoldSeconds,
    ReservationId,
    CreatedAt,
    UpdatedAt,
}
