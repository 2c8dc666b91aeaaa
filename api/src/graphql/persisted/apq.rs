//! The APQ store: documents clients registered by hash, kept in this instance's memory and
//! in Redis (when configured) for every instance, registered at a bounded rate per address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::ServerError;

use super::{PersistedDocuments, REGISTRATIONS_PER_MINUTE};
use crate::auth::limits::{limit_key, spend_budget};

/// How long a registration stays in Redis after it was registered.
const SHARED_TTL: Duration = Duration::from_secs(24 * 3600);

impl PersistedDocuments {
    pub(super) async fn find(&self, known: &HashMap<String, Arc<str>>, hash: &str) -> Option<Arc<str>> {
        if let Some(document) = known.get(hash).or(self.local.get(hash).await.as_ref()) {
            return Some(document.clone());
        }
        let shared = self.shared.as_ref()?;
        match shared.get(&shared_key(hash)).await {
            Ok(Some(document)) => {
                let document: Arc<str> = document.into();
                self.local.insert(hash.to_owned(), document.clone()).await;
                Some(document)
            }
            Ok(None) => None,
            Err(err) => {
                // The client sends the document again: slower, never wrong.
                tracing::warn!(error = %err, "could not read a persisted query from the shared cache");
                None
            }
        }
    }

    /// Whether a document may be kept: within the text limits, and a document at all (one
    /// that does not parse would only be refused each time it is named).
    pub(super) fn registrable(&self, document: &str) -> bool {
        self.cost.check_text(document).is_ok() && async_graphql::parser::parse_query(document).is_ok()
    }

    pub(super) async fn register(&self, hash: String, document: &str, ip: IpAddr) -> Result<(), ServerError> {
        if self.local.contains_key(&hash) {
            return Ok(());
        }
        let bucket = format!("apq:{}", limit_key(ip));
        let message = "too many persisted queries registered from your address; send queries in full for now";
        spend_budget(self.limits.as_ref(), &bucket, REGISTRATIONS_PER_MINUTE, message)
            .await
            .map_err(|err| async_graphql::Error::from(err).into_server_error(async_graphql::Pos::default()))?;
        if let Some(shared) = &self.shared
            && let Err(err) = shared.set(&shared_key(&hash), document, SHARED_TTL).await
        {
            tracing::warn!(error = %err, "could not share a persisted query; other instances will ask for it");
        }
        self.local.insert(hash, document.into()).await;
        Ok(())
    }
}

fn shared_key(hash: &str) -> String {
    format!("apq:{hash}")
}
