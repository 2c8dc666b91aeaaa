//! The two secondary indexes of `session_seats` that only ever look for seats somebody has
//! become partial: a session's inventory is mostly available seats, which neither index
//! needs to hold. Every session's seat rows are written when it is created (the demo
//! catalog's first start writes 122,000), and each full index cost every one of those rows
//! an entry; the partial ones cost nothing until a seat is held.
//!
//! - `idx_session_seats_reservation` (`reservation_id`): only rows with a reservation. A
//!   lookup `reservation_id = $1` implies it, so the planner still uses the index.
//! - `idx_session_seats_hold_expiry` was `(status, hold_expires_at)` over every row; the
//!   sweep asks for one session's HELD seats lapsed before a time, so it is now
//!   `(session_id, hold_expires_at) WHERE status = 'HELD'`. The sweep binds the status as a
//!   parameter, so a generic plan cannot prove the predicate and reads the session's rows
//!   by primary key instead, as it could before; the index serves its custom plans.
//!
//! Rebuilding the two indexes locks `session_seats` against writes while they are built
//! (a scan of the table): on a large inventory, run it outside a sale.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const RESERVATION: &str = "idx_session_seats_reservation";
const HOLD_EXPIRY: &str = "idx_session_seats_hold_expiry";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// One transaction on SQLite too (sea-orm's default there is none): each index is
    /// dropped and made again under its own name, and outside a transaction the statements
    /// go to whichever pooled connection is free, where the create was seen to run before
    /// the drop had reached it ("index already exists").
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_both(manager).await?;
        manager
            .create_index(
                Index::create()
                    .name(RESERVATION)
                    .table(SessionSeats::Table)
                    .col(SessionSeats::ReservationId)
                    .and_where(Expr::col(SessionSeats::ReservationId).is_not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(HOLD_EXPIRY)
                    .table(SessionSeats::Table)
                    .col(SessionSeats::SessionId)
                    .col(SessionSeats::HoldExpiresAt)
                    .and_where(Expr::col(SessionSeats::Status).eq("HELD"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_both(manager).await?;
        manager
            .create_index(
                Index::create()
                    .name(RESERVATION)
                    .table(SessionSeats::Table)
                    .col(SessionSeats::ReservationId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(HOLD_EXPIRY)
                    .table(SessionSeats::Table)
                    .col(SessionSeats::Status)
                    .col(SessionSeats::HoldExpiresAt)
                    .to_owned(),
            )
            .await
    }
}

async fn drop_both(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    for name in [RESERVATION, HOLD_EXPIRY] {
        manager
            .drop_index(Index::drop().name(name).table(SessionSeats::Table).to_owned())
            .await?;
    }
    Ok(())
}

#[derive(DeriveIden, Clone, Copy)]
enum SessionSeats {
    Table,
    SessionId,
    ReservationId,
    Status,
    HoldExpiresAt,
}
