//! Stored files on the local disk under the data directory, served by the service itself at
//! `/files/…`. Presigned uploads are PUTs to the service's own `/files/uploads/…` route,
//! authorised by an HMAC over the key, expiry, length and type.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use futures::StreamExt;
use futures::stream::BoxStream;

use super::{Listed, ObjectInfo, Storage};

/// Files kept in a local directory and the public URL they are served under.
#[derive(Clone)]
pub struct LocalFiles {
    pub dir: PathBuf,
    base_url: String,
    /// Signs upload URLs. Made fresh at start-up: local storage belongs to one instance, and
    /// upload URLs live for minutes, so nothing is lost when it changes on restart.
    signing_key: Arc<[u8; 32]>,
}

impl std::fmt::Debug for LocalFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalFiles")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// What a valid signed upload URL allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadGrant {
    pub key: String,
    pub content_type: String,
    pub content_length: u64,
}

impl LocalFiles {
    pub fn new(dir: PathBuf, public_base_url: &str) -> Self {
        Self {
            dir,
            base_url: public_base_url.trim_end_matches('/').to_string(),
            signing_key: Arc::new(rand::random()),
        }
    }

    /// The URL the service is reached at, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The path of `key` inside the directory; `None` for a key that would leave it.
    fn path(&self, key: &str) -> Option<PathBuf> {
        key_path(&self.dir, key)
    }

    fn signature(&self, key: &str, expires: i64, length: u64, content_type: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.signing_key.as_slice())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(format!("{key}\n{expires}\n{length}\n{content_type}").as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Checks a signed upload URL's parameters; `Err` says what is wrong.
    pub fn verify_upload(
        &self,
        key: &str,
        expires: i64,
        length: u64,
        content_type: &str,
        signature: &str,
    ) -> Result<UploadGrant, &'static str> {
        let expected = self.signature(key, expires, length, content_type);
        // Comparing digests of both sides keeps the comparison's timing independent of where
        // the signatures first differ.
        if Sha256::digest(expected.as_bytes()) != Sha256::digest(signature.as_bytes()) {
            return Err("the upload URL's signature is not valid");
        }
        if chrono::Utc::now().timestamp() > expires {
            return Err("the upload URL has expired");
        }
        Ok(UploadGrant {
            key: key.to_string(),
            content_type: content_type.to_string(),
            content_length: length,
        })
    }
}

#[async_trait::async_trait]
impl Storage for LocalFiles {
    async fn put(&self, key: &str, bytes: Vec<u8>, _content_type: &str) -> anyhow::Result<()> {
        let path = self
            .path(key)
            .ok_or_else(|| anyhow::anyhow!("invalid object key {key:?}"))?;
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        // Written aside and renamed, so a reader never sees half a file.
        let partial = path.with_extension("partial");
        tokio::fs::write(&partial, bytes).await?;
        tokio::fs::rename(&partial, &path).await?;
        Ok(())
    }

    async fn head(&self, key: &str) -> anyhow::Result<Option<ObjectInfo>> {
        let Some(path) = self.path(key) else { return Ok(None) };
        match tokio::fs::metadata(&path).await {
            Ok(meta) if meta.is_file() => Ok(Some(ObjectInfo {
                size: meta.len(),
                content_type: None,
            })),
            Ok(_) => Ok(None),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    async fn read_prefix(&self, key: &str, len: usize) -> anyhow::Result<Option<Vec<u8>>> {
        let Some(path) = self.path(key) else { return Ok(None) };
        let file = match tokio::fs::File::open(&path).await {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(err.into()),
        };
        let mut prefix = Vec::with_capacity(len);
        file.take(len as u64).read_to_end(&mut prefix).await?;
        Ok(Some(prefix))
    }

    async fn delete(&self, key: &str) -> anyhow::Result<()> {
        let Some(path) = self.path(key) else { return Ok(()) };
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(err.into()),
        }
    }

    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        content_length: u64,
        expires_in: Duration,
    ) -> anyhow::Result<String> {
        let expires = chrono::Utc::now().timestamp() + i64::try_from(expires_in.as_secs())?;
        let signature = self.signature(key, expires, content_length, content_type);
        let query = serde_urlencoded_pairs(&[
            ("expires", expires.to_string()),
            ("length", content_length.to_string()),
            ("type", content_type.to_string()),
            ("signature", signature),
        ]);
        Ok(format!("{}/files/uploads/{key}?{query}", self.base_url))
    }

