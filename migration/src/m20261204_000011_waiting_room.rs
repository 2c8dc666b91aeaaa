//! The waiting room of a hot session (`waiting_rooms`, one row per session) and the place
//! each buyer holds in it (`waiting_room_tickets`).
//!
//! The unique (session, user) key makes joining idempotent under any concurrency: the
//! second insert fails and the joiner reads the ticket the first one made. A ticket's
//! `sequence` is its place in line, assigned by the admission tick under the room row's
//! lock (dense, in join order, or shuffled for the pre-queue), so joining itself takes no
//! lock at all.

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
                    .table(WaitingRooms::Table)
                    .col(big_integer(WaitingRooms::SessionId).primary_key())
                    .col(boolean(WaitingRooms::Enabled))
                    .col(integer(WaitingRooms::AdmitPerMinute))
                    .col(integer(WaitingRooms::AdmissionMinutes))
                    .col(timestamp_with_time_zone(WaitingRooms::OpensAt))
                    // The highest sequence given to a ticket so far.
                    .col(big_integer(WaitingRooms::LastSequence).default(0))
                    // Every ticket with a sequence up to this one has been admitted.
                    .col(big_integer(WaitingRooms::AdmittedThrough).default(0))
                    .col(boolean(WaitingRooms::SoldOut).default(false))
                    // Counts admission ticks that changed something; subscribers spot gaps.
                    .col(big_integer(WaitingRooms::Tick).default(0))
                    .col(timestamp_with_time_zone(WaitingRooms::CreatedAt))
                    .col(timestamp_with_time_zone(WaitingRooms::UpdatedAt))
                    .check(Expr::col(WaitingRooms::AdmitPerMinute).gt(0))
                    .check(Expr::col(WaitingRooms::AdmissionMinutes).gt(0))
                    .foreign_key(
                        ForeignKey::create()
                            .from(WaitingRooms::Table, WaitingRooms::SessionId)
                            .to(Sessions::Table, Sessions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(WaitingRoomTickets::Table)
                    .col(big_pk_auto(WaitingRoomTickets::Id))
                    .col(big_integer(WaitingRoomTickets::SessionId))
                    .col(big_integer(WaitingRoomTickets::UserId))
                    // Null until the admission tick places the ticket in line.
                    .col(big_integer_null(WaitingRoomTickets::Sequence))
                    // WAITING, ADMITTED, SOLD_OUT or EXPIRED.
                    .col(string_len(WaitingRoomTickets::State, 16))
                    .col(timestamp_with_time_zone(WaitingRoomTickets::JoinedAt))
                    .col(timestamp_with_time_zone_null(WaitingRoomTickets::AdmittedAt))
                    .col(timestamp_with_time_zone_null(WaitingRoomTickets::AdmittedUntil))
                    .col(timestamp_with_time_zone(WaitingRoomTickets::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(WaitingRoomTickets::Table, WaitingRoomTickets::SessionId)
                            .to(WaitingRooms::Table, WaitingRooms::SessionId)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(WaitingRoomTickets::Table, WaitingRoomTickets::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_waiting_room_tickets_one_per_buyer")
                    .table(WaitingRoomTickets::Table)
                    .col(WaitingRoomTickets::SessionId)
                    .col(WaitingRoomTickets::UserId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            WaitingRoomTickets::Table,
            "idx_waiting_room_tickets_line",
            &[
                WaitingRoomTickets::SessionId,
                WaitingRoomTickets::State,
                WaitingRoomTickets::Sequence,
            ],
        )
        .await?;
        index(
            manager,
            WaitingRoomTickets::Table,
            "idx_waiting_room_tickets_admitted",
            &[WaitingRoomTickets::SessionId, WaitingRoomTickets::AdmittedAt],
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [WaitingRoomTickets::Table.into_iden(), WaitingRooms::Table.into_iden()] {
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
enum WaitingRooms {
    Table,
    SessionId,
    Enabled,
    AdmitPerMinute,
    AdmissionMinutes,
    OpensAt,
    LastSequence,
    AdmittedThrough,
    SoldOut,
    Tick,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum WaitingRoomTickets {
    Table,
    Id,
    SessionId,
    UserId,
    Sequence,
    State,
    JoinedAt,
    AdmittedAt,
    AdmittedUntil,
    UpdatedAt,
}
