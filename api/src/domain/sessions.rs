//! Sessions (show times) with a price per seat grade and a seat inventory of their own.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use entity::{SeatStatus, SessionStatus, performance, seat, session, session_price, session_seat};
use sea_orm::ActiveEnum;
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

use super::box_office_offset;
use super::performances::find_performance;
use crate::error::{ApiError, ApiResult};

pub const MAX_PRICE: i64 = 10_000_000;

#[derive(Debug, Clone)]
pub struct NewSession {
    pub performance_id: i64,
    pub starts_at: DateTime<Utc>,
    /// Defaults to now: on sale at once.
    pub sales_open_at: Option<DateTime<Utc>>,
    /// Defaults to the start of the show.
    pub sales_close_at: Option<DateTime<Utc>>,
    pub prices: Vec<(String, i64)>,
}

#[derive(Debug, Clone, Default)]
pub struct SessionPatch {
    pub starts_at: Option<DateTime<Utc>>,
    pub sales_open_at: Option<DateTime<Utc>>,
    pub sales_close_at: Option<DateTime<Utc>>,
    pub status: Option<SessionStatus>,
    /// Replaces the price of each grade listed; grades not listed keep theirs.
    pub prices: Option<Vec<(String, i64)>>,
}

/// Where a session stands for buyers, derived from its status, sales window and counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaleState {
    Upcoming,
    OnSale,
    SoldOut,
    Closed,
    Cancelled,
}

/// How many sessions are [`SaleState::OnSale`] at `now`, for the metrics.
pub async fn count_on_sale(db: &impl ConnectionTrait, now: DateTime<Utc>) -> ApiResult<u64> {
    use sea_orm::PaginatorTrait;
    Ok(session::Entity::find()
        .filter(session::Column::Status.ne(SessionStatus::Cancelled))
        .filter(session::Column::SalesOpenAt.lte(now))
        .filter(session::Column::SalesCloseAt.gt(now))
        .filter(session::Column::StartsAt.gt(now))
        .filter(session::Column::AvailableSeats.gt(0))
        .count(db)
        .await?)
}

pub fn sale_state(session: &session::Model, now: DateTime<Utc>) -> SaleState {
    SaleFacts {
        status: session.status,
        sales_open_at: session.sales_open_at,
        sales_close_at: session.sales_close_at,
        starts_at: session.starts_at,
        available_seats: session.available_seats,
    }
    .state(now)
}

/// The columns of a session its sale state depends on (for reads that select only those).
#[derive(Debug, Clone, Copy)]
pub struct SaleFacts {
    pub status: SessionStatus,
    pub sales_open_at: DateTime<Utc>,
    pub sales_close_at: DateTime<Utc>,
    pub starts_at: DateTime<Utc>,
    pub available_seats: i32,
}

impl SaleFacts {
    pub fn state(&self, now: DateTime<Utc>) -> SaleState {
        if self.status == SessionStatus::Cancelled {
            SaleState::Cancelled
        } else if now < self.sales_open_at {
            SaleState::Upcoming
        } else if now >= self.sales_close_at || now >= self.starts_at {
            SaleState::Closed
        } else if self.available_seats == 0 {
            SaleState::SoldOut
        } else {
            SaleState::OnSale
        }
    }
}

