//! Reviews: only buyers who attended may review, once per performance; the performance's
//! rating sum and review count change in the same transaction as its reviews, so the
//! aggregates a listing shows are always those of the rows.

use chrono::Utc;
use entity::{ReservationStatus, performance, reservation, review, session};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, JoinType, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::audit::{AuditEntry, record};
use super::paging::{Page, PageRequest};
use super::performances::find_performance;
use super::validate::{in_range, required_text};
use crate::error::{ApiError, ApiResult};
use crate::ids::{PerformanceId, UserId};

/// Longest review body, in characters.
pub const MAX_BODY_CHARS: usize = 2_000;

/// Who is changing a review: its author, or an admin moderating.
#[derive(Debug, Clone)]
pub struct Editor<'a> {
    pub user_id: UserId,
    /// For an admin: the audit entry a change to someone else's review records, in the
    /// change's own transaction. `None` for a buyer, who may change only their own.
    pub moderation: Option<AuditEntry<'a>>,
}

impl Editor<'_> {
    /// The audit entry to record when this editor changes `review`: only moderation (an
    /// admin changing another's review) is audited.
    fn audit_for(&self, review: &review::Model) -> Option<&AuditEntry<'_>> {
        self.moderation.as_ref().filter(|_| review.user_id != self.user_id)
    }
}

