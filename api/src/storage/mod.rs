//! Object storage behind one trait: a local directory served by the service itself (the
//! default), or any S3-compatible service when a bucket is configured. Callers never know
//! which; tests run both.

mod local;
mod s3;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::stream::BoxStream;

pub use local::{LocalFiles, UploadGrant};
pub use s3::S3Storage;

use crate::config::Settings;

/// What is known of a stored object without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub size: u64,
    /// The type the object was stored with, when the store records one.
    pub content_type: Option<String>,
}

/// An object as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub key: String,
    /// When it was last written.
    pub modified: DateTime<Utc>,
}

/// Where posters and other files live.
#[async_trait::async_trait]
pub trait Storage: Send + Sync + std::fmt::Debug {
    /// Stores `bytes` under `key`, replacing anything there.
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> anyhow::Result<()>;
    /// The object's size and type; `None` when there is no such object.
    async fn head(&self, key: &str) -> anyhow::Result<Option<ObjectInfo>>;
    /// Up to `len` bytes from the start of the object (enough to recognise its format);
    /// `None` when there is no such object.
    async fn read_prefix(&self, key: &str, len: usize) -> anyhow::Result<Option<Vec<u8>>>;
    /// Deletes the object; deleting a missing object is not an error.
    async fn delete(&self, key: &str) -> anyhow::Result<()>;
    /// A URL a client may PUT exactly `content_length` bytes of `content_type` to, under
    /// `key`, until `expires_in` has passed.
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        content_length: u64,
        expires_in: Duration,
    ) -> anyhow::Result<String>;
    /// The URL a browser fetches the object from.
    fn public_url(&self, key: &str) -> String;
    /// Every object whose key starts with `prefix` (which ends with `/`), in no particular
    /// order, read a page at a time as the stream is consumed.
    fn list(&self, prefix: &str) -> BoxStream<'static, anyhow::Result<Listed>>;
}

pub type SharedStorage = Arc<dyn Storage>;

/// The store the settings ask for: S3 when a bucket is configured, else the local directory.
pub fn from_settings(settings: &Settings, files: &LocalFiles) -> anyhow::Result<SharedStorage> {
    Ok(match &settings.storage.s3_bucket {
        Some(_) => Arc::new(S3Storage::from_settings(&settings.storage)?),
        None => Arc::new(files.clone()),
    })
}

/// Deletes an object that is no longer referenced; a failure only leaves an orphan behind,
/// so it is logged rather than failing the operation that already committed.
pub async fn delete_orphan(storage: &dyn Storage, key: &str) {
    if let Err(err) = storage.delete(key).await {
        tracing::warn!(key, error = ?err, "an object no longer referenced could not be deleted");
    }
}