/// Creates the session, its prices, and one AVAILABLE inventory row per seat of the venue
/// (a single INSERT … SELECT, so a 1,000-seat hall costs one statement).
#[tracing::instrument(name = "sessions.create_session", skip_all)]
pub async fn create_session(db: &impl ConnectionTrait, input: NewSession) -> ApiResult<session::Model> {
    let performance = find_performance(db, input.performance_id)
        .await
        .map_err(|_| ApiError::bad_input("performanceId", "no such performance"))?;
    let sales_open_at = input.sales_open_at.unwrap_or_else(Utc::now);
    let sales_close_at = input.sales_close_at.unwrap_or(input.starts_at);
    check_schedule(&performance, input.starts_at, sales_open_at, sales_close_at)?;
    let grades = venue_grades(db, performance.venue_id).await?;
    if grades.is_empty() {
        return Err(ApiError::Conflict("the venue has no seats".into()));
    }
    let prices = check_prices(&input.prices, &grades, true)?;
    let seat_count = seat::Entity::find()
        .filter(seat::Column::VenueId.eq(performance.venue_id))
        .count(db)
        .await? as i32;

    let now = Utc::now();
    let session = session::ActiveModel {
        performance_id: Set(performance.id),
        starts_at: Set(input.starts_at),
        sales_open_at: Set(sales_open_at),
        sales_close_at: Set(sales_close_at),
        status: Set(SessionStatus::Scheduled),
        total_seats: Set(seat_count),
        available_seats: Set(seat_count),
        seat_map_version: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    upsert_prices(db, session.id, &prices).await?;

    let seats = Query::select()
        .expr(Expr::val(session.id))
        .column(seat::Column::Id)
        .expr(Expr::val(SeatStatus::Available.to_value()))
        .expr(Expr::val(0i64))
        .from(seat::Entity)
        .and_where(seat::Column::VenueId.eq(performance.venue_id))
        .to_owned();
    let insert = Query::insert()
        .into_table(session_seat::Entity)
        .columns([
            session_seat::Column::SessionId,
            session_seat::Column::SeatId,
            session_seat::Column::Status,
            session_seat::Column::Version,
        ])
        .select_from(seats)
        .map_err(ApiError::internal)?
        .to_owned();
    db.execute(&insert).await?;
    Ok(session)
}

#[tracing::instrument(name = "sessions.update_session", skip_all, fields(id = id))]
pub async fn update_session(db: &impl ConnectionTrait, id: i64, patch: SessionPatch) -> ApiResult<session::Model> {
    let current = find_session(db, id).await?;
    let performance = find_performance(db, current.performance_id).await?;
    let starts_at = patch.starts_at.unwrap_or(current.starts_at);
    let sales_open_at = patch.sales_open_at.unwrap_or(current.sales_open_at);
    let sales_close_at = patch.sales_close_at.unwrap_or(current.sales_close_at);
    check_schedule(&performance, starts_at, sales_open_at, sales_close_at)?;
    if patch.status == Some(SessionStatus::Cancelled) && current.status != SessionStatus::Cancelled {
        ensure_no_tickets(db, id, "cancelled").await?;
    }
    if let Some(prices) = &patch.prices {
        let grades = venue_grades(db, performance.venue_id).await?;
        let prices = check_prices(prices, &grades, false)?;
        upsert_prices(db, id, &prices).await?;
    }
    let mut model = current.into_active_model();
    model.starts_at = Set(starts_at);
    model.sales_open_at = Set(sales_open_at);
    model.sales_close_at = Set(sales_close_at);
    if let Some(status) = patch.status {
        model.status = Set(status);
    }
    model.updated_at = Set(Utc::now());
    Ok(model.update(db).await?)
}

/// Deletes a session with its prices and inventory, refused while any seat is held or sold.
#[tracing::instrument(name = "sessions.delete_session", skip_all, fields(id = id))]
pub async fn delete_session(db: &impl ConnectionTrait, id: i64) -> ApiResult<()> {
    find_session(db, id).await?;
    ensure_no_tickets(db, id, "deleted").await?;
    session::Entity::delete_by_id(id)
        .exec(db)
        .await
        .map_err(|e| ApiError::from_db_conflict(e, "the session has reservations"))?;
    Ok(())
}

pub async fn find_session(db: &impl ConnectionTrait, id: i64) -> ApiResult<session::Model> {
    session::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("session"))
}

/// Sessions of `performance_id` starting in `[from, to)`, earliest first.
pub async fn sessions_of(
    db: &impl ConnectionTrait,
    performance_ids: &[i64],
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<Vec<session::Model>, sea_orm::DbErr> {
    let mut query = session::Entity::find()
        .filter(session::Column::PerformanceId.is_in(performance_ids.iter().copied()))
        .order_by_asc(session::Column::StartsAt)
        .order_by_asc(session::Column::Id);
    if let Some(from) = from {
        query = query.filter(session::Column::StartsAt.gte(from));
    }
    if let Some(to) = to {
        query = query.filter(session::Column::StartsAt.lt(to));
    }
    query.all(db).await
}

async fn ensure_no_tickets(db: &impl ConnectionTrait, session_id: i64, action: &str) -> ApiResult<()> {
    let taken = session_seat::Entity::find()
        .filter(session_seat::Column::SessionId.eq(session_id))
        .filter(session_seat::Column::Status.is_in([SeatStatus::Held, SeatStatus::Sold]))
        .count(db)
        .await?;
    if taken > 0 {
        return Err(ApiError::Conflict(format!(
            "{taken} seat(s) of the session are held or sold; it cannot be {action}"
        )));
    }
    Ok(())
}

/// The session's price of each grade, in whole KRW.
pub async fn prices_by_grade(db: &impl ConnectionTrait, session_id: i64) -> ApiResult<HashMap<String, i32>> {
    Ok(session_price::Entity::find()
        .filter(session_price::Column::SessionId.eq(session_id))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.grade, p.price))
        .collect())
}

