//! Reminders the day before a show, and review prompts after it: once per reservation
//! (or per buyer and performance), however often the job runs.

use std::collections::HashMap;

use chrono::{Duration, Utc};
use entity::{ReservationStatus, SessionStatus, performance, reservation, session};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::{JobEnv, Progress};
use crate::domain::notify::{self, Kind};
use crate::error::ApiError;
use crate::ids::UserId;

/// Confirmed buyers of sessions starting within the next 24 hours.
pub async fn remind_upcoming(env: &JobEnv, progress: &dyn Progress) -> anyhow::Result<u64> {
    let now = Utc::now();
    let sessions: Vec<(i64, i64)> = session::Entity::find()
        .select_only()
        .column(session::Column::Id)
        .column(session::Column::PerformanceId)
        .filter(session::Column::Status.eq(SessionStatus::Scheduled))
        .filter(session::Column::StartsAt.gt(now))
        .filter(session::Column::StartsAt.lte(now + Duration::hours(24)))
        .into_tuple()
        .all(&env.db)
        .await?;
    notify_confirmed_buyers(
        env,
        sessions.into_iter().collect(),
        Kind::ShowReminder,
        progress,
        |r, _| format!("remind:{}", r.id),
    )
    .await
}

/// Confirmed buyers of sessions that ended within the last week; one prompt per buyer and
/// performance, however many sessions of it they saw.
pub async fn prompt_reviews(env: &JobEnv, progress: &dyn Progress) -> anyhow::Result<u64> {
    let now = Utc::now();
    let recent: Vec<(i64, i64, chrono::DateTime<Utc>, i32)> = session::Entity::find()
        .select_only()
        .column(session::Column::Id)
        .column(session::Column::PerformanceId)
        .column(session::Column::StartsAt)
        .column(performance::Column::RunningMinutes)
        .inner_join(performance::Entity)
        .filter(session::Column::Status.eq(SessionStatus::Scheduled))
        .filter(session::Column::StartsAt.gt(now - Duration::days(8)))
        .filter(session::Column::StartsAt.lt(now))
        .into_tuple()
        .all(&env.db)
        .await?;
    let ended: HashMap<i64, i64> = recent
        .into_iter()
        .filter(|(_, _, starts_at, minutes)| *starts_at + Duration::minutes(i64::from(*minutes)) < now)
        .map(|(id, performance_id, _, _)| (id, performance_id))
        .collect();
    notify_confirmed_buyers(env, ended, Kind::ReviewPrompt, progress, |r, performance_id| {
        format!("review:{}:{performance_id}", r.user_id)
    })
    .await
}

/// Notifies the confirmed buyers of `sessions` (id → performance), a keyset page at a time;
/// returns how many notifications were new.
async fn notify_confirmed_buyers(
    env: &JobEnv,
    sessions: HashMap<i64, i64>,
    kind: Kind,
    progress: &dyn Progress,
    key: impl Fn(&reservation::Model, i64) -> String,
) -> anyhow::Result<u64> {
    if sessions.is_empty() {
        return Ok(0);
    }
    let mut created = 0;
    let mut after = 0;
    loop {
        let page = reservation::Entity::find()
            .filter(reservation::Column::SessionId.is_in(sessions.keys().copied()))
            .filter(reservation::Column::Status.eq(ReservationStatus::Confirmed))
            .filter(reservation::Column::Id.gt(after))
            .order_by_asc(reservation::Column::Id)
            .limit(env.settings.jobs.batch_size.max(1))
            .all(&env.db)
            .await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        progress.add_total(page.len() as u64);
        for reservation in page {
            let performance_id = sessions.get(&reservation.session_id).copied().unwrap_or_default();
            let txn = crate::db::begin_write(&env.db).await?;
            let facts = notify::reservation_facts(&txn, &reservation)
                .await
                .map_err(ApiError::into_anyhow)?;
            let data = serde_json::json!({
                "reservationId": crate::ids::encode(crate::ids::NodeKind::Reservation, reservation.id).to_string(),
                "performanceId": crate::ids::encode(crate::ids::NodeKind::Performance, performance_id).to_string(),
            });
            let made = notify::notify(
                &txn,
                env.channels,
                UserId(reservation.user_id),
                kind,
                &key(&reservation, performance_id),
                &facts,
                data,
            )
            .await
            .map_err(ApiError::into_anyhow)?;
            txn.commit().await?;
            created += u64::from(made.is_some());
            progress.advance(1);
        }
    }
    Ok(created)
}
