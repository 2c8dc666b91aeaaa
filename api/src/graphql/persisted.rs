//! Persisted documents: automatic persisted queries (APQ) and trusted documents.
//!
//! **APQ** (Apollo's protocol, which Apollo Client, urql and graphql-request speak): a client
//! sends `extensions.persistedQuery.sha256Hash` alone; an unknown hash is answered
//! `PERSISTED_QUERY_NOT_FOUND`, and the client sends the hash again with the document, which
//! is registered once its SHA-256 is checked. After that the hash alone runs it, over POST or
//! GET, so that a CDN can cache GET answers by a short URL. Registrations are kept in this
//! instance's memory and, with Redis, there too, so that a document registered through one
//! instance runs on every other.
//!
//! Registering costs the server memory, so it is bounded: only a document within the cost
//! check's text limits that parses is registered, only over POST and WebSocket (never by a
//! link a browser follows), at most [`REGISTRATIONS_PER_MINUTE`] per client address, in a
//! store of its own weighed in bytes (and in Redis for a day).
//!
//! **Trusted documents** (`graphql.persisted_only`): only the operations of a manifest loaded
//! at start run, by hash or by their exact text; anything else is
//! `PERSISTED_QUERY_NOT_IN_LIST`, and clients cannot register more. This shuts out documents
//! written by anyone but the app's own developers (the usual production set-up for a public
//! API with first-party clients).

mod apq;
mod manifest;
mod resolve;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::config::GraphqlSettings;
use crate::infra::kv::SharedStore;

pub use self::manifest::Manifest;
pub use self::resolve::{names_a_document, parameters_error};

pub const PERSISTED_QUERY_NOT_FOUND: &str = "PERSISTED_QUERY_NOT_FOUND";
pub const PERSISTED_QUERY_NOT_SUPPORTED: &str = "PERSISTED_QUERY_NOT_SUPPORTED";
pub const PERSISTED_QUERY_NOT_IN_LIST: &str = "PERSISTED_QUERY_NOT_IN_LIST";

/// Documents one client address may register per minute; a client past it is told
/// RATE_LIMITED and may send its documents in full meanwhile.
pub const REGISTRATIONS_PER_MINUTE: u32 = 60;
/// Bytes of documents each instance keeps in memory (least recently used go first; the shared
/// cache still has them).
const LOCAL_BYTES: u64 = 32 * 1024 * 1024;

pub struct PersistedDocuments {
    mode: Mode,
    /// Registered documents by hash: this instance's copy.
    local: moka::future::Cache<String, Arc<str>>,
    /// Registered documents by hash, for every instance: Redis, when configured.
    shared: Option<SharedStore>,
    /// Where registrations per address are counted (the rate limits' store).
    limits: SharedStore,
    /// The text limits a document must be within to be registered.
    cost: super::cost::CostModel,
}

/// Who sends a request, and whether it may register a document.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    pub ip: IpAddr,
    /// False over GET: a link must not make a browser register documents.
    pub may_register: bool,
}

enum Mode {
    /// APQ: clients register documents; those of the manifest (if any) are known from the
    /// start, and never forgotten.
    Automatic(HashMap<String, Arc<str>>),
    /// Documents arrive in full, and hashes are refused.
    Off,
    /// Only the manifest's documents run.
    TrustedOnly(Manifest),
}

impl PersistedDocuments {
    /// `shared` is Redis (none in process: each instance keeps its own); `limits` counts
    /// registrations per address.
    pub fn from_settings(
        settings: &GraphqlSettings,
        shared: Option<SharedStore>,
        limits: SharedStore,
    ) -> anyhow::Result<Self> {
        let manifest = match &settings.persisted_manifest {
            Some(path) => Some(Manifest::load(path)?),
            None => None,
        };
        let local = moka::future::Cache::builder()
            .max_capacity(LOCAL_BYTES)
            .weigher(|hash: &String, document: &Arc<str>| (hash.len() + document.len()).try_into().unwrap_or(u32::MAX))
            .build();
        let mode = match (settings.persisted_only, manifest) {
            (true, Some(manifest)) => Mode::TrustedOnly(manifest),
            (true, None) => anyhow::bail!(
                "graphql.persisted_only is set but graphql.persisted_manifest is not: give the manifest of the operations to allow"
            ),
            (false, manifest) if settings.persisted_queries => {
                Mode::Automatic(manifest.map(|m| m.by_id).unwrap_or_default())
            }
            (false, _) => Mode::Off,
        };
        Ok(Self {
            mode,
            local,
            shared,
            limits,
            cost: super::cost_model(settings),
        })
    }

    /// Whether only the manifest's operations run.
    pub fn trusted_only(&self) -> bool {
        matches!(self.mode, Mode::TrustedOnly(_))
    }
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}
