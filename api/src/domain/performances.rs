//! Performances: what is on, where, and for how long.

use std::collections::HashMap;

use chrono::{NaiveDate, Utc};
use entity::{Genre, performance, performance_cast, session, session_price};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait, Set,
};

use super::catalog_events::{CatalogObject, record_change};
use super::paging::{Page, PageRequest};
use super::validate::{in_range, optional_text, required_text};
use super::venues::find_venue;
use crate::error::{ApiError, ApiResult};

#[derive(Debug, Clone, Default)]
pub struct PerformanceFields {
    pub title: Option<String>,
    pub english_title: Option<String>,
    pub description: Option<String>,
    pub genre: Option<Genre>,
    pub minimum_age: Option<i64>,
    pub running_minutes: Option<i64>,
    pub start_date: Option<NaiveDate>,
    pub end_date: Option<NaiveDate>,
    pub venue_id: Option<i64>,
}

/// Narrows the public performance list. Dates select runs that overlap `[from, to]`.
#[derive(Debug, Clone, Default)]
pub struct PerformanceFilter {
    pub genre: Option<Genre>,
    pub venue_id: Option<i64>,
    pub cast_member_id: Option<i64>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

fn missing(field: &str) -> ApiError {
    ApiError::bad_input(field, format!("{field} is required"))
}

#[tracing::instrument(name = "performances.create_performance", skip_all)]
pub async fn create_performance(db: &impl ConnectionTrait, input: PerformanceFields) -> ApiResult<performance::Model> {
    let venue_id = input.venue_id.ok_or_else(|| missing("venueId"))?;
    find_venue(db, venue_id)
        .await
        .map_err(|_| ApiError::bad_input("venueId", "no such venue"))?;
    let start_date = input.start_date.ok_or_else(|| missing("startDate"))?;
    let end_date = input.end_date.ok_or_else(|| missing("endDate"))?;
    check_run(start_date, end_date)?;
    let now = Utc::now();
    let performance = performance::ActiveModel {
        title: Set(required_text("title", input.title.as_deref().unwrap_or(""), 300)?),
        english_title: Set(optional_text("englishTitle", input.english_title.as_deref(), 300)?),
        description: Set(input.description.as_deref().map(str::trim).unwrap_or("").to_string()),
        genre: Set(input.genre.ok_or_else(|| missing("genre"))?),
        minimum_age: Set(in_range("minimumAge", input.minimum_age.unwrap_or(0), 0, 99)?),
        running_minutes: Set(in_range(
            "runningMinutes",
            input.running_minutes.ok_or_else(|| missing("runningMinutes"))?,
            1,
            1_440,
        )?),
        start_date: Set(start_date),
        end_date: Set(end_date),
        poster_key: Set(None),
        venue_id: Set(venue_id),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    record_change(db, CatalogObject::Performance, performance.id).await?;
    Ok(performance)
}

#[tracing::instrument(name = "performances.update_performance", skip_all)]
pub async fn update_performance(
    db: &impl ConnectionTrait,
    id: i64,
    patch: PerformanceFields,
) -> ApiResult<performance::Model> {
    let current = find_performance(db, id).await?;
    let mut model = current.clone().into_active_model();
    if let Some(title) = &patch.title {
        model.title = Set(required_text("title", title, 300)?);
    }
    if let Some(english_title) = &patch.english_title {
        model.english_title = Set(optional_text("englishTitle", Some(english_title), 300)?);
    }
    if let Some(description) = &patch.description {
        if description.chars().count() > 10_000 {
            return Err(ApiError::bad_input(
                "description",
                "description must be at most 10000 characters",
            ));
        }
        model.description = Set(description.trim().to_string());
    }
    if let Some(genre) = patch.genre {
        model.genre = Set(genre);
    }
    if let Some(age) = patch.minimum_age {
        model.minimum_age = Set(in_range("minimumAge", age, 0, 99)?);
    }
    if let Some(minutes) = patch.running_minutes {
        model.running_minutes = Set(in_range("runningMinutes", minutes, 1, 1_440)?);
    }
    let start_date = patch.start_date.unwrap_or(current.start_date);
    let end_date = patch.end_date.unwrap_or(current.end_date);
    check_run(start_date, end_date)?;
    model.start_date = Set(start_date);
    model.end_date = Set(end_date);
    if let Some(venue_id) = patch.venue_id.filter(|v| *v != current.venue_id) {
        find_venue(db, venue_id)
            .await
            .map_err(|_| ApiError::bad_input("venueId", "no such venue"))?;
        let sessions = session::Entity::find()
            .filter(session::Column::PerformanceId.eq(id))
            .count(db)
            .await?;
        if sessions > 0 {
            return Err(ApiError::Conflict(
                "the performance has sessions; it cannot move to another venue".into(),
            ));
        }
        model.venue_id = Set(venue_id);
    }
    model.updated_at = Set(Utc::now());
    let performance = model.update(db).await?;
    record_change(db, CatalogObject::Performance, id).await?;
    Ok(performance)
}

/// Deletes a performance and its cast entries. Its sessions must be deleted first, so that
/// nothing with tickets disappears by accident.
#[tracing::instrument(name = "performances.delete_performance", skip_all, fields(id = id))]
pub async fn delete_performance(db: &impl ConnectionTrait, id: i64) -> ApiResult<performance::Model> {
    let performance = find_performance(db, id).await?;
    let sessions = session::Entity::find()
        .filter(session::Column::PerformanceId.eq(id))
        .count(db)
        .await?;
    if sessions > 0 {
        return Err(ApiError::Conflict(format!(
            "the performance still has {sessions} session(s); delete them first"
        )));
    }
    performance::Entity::delete_by_id(id)
        .exec(db)
        .await
        .map_err(|e| ApiError::from_db_conflict(e, "the performance still has sessions"))?;
    record_change(db, CatalogObject::Performance, id).await?;
    Ok(performance)
}

pub async fn find_performance(db: &impl ConnectionTrait, id: i64) -> ApiResult<performance::Model> {
    performance::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("performance"))
}

/// Each performance's price tiers: the lowest price of every seat grade over all its
/// sessions, dearest grade first (then by grade). A performance without sessions is left out.
pub async fn price_tiers(
    db: &impl ConnectionTrait,
    performance_ids: impl IntoIterator<Item = i64>,
) -> Result<HashMap<i64, Vec<(String, i32)>>, sea_orm::DbErr> {
    let rows: Vec<(i64, String, i32)> = session_price::Entity::find()
        .select_only()
        .column(session::Column::PerformanceId)
        .column(session_price::Column::Grade)
        .expr_as(
            Func::min(Expr::col((session_price::Entity, session_price::Column::Price))),
            "price",
        )
        .inner_join(session::Entity)
        .filter(session::Column::PerformanceId.is_in(performance_ids))
        .group_by(session::Column::PerformanceId)
        .group_by(session_price::Column::Grade)
        .into_tuple()
        .all(db)
        .await?;
    let mut tiers: HashMap<i64, Vec<(String, i32)>> = HashMap::new();
    for (performance_id, grade, price) in rows {
        tiers.entry(performance_id).or_default().push((grade, price));
    }
    for list in tiers.values_mut() {
        list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    }
    Ok(tiers)
}

/// Performances ordered by the first day of their run, then id.
pub async fn list_performances(
    db: &impl ConnectionTrait,
    filter: &PerformanceFilter,
    page: PageRequest<NaiveDate>,
) -> ApiResult<Page<performance::Model>> {
    let mut query = performance::Entity::find()
        .order_by_asc(performance::Column::StartDate)
        .order_by_asc(performance::Column::Id);
    if let Some(genre) = filter.genre {
        query = query.filter(performance::Column::Genre.eq(genre));
    }
    if let Some(venue_id) = filter.venue_id {
        query = query.filter(performance::Column::VenueId.eq(venue_id));
    }
    if let Some(cast_member_id) = filter.cast_member_id {
        let with_member = performance_cast::Entity::find()
            .select_only()
            .column(performance_cast::Column::PerformanceId)
            .filter(performance_cast::Column::CastMemberId.eq(cast_member_id))
            .into_query();
        query = query.filter(performance::Column::Id.in_subquery(with_member));
    }
    if let Some(from) = filter.from {
        query = query.filter(performance::Column::EndDate.gte(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(performance::Column::StartDate.lte(to));
    }
    if let Some((start, id)) = page.after {
        query = query.filter(
            Condition::any().add(performance::Column::StartDate.gt(start)).add(
                performance::Column::StartDate
                    .eq(start)
                    .and(performance::Column::Id.gt(id)),
            ),
        );
    }
    let rows = query.limit(page.first + 1).all(db).await?;
    Ok(Page::from_overfetch(rows, page.first))
}

fn check_run(start: NaiveDate, end: NaiveDate) -> ApiResult<()> {
    if end < start {
        return Err(ApiError::bad_input(
            "endDate",
            "the run must end on or after its first day",
        ));
    }
    Ok(())
}
