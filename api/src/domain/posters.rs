//! Posters: images of a performance kept in object storage. A poster's type is decided by
//! its first bytes, never by a file name or a client's word; every poster gets a fresh key,
//! so stored objects never change in place and can be cached forever; the object a poster
//! replaces is deleted once the new one is attached.

use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::performance;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::performances::find_performance;
use crate::error::{ApiError, ApiResult};
use crate::storage::Storage;

/// Bytes needed to recognise every accepted format.
pub const SNIFF_LEN: usize = 12;

/// The image formats a poster may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageType {
    Jpeg,
    Png,
    Webp,
}

impl ImageType {
    /// Recognises a format from the file's first bytes (its magic number).
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        match bytes {
            [0xFF, 0xD8, 0xFF, ..] => Some(Self::Jpeg),
            [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, ..] => Some(Self::Png),
            [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => Some(Self::Webp),
            _ => None,
        }
    }

    pub fn from_content_type(content_type: &str) -> Option<Self> {
        match content_type.trim().to_ascii_lowercase().as_str() {
            "image/jpeg" => Some(Self::Jpeg),
            "image/png" => Some(Self::Png),
            "image/webp" => Some(Self::Webp),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Webp => "image/webp",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Self::Jpeg => "jpg",
            Self::Png => "png",
            Self::Webp => "webp",
        }
    }
}

/// Where a client uploads a poster directly to storage, and the key to attach afterwards.
#[derive(Debug, Clone)]
pub struct UploadTicket {
    pub url: String,
    pub key: String,
    pub content_type: &'static str,
    pub expires_at: DateTime<Utc>,
}

/// A poster now attached, and the key of the one it replaced (to delete after commit).
#[derive(Debug)]
pub struct Attached {
    pub performance: performance::Model,
    pub replaced: Option<String>,
}

fn not_an_image(field: &str) -> ApiError {
    ApiError::bad_input(field, "the file is not a JPEG, PNG or WebP image")
}

fn check_size(field: &str, size: u64, max_bytes: usize) -> ApiResult<()> {
    if size == 0 {
        return Err(ApiError::bad_input(field, "the file is empty"));
    }
    if size > max_bytes as u64 {
        return Err(ApiError::bad_input(
            field,
            format!("the poster must be at most {max_bytes} bytes"),
        ));
    }
    Ok(())
}

/// A fresh key under the performance's own prefix.
fn new_key(performance_id: i64, kind: ImageType) -> String {
    format!(
        "posters/{performance_id}/{}.{}",
        uuid::Uuid::new_v4().simple(),
        kind.extension()
    )
}

/// Checks an uploaded file and stores it under a fresh key, which it returns.
#[tracing::instrument(name = "posters.store_poster", skip_all)]
pub async fn store_poster(
    db: &impl ConnectionTrait,
    storage: &dyn Storage,
    performance_id: i64,
    bytes: Vec<u8>,
    max_bytes: usize,
) -> ApiResult<String> {
    find_performance(db, performance_id).await?;
    check_size("file", bytes.len() as u64, max_bytes)?;
    let kind = ImageType::sniff(&bytes).ok_or_else(|| not_an_image("file"))?;
    let key = new_key(performance_id, kind);
    storage
        .put(&key, bytes, kind.content_type())
        .await
        .map_err(ApiError::internal)?;
    Ok(key)
}

/// A presigned URL to upload a poster of the announced type and length directly to storage.
pub async fn upload_ticket(
    db: &impl ConnectionTrait,
    storage: &dyn Storage,
    performance_id: i64,
    content_type: &str,
    content_length: u64,
    max_bytes: usize,
    expires_in: Duration,
) -> ApiResult<UploadTicket> {
    find_performance(db, performance_id).await?;
    let kind = ImageType::from_content_type(content_type)
        .ok_or_else(|| ApiError::bad_input("contentType", "the poster must be image/jpeg, image/png or image/webp"))?;
    check_size("contentLength", content_length, max_bytes)?;
    let key = new_key(performance_id, kind);
    let url = storage
        .presign_put(&key, kind.content_type(), content_length, expires_in)
        .await
        .map_err(ApiError::internal)?;
    let expires_at = Utc::now() + chrono::Duration::seconds(i64::try_from(expires_in.as_secs()).unwrap_or(0));
    Ok(UploadTicket {
        url,
        key,
        content_type: kind.content_type(),
        expires_at,
    })
}

/// Checks an object uploaded by presigned URL: it must be under this performance's prefix,
/// exist, be within the size limit and be an image by its bytes. A bad object is deleted.
pub async fn check_uploaded(storage: &dyn Storage, performance_id: i64, key: &str, max_bytes: usize) -> ApiResult<()> {
    let ours = key
        .strip_prefix(&format!("posters/{performance_id}/"))
        .is_some_and(|name| !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '.'));
    if !ours {
        return Err(ApiError::bad_input(
            "key",
            "the key was not issued for this performance",
        ));
    }
    let info = storage
        .head(key)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::bad_input("key", "nothing was uploaded under this key"))?;
    let prefix = storage
        .read_prefix(key, SNIFF_LEN)
        .await
        .map_err(ApiError::internal)?
        .unwrap_or_default();
    let verdict = check_size("key", info.size, max_bytes)
        .and_then(|()| ImageType::sniff(&prefix).map(|_| ()).ok_or_else(|| not_an_image("key")));
    if verdict.is_err() {
        crate::storage::delete_orphan(storage, key).await;
    }
    verdict
}

/// Makes `key` the performance's poster. Conditional on the poster read, so that of two
/// concurrent replacements neither loses track of the object it replaced.
#[tracing::instrument(name = "posters.attach", skip_all, fields(performance_id = performance_id))]
pub async fn attach(db: &impl ConnectionTrait, performance_id: i64, key: &str) -> ApiResult<Attached> {
    for _ in 0..3 {
        let current = find_performance(db, performance_id).await?;
        let unchanged = match &current.poster_key {
            Some(previous) => performance::Column::PosterKey.eq(previous.as_str()),
            None => performance::Column::PosterKey.is_null(),
        };
        let moved = performance::Entity::update_many()
            .col_expr(performance::Column::PosterKey, Expr::value(key))
            .col_expr(performance::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(performance::Column::Id.eq(performance_id))
            .filter(unchanged)
            .exec(db)
            .await?
            .rows_affected;
        if moved == 1 {
            return Ok(Attached {
                performance: find_performance(db, performance_id).await?,
                replaced: current.poster_key.filter(|previous| previous != key),
            });
        }
    }
    Err(ApiError::Conflict(
        "the poster is being changed by someone else; try again".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_told_by_their_bytes() {
        assert_eq!(ImageType::sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0]), Some(ImageType::Jpeg));
        assert_eq!(ImageType::sniff(b"\x89PNG\r\n\x1a\n\0\0\0\x0d"), Some(ImageType::Png));
        assert_eq!(ImageType::sniff(b"RIFF\x24\0\0\0WEBPVP8 "), Some(ImageType::Webp));
        assert_eq!(ImageType::sniff(b"RIFF\x24\0\0\0WAVEfmt "), None);
        assert_eq!(ImageType::sniff(b"hello, I am a .jpg"), None);
        assert_eq!(ImageType::sniff(&[0xFF, 0xD8]), None);
    }

    #[test]
    fn keys_are_fresh_and_under_the_performance() {
        let a = new_key(7, ImageType::Png);
        assert!(a.starts_with("posters/7/") && a.ends_with(".png"));
        assert_ne!(a, new_key(7, ImageType::Png));
    }
}
