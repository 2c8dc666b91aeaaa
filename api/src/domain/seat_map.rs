//! The seat map of a session: every seat with its place, grade, price and status, and the
//! version it is consistent with.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{SeatStatus, outbox, seat, section, session, session_seat};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, JoinType, QueryFilter, QueryOrder, QuerySelect,
    RelationTrait,
};

pub use super::inventory::{SeatChange, SeatChanges};
use crate::error::{ApiError, ApiResult};
use crate::outbox::{Event, topic};

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
    session_id: i64,
    seat_map_version: i64,
    available_seats: i32,
}

/// Reads the whole seat map. Seats, version and counter come from one statement, so they
/// are one consistent snapshot on every database.
pub async fn load_seat_map(db: &impl ConnectionTrait, session_id: i64) -> ApiResult<SeatMap> {
    load_seat_maps(db, &[session_id])
        .await?
        .remove(&session_id)
        // A session always has seats, so an empty map means there is no such session.
        .ok_or(ApiError::NotFound("session"))
}

/// Reads the seat maps of several sessions in two statements (seats, prices), whatever
/// their number; a session that does not exist is left out.
pub async fn load_seat_maps(db: &impl ConnectionTrait, session_ids: &[i64]) -> Result<HashMap<i64, SeatMap>, DbErr> {
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
        .column_as(session_seat::Column::SessionId, "session_id")
        .column_as(session::Column::SeatMapVersion, "seat_map_version")
        .column_as(session::Column::AvailableSeats, "available_seats")
        .join(JoinType::InnerJoin, session_seat::Relation::Seat.def())
        .join(JoinType::InnerJoin, seat::Relation::Section.def())
        .join(JoinType::InnerJoin, session_seat::Relation::Session.def())
        .filter(session_seat::Column::SessionId.is_in(session_ids.iter().copied()))
        .order_by_asc(session_seat::Column::SessionId)
        .order_by_asc(section::Column::Position)
        .order_by_asc(seat::Column::RowIndex)
        .order_by_asc(seat::Column::Number)
        .into_model::<Row>()
        .all(db)
        .await?;
    if rows.is_empty() {
        return Ok(HashMap::new());
    }
    let prices = super::sessions::prices_by_grade_of(db, session_ids).await?;
    let mut maps: HashMap<i64, SeatMap> = HashMap::new();
    for row in rows {
        let map = maps.entry(row.session_id).or_insert_with(|| SeatMap {
            session_id: row.session_id,
            version: row.seat_map_version,
            available_count: row.available_seats,
            seats: Vec::new(),
        });
        let mut seat = row.seat;
        seat.price = prices
            .get(&row.session_id)
            .and_then(|grades| grades.get(&seat.grade).copied());
        map.seats.push(seat);
    }
    Ok(maps)
}

/// A change to a session's seat map, as subscribers receive it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatMapDelta {
    pub session_id: i64,
    /// The version this delta brings the seat map to: one more than the one before it.
    pub version: i64,
    pub changes: Vec<SeatChange>,
    pub available_count: i32,
}

impl SeatMapDelta {
    /// Reads a seat-map outbox event; `None` for any other topic or a damaged payload.
    pub fn from_event(event: &Event) -> Option<Self> {
        if event.topic != topic::SEAT_MAP {
            return None;
        }
        let changes: SeatChanges = serde_json::from_value(event.payload.clone()).ok()?;
        Some(Self {
            session_id: event.aggregate_id,
            version: event.version?,
            changes: changes.changes,
            available_count: changes.available_count,
        })
    }
}

/// Most deltas worth replaying; further behind, a snapshot is cheaper.
pub const MAX_REPLAY: i64 = 1_000;

/// The deltas that take a session from version `after` to `upto`, read from the outbox;
/// `None` when any of them is no longer kept (or the gap is too wide to be worth replaying),
/// so the caller should send a snapshot instead.
pub async fn load_deltas(
    db: &impl ConnectionTrait,
    session_id: i64,
    after: i64,
    upto: i64,
) -> ApiResult<Option<Vec<SeatMapDelta>>> {
    if upto <= after {
        return Ok(Some(Vec::new()));
    }
    if after < 0 || upto - after > MAX_REPLAY {
        return Ok(None);
    }
    let rows = outbox::Entity::find()
        .filter(outbox::Column::Topic.eq(topic::SEAT_MAP))
        .filter(outbox::Column::AggregateId.eq(session_id))
        .filter(outbox::Column::Version.gt(after))
        .filter(outbox::Column::Version.lte(upto))
        .order_by_asc(outbox::Column::Version)
        .all(db)
        .await?;
    let deltas: Vec<SeatMapDelta> = rows
        .into_iter()
        .filter_map(|row| SeatMapDelta::from_event(&Event::from_row(row)))
        .collect();
    let consecutive = deltas
        .iter()
        .enumerate()
        .all(|(i, delta)| delta.version == after + 1 + i as i64);
    Ok((consecutive && deltas.len() as i64 == upto - after).then_some(deltas))
}

/// The session's current seat-map version; NOT_FOUND when there is no such session.
pub async fn current_version(db: &impl ConnectionTrait, session_id: i64) -> ApiResult<i64> {
    super::inventory::current_version(db, session_id).await
}

impl SeatMap {
    /// Applies `delta` to this map: what a client holding it will then show.
    pub fn apply(&mut self, delta: &SeatMapDelta) {
        for change in &delta.changes {
            if let Some(seat) = self.seats.iter_mut().find(|s| s.seat_id == change.seat_id) {
                seat.status = change.status;
                if change.status != SeatStatus::Held {
                    seat.hold_expires_at = None;
                }
            }
        }
        self.version = delta.version;
        self.available_count = delta.available_count;
    }
}
