//! Venues and their seat layouts.
//!
//! A layout is given as sections of rows (label, seat count, grade) and stored as one row per
//! physical seat with a drawing position. A layout can be replaced only while no session uses
//! the venue, since session inventories point at its seats.

use std::collections::HashSet;

use chrono::Utc;
use entity::{performance, seat, section, session, venue};
use sea_orm::sea_query::ExprTrait;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

use super::catalog_events::{CatalogObject, record_change};
use super::paging::{Page, PageRequest};
use super::validate::required_text;
use crate::error::{ApiError, ApiResult};

/// Largest venue we accept; larger layouts are almost certainly input mistakes.
pub const MAX_SEATS_PER_VENUE: usize = 20_000;
pub const MAX_SEATS_PER_ROW: i32 = 200;
/// Seats inserted per statement; keeps well under SQLite's bound-parameter limit.
const SEAT_INSERT_BATCH: usize = 500;

#[derive(Debug, Clone)]
pub struct LayoutSpec {
    pub sections: Vec<SectionSpec>,
}

#[derive(Debug, Clone)]
pub struct SectionSpec {
    pub name: String,
    /// Rows from the stage backwards.
    pub rows: Vec<RowSpec>,
}

#[derive(Debug, Clone)]
pub struct RowSpec {
    pub label: String,
    pub seat_count: i32,
    pub grade: String,
    /// Seat numbers (1-based) that are wheelchair-accessible.
    pub accessible_seats: Vec<i32>,
}

#[derive(Debug, Clone)]
pub struct NewVenue {
    pub name: String,
    pub address: String,
    pub region: String,
    pub layout: LayoutSpec,
}

#[derive(Debug, Clone, Default)]
pub struct VenuePatch {
    pub name: Option<String>,
    pub address: Option<String>,
    pub region: Option<String>,
    pub layout: Option<LayoutSpec>,
}

#[tracing::instrument(name = "venues.create_venue", skip_all)]
pub async fn create_venue(db: &impl ConnectionTrait, input: NewVenue) -> ApiResult<venue::Model> {
    let name = required_text("name", &input.name, 200)?;
    let address = required_text("address", &input.address, 500)?;
    let region = required_text("region", &input.region, 50)?;
    let layout = validate_layout(&input.layout)?;
    let now = Utc::now();
    let venue = venue::ActiveModel {
        name: Set(name),
        address: Set(address),
        region: Set(region),
        seat_count: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    record_change(db, CatalogObject::Venue, venue.id).await?;
    replace_layout(db, venue, &layout).await
}

#[tracing::instrument(name = "venues.update_venue", skip_all, fields(id = id))]
pub async fn update_venue(db: &impl ConnectionTrait, id: i64, patch: VenuePatch) -> ApiResult<venue::Model> {
    let current = find_venue(db, id).await?;
    let mut model = current.clone().into_active_model();
    if let Some(name) = &patch.name {
        model.name = Set(required_text("name", name, 200)?);
    }
    if let Some(address) = &patch.address {
        model.address = Set(required_text("address", address, 500)?);
    }
    if let Some(region) = &patch.region {
        model.region = Set(required_text("region", region, 50)?);
    }
    let layout = patch.layout.as_ref().map(validate_layout).transpose()?;
    model.updated_at = Set(Utc::now());
    let venue = model.update(db).await?;
    // A rename changes the documents of the venue's performances too; the consumer sees to it.
    record_change(db, CatalogObject::Venue, id).await?;
    match layout {
        Some(layout) => {
            if venue_has_sessions(db, id).await? {
                return Err(ApiError::Conflict(
                    "the venue has sessions; its seat layout cannot change while they exist".into(),
                ));
            }
            seat::Entity::delete_many()
                .filter(seat::Column::VenueId.eq(id))
                .exec(db)
                .await?;
            section::Entity::delete_many()
                .filter(section::Column::VenueId.eq(id))
                .exec(db)
                .await?;
            replace_layout(db, venue, &layout).await
        }
        None => Ok(venue),
    }
}

#[tracing::instrument(name = "venues.delete_venue", skip_all, fields(id = id))]
pub async fn delete_venue(db: &impl ConnectionTrait, id: i64) -> ApiResult<()> {
    find_venue(db, id).await?;
    let performances = performance::Entity::find()
        .filter(performance::Column::VenueId.eq(id))
        .count(db)
        .await?;
    if performances > 0 {
        return Err(ApiError::Conflict(format!(
            "the venue still has {performances} performance(s); delete or move them first"
        )));
    }
    venue::Entity::delete_by_id(id)
        .exec(db)
        .await
        .map_err(|e| ApiError::from_db_conflict(e, "the venue still has performances"))?;
    record_change(db, CatalogObject::Venue, id).await
}

pub async fn find_venue(db: &impl ConnectionTrait, id: i64) -> ApiResult<venue::Model> {
    venue::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("venue"))
}

