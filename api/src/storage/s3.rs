//! Any S3-compatible object store (AWS S3, MinIO, Cloudflare R2, an s3s server in tests),
//! through aws-sdk-s3 with static credentials from the settings.

use std::time::Duration;

use anyhow::Context;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use secrecy::ExposeSecret;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use futures::stream::BoxStream;

use super::{Listed, ObjectInfo, Storage};
use crate::config::StorageSettings;

/// A bucket and the client that reaches it.
#[derive(Debug, Clone)]
pub struct S3Storage {
    client: Client,
    bucket: String,
    /// Prefix of public links: the CDN or the bucket's own URL.
    public_base_url: String,
}

impl S3Storage {
    pub fn from_settings(settings: &StorageSettings) -> anyhow::Result<Self> {
        let bucket = settings.s3_bucket.clone().context("storage.s3_bucket is not set")?;
        let credentials = Credentials::new(
            settings.s3_access_key_id.clone().unwrap_or_default(),
            settings
                .s3_secret_access_key
                .as_ref()
                .map(|key| key.expose_secret().to_string())
                .unwrap_or_default(),
            None,
            None,
            "curtain-settings",
        );
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let mut config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .http_client(http)
            .region(Region::new(settings.s3_region.clone()))
            .credentials_provider(credentials)
            .force_path_style(settings.s3_path_style)
            // MinIO and other S3 look-alikes do not all speak the newer default checksums.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if let Some(endpoint) = &settings.s3_endpoint {
            config = config.endpoint_url(endpoint);
        }
        let public_base_url = match (&settings.s3_public_url, &settings.s3_endpoint) {
            (Some(url), _) => url.trim_end_matches('/').to_string(),
            (None, Some(endpoint)) if settings.s3_path_style => {
                format!("{}/{bucket}", endpoint.trim_end_matches('/'))
            }
            (None, _) => format!("https://{bucket}.s3.{}.amazonaws.com", settings.s3_region),
        };
        Ok(Self {
            client: Client::from_conf(config.build()),
            bucket,
            public_base_url,
        })
    }
}

#[async_trait::async_trait]
impl Storage for S3Storage {
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> anyhow::Result<()> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .with_context(|| format!("storing {key} in S3"))?;
        Ok(())
    }

    async fn head(&self, key: &str) -> anyhow::Result<Option<ObjectInfo>> {
        match self.client.head_object().bucket(&self.bucket).key(key).send().await {
            Ok(head) => Ok(Some(ObjectInfo {
                size: u64::try_from(head.content_length().unwrap_or(0)).unwrap_or(0),
                content_type: head.content_type().map(str::to_owned),
            })),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
            Err(err) => Err(anyhow::Error::new(err).context(format!("looking up {key} in S3"))),
        }
    }

    async fn read_prefix(&self, key: &str, len: usize) -> anyhow::Result<Option<Vec<u8>>> {
        let range = format!("bytes=0-{}", len.saturating_sub(1));
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .range(range)
            .send()
            .await
        {
            Ok(object) => {
                let bytes = object.body.collect().await.context("reading an S3 object")?;
                let mut bytes = bytes.into_bytes().to_vec();
                bytes.truncate(len);
                Ok(Some(bytes))
            }
            Err(err) if err.as_service_error().is_some_and(|e| e.is_no_such_key()) => Ok(None),
            Err(err) => Err(anyhow::Error::new(err).context(format!("reading {key} from S3"))),
        }
    }

    async fn delete(&self, key: &str) -> anyhow::Result<()> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .with_context(|| format!("deleting {key} from S3"))?;
        Ok(())
    }

    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        content_length: u64,
        expires_in: Duration,
    ) -> anyhow::Result<String> {
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .content_length(i64::try_from(content_length)?)
            .presigned(PresigningConfig::expires_in(expires_in)?)
            .await
            .context("presigning an S3 upload")?;
        Ok(request.uri().to_string())
    }

    fn public_url(&self, key: &str) -> String {
        format!("{}/{}", self.public_base_url, key.trim_start_matches('/'))
    }

    fn list(&self, prefix: &str) -> BoxStream<'static, anyhow::Result<Listed>> {
        let pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        futures::stream::unfold(pages, |mut pages| async move {
            let page = pages.next().await?;
            let objects = page.context("listing objects in S3").map(|page| {
                page.contents()
                    .iter()
                    .map(|object| Ok(listed(object)))
                    .collect::<Vec<_>>()
            });
            Some((objects, pages))
        })
        .flat_map(|page| match page {
            Ok(objects) => futures::stream::iter(objects),
            Err(err) => futures::stream::iter(vec![Err(err)]),
        })
        .boxed()
    }
}

fn listed(object: &aws_sdk_s3::types::Object) -> Listed {
    Listed {
        key: object.key().unwrap_or_default().to_string(),
        // A store that does not say when is treated as just written: kept, not swept.
        modified: object
            .last_modified()
            .and_then(|at| DateTime::from_timestamp(at.secs(), at.subsec_nanos()))
            .unwrap_or_else(Utc::now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(endpoint: Option<&str>, path_style: bool) -> StorageSettings {
        StorageSettings {
            s3_bucket: Some("posters".into()),
            s3_endpoint: endpoint.map(String::from),
            s3_path_style: path_style,
            s3_region: "ap-northeast-2".into(),
            ..StorageSettings::default()
        }
    }

    #[test]
    fn public_links_follow_the_addressing_style() {
        let minio = S3Storage::from_settings(&settings(Some("http://minio:9000/"), true)).ok();
        assert_eq!(
            minio.map(|s| s.public_url("posters/1/a.png")),
            Some("http://minio:9000/posters/posters/1/a.png".to_string())
        );
        let aws = S3Storage::from_settings(&settings(None, false)).ok();
        assert_eq!(
            aws.map(|s| s.public_url("posters/1/a.png")),
            Some("https://posters.s3.ap-northeast-2.amazonaws.com/posters/1/a.png".to_string())
        );
    }
}
