//! The demo's door story: a buyer with a paid booking of four seats for the first show, and
//! a door staffer to scan their tickets.
//!
//! Both accounts get random passwords, shown once on the terminal (or in the `seed-demo`
//! output) and stored nowhere else, so a demo database never has a log-in anyone could
//! guess. Only the embedded (SQLite) demo gets them.

use chrono::Utc;
use entity::{ReservationStatus, Role, SeatStatus, reservation, reservation_seat, seat, session_price, session_seat};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use crate::config::AuthSettings;
use crate::domain::accounts::{self, NewAccount};
use crate::domain::inventory::{bump_version, change_available, record_seat_changes};
use crate::domain::reservations::reservation_seat_row;
use crate::domain::tickets;

/// Seats the demo buyer has paid for.
const SEATS: u64 = 4;

/// A demo account and its one-time password.
#[derive(Debug, Clone)]
pub struct DemoLogin {
    pub email: &'static str,
    pub password: String,
    pub role: Role,
}

/// Makes the two accounts and the booking of `session_id`, in the seeding transaction.
pub async fn seed(db: &impl ConnectionTrait, auth: &AuthSettings, session_id: i64) -> anyhow::Result<Vec<DemoLogin>> {
    let buyer = account(db, auth, "buyer@demo.curtain.example", "데모 관객", Role::User).await?;
    let door = account(db, auth, "door@demo.curtain.example", "데모 입장 관리", Role::Door).await?;
    book(db, buyer.0, session_id).await?;
    Ok(vec![buyer.1, door.1])
}

async fn account(
    db: &impl ConnectionTrait,
    auth: &AuthSettings,
    email: &'static str,
    name: &str,
    role: Role,
) -> anyhow::Result<(i64, DemoLogin)> {
    let password = format!("demo-{}", hex::encode(rand::random::<[u8; 8]>()));
    let hash = crate::auth::passwords::hash(&password, auth)
        .await
        .map_err(|e| e.into_anyhow())?;
    let user = accounts::create_account(
        db,
        NewAccount {
            email: Some(email.into()),
            email_verified: true,
            password_hash: Some(hash),
            name: name.into(),
            phone: None,
            role,
            kakao_id: None,
        },
    )
    .await
    .map_err(|e| e.into_anyhow())?;
    Ok((user.id, DemoLogin { email, password, role }))
}

/// The first seats of the front row, sold to `user_id` as a payment would, with tickets.
async fn book(db: &impl ConnectionTrait, user_id: i64, session_id: i64) -> anyhow::Result<()> {
    let seats: Vec<seat::Model> = session_seat::Entity::find()
        .find_also_related(seat::Entity)
        .filter(session_seat::Column::SessionId.eq(session_id))
        .filter(session_seat::Column::Status.eq(SeatStatus::Available))
        .order_by_asc(seat::Column::SectionId)
        .order_by_asc(seat::Column::RowIndex)
        .order_by_asc(seat::Column::Number)
        .limit(SEATS)
        .all(db)
        .await?
        .into_iter()
        .filter_map(|(_, seat)| seat)
        .collect();
    let prices = session_price::Entity::find()
        .filter(session_price::Column::SessionId.eq(session_id))
        .all(db)
        .await?;
    let price_of = |grade: &str| prices.iter().find(|p| p.grade == grade).map_or(0, |p| p.price);
    let amount: i64 = seats.iter().map(|s| i64::from(price_of(&s.grade))).sum();
    let now = Utc::now();
    let booked = reservation::ActiveModel {
        user_id: Set(user_id),
        session_id: Set(session_id),
        status: Set(ReservationStatus::Confirmed),
        seat_count: Set(seats.len() as i32),
        amount: Set(amount),
        user_coupon_id: Set(None),
        discount: Set(0),
        order_id: Set(Some(crate::domain::payments::new_order_id())),
        order_name: Set(Some("데모 예매".into())),
        idempotency_key: Set("demo-booking".into()),
        expires_at: Set(now),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    let seat_ids: Vec<i64> = seats.iter().map(|s| s.id).collect();
    reservation_seat::Entity::insert_many(
        seats
            .iter()
            .map(|s| reservation_seat_row(booked.id, session_id, &(s.id, s.grade.clone(), price_of(&s.grade)))),
    )
    .exec_without_returning(db)
    .await?;
    let version = bump_version(db, session_id).await.map_err(|e| e.into_anyhow())?;
    session_seat::Entity::update_many()
        .col_expr(session_seat::Column::Status, Expr::value(SeatStatus::Sold))
        .col_expr(session_seat::Column::ReservationId, Expr::value(booked.id))
        .col_expr(session_seat::Column::Version, Expr::value(version))
        .filter(session_seat::Column::SessionId.eq(session_id))
        .filter(session_seat::Column::SeatId.is_in(seat_ids.clone()))
        .exec(db)
        .await?;
    let available = change_available(db, session_id, -(seat_ids.len() as i64))
        .await
        .map_err(|e| e.into_anyhow())?;
    record_seat_changes(db, session_id, version, &seat_ids, SeatStatus::Sold, available)
        .await
        .map_err(|e| e.into_anyhow())?;
    tickets::issue(db, &booked, &seat_ids)
        .await
        .map_err(|e| e.into_anyhow())?;
    Ok(())
}
