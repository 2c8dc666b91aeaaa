//! Performances whose run ended long ago: their per-session seat inventory (the bulk of the
//! database) and poster go; the performance, sessions, prices and reservations stay, since
//! accounting needs them.

use chrono::{Duration, Utc};
use entity::{ReservationStatus, performance, reservation, session, session_seat};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};

use super::{JobEnv, Progress};
use crate::domain::catalog_events::{CatalogObject, record_change};
use crate::error::ApiError;

pub async fn purge_old_performances(env: &JobEnv, progress: &dyn Progress) -> anyhow::Result<u64> {
    let today = Utc::now()
        .with_timezone(&crate::domain::box_office_offset())
        .date_naive();
    let cutoff = today - Duration::days(env.settings.jobs.purge_after_days);
    let (mut after, mut purged) = (0, 0);
    loop {
        let page = performance::Entity::find()
            .filter(performance::Column::EndDate.lt(cutoff))
            .filter(performance::Column::PurgedAt.is_null())
            .filter(performance::Column::Id.gt(after))
            .order_by_asc(performance::Column::Id)
            .limit(env.settings.jobs.batch_size.max(1))
            .all(&env.db)
            .await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        progress.add_total(page.len() as u64);
        for performance in page {
            purged += purge_one(env, performance).await?;
            progress.advance(1);
        }
    }
    Ok(purged)
}

/// Purges one performance unless a reservation of it is still open; 1 if it did.
async fn purge_one(env: &JobEnv, performance: performance::Model) -> anyhow::Result<u64> {
    let sessions: Vec<i64> = session::Entity::find()
        .select_only()
        .column(session::Column::Id)
        .filter(session::Column::PerformanceId.eq(performance.id))
        .into_tuple()
        .all(&env.db)
        .await?;
    let txn = crate::db::begin_write(&env.db).await?;
    let open = reservation::Entity::find()
        .filter(reservation::Column::SessionId.is_in(sessions.clone()))
        .filter(reservation::Column::Status.is_in([ReservationStatus::Held, ReservationStatus::Paying]))
        .count(&txn)
        .await?;
    if open > 0 {
        txn.rollback().await?;
        tracing::info!(
            performance = performance.id,
            open,
            "not purged yet: reservations are still open"
        );
        return Ok(0);
    }
    session_seat::Entity::delete_many()
        .filter(session_seat::Column::SessionId.is_in(sessions))
        .exec(&txn)
        .await?;
    performance::Entity::update_many()
        .col_expr(performance::Column::PurgedAt, Expr::value(Utc::now()))
        .col_expr(performance::Column::PosterKey, Expr::value(Option::<String>::None))
        .filter(performance::Column::Id.eq(performance.id))
        .exec(&txn)
        .await?;
    // The poster is gone: search documents and cached rows that name it must be redone. Every
    // instance's indexer hears of it through the outbox and clears the catalog cache.
    record_change(&txn, CatalogObject::Performance, performance.id)
        .await
        .map_err(ApiError::into_anyhow)?;
    txn.commit().await?;
    if let Some(key) = performance.poster_key {
        crate::storage::delete_orphan(env.storage.as_ref(), &key).await;
    }
    Ok(1)
}
