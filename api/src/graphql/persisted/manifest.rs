//! Trusted documents' manifest: the operations a deployment allows, read at start from
//! Apollo's manifest format or a plain map of ids to documents.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;

use super::sha256_hex;

/// The operations of a manifest: by the id clients send, and the SHA-256 of each text (so
/// that a client sending the text itself is recognised).
#[derive(Debug, Default)]
pub struct Manifest {
    pub(super) by_id: HashMap<String, Arc<str>>,
    pub(super) text_hashes: HashSet<String>,
}

impl Manifest {
    /// Reads a manifest in Apollo's format (`{"format": "apollo-persisted-query-manifest",
    /// "operations": [{"id", "body", …}]}`) or as a plain map of ids to documents (GraphQL
    /// Code Generator's `persisted-documents.json`, Relay's `persisted_queries.json`).
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the persisted-operations manifest {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("reading the persisted-operations manifest {}", path.display()))
    }

    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let json: serde_json::Value = serde_json::from_str(text).context("the manifest is not JSON")?;
        let mut manifest = Self::default();
        let mut add = |id: &str, body: &str| {
            manifest.text_hashes.insert(sha256_hex(body));
            // Clients send the hash in lower case (it is looked up so).
            manifest.by_id.insert(id.to_ascii_lowercase(), body.into());
        };
        if let Some(operations) = json.get("operations") {
            let operations = operations.as_array().context("`operations` is not a list")?;
            for (index, operation) in operations.iter().enumerate() {
                let id = operation["id"].as_str();
                let body = operation["body"].as_str();
                let (Some(id), Some(body)) = (id, body) else {
                    anyhow::bail!("operation {index} has no string `id` and `body`");
                };
                add(id, body);
            }
        } else {
            let map = json
                .as_object()
                .context("expected Apollo's manifest (with `operations`) or a map of ids to documents")?;
            for (id, body) in map {
                let body = body
                    .as_str()
                    .with_context(|| format!("the document of {id} is not a string"))?;
                add(id, body);
            }
        }
        anyhow::ensure!(!manifest.by_id.is_empty(), "the manifest has no operations");
        Ok(manifest)
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::GraphqlSettings;
    use crate::graphql::persisted::PersistedDocuments;
    use crate::infra::kv::MemoryStore;

    #[test]
    fn manifests_in_both_shapes_are_read() {
        let plain = Manifest::parse(r#"{"h1": "{ a }", "h2": "{ b }"}"#).expect("plain");
        assert_eq!(plain.len(), 2);
        assert!(Manifest::parse(r#"{"operations": [{"id": "x"}]}"#).is_err());
        assert!(Manifest::parse("{}").is_err());
        assert!(
            PersistedDocuments::from_settings(
                &GraphqlSettings {
                    persisted_only: true,
                    ..GraphqlSettings::default()
                },
                None,
                Arc::new(MemoryStore::new(10))
            )
            .is_err()
        );
    }
}
