//! Admin mutations for posters: upload by GraphQL multipart request, or presigned upload
//! straight to storage followed by `attachPoster`.

use std::time::Duration;

use async_graphql::{Context, ID, Object, SimpleObject, Upload};
use chrono::{DateTime, Utc};

use super::catalog::Performance;
use crate::domain::posters::{self, Attached};
use crate::error::ApiError;
use crate::graphql::audit::AdminWrite;
use crate::graphql::guard::{Role, RoleGuard};
use crate::graphql::{GqlResult, app};
use crate::ids::{NodeKind, expect};
use crate::storage::delete_orphan;

/// Where to PUT a poster directly, and the key to pass to `attachPoster` afterwards.
#[derive(SimpleObject, Debug)]
pub struct PosterUpload {
    /// PUT the file here, with exactly the announced Content-Type and Content-Length.
    pub url: String,
    pub key: String,
    pub content_type: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Default)]
pub struct PosterMutation;

#[Object]
impl PosterMutation {
    /// Uploads a poster (JPEG, PNG or WebP, by its bytes) by the GraphQL multipart request
    /// spec, replacing the current one. Needs a non-simple header such as
    /// `Apollo-Require-Preflight: true`.
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn upload_poster(&self, ctx: &Context<'_>, performance_id: ID, file: Upload) -> GqlResult<Performance> {
        let id = expect(NodeKind::Performance, &performance_id, "performanceId")?;
        let app = app(ctx)?;
        let max = app.settings.storage.max_poster_bytes;
        let bytes = read_upload(ctx, file, max)?;
        let key = posters::store_poster(&app.db, app.storage.as_ref(), id, bytes, max).await?;
        Ok(Performance::new(attach(ctx, id, &key, "uploadPoster").await?))
    }

    /// A presigned URL to PUT a poster straight to storage; it expires within minutes.
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn create_poster_upload_url(
        &self,
        ctx: &Context<'_>,
        performance_id: ID,
        content_type: String,
        content_length: i32,
    ) -> GqlResult<PosterUpload> {
        let id = expect(NodeKind::Performance, &performance_id, "performanceId")?;
        let app = app(ctx)?;
        let settings = &app.settings.storage;
        let length = u64::try_from(content_length)
            .map_err(|_| ApiError::bad_input("contentLength", "contentLength must not be negative"))?;
        let ticket = posters::upload_ticket(
            &app.db,
            app.storage.as_ref(),
            id,
            &content_type,
            length,
            settings.max_poster_bytes,
            Duration::from_secs(settings.upload_url_seconds),
        )
        .await?;
        Ok(PosterUpload {
            url: ticket.url,
            key: ticket.key,
            content_type: ticket.content_type.to_string(),
            expires_at: ticket.expires_at,
        })
    }

    /// Attaches a poster uploaded by presigned URL, after checking that the object exists,
    /// its size, and that its bytes are a JPEG, PNG or WebP image.
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn attach_poster(&self, ctx: &Context<'_>, performance_id: ID, key: String) -> GqlResult<Performance> {
        let id = expect(NodeKind::Performance, &performance_id, "performanceId")?;
        let app = app(ctx)?;
        crate::domain::performances::find_performance(&app.db, id).await?;
        posters::check_uploaded(app.storage.as_ref(), id, &key, app.settings.storage.max_poster_bytes).await?;
        Ok(Performance::new(attach(ctx, id, &key, "attachPoster").await?))
    }
}

/// Attaches a stored object, records the admin action, and deletes the replaced poster once
/// committed (or the new object, when attaching fails).
async fn attach(ctx: &Context<'_>, id: i64, key: &str, action: &str) -> GqlResult<entity::performance::Model> {
    let app = app(ctx)?;
    let attached: Result<Attached, async_graphql::Error> = async {
        let write = AdminWrite::begin(ctx).await?;
        let attached = posters::attach(write.txn(), id, key).await?;
        write.commit(ctx, action, NodeKind::Performance, Some(id)).await?;
        Ok(attached)
    }
    .await;
    match attached {
        Ok(attached) => {
            crate::catalog_cache::invalidate(app.cache.as_ref()).await;
            if let Some(replaced) = &attached.replaced {
                delete_orphan(app.storage.as_ref(), replaced).await;
            }
            Ok(attached.performance)
        }
        Err(err) => {
            delete_orphan(app.storage.as_ref(), key).await;
            Err(err)
        }
    }
}

/// The uploaded file's bytes, refusing more than `max` (the multipart parser enforces the
/// same limit; this keeps the resolver safe on its own). The parser holds files in memory.
fn read_upload(ctx: &Context<'_>, file: Upload, max: usize) -> GqlResult<Vec<u8>> {
    let value = file
        .value(ctx)
        .map_err(|_| ApiError::bad_input("file", "the file part of the request is missing"))?;
    if value.content.len() > max {
        return Err(ApiError::bad_input("file", format!("the poster must be at most {max} bytes")).into());
    }
    Ok(value.content.to_vec())
}
