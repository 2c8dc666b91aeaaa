//! Tickets: one per seat of a confirmed reservation (`tickets`), the Ed25519 keys that sign
//! their QR payloads (`ticket_keys`), and the history of their transfers (`ticket_transfers`).
//!
//! Check-in is exactly once because it is a conditional update of the ticket's row
//! (`state = VALID` and the scanned `generation`), which the database serialises; the
//! partial unique index on (session, seat) over tickets not cancelled keeps a seat from
//! ever having two tickets that open the door. Confirmed reservations made before this
//! migration get their tickets here, so every paid seat has one.

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
                    .table(TicketKeys::Table)
                    .col(string_len(TicketKeys::Kid, 32).primary_key())
                    // The 32-byte Ed25519 seed, base64url.
                    .col(string_len(TicketKeys::Seed, 64))
                    // The public key, base64url: what the well-known key set publishes.
                    .col(string_len(TicketKeys::PublicKey, 64))
                    .col(timestamp_with_time_zone(TicketKeys::CreatedAt))
                    // Set when a newer key took over signing; the key still verifies.
                    .col(timestamp_with_time_zone_null(TicketKeys::RetiredAt))
                    // Set when the key is no longer trusted (leaked): it verifies nothing.
                    .col(timestamp_with_time_zone_null(TicketKeys::RevokedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Tickets::Table)
                    .col(big_pk_auto(Tickets::Id))
                    .col(big_integer(Tickets::ReservationId))
                    .col(big_integer(Tickets::SessionId))
                    .col(big_integer(Tickets::SeatId))
                    .col(big_integer(Tickets::OwnerId))
                    // VALID, CHECKED_IN or CANCELLED.
                    .col(string_len(Tickets::State, 16))
                    // Bumped by each transfer: payloads signed for an older one are refused.
                    .col(integer(Tickets::Generation).default(0))
                    // A cancelled ticket whose price went back to the buyer.
                    .col(boolean(Tickets::Refunded).default(false))
                    .col(timestamp_with_time_zone_null(Tickets::CheckedInAt))
                    .col(string_len_null(Tickets::Gate, 64))
                    .col(big_integer_null(Tickets::CheckedInBy))
                    .col(timestamp_with_time_zone_null(Tickets::CancelledAt))
                    .col(timestamp_with_time_zone(Tickets::CreatedAt))
                    .col(timestamp_with_time_zone(Tickets::UpdatedAt))
                    .check(Expr::col(Tickets::Generation).gte(0))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Tickets::Table, Tickets::ReservationId)
                            .to(Reservations::Table, Reservations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Tickets::Table, Tickets::SessionId)
                            .to(Sessions::Table, Sessions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Tickets::Table, Tickets::OwnerId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_tickets_reservation_seat")
                    .table(Tickets::Table)
                    .col(Tickets::ReservationId)
                    .col(Tickets::SeatId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_tickets_live_seat")
                    .table(Tickets::Table)
                    .col(Tickets::SessionId)
                    .col(Tickets::SeatId)
                    .unique()
                    .and_where(Expr::col(Tickets::State).ne("CANCELLED"))
                    .to_owned(),
            )
            .await?;
        // `myTickets`, and the door's count per session and state.
        index(manager, Tickets::Table, "idx_tickets_owner", &[Tickets::OwnerId]).await?;
        index(
            manager,
            Tickets::Table,
            "idx_tickets_session_state",
            &[Tickets::SessionId, Tickets::State],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(TicketTransfers::Table)
                    .col(big_pk_auto(TicketTransfers::Id))
                    .col(big_integer(TicketTransfers::TicketId))
                    .col(big_integer(TicketTransfers::FromUserId))
                    .col(big_integer(TicketTransfers::ToUserId))
                    // The generation the transfer made.
                    .col(integer(TicketTransfers::Generation))
                    .col(timestamp_with_time_zone(TicketTransfers::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(TicketTransfers::Table, TicketTransfers::TicketId)
                            .to(Tickets::Table, Tickets::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            TicketTransfers::Table,
            "idx_ticket_transfers_ticket",
            &[TicketTransfers::TicketId],
        )
        .await?;

        // Every seat already paid for gets its ticket.
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO tickets (reservation_id, session_id, seat_id, owner_id, state, generation, refunded, \
                 created_at, updated_at) \
                 SELECT rs.reservation_id, rs.session_id, rs.seat_id, r.user_id, 'VALID', 0, false, \
                 r.updated_at, r.updated_at \
                 FROM reservation_seats rs JOIN reservations r ON r.id = rs.reservation_id \
                 WHERE r.status = 'CONFIRMED' AND rs.active = true",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            TicketTransfers::Table.into_iden(),
            Tickets::Table.into_iden(),
            TicketKeys::Table.into_iden(),
        ] {
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
enum Reservations {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum TicketKeys {
    Table,
    Kid,
    Seed,
    PublicKey,
    CreatedAt,
    RetiredAt,
    RevokedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Tickets {
    Table,
    Id,
    ReservationId,
    SessionId,
    SeatId,
    OwnerId,
    State,
    Generation,
    Refunded,
    CheckedInAt,
    Gate,
    CheckedInBy,
    CancelledAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum TicketTransfers {
    Table,
    Id,
    TicketId,
    FromUserId,
    ToUserId,
    Generation,
    CreatedAt,
}