/// The venues with these ids (an unknown id is left out), in no particular order.
pub async fn find_venues(
    db: &impl ConnectionTrait,
    ids: impl IntoIterator<Item = i64>,
) -> Result<Vec<venue::Model>, sea_orm::DbErr> {
    venue::Entity::find().filter(venue::Column::Id.is_in(ids)).all(db).await
}

/// Venues ordered by name, then id.
pub async fn list_venues(db: &impl ConnectionTrait, page: PageRequest<String>) -> ApiResult<Page<venue::Model>> {
    let mut query = venue::Entity::find()
        .order_by_asc(venue::Column::Name)
        .order_by_asc(venue::Column::Id);
    if let Some((name, id)) = page.after {
        query = query.filter(
            sea_orm::Condition::any()
                .add(venue::Column::Name.gt(name.clone()))
                .add(venue::Column::Name.eq(name).and(venue::Column::Id.gt(id))),
        );
    }
    let rows = query.limit(page.first + 1).all(db).await?;
    Ok(Page::from_overfetch(rows, page.first))
}

async fn venue_has_sessions(db: &impl ConnectionTrait, venue_id: i64) -> ApiResult<bool> {
    let count = session::Entity::find()
        .inner_join(performance::Entity)
        .filter(performance::Column::VenueId.eq(venue_id))
        .count(db)
        .await?;
    Ok(count > 0)
}

/// A layout that passed validation, with names trimmed.
struct ValidLayout(Vec<SectionSpec>);

fn validate_layout(layout: &LayoutSpec) -> ApiResult<ValidLayout> {
    if layout.sections.is_empty() {
        return Err(ApiError::bad_input("layout", "a layout needs at least one section"));
    }
    let mut section_names = HashSet::new();
    let mut total = 0usize;
    let mut sections = Vec::with_capacity(layout.sections.len());
    for section in &layout.sections {
        let name = required_text("layout.sections.name", &section.name, 100)?;
        if !section_names.insert(name.clone()) {
            return Err(ApiError::bad_input(
                "layout.sections.name",
                format!("section \"{name}\" appears twice"),
            ));
        }
        if section.rows.is_empty() {
            return Err(ApiError::bad_input(
                "layout.sections.rows",
                format!("section \"{name}\" has no rows"),
            ));
        }
        let mut labels = HashSet::new();
        let mut rows = Vec::with_capacity(section.rows.len());
        for row in &section.rows {
            let label = required_text("layout.sections.rows.label", &row.label, 20)?;
            if !labels.insert(label.clone()) {
                return Err(ApiError::bad_input(
                    "layout.sections.rows.label",
                    format!("row \"{label}\" appears twice in section \"{name}\""),
                ));
            }
            if row.seat_count < 1 || row.seat_count > MAX_SEATS_PER_ROW {
                return Err(ApiError::bad_input(
                    "layout.sections.rows.seatCount",
                    format!("row \"{label}\" of section \"{name}\" must have 1 to {MAX_SEATS_PER_ROW} seats"),
                ));
            }
            if let Some(bad) = row.accessible_seats.iter().find(|n| **n < 1 || **n > row.seat_count) {
                return Err(ApiError::bad_input(
                    "layout.sections.rows.accessibleSeats",
                    format!("row \"{label}\" of section \"{name}\" has no seat {bad}"),
                ));
            }
            let grade = required_text("layout.sections.rows.grade", &row.grade, 20)?;
            total += row.seat_count as usize;
            rows.push(RowSpec {
                label,
                seat_count: row.seat_count,
                grade,
                accessible_seats: row.accessible_seats.clone(),
            });
        }
        sections.push(SectionSpec { name, rows });
    }
    if total > MAX_SEATS_PER_VENUE {
        return Err(ApiError::bad_input(
            "layout",
            format!("a venue may have at most {MAX_SEATS_PER_VENUE} seats; this layout has {total}"),
        ));
    }
    Ok(ValidLayout(sections))
}

