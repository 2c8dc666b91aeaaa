//! An index on `outbox (topic, created_at)`: a consumer that keeps a position in the outbox
//! re-reads the last few minutes of its topic on every catch-up, to find events whose
//! transaction committed after a later-numbered one (ids are handed out at insert, not at
//! commit). Without it that look-back would walk every topic's recent rows.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const NAME: &str = "idx_outbox_topic_created";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(NAME)
                    .table(Outbox::Table)
                    .col(Outbox::Topic)
                    .col(Outbox::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name(NAME).table(Outbox::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Outbox {
    Table,
    Topic,
    CreatedAt,
}
