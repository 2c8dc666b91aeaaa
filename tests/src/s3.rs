//! An S3 stand-in: an s3s-fs server on a random port, storing objects in a temporary
//! directory, with signature checking on, so the service's real aws-sdk-s3 client (and its
//! presigned URLs) are exercised over the S3 protocol.

use std::path::PathBuf;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub const BUCKET: &str = "curtain-posters";
pub const ACCESS_KEY: &str = "curtain-test-access";
pub const SECRET_KEY: &str = "curtain-test-secret-key";

pub struct S3Stub {
    /// `http://127.0.0.1:{port}`
    pub endpoint: String,
    root: tempfile::TempDir,
    server: JoinHandle<()>,
}

impl S3Stub {
    pub async fn spawn() -> S3Stub {
        let root = tempfile::tempdir().expect("temporary directory");
        std::fs::create_dir(root.path().join(BUCKET)).expect("bucket directory");
        let fs = s3s_fs::FileSystem::new(root.path()).expect("s3s-fs over the directory");
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = builder.build();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        let server = tokio::spawn(async move {
            let http = ConnBuilder::new(TokioExecutor::new());
            while let Ok((socket, _)) = listener.accept().await {
                let connection = http
                    .serve_connection(TokioIo::new(socket), service.clone())
                    .into_owned();
                tokio::spawn(async move {
                    let _ = connection.await;
                });
            }
        });
        S3Stub { endpoint, root, server }
    }

    /// Keys of every object in the bucket, sorted.
    pub fn keys(&self) -> Vec<String> {
        let bucket = self.root.path().join(BUCKET);
        let mut keys = Vec::new();
        let mut pending: Vec<PathBuf> = vec![bucket.clone()];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).expect("read bucket").flatten() {
                let path = entry.path();
                if path.is_dir() {
                    pending.push(path);
                } else if let Ok(relative) = path.strip_prefix(&bucket) {
                    keys.push(relative.to_string_lossy().replace('\\', "/"));
                }
            }
        }
        keys.sort();
        keys
    }

    /// The bytes of an object, read straight from the stand-in's disk.
    pub fn read(&self, key: &str) -> Option<Vec<u8>> {
        std::fs::read(self.root.path().join(BUCKET).join(key)).ok()
    }
}

impl Drop for S3Stub {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Points the server's storage at the stand-in.
pub fn configure(settings: &mut curtain::config::Settings, endpoint: &str) {
    let storage = &mut settings.storage;
    storage.s3_bucket = Some(BUCKET.into());
    storage.s3_endpoint = Some(endpoint.into());
    storage.s3_path_style = true;
    storage.s3_access_key_id = Some(ACCESS_KEY.into());
    storage.s3_secret_access_key = Some(secrecy::SecretString::from(SECRET_KEY));
}