/// Inserts sections and seats for `venue` (which has none) and records the seat count.
///
/// Sections are stacked front to back in the order given and each row is centred on the
/// widest row of the venue, which draws a plausible auditorium from the layout alone.
async fn replace_layout(
    db: &impl ConnectionTrait,
    venue: venue::Model,
    layout: &ValidLayout,
) -> ApiResult<venue::Model> {
    let widest = layout
        .0
        .iter()
        .flat_map(|s| &s.rows)
        .map(|r| r.seat_count)
        .max()
        .unwrap_or(0);
    let mut seats = Vec::new();
    let mut y = 0.0;
    for (position, spec) in layout.0.iter().enumerate() {
        let section = section::ActiveModel {
            venue_id: Set(venue.id),
            name: Set(spec.name.clone()),
            position: Set(position as i32),
            ..Default::default()
        }
        .insert(db)
        .await?;
        for (row_index, row) in spec.rows.iter().enumerate() {
            let indent = f64::from(widest - row.seat_count) / 2.0;
            for number in 1..=row.seat_count {
                seats.push(seat::ActiveModel {
                    venue_id: Set(venue.id),
                    section_id: Set(section.id),
                    row_label: Set(row.label.clone()),
                    row_index: Set(row_index as i32),
                    number: Set(number),
                    grade: Set(row.grade.clone()),
                    x: Set(indent + f64::from(number - 1)),
                    y: Set(y),
                    accessible: Set(row.accessible_seats.contains(&number)),
                    ..Default::default()
                });
            }
            y += 1.0;
        }
        // An aisle's worth of space between sections.
        y += 1.0;
    }
    let seat_count = seats.len() as i32;
    let mut batch = Vec::with_capacity(SEAT_INSERT_BATCH);
    for seat in seats {
        batch.push(seat);
        if batch.len() == SEAT_INSERT_BATCH {
            seat::Entity::insert_many(std::mem::take(&mut batch))
                .exec_without_returning(db)
                .await?;
        }
    }
    if !batch.is_empty() {
        seat::Entity::insert_many(batch).exec_without_returning(db).await?;
    }
    let mut model = venue.into_active_model();
    model.seat_count = Set(seat_count);
    Ok(model.update(db).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(label: &str, seats: i32) -> RowSpec {
        RowSpec {
            label: label.into(),
            seat_count: seats,
            grade: "R".into(),
            accessible_seats: vec![],
        }
    }

    #[test]
    fn a_layout_without_seats_is_refused() {
        let err = validate_layout(&LayoutSpec { sections: vec![] }).err();
        assert!(matches!(err, Some(ApiError::BadUserInput { .. })));
        let zero = LayoutSpec {
            sections: vec![SectionSpec {
                name: "1층".into(),
                rows: vec![row("A", 0)],
            }],
        };
        assert!(matches!(
            validate_layout(&zero).err(),
            Some(ApiError::BadUserInput { .. })
        ));
    }

    #[test]
    fn duplicate_rows_and_sections_are_refused() {
        let dup_rows = LayoutSpec {
            sections: vec![SectionSpec {
                name: "1층".into(),
                rows: vec![row("A", 5), row("A", 5)],
            }],
        };
        assert!(validate_layout(&dup_rows).is_err());
        let section = SectionSpec {
            name: "1층".into(),
            rows: vec![row("A", 5)],
        };
        let dup_sections = LayoutSpec {
            sections: vec![section.clone(), section],
        };
        assert!(validate_layout(&dup_sections).is_err());
    }

    #[test]
    fn the_cost_estimate_of_a_seat_map_is_the_largest_venue() {
        let settings = crate::config::GraphqlSettings::default();
        assert_eq!(settings.seat_map_size_estimate, MAX_SEATS_PER_VENUE);
    }
}
