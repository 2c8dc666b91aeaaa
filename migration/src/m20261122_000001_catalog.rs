//! Venues with their seat layouts, cast members, performances and their cast.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Venues::Table)
                    .col(big_pk_auto(Venues::Id))
                    .col(string_len(Venues::Name, 200))
                    .col(string_len(Venues::Address, 500))
                    .col(string_len(Venues::Region, 50))
                    .col(integer(Venues::SeatCount).default(0))
                    .col(timestamp_with_time_zone(Venues::CreatedAt))
                    .col(timestamp_with_time_zone(Venues::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            Venues::Table,
            "idx_venues_name_id",
            &[Venues::Name, Venues::Id],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Sections::Table)
                    .col(big_pk_auto(Sections::Id))
                    .col(big_integer(Sections::VenueId))
                    .col(string_len(Sections::Name, 100))
                    .col(integer(Sections::Position))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Sections::Table, Sections::VenueId)
                            .to(Venues::Table, Venues::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            Sections::Table,
            "idx_sections_venue",
            &[Sections::VenueId, Sections::Position],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Seats::Table)
                    .col(big_pk_auto(Seats::Id))
                    .col(big_integer(Seats::VenueId))
                    .col(big_integer(Seats::SectionId))
                    .col(string_len(Seats::RowLabel, 20))
                    .col(integer(Seats::RowIndex))
                    .col(integer(Seats::Number))
                    .col(string_len(Seats::Grade, 20))
                    .col(double(Seats::X))
                    .col(double(Seats::Y))
                    .col(boolean(Seats::Accessible).default(false))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Seats::Table, Seats::VenueId)
                            .to(Venues::Table, Venues::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Seats::Table, Seats::SectionId)
                            .to(Sections::Table, Sections::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        index(manager, Seats::Table, "idx_seats_venue", &[Seats::VenueId]).await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_seats_position")
                    .table(Seats::Table)
                    .col(Seats::SectionId)
                    .col(Seats::RowIndex)
                    .col(Seats::Number)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(CastMembers::Table)
                    .col(big_pk_auto(CastMembers::Id))
                    .col(string_len(CastMembers::Name, 200))
                    .col(string_len_null(CastMembers::EnglishName, 200))
                    .col(text_null(CastMembers::Bio))
                    .col(timestamp_with_time_zone(CastMembers::CreatedAt))
                    .col(timestamp_with_time_zone(CastMembers::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            CastMembers::Table,
            "idx_cast_members_name_id",
            &[CastMembers::Name, CastMembers::Id],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Performances::Table)
                    .col(big_pk_auto(Performances::Id))
                    .col(string_len(Performances::Title, 300))
                    .col(string_len_null(Performances::EnglishTitle, 300))
                    .col(text(Performances::Description))
                    .col(string_len(Performances::Genre, 16))
                    .col(integer(Performances::MinimumAge).default(0))
                    .col(integer(Performances::RunningMinutes))
                    .col(date(Performances::StartDate))
                    .col(date(Performances::EndDate))
                    .col(string_len_null(Performances::PosterKey, 300))
                    .col(big_integer(Performances::VenueId))
                    .col(timestamp_with_time_zone(Performances::CreatedAt))
                    .col(timestamp_with_time_zone(Performances::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Performances::Table, Performances::VenueId)
                            .to(Venues::Table, Venues::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        // The public list is ordered by (start_date, id); genre and venue filters keep that order.
        index(
            manager,
            Performances::Table,
            "idx_performances_start_id",
            &[Performances::StartDate, Performances::Id],
        )
        .await?;
        index(
            manager,
            Performances::Table,
            "idx_performances_genre_start_id",
            &[Performances::Genre, Performances::StartDate, Performances::Id],
        )
        .await?;
        index(
            manager,
            Performances::Table,
            "idx_performances_venue_start_id",
            &[Performances::VenueId, Performances::StartDate, Performances::Id],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(PerformanceCast::Table)
                    .col(big_pk_auto(PerformanceCast::Id))
                    .col(big_integer(PerformanceCast::PerformanceId))
                    .col(big_integer(PerformanceCast::CastMemberId))
                    .col(string_len(PerformanceCast::Role, 200))
                    .col(integer(PerformanceCast::BillingOrder).default(0))
                    .foreign_key(
                        ForeignKey::create()
                            .from(PerformanceCast::Table, PerformanceCast::PerformanceId)
                            .to(Performances::Table, Performances::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(PerformanceCast::Table, PerformanceCast::CastMemberId)
                            .to(CastMembers::Table, CastMembers::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_performance_cast_role")
                    .table(PerformanceCast::Table)
                    .col(PerformanceCast::PerformanceId)
                    .col(PerformanceCast::CastMemberId)
                    .col(PerformanceCast::Role)
                    .unique()
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            PerformanceCast::Table,
            "idx_performance_cast_member",
            &[PerformanceCast::CastMemberId, PerformanceCast::PerformanceId],
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            PerformanceCast::Table.into_iden(),
            Performances::Table.into_iden(),
            CastMembers::Table.into_iden(),
            Seats::Table.into_iden(),
            Sections::Table.into_iden(),
            Venues::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

/// Creates a plain (non-unique) index over `cols` of `table`.
pub(crate) async fn index<T, C>(manager: &SchemaManager<'_>, table: T, name: &str, cols: &[C]) -> Result<(), DbErr>
where
    T: IntoIden + Clone + 'static,
    C: IntoIden + Clone + 'static,
{
    let mut stmt = Index::create();
    stmt.name(name).table(table);
    for col in cols {
        stmt.col(col.clone());
    }
    manager.create_index(stmt.to_owned()).await
}

#[derive(DeriveIden, Clone, Copy)]
pub(crate) enum Venues {
    Table,
    Id,
    Name,
    Address,
    Region,
    SeatCount,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Sections {
    Table,
    Id,
    VenueId,
    Name,
    Position,
}

#[derive(DeriveIden, Clone, Copy)]
pub(crate) enum Seats {
    Table,
    Id,
    VenueId,
    SectionId,
    RowLabel,
    RowIndex,
    Number,
    Grade,
    X,
    Y,
    Accessible,
}

#[derive(DeriveIden, Clone, Copy)]
enum CastMembers {
    Table,
    Id,
    Name,
    EnglishName,
    Bio,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
pub(crate) enum Performances {
    Table,
    Id,
    Title,
    EnglishTitle,
    Description,
    Genre,
    MinimumAge,
    RunningMinutes,
    StartDate,
    EndDate,
    PosterKey,
    VenueId,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum PerformanceCast {
    Table,
    Id,
    PerformanceId,
    CastMemberId,
    Role,
    BillingOrder,
}
