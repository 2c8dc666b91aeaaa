//! Partial refunds: a paid booking can give back some of its seats.
//!
//! Each payment records how much of it has been refunded (`cancelled_amount`). Each refund
//! Curtain asks the provider for is a `refunds` row, written before the provider is asked
//! and finished in the transaction that applies it, so that a request repeated after a
//! crash finds it and finishes it with the same idempotency key and amount. At most one
//! refund per reservation is unfinished at a time (a partial unique index): concurrent
//! cancellations of one booking are serialised by the database, and no seat is refunded
//! twice.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Payments::Table)
                    .add_column(big_integer(Payments::CancelledAmount).default(0))
                    .to_owned(),
            )
            .await?;
        // Payments refunded before partial refunds existed were refunded in full.
        manager
            .get_connection()
            .execute_unprepared("UPDATE payments SET cancelled_amount = amount WHERE status = 'CANCELED'")
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Refunds::Table)
                    .col(big_pk_auto(Refunds::Id))
                    .col(big_integer(Refunds::ReservationId))
                    // None for a booking confirmed without a payment (nothing to refund).
                    .col(big_integer_null(Refunds::PaymentId))
                    // Sent to the provider as Idempotency-Key; derived from the payment and
                    // the seats, so the same request always carries the same key.
                    .col(string_len(Refunds::IdempotencyKey, 300).unique_key())
                    // The seats given back, ascending, comma-separated.
                    .col(text(Refunds::SeatIds))
                    // True when the refund ends the whole booking.
                    .col(boolean(Refunds::Whole))
                    // What is refunded, in whole KRW.
                    .col(big_integer(Refunds::Amount))
                    // What the booking is afterwards: amount, discount and seats.
                    .col(big_integer(Refunds::KeptAmount))
                    .col(big_integer(Refunds::KeptDiscount))
                    .col(integer(Refunds::KeptSeatCount))
                    // PENDING until applied, then DONE.
                    .col(string_len(Refunds::Status, 16))
                    .col(text(Refunds::Reason))
                    .col(timestamp_with_time_zone(Refunds::CreatedAt))
                    .col(timestamp_with_time_zone_null(Refunds::FinishedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Refunds::Table, Refunds::ReservationId)
                            .to(Reservations::Table, Reservations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Refunds::Table, Refunds::PaymentId)
                            .to(Payments::Table, Payments::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_refunds_one_pending")
                    .table(Refunds::Table)
                    .col(Refunds::ReservationId)
                    .unique()
                    .and_where(Expr::col(Refunds::Status).eq("PENDING"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_refunds_reservation")
                    .table(Refunds::Table)
                    .col(Refunds::ReservationId)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Refunds::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Payments::Table)
                    .drop_column(Payments::CancelledAmount)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Reservations {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum Payments {
    Table,
    Id,
    CancelledAmount,
}

#[derive(DeriveIden, Clone, Copy)]
enum Refunds {
    Table,
    Id,
    ReservationId,
    PaymentId,
    IdempotencyKey,
    SeatIds,
    Whole,
    Amount,
    KeptAmount,
    KeptDiscount,
    KeptSeatCount,
    Status,
    Reason,
    CreatedAt,
    FinishedAt,
}
