//! In-app notifications and their deliveries by email and Slack, records of scheduled job
//! runs, and what dormant accounts and purged performances need.

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
                    .table(Notifications::Table)
                    .col(big_pk_auto(Notifications::Id))
                    .col(big_integer(Notifications::UserId))
                    .col(string_len(Notifications::Kind, 32))
                    // What makes it unique, e.g. `reservation:42:CONFIRMED`: a retried event
                    // never notifies twice.
                    .col(string_len(Notifications::DedupeKey, 160).unique_key())
                    .col(string_len(Notifications::Title, 200))
                    .col(text(Notifications::Body))
                    .col(text(Notifications::Data))
                    .col(timestamp_with_time_zone_null(Notifications::ReadAt))
                    .col(timestamp_with_time_zone(Notifications::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Notifications::Table, Notifications::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            Notifications::Table,
            "idx_notifications_user",
            &[Notifications::UserId, Notifications::Id],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Deliveries::Table)
                    .col(big_pk_auto(Deliveries::Id))
                    .col(string_len(Deliveries::Channel, 16))
                    .col(string_len(Deliveries::DedupeKey, 160))
                    .col(string_len(Deliveries::Recipient, 320))
                    .col(string_len(Deliveries::Subject, 300))
                    .col(text(Deliveries::BodyText))
                    .col(text_null(Deliveries::BodyHtml))
                    .col(string_len(Deliveries::Status, 16))
                    .col(integer(Deliveries::Attempts).default(0))
                    .col(text_null(Deliveries::LastError))
                    .col(timestamp_with_time_zone(Deliveries::NextAttemptAt))
                    .col(timestamp_with_time_zone(Deliveries::CreatedAt))
                    .col(timestamp_with_time_zone_null(Deliveries::SentAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_deliveries_channel_key")
                    .table(Deliveries::Table)
                    .col(Deliveries::Channel)
                    .col(Deliveries::DedupeKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            Deliveries::Table,
            "idx_deliveries_due",
            &[Deliveries::Status, Deliveries::NextAttemptAt],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(JobRuns::Table)
                    .col(big_pk_auto(JobRuns::Id))
                    .col(string_len(JobRuns::Job, 64))
                    .col(string_len(JobRuns::Trigger, 16))
                    .col(string_len(JobRuns::Status, 16))
                    .col(big_integer(JobRuns::Items).default(0))
                    .col(text_null(JobRuns::Error))
                    .col(timestamp_with_time_zone(JobRuns::StartedAt))
                    .col(timestamp_with_time_zone_null(JobRuns::FinishedAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            JobRuns::Table,
            "idx_job_runs_job",
            &[JobRuns::Job, JobRuns::Id],
        )
        .await?;

        // Personal data of dormant accounts, kept apart from the main table as the law on
        // long-unused accounts expects, until the owner comes back.
        manager
            .create_table(
                Table::create()
                    .table(DormantAccounts::Table)
                    .col(big_integer(DormantAccounts::UserId).primary_key())
                    .col(string_len_null(DormantAccounts::Email, 320))
                    .col(string_len(DormantAccounts::Name, 100))
                    .col(string_len_null(DormantAccounts::Phone, 30))
                    .col(timestamp_with_time_zone(DormantAccounts::MovedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(DormantAccounts::Table, DormantAccounts::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_dormant_accounts_email")
                    .table(DormantAccounts::Table)
                    .col(DormantAccounts::Email)
                    .unique()
                    .to_owned(),
            )
            .await?;

        // SQLite alters one column per statement.
        for column in [
            string_len(Users::Language, 8).default("ko").to_owned(),
            timestamp_with_time_zone_null(Users::DormantAt).to_owned(),
        ] {
            manager
                .alter_table(Table::alter().table(Users::Table).add_column(column).to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Performances::Table)
                    .add_column(timestamp_with_time_zone_null(Performances::PurgedAt))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Performances::Table)
                    .drop_column(Performances::PurgedAt)
                    .to_owned(),
            )
            .await?;
        for column in [Users::DormantAt, Users::Language] {
            manager
                .alter_table(Table::alter().table(Users::Table).drop_column(column).to_owned())
                .await?;
        }
        for table in [
            DormantAccounts::Table.into_iden(),
            JobRuns::Table.into_iden(),
            Deliveries::Table.into_iden(),
            Notifications::Table.into_iden(),
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
    Language,
    DormantAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Performances {
    Table,
    PurgedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Notifications {
    Table,
    Id,
    UserId,
    Kind,
    DedupeKey,
    Title,
    Body,
    Data,
    ReadAt,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Deliveries {
    Table,
    Id,
    Channel,
    DedupeKey,
    Recipient,
    Subject,
    BodyText,
    BodyHtml,
    Status,
    Attempts,
    LastError,
    NextAttemptAt,
    CreatedAt,
    SentAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum JobRuns {
    Table,
    Id,
    Job,
    Trigger,
    Status,
    Items,
    Error,
    StartedAt,
    FinishedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum DormantAccounts {
    Table,
    UserId,
    Email,
    Name,
    Phone,
    MovedAt,
}
