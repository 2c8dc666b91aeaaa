//! The transactional outbox: every state change that others must hear about writes a row
//! here in the same transaction as the change. A relay publishes unpublished rows to the
//! event bus and stamps them; seat-map rows double as the per-session delta log that
//! subscribers resume from.

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
                    .table(Outbox::Table)
                    .col(big_pk_auto(Outbox::Id))
                    // What the event is about, e.g. `seat_map`, `catalog`, `reservation`.
                    .col(string_len(Outbox::Topic, 32))
                    // The id of the changed thing (a session for seat-map deltas).
                    .col(big_integer(Outbox::AggregateId))
                    // The seat-map version a delta brings its session to.
                    .col(big_integer_null(Outbox::Version))
                    .col(text(Outbox::Payload))
                    .col(timestamp_with_time_zone(Outbox::CreatedAt))
                    .col(timestamp_with_time_zone_null(Outbox::PublishedAt))
                    .to_owned(),
            )
            .await?;
        // The relay's scan: unpublished rows in id order.
        manager
            .create_index(
                Index::create()
                    .name("idx_outbox_unpublished")
                    .table(Outbox::Table)
                    .col(Outbox::Id)
                    .and_where(Expr::col(Outbox::PublishedAt).is_null())
                    .to_owned(),
            )
            .await?;
        // Resuming a seat map: the deltas of one session after a version.
        index(
            manager,
            Outbox::Table,
            "idx_outbox_aggregate_version",
            &[Outbox::Topic, Outbox::AggregateId, Outbox::Version],
        )
        .await?;
        index(manager, Outbox::Table, "idx_outbox_created", &[Outbox::CreatedAt]).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Outbox::Table).to_owned()).await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Outbox {
    Table,
    Id,
    Topic,
    AggregateId,
    Version,
    Payload,
    CreatedAt,
    PublishedAt,
}
