//! Buyers' reviews of performances they attended: writing, editing and deleting them (the
//! author, or an admin moderating), and a performance's reviews as a paged list.

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};
use entity::review;

use super::catalog::Performance;
use crate::domain::reviews::{self, Editor};
use crate::error::ApiError;
use crate::graphql::audit::admin_action;
use crate::graphql::guard::{Role, RoleGuard, principal};
use crate::graphql::loaders::{PerformanceKey, load};
use crate::graphql::relay::{ById, Cursor, ListedById, connection, page_request};
use crate::graphql::{GqlResult, app};
use crate::ids::{NodeKind, encode, expect};

/// A buyer's rating of a performance, with what they thought of it.
pub struct Review(review::Model);

#[Object]
impl Review {
    async fn id(&self) -> ID {
        encode(NodeKind::Review, self.0.id)
    }
    /// 1 (worst) to 5 (best).
    async fn rating(&self) -> i32 {
        i32::from(self.0.rating)
    }
    async fn body(&self) -> &str {
        &self.0.body
    }
    async fn performance(&self, ctx: &Context<'_>) -> GqlResult<Performance> {
        Ok(load(ctx, PerformanceKey(self.0.performance_id))
            .await?
            .map(Performance::new)
            .ok_or(ApiError::NotFound("performance"))?)
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// The `reviews` list's cursors: by id alone.
type NewestFirst = ById<review::Model>;
impl ListedById for review::Model {
    const LIST: &'static str = "reviews";
    fn id(&self) -> i64 {
        self.id
    }
}

/// `Performance.reviews`: its reviews, newest first.
pub(crate) async fn reviews_of(
    ctx: &Context<'_>,
    performance_id: i64,
    first: Option<i32>,
    after: Option<String>,
) -> GqlResult<Connection<Cursor, Review>> {
    let app = app(ctx)?;
    let page = page_request::<NewestFirst>(&app.settings.graphql, first, after)?;
    let rows = reviews::list_reviews(&crate::graphql::reader(ctx).await?, performance_id, page).await?;
    Ok(connection::<NewestFirst, _>(rows, Review))
}

/// The caller as a review's editor; an admin's changes to others' reviews are audited as
/// `action` on the review.
fn editor<'a>(ctx: &Context<'_>, action: &'a str, review_id: i64) -> GqlResult<Editor<'a>> {
    let principal = principal(ctx)?;
    let moderation = match principal.role {
        Role::Admin => Some(admin_action(ctx, action, NodeKind::Review, Some(review_id))?),
        _ => None,
    };
    Ok(Editor {
        user_id: principal.user_id,
        moderation,
    })
}

#[derive(Default)]
pub struct ReviewMutation;

#[Object]
impl ReviewMutation {
    /// Reviews a performance the caller attended: a CONFIRMED reservation for a session of it
    /// that has started. One review per buyer per performance (CONFLICT for a second).
    #[graphql(guard = "RoleGuard(Role::User)")]
    async fn write_review(
        &self,
        ctx: &Context<'_>,
        performance_id: ID,
        rating: i32,
        body: String,
    ) -> GqlResult<Review> {
        let performance_id = expect(NodeKind::Performance, &performance_id, "performanceId")?;
        let user_id = principal(ctx)?.user_id;
        let review = reviews::write_review(&app(ctx)?.db, user_id, performance_id, i64::from(rating), &body).await?;
        // The performance's averageRating and reviewCount changed.
        crate::catalog_cache::invalidate(app(ctx)?.cache.as_ref()).await;
        Ok(Review(review))
    }

    /// Changes a review's rating and/or body; by its author or an admin.
    #[graphql(guard = "RoleGuard(Role::User)")]
    async fn update_review(
        &self,
        ctx: &Context<'_>,
        id: ID,
        rating: Option<i32>,
        body: Option<String>,
    ) -> GqlResult<Review> {
        let id = expect(NodeKind::Review, &id, "id")?;
        let review = reviews::update_review(
            &app(ctx)?.db,
            editor(ctx, "updateReview", id)?,
            id,
            rating.map(i64::from),
            body.as_deref(),
        )
        .await?;
        crate::catalog_cache::invalidate(app(ctx)?.cache.as_ref()).await;
        Ok(Review(review))
    }

    /// Deletes a review; by its author or an admin. Returns its ID.
    #[graphql(guard = "RoleGuard(Role::User)")]
    async fn delete_review(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        let raw = expect(NodeKind::Review, &id, "id")?;
        reviews::delete_review(&app(ctx)?.db, editor(ctx, "deleteReview", raw)?, raw).await?;
        crate::catalog_cache::invalidate(app(ctx)?.cache.as_ref()).await;
        Ok(id)
    }
}