    fn public_url(&self, key: &str) -> String {
        format!("{}/files/{}", self.base_url, key.trim_start_matches('/'))
    }

    fn list(&self, prefix: &str) -> BoxStream<'static, anyhow::Result<Listed>> {
        let (sender, receiver) = tokio::sync::mpsc::channel(LIST_BUFFER);
        let (root, prefix) = (self.dir.clone(), prefix.to_string());
        // The walk blocks on the disk; it runs aside and stops when the reader goes away.
        tokio::task::spawn_blocking(move || {
            let Some(start) = key_path(&root, prefix.trim_end_matches('/')) else {
                return;
            };
            walk(&root, &start, &sender);
        });
        futures::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|item| (item, receiver))
        })
        .boxed()
    }
}

/// The path of `key` inside `dir`; `None` for a key that would leave it.
fn key_path(dir: &Path, key: &str) -> Option<PathBuf> {
    let relative = Path::new(key);
    let plain = !key.is_empty() && relative.components().all(|c| matches!(c, Component::Normal(_)));
    plain.then(|| dir.join(relative))
}

/// Objects a local listing reads ahead of its consumer.
const LIST_BUFFER: usize = 256;

/// Sends every file under `dir` (keys relative to `root`) until the receiver is dropped;
/// false once it has been.
fn walk(root: &Path, dir: &Path, sender: &tokio::sync::mpsc::Sender<anyhow::Result<Listed>>) -> bool {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return true,
        Err(err) => return sender.blocking_send(Err(err.into())).is_ok(),
    };
    for entry in entries {
        let item = entry.map_err(anyhow::Error::from).and_then(|entry| {
            let meta = entry.metadata()?;
            Ok((entry.path(), meta))
        });
        let sent = match item {
            Ok((path, meta)) if meta.is_dir() => walk(root, &path, sender),
            Ok((path, meta)) => match listed(root, &path, &meta) {
                Some(object) => sender.blocking_send(Ok(object)).is_ok(),
                None => true,
            },
            Err(err) => sender.blocking_send(Err(err)).is_ok(),
        };
        if !sent {
            return false;
        }
    }
    true
}

/// The listing entry of the file at `path`; `None` for a name that is not valid UTF-8
/// (no key of ours is) or a file system without modification times.
fn listed(root: &Path, path: &Path, meta: &std::fs::Metadata) -> Option<Listed> {
    let relative = path.strip_prefix(root).ok()?;
    let parts: Option<Vec<&str>> = relative.components().map(|c| c.as_os_str().to_str()).collect();
    Some(Listed {
        key: parts?.join("/"),
        modified: meta.modified().ok()?.into(),
    })
}

/// `a=1&b=2` with each value percent-encoded.
fn serde_urlencoded_pairs(pairs: &[(&str, String)]) -> String {
    let mut url = reqwest::Url::parse("http://query.invalid/").unwrap_or_else(|_| unreachable!("a valid URL"));
    url.query_pairs_mut()
        .extend_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())));
    url.query().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_join_without_double_slashes() {
        let files = LocalFiles::new(PathBuf::from("data/files"), "http://localhost:8080/");
        assert_eq!(
            files.public_url("posters/a.jpg"),
            "http://localhost:8080/files/posters/a.jpg"
        );
    }

    #[test]
    fn keys_never_leave_the_directory() {
        let files = LocalFiles::new(PathBuf::from("data/files"), "http://localhost");
        assert!(files.path("posters/1/a.jpg").is_some());
        assert!(files.path("../secrets").is_none());
        assert!(files.path("/etc/passwd").is_none());
        assert!(files.path("").is_none());
    }

    #[test]
    fn upload_signatures_bind_every_parameter() {
        let files = LocalFiles::new(PathBuf::from("data/files"), "http://localhost");
        let expires = chrono::Utc::now().timestamp() + 60;
        let good = files.signature("posters/1/a.png", expires, 10, "image/png");
        assert!(
            files
                .verify_upload("posters/1/a.png", expires, 10, "image/png", &good)
                .is_ok()
        );
        assert!(
            files
                .verify_upload("posters/1/b.png", expires, 10, "image/png", &good)
                .is_err()
        );
        assert!(
            files
                .verify_upload("posters/1/a.png", expires, 11, "image/png", &good)
                .is_err()
        );
        let past = expires - 120;
        let stale = files.signature("posters/1/a.png", past, 10, "image/png");
        assert!(
            files
                .verify_upload("posters/1/a.png", past, 10, "image/png", &stale)
                .is_err()
        );
    }
}
