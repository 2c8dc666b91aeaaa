//! The per-buyer seat cap a waitlist entry is offered under (`waitlist_entries.max_seats`).
//!
//! The hand-over runs inside whichever transaction frees seats (a release, the sweep, a
//! refund), with no settings at hand; like the hold window, the cap is taken from the
//! settings when the buyer joins, so that an offer never takes the buyer past it. Null for
//! entries made before: offered without the check, as they were.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(WaitlistEntries::Table)
                    .add_column(integer_null(WaitlistEntries::MaxSeats))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(WaitlistEntries::Table)
                    .drop_column(WaitlistEntries::MaxSeats)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum WaitlistEntries {
    Table,
    MaxSeats,
}
