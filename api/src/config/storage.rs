//! Where stored files (posters) live, and limits on what may be uploaded.

use secrecy::SecretString;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageSettings {
    /// S3 bucket for stored files; files stay in `{data_dir}/files` (served at `/files/…`)
    /// until this is set.
    pub s3_bucket: Option<String>,
    /// Endpoint of an S3-compatible service (MinIO, R2); AWS S3 when unset.
    pub s3_endpoint: Option<String>,
    pub s3_region: String,
    pub s3_access_key_id: Option<String>,
    pub s3_secret_access_key: Option<SecretString>,
    /// Address buckets as `{endpoint}/{bucket}` rather than `{bucket}.{endpoint}`, as MinIO
    /// needs.
    pub s3_path_style: bool,
    /// Base URL of public links to stored files (a CDN); defaults to the bucket's own URL.
    pub s3_public_url: Option<String>,
    /// Largest poster accepted, in bytes, by upload or by presigned URL.
    pub max_poster_bytes: usize,
    /// How long a presigned upload URL stays valid.
    pub upload_url_seconds: u64,
}

impl Default for StorageSettings {
    fn default() -> Self {
        Self {
            s3_bucket: None,
            s3_endpoint: None,
            s3_region: "us-east-1".into(),
            s3_access_key_id: None,
            s3_secret_access_key: None,
            s3_path_style: false,
            s3_public_url: None,
            max_poster_bytes: 5 * 1024 * 1024,
            upload_url_seconds: 300,
        }
    }
}
