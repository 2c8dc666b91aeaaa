//! The seat map of a session: every seat with its place, grade, price and status, and the
//! version it is consistent with.

use chrono::{DateTime, Utc};
use entity::{SeatStatus, seat, section, session, session_seat};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, JoinType, QueryFilter, QueryOrder, QuerySelect,
    RelationTrait,
};

use crate::error::{ApiError, ApiResult};

#[derive(Debug, Clone)]
pub struct SeatMap {
    pub session_id: i64,
    pub version: i64,
    pub available_count: i32,
    pub seats: Vec<SeatMapSeat>,
}

#[derive(Debug, Clone, FromQueryResult)]
pub struct SeatMapSeat {
    pub seat_id: i64,
    pub status: SeatStatus,
    pub hold_expires_at: Option<DateTime<Utc>>,
    pub section: String,
    pub row_label: String,
    pub number: i32,
    pub grade: String,
    pub x: f64,
    pub y: f64,
    pub accessible: bool,
    #[sea_orm(skip)]
    pub price: Option<i32>,
}

#[derive(Debug, FromQueryResult)]
struct Row {
    #[sea_orm(nested)]
    seat: SeatMapSeat,
    seat_map_version: i64,
    available_seats: i32,
}

/// Reads the whole seat map. Seats, version and counter come from one statement, so they
/// are one consistent snapshot on every database.
pub async fn load_seat_map(db: &impl ConnectionTrait, session_id: i64) -> ApiResult<SeatMap> {
    let rows: Vec<Row> = session_seat::Entity::find()
        .select_only()
        .column_as(session_seat::Column::SeatId, "seat_id")
        .column_as(session_seat::Column::Status, "status")
        .column_as(session_seat::Column::HoldExpiresAt, "hold_expires_at")
        .column_as(section::Column::Name, "section")
        .column_as(seat::Column::RowLabel, "row_label")
        .column_as(seat::Column::Number, "number")
        .column_as(seat::Column::Grade, "grade")
        .column_as(seat::Column::X, "x")
        .column_as(seat::Column::Y, "y")
        .column_as(seat::Column::Accessible, "accessible")
        .column_as(session::Column::SeatMapVersion, "seat_map_version")
        .column_as(session::Column::AvailableSeats, "available_seats")
        .join(JoinType::InnerJoin, session_seat::Relation::Seat.def())
        .join(JoinType::InnerJoin, seat::Relation::Section.def())
        .join(JoinType::InnerJoin, session_seat::Relation::Session.def())
        .filter(session_seat::Column::SessionId.eq(session_id))
        .order_by_asc(section::Column::Position)
        .order_by_asc(seat::Column::RowIndex)
        .order_by_asc(seat::Column::Number)
        .into_model::<Row>()
        .all(db)
        .await?;
    let Some(first) = rows.first() else {
        // A session always has seats, so an empty map means there is no such session.
        return Err(ApiError::NotFound("session"));
    };
    let (version, available_count) = (first.seat_map_version, first.available_seats);
    let prices = super::sessions::prices_by_grade(db, session_id).await?;
    let seats = rows
        .into_iter()
        .map(|row| {
            let mut seat = row.seat;
            seat.price = prices.get(&seat.grade).copied();
            seat
        })
        .collect();
    Ok(SeatMap {
        session_id,
        version,
        available_count,
        seats,
    })
}