/// Writes the buyer's review of a performance they attended (a CONFIRMED reservation for a
/// session of it that has started).
#[tracing::instrument(name = "reviews.write_review", skip_all)]
pub async fn write_review(
    db: &DatabaseConnection,
    user_id: UserId,
    performance_id: i64,
    rating: i64,
    body: &str,
) -> ApiResult<review::Model> {
    let rating = check_rating(rating)?;
    let body = required_text("body", body, MAX_BODY_CHARS)?;
    find_performance(db, performance_id).await?;
    if !attended(db, user_id, PerformanceId(performance_id)).await? {
        return Err(ApiError::ForbiddenBecause(
            "only buyers with a confirmed ticket for a session that has started may review",
        ));
    }
    let now = Utc::now();
    let txn = crate::db::begin_write(db).await?;
    let review = review::ActiveModel {
        performance_id: Set(performance_id),
        user_id: Set(user_id.0),
        rating: Set(rating),
        body: Set(body),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(|e| ApiError::from_db_conflict(e, "you have already reviewed this performance"))?;
    change_totals(&txn, performance_id, i64::from(rating), 1).await?;
    txn.commit().await?;
    Ok(review)
}

/// Changes the rating and/or body of a review; `None` keeps the current value.
#[tracing::instrument(name = "reviews.update_review", skip_all)]
pub async fn update_review(
    db: &DatabaseConnection,
    editor: Editor<'_>,
    review_id: i64,
    rating: Option<i64>,
    body: Option<&str>,
) -> ApiResult<review::Model> {
    let rating = rating.map(check_rating).transpose()?;
    let body = body.map(|b| required_text("body", b, MAX_BODY_CHARS)).transpose()?;
    let current = editable(db, &editor, review_id).await?;
    let new_rating = rating.unwrap_or(current.rating);
    let txn = crate::db::begin_write(db).await?;
    // Conditional on the rating read above: a concurrent edit makes this one fail instead of
    // applying a stale difference to the totals.
    let changed = review::Entity::update_many()
        .col_expr(review::Column::Rating, Expr::value(new_rating))
        .col_expr(review::Column::Body, Expr::value(body.unwrap_or(current.body.clone())))
        .col_expr(review::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(review::Column::Id.eq(review_id))
        .filter(review::Column::Rating.eq(current.rating))
        .exec(&txn)
        .await?
        .rows_affected;
    if changed == 0 {
        txn.rollback().await?;
        return Err(ApiError::Conflict("the review was changed meanwhile; try again".into()));
    }
    // A changed body alone leaves the totals, and the performance row every reviewer of it
    // writes to, alone.
    if new_rating != current.rating {
        change_totals(
            &txn,
            current.performance_id,
            i64::from(new_rating) - i64::from(current.rating),
            0,
        )
        .await?;
    }
    if let Some(entry) = editor.audit_for(&current) {
        record(&txn, entry.clone()).await?;
    }
    let updated = find_review(&txn, review_id).await?;
    txn.commit().await?;
    Ok(updated)
}

/// Deletes a review and takes it out of its performance's totals.
#[tracing::instrument(name = "reviews.delete_review", skip_all, fields(review_id = review_id))]
pub async fn delete_review(db: &DatabaseConnection, editor: Editor<'_>, review_id: i64) -> ApiResult<review::Model> {
    let current = editable(db, &editor, review_id).await?;
    let txn = crate::db::begin_write(db).await?;
    let deleted = review::Entity::delete_many()
        .filter(review::Column::Id.eq(review_id))
        .filter(review::Column::Rating.eq(current.rating))
        .exec(&txn)
        .await?
        .rows_affected;
    if deleted == 0 {
        txn.rollback().await?;
        return Err(ApiError::Conflict("the review was changed meanwhile; try again".into()));
    }
    change_totals(&txn, current.performance_id, -i64::from(current.rating), -1).await?;
    if let Some(entry) = editor.audit_for(&current) {
        record(&txn, entry.clone()).await?;
    }
    txn.commit().await?;
    Ok(current)
}

pub async fn find_review(db: &impl ConnectionTrait, id: i64) -> ApiResult<review::Model> {
    review::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("review"))
}

/// A performance's reviews, newest first.
pub async fn list_reviews(
    db: &impl ConnectionTrait,
    performance_id: i64,
    page: PageRequest<()>,
) -> ApiResult<Page<review::Model>> {
    let mut query = review::Entity::find()
        .filter(review::Column::PerformanceId.eq(performance_id))
        .order_by_desc(review::Column::Id);
    if let Some(((), id)) = page.after {
        query = query.filter(review::Column::Id.lt(id));
    }
    let rows = query.limit(page.first + 1).all(db).await?;
    Ok(Page::from_overfetch(rows, page.first))
}

/// The mean rating, or `None` before the first review.
pub fn average_rating(performance: &performance::Model) -> Option<f64> {
    (performance.review_count > 0).then(|| performance.rating_sum as f64 / f64::from(performance.review_count))
}

fn check_rating(rating: i64) -> ApiResult<i16> {
    Ok(in_range("rating", rating, 1, 5)? as i16)
}

/// Whether the buyer holds a CONFIRMED reservation for a session of the performance that
/// has already started.
async fn attended(db: &impl ConnectionTrait, user_id: UserId, performance_id: PerformanceId) -> ApiResult<bool> {
    let count = reservation::Entity::find()
        .join(JoinType::InnerJoin, reservation_session())
        .filter(reservation::Column::UserId.eq(user_id))
        .filter(reservation::Column::Status.eq(ReservationStatus::Confirmed))
        .filter(session::Column::PerformanceId.eq(performance_id))
        .filter(session::Column::StartsAt.lte(Utc::now()))
        .count(db)
        .await?;
    Ok(count > 0)
}

fn reservation_session() -> sea_orm::RelationDef {
    reservation::Entity::belongs_to(session::Entity)
        .from(reservation::Column::SessionId)
        .to(session::Column::Id)
        .into()
}

/// The review, when `editor` may change it: its author or an admin.
async fn editable(db: &impl ConnectionTrait, editor: &Editor<'_>, review_id: i64) -> ApiResult<review::Model> {
    let review = find_review(db, review_id).await?;
    if review.user_id != editor.user_id && editor.moderation.is_none() {
        return Err(ApiError::ForbiddenBecause(
            "only its author or an admin may change a review",
        ));
    }
    Ok(review)
}

/// Adds `rating` to the performance's rating sum and `count` to its review count, as one
/// atomic update so that concurrent reviews add up.
async fn change_totals(db: &impl ConnectionTrait, performance_id: i64, rating: i64, count: i32) -> ApiResult<()> {
    performance::Entity::update_many()
        .col_expr(
            performance::Column::RatingSum,
            Expr::col(performance::Column::RatingSum).add(rating),
        )
        .col_expr(
            performance::Column::ReviewCount,
            Expr::col(performance::Column::ReviewCount).add(count),
        )
        .filter(performance::Column::Id.eq(performance_id))
        .exec(db)
        .await?;
    Ok(())
}