/// The price of each grade of each of `session_ids`.
pub async fn prices_by_grade_of(
    db: &impl ConnectionTrait,
    session_ids: &[i64],
) -> Result<HashMap<i64, HashMap<String, i32>>, sea_orm::DbErr> {
    let mut prices: HashMap<i64, HashMap<String, i32>> = HashMap::new();
    for price in session_price::Entity::find()
        .filter(session_price::Column::SessionId.is_in(session_ids.iter().copied()))
        .all(db)
        .await?
    {
        prices
            .entry(price.session_id)
            .or_default()
            .insert(price.grade, price.price);
    }
    Ok(prices)
}

/// The distinct seat grades of a venue's layout.
pub async fn venue_grades(db: &impl ConnectionTrait, venue_id: i64) -> ApiResult<BTreeSet<String>> {
    let grades: Vec<String> = seat::Entity::find()
        .select_only()
        .column(seat::Column::Grade)
        .distinct()
        .filter(seat::Column::VenueId.eq(venue_id))
        .into_tuple()
        .all(db)
        .await?;
    Ok(grades.into_iter().collect())
}

fn check_schedule(
    performance: &performance::Model,
    starts_at: DateTime<Utc>,
    sales_open_at: DateTime<Utc>,
    sales_close_at: DateTime<Utc>,
) -> ApiResult<()> {
    let day = starts_at.with_timezone(&box_office_offset()).date_naive();
    if day < performance.start_date || day > performance.end_date {
        return Err(ApiError::bad_input(
            "startsAt",
            format!(
                "the session must start within the run of the performance ({} to {}, Korean time)",
                performance.start_date, performance.end_date
            ),
        ));
    }
    if sales_open_at >= sales_close_at {
        return Err(ApiError::bad_input("salesCloseAt", "sales must close after they open"));
    }
    if sales_close_at > starts_at {
        return Err(ApiError::bad_input(
            "salesCloseAt",
            "sales must close no later than the start of the show",
        ));
    }
    Ok(())
}

/// Checks prices name known grades once each, with sane amounts; `complete` also requires
/// every grade of the venue to be priced.
fn check_prices(
    prices: &[(String, i64)],
    grades: &BTreeSet<String>,
    complete: bool,
) -> ApiResult<HashMap<String, i32>> {
    let mut checked = HashMap::new();
    for (grade, price) in prices {
        let grade = grade.trim();
        if !grades.contains(grade) {
            let known = grades.iter().cloned().collect::<Vec<_>>().join(", ");
            return Err(ApiError::bad_input(
                "prices",
                format!("the venue has no grade \"{grade}\" (it has {known})"),
            ));
        }
        if *price < 0 || *price > MAX_PRICE {
            return Err(ApiError::bad_input(
                "prices",
                format!("the price of {grade} must be between 0 and {MAX_PRICE} KRW"),
            ));
        }
        if checked.insert(grade.to_string(), *price as i32).is_some() {
            return Err(ApiError::bad_input("prices", format!("grade {grade} is priced twice")));
        }
    }
    if complete {
        let missing: Vec<&str> = grades
            .iter()
            .filter(|g| !checked.contains_key(*g))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(ApiError::bad_input(
                "prices",
                format!("every grade needs a price; missing: {}", missing.join(", ")),
            ));
        }
    }
    Ok(checked)
}

async fn upsert_prices(db: &impl ConnectionTrait, session_id: i64, prices: &HashMap<String, i32>) -> ApiResult<()> {
    for (grade, price) in prices {
        session_price::Entity::delete_many()
            .filter(session_price::Column::SessionId.eq(session_id))
            .filter(session_price::Column::Grade.eq(grade.as_str()))
            .exec(db)
            .await?;
        session_price::ActiveModel {
            session_id: Set(session_id),
            grade: Set(grade.clone()),
            price: Set(*price),
        }
        .insert(db)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_must_cover_every_grade_once() {
        let grades: BTreeSet<String> = ["R", "S"].into_iter().map(String::from).collect();
        assert!(check_prices(&[("R".into(), 1000), ("S".into(), 500)], &grades, true).is_ok());
        assert!(check_prices(&[("R".into(), 1000)], &grades, true).is_err());
        assert!(check_prices(&[("R".into(), 1000)], &grades, false).is_ok());
        assert!(check_prices(&[("VIP".into(), 1000), ("R".into(), 1), ("S".into(), 1)], &grades, true).is_err());
        assert!(check_prices(&[("R".into(), -1), ("S".into(), 1)], &grades, true).is_err());
        assert!(check_prices(&[("R".into(), 1), ("R".into(), 2), ("S".into(), 1)], &grades, true).is_err());
    }
}
