//! Reading reservations: one of the buyer's own, by idempotency key, their seats, the seats a
//! buyer has in a session; listing them (a buyer's own, and the box office's search over all
//! of them, both keyset-paged newest first over indexed columns: no OFFSET, no COUNT over
//! the table); and the seat row every way of holding writes. Below holds, payments, coupons
//! and the waitlist, which all read reservations.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use entity::{ReservationStatus, reservation, reservation_seat, session, user};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait};

use super::paging::{Page, PageRequest};
use crate::error::{ApiError, ApiResult};
use crate::ids::{ReservationId, UserId};

pub async fn list_mine(
    db: &impl ConnectionTrait,
    user_id: UserId,
    status: Option<ReservationStatus>,
    page: PageRequest<()>,
) -> ApiResult<Page<reservation::Model>> {
    let mut query = reservation::Entity::find().filter(reservation::Column::UserId.eq(user_id));
    if let Some(status) = status {
        query = query.filter(reservation::Column::Status.eq(status));
    }
    newest_first(db, query, page).await
}

/// What the box office can search reservations by.
#[derive(Debug, Clone, Default)]
pub struct AdminFilter {
    pub performance_id: Option<i64>,
    pub session_id: Option<i64>,
    /// Exact, case-insensitive.
    pub buyer_email: Option<super::email::Email>,
    /// Exact.
    pub buyer_name: Option<String>,
    pub status: Option<ReservationStatus>,
    pub created_from: Option<DateTime<Utc>>,
    pub created_to: Option<DateTime<Utc>>,
}

pub async fn search(
    db: &impl ConnectionTrait,
    filter: &AdminFilter,
    page: PageRequest<()>,
) -> ApiResult<Page<reservation::Model>> {
    let mut query = reservation::Entity::find();
    if let Some(session_id) = filter.session_id {
        query = query.filter(reservation::Column::SessionId.eq(session_id));
    }
    if let Some(performance_id) = filter.performance_id {
        let sessions = session::Entity::find()
            .select_only()
            .column(session::Column::Id)
            .filter(session::Column::PerformanceId.eq(performance_id))
            .into_query();
        query = query.filter(reservation::Column::SessionId.in_subquery(sessions));
    }
    if filter.buyer_email.is_some() || filter.buyer_name.is_some() {
        let mut buyers = user::Entity::find().select_only().column(user::Column::Id);
        if let Some(email) = &filter.buyer_email {
            buyers = buyers.filter(user::Column::Email.eq(email.as_str()));
        }
        if let Some(name) = &filter.buyer_name {
            buyers = buyers.filter(user::Column::Name.eq(name.trim()));
        }
        query = query.filter(reservation::Column::UserId.in_subquery(buyers.into_query()));
    }
    if let Some(status) = filter.status {
        query = query.filter(reservation::Column::Status.eq(status));
    }
    if let Some(from) = filter.created_from {
        query = query.filter(reservation::Column::CreatedAt.gte(from));
    }
    if let Some(to) = filter.created_to {
        query = query.filter(reservation::Column::CreatedAt.lt(to));
    }
    newest_first(db, query, page).await
}

async fn newest_first(
    db: &impl ConnectionTrait,
    mut query: sea_orm::Select<reservation::Entity>,
    page: PageRequest<()>,
) -> ApiResult<Page<reservation::Model>> {
    if let Some(((), id)) = page.after {
        query = query.filter(Condition::all().add(reservation::Column::Id.lt(id)));
    }
    let rows = query
        .order_by_desc(reservation::Column::Id)
        .limit(page.first + 1)
        .all(db)
        .await?;
    Ok(Page::from_overfetch(rows, page.first))
}

/// The buyer's own reservation; anyone else's is NOT_FOUND.
pub async fn find_owned(
    db: &impl ConnectionTrait,
    id: ReservationId,
    user_id: UserId,
) -> ApiResult<reservation::Model> {
    reservation::Entity::find_by_id(id)
        .one(db)
        .await?
        .filter(|r| r.user_id == user_id)
        .ok_or(ApiError::NotFound("reservation"))
}

/// The seats of many reservations at once, in the order they were held.
pub async fn seats_of_many(
    db: &impl ConnectionTrait,
    reservation_ids: impl IntoIterator<Item = i64>,
) -> Result<Vec<reservation_seat::Model>, sea_orm::DbErr> {
    reservation_seat::Entity::find()
        .filter(reservation_seat::Column::ReservationId.is_in(reservation_ids))
        .order_by_asc(reservation_seat::Column::Id)
        .all(db)
        .await
}

pub async fn seats_of(db: &impl ConnectionTrait, reservation_id: i64) -> ApiResult<Vec<reservation_seat::Model>> {
    Ok(reservation_seat::Entity::find()
        .filter(reservation_seat::Column::ReservationId.eq(reservation_id))
        .all(db)
        .await?)
}

pub(crate) async fn find_by_key(
    db: &impl ConnectionTrait,
    user_id: UserId,
    key: &str,
) -> ApiResult<Option<reservation::Model>> {
    Ok(reservation::Entity::find()
        .filter(reservation::Column::UserId.eq(user_id))
        .filter(reservation::Column::IdempotencyKey.eq(key))
        .one(db)
        .await?)
}

/// Seats each buyer holds or owns in the session (live reservations: held, paying or
/// confirmed), for the per-buyer cap. Also what the waitlist counts before it offers.
pub(crate) async fn seats_in_session(
    txn: &impl ConnectionTrait,
    users: &BTreeSet<i64>,
    session_id: i64,
) -> ApiResult<Vec<(i64, usize)>> {
    let live = [
        ReservationStatus::Held,
        ReservationStatus::Paying,
        ReservationStatus::Confirmed,
    ];
    let counts: Vec<(i64, i64)> = reservation_seat::Entity::find()
        .select_only()
        .column(reservation::Column::UserId)
        .column_as(reservation_seat::Column::Id.count(), "seats")
        .inner_join(reservation::Entity)
        .filter(reservation::Column::UserId.is_in(users.iter().copied()))
        .filter(reservation::Column::SessionId.eq(session_id))
        .filter(reservation::Column::Status.is_in(live))
        .filter(reservation_seat::Column::Active.eq(true))
        .group_by(reservation::Column::UserId)
        .into_tuple()
        .all(txn)
        .await?;
    Ok(counts.into_iter().map(|(user, seats)| (user, seats as usize)).collect())
}

/// The active `reservation_seats` row of one priced seat (`(seat_id, grade, price)`) of a
/// new hold: what every way of holding seats (a batch, a waitlist offer, the demo) writes.
pub(crate) fn reservation_seat_row(
    reservation_id: i64,
    session_id: i64,
    (seat_id, grade, price): &(i64, String, i32),
) -> entity::reservation_seat::ActiveModel {
    entity::reservation_seat::ActiveModel {
        reservation_id: sea_orm::Set(reservation_id),
        session_id: sea_orm::Set(session_id),
        seat_id: sea_orm::Set(*seat_id),
        grade: sea_orm::Set(grade.clone()),
        price: sea_orm::Set(*price),
        active: sea_orm::Set(true),
        ..Default::default()
    }
}
