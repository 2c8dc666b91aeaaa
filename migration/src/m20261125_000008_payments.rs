//! Payments: each reservation gets the order ID and name Toss is told about, and approved
//! payments are recorded with Toss's whole answer.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        manager
            .alter_table(
                Table::alter()
                    .table(Reservations::Table)
                    .add_column(string_len_null(Reservations::OrderId, 64))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Reservations::Table)
                    .add_column(string_len_null(Reservations::OrderName, 100))
                    .to_owned(),
            )
            .await?;
        // Reservations made before payments existed get an order ID too.
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE reservations SET order_id = 'curtain-r' || CAST(id AS TEXT) WHERE order_id IS NULL",
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_reservations_order_id")
                    .table(Reservations::Table)
                    .col(Reservations::OrderId)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Payments::Table)
                    .col(big_pk_auto(Payments::Id))
                    .col(big_integer(Payments::ReservationId).unique_key())
                    .col(string_len(Payments::OrderId, 64))
                    .col(string_len(Payments::PaymentKey, 200).unique_key())
                    // The provider that approved it: TOSS or SIMULATED.
                    .col(string_len(Payments::Provider, 16))
                    .col(string_len_null(Payments::Method, 50))
                    .col(big_integer(Payments::Amount))
                    // Toss's status: DONE, then CANCELED once refunded.
                    .col(string_len(Payments::Status, 24))
                    .col(timestamp_with_time_zone_null(Payments::ApprovedAt))
                    .col(text_null(Payments::ReceiptUrl))
                    .col(text(Payments::RawResponse))
                    .col(text_null(Payments::CancelReason))
                    .col(timestamp_with_time_zone_null(Payments::CancelledAt))
                    .col(timestamp_with_time_zone(Payments::CreatedAt))
                    .col(timestamp_with_time_zone(Payments::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Payments::Table, Payments::ReservationId)
                            .to(Reservations::Table, Reservations::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Payments::Table).to_owned())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("uq_reservations_order_id")
                    .table(Reservations::Table)
                    .to_owned(),
            )
            .await?;
        for column in [Reservations::OrderName, Reservations::OrderId] {
            manager
                .alter_table(Table::alter().table(Reservations::Table).drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Reservations {
    Table,
    Id,
    OrderId,
    OrderName,
}

#[derive(DeriveIden, Clone, Copy)]
enum Payments {
    Table,
    Id,
    ReservationId,
    OrderId,
    PaymentKey,
    Provider,
    Method,
    Amount,
    Status,
    ApprovedAt,
    ReceiptUrl,
    RawResponse,
    CancelReason,
    CancelledAt,
    CreatedAt,
    UpdatedAt,
}
