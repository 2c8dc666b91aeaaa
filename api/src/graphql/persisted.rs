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

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_graphql::{Request, ServerError, Value};
use sha2::{Digest, Sha256};

use crate::auth::limits::{limit_key, spend_budget};
use crate::config::GraphqlSettings;
use crate::infra::kv::SharedStore;

pub const PERSISTED_QUERY_NOT_FOUND: &str = "PERSISTED_QUERY_NOT_FOUND";
pub const PERSISTED_QUERY_NOT_SUPPORTED: &str = "PERSISTED_QUERY_NOT_SUPPORTED";
pub const PERSISTED_QUERY_NOT_IN_LIST: &str = "PERSISTED_QUERY_NOT_IN_LIST";

/// How long a registration stays in Redis after it was registered.
const SHARED_TTL: Duration = Duration::from_secs(24 * 3600);
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

/// The operations of a manifest: by the id clients send, and the SHA-256 of each text (so
/// that a client sending the text itself is recognised).
#[derive(Debug, Default)]
pub struct Manifest {
    by_id: HashMap<String, Arc<str>>,
    text_hashes: HashSet<String>,
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

    /// Puts the document a request names by hash into `request.query`, registers one sent
    /// with its hash, and refuses what may not run. The error is the answer to send.
    pub async fn resolve(&self, request: &mut Request, caller: Caller) -> Result<(), ServerError> {
        let hash = match requested_hash(request) {
            Ok(hash) => hash,
            Err(message) => return Err(coded(message, "BAD_REQUEST")),
        };
        match (&self.mode, hash) {
            (Mode::TrustedOnly(manifest), None) => {
                if manifest.text_hashes.contains(&sha256_hex(&request.query)) {
                    Ok(())
                } else {
                    Err(not_in_list())
                }
            }
            (_, None) => Ok(()),
            (Mode::Off, Some(_)) => Err(coded("PersistedQueryNotSupported", PERSISTED_QUERY_NOT_SUPPORTED)),
            (Mode::TrustedOnly(manifest), Some(hash)) => {
                let Some(document) = manifest.by_id.get(&hash) else {
                    return Err(not_in_list());
                };
                if request.query.is_empty() {
                    request.query = document.to_string();
                } else if request.query != **document {
                    return Err(not_in_list());
                }
                Ok(())
            }
            (Mode::Automatic(known), Some(hash)) if request.query.is_empty() => match self.find(known, &hash).await {
                Some(document) => {
                    request.query = document.to_string();
                    Ok(())
                }
                // Apollo's clients look for this exact message (older ones) or the code.
                None => Err(coded("PersistedQueryNotFound", PERSISTED_QUERY_NOT_FOUND)),
            },
            (Mode::Automatic(_), Some(hash)) => {
                if sha256_hex(&request.query) != hash {
                    return Err(coded(
                        "the persisted query's sha256Hash is not the SHA-256 of the query sent with it",
                        "BAD_USER_INPUT",
                    ));
                }
                if caller.may_register && self.registrable(&request.query) {
                    self.register(hash, &request.query, caller.ip).await?;
                }
                Ok(())
            }
        }
    }

    async fn find(&self, known: &HashMap<String, Arc<str>>, hash: &str) -> Option<Arc<str>> {
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
    fn registrable(&self, document: &str) -> bool {
        self.cost.check_text(document).is_ok() && async_graphql::parser::parse_query(document).is_ok()
    }

    async fn register(&self, hash: String, document: &str, ip: IpAddr) -> Result<(), ServerError> {
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

/// `extensions.persistedQuery.sha256Hash` (lowercase), when the request has one.
fn requested_hash(request: &Request) -> Result<Option<String>, &'static str> {
    let Some(persisted) = request.extensions.0.get("persistedQuery") else {
        return Ok(None);
    };
    let Value::Object(persisted) = persisted else {
        return Err("extensions.persistedQuery must be an object with `version` 1 and a `sha256Hash`");
    };
    if let Some(version) = persisted.get("version")
        && *version != Value::from(1)
    {
        return Err("only version 1 of persisted queries is supported");
    }
    match persisted.get("sha256Hash") {
        Some(Value::String(hash)) if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(Some(hash.to_ascii_lowercase()))
        }
        _ => Err("extensions.persistedQuery.sha256Hash must be 64 hexadecimal digits"),
    }
}

/// Whether the request names a persisted document (the query text may then be absent).
pub fn names_a_document(request: &Request) -> bool {
    request.extensions.0.contains_key("persistedQuery")
}

/// What is wrong with the request's `extensions.persistedQuery`, if anything: a request
/// with bad parameters, answered 400 over HTTP.
pub fn parameters_error(request: &Request) -> Option<&'static str> {
    requested_hash(request).err()
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn shared_key(hash: &str) -> String {
    format!("apq:{hash}")
}

fn coded(message: &str, code: &'static str) -> ServerError {
    super::errors::with_code(ServerError::new(message, None), code)
}

fn not_in_list() -> ServerError {
    coded(
        "this server runs only the operations it was deployed with; this one is not among them",
        PERSISTED_QUERY_NOT_IN_LIST,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infra::kv::MemoryStore;

    const DOC: &str = "{ __typename }";
    const POST: Caller = Caller {
        ip: IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        may_register: true,
    };

    fn with_hash(query: &str, hash: &str) -> Request {
        let mut request = Request::new(query);
        let extensions = serde_json::json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } });
        request.extensions = serde_json::from_value(extensions).expect("extensions");
        request
    }

    fn code(err: &ServerError) -> String {
        err.extensions
            .as_ref()
            .and_then(|ext| ext.get("code"))
            .map(ToString::to_string)
            .unwrap_or_default()
    }

    fn documents(settings: &GraphqlSettings) -> PersistedDocuments {
        PersistedDocuments::from_settings(settings, None, Arc::new(MemoryStore::new(100))).expect("settings")
    }

    #[tokio::test]
    async fn a_hash_alone_is_unknown_until_sent_with_its_document() {
        let apq = documents(&GraphqlSettings::default());
        let hash = sha256_hex(DOC);
        let err = apq.resolve(&mut with_hash("", &hash), POST).await.expect_err("unknown");
        assert_eq!(code(&err), format!("\"{PERSISTED_QUERY_NOT_FOUND}\""));
        assert_eq!(err.message, "PersistedQueryNotFound");

        let wrong = apq
            .resolve(&mut with_hash("{ other }", &hash), POST)
            .await
            .expect_err("mismatch");
        assert_eq!(code(&wrong), "\"BAD_USER_INPUT\"");

        apq.resolve(&mut with_hash(DOC, &hash.to_ascii_uppercase()), POST)
            .await
            .expect("registered");
        let mut request = with_hash("", &hash);
        apq.resolve(&mut request, POST).await.expect("found");
        assert_eq!(request.query, DOC);
    }

    #[tokio::test]
    async fn another_instance_finds_a_registration_in_the_shared_cache() {
        let shared: SharedStore = Arc::new(MemoryStore::new(100));
        let settings = GraphqlSettings::default();
        let limits: SharedStore = Arc::new(MemoryStore::new(100));
        let one = PersistedDocuments::from_settings(&settings, Some(shared.clone()), limits.clone()).expect("one");
        let two = PersistedDocuments::from_settings(&settings, Some(shared), limits).expect("two");
        let hash = sha256_hex(DOC);
        one.resolve(&mut with_hash(DOC, &hash), POST).await.expect("registered");
        let mut request = with_hash("", &hash);
        two.resolve(&mut request, POST).await.expect("shared");
        assert_eq!(request.query, DOC);
    }

    #[tokio::test]
    async fn trusted_documents_run_alone() {
        let dir = std::env::temp_dir().join(format!("curtain-manifest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("manifest.json");
        let manifest = serde_json::json!({
            "format": "apollo-persisted-query-manifest",
            "version": 1,
            "operations": [{ "id": "abc", "name": "T", "type": "query", "body": DOC }],
        });
        std::fs::write(&path, manifest.to_string()).expect("write");
        let settings = GraphqlSettings {
            persisted_only: true,
            persisted_manifest: Some(path),
            ..GraphqlSettings::default()
        };
        let trusted = documents(&settings);
        assert!(trusted.trusted_only());
        let mut by_id = with_hash("", &"a".repeat(64));
        let err = trusted.resolve(&mut by_id, POST).await.expect_err("unknown id");
        assert_eq!(code(&err), format!("\"{PERSISTED_QUERY_NOT_IN_LIST}\""));
        let mut text = Request::new(DOC);
        trusted.resolve(&mut text, POST).await.expect("its text is trusted");
        let mut other = Request::new("{ me { id } }");
        trusted.resolve(&mut other, POST).await.expect_err("not in the list");
        // Registration is closed.
        let doc = "{ venues { totalCount } }";
        trusted
            .resolve(&mut with_hash(doc, &sha256_hex(doc)), POST)
            .await
            .expect_err("no registering");
    }

    #[tokio::test]
    async fn only_documents_within_the_limits_sent_by_post_are_registered_and_at_a_bounded_rate() {
        let apq = documents(&GraphqlSettings::default());
        let found = |doc: &str| {
            let hash = sha256_hex(doc);
            let apq = &apq;
            async move {
                let mut request = with_hash("", &hash);
                apq.resolve(&mut request, POST).await.is_ok()
            }
        };
        // Over GET it runs, but stays unregistered.
        let get = Caller {
            may_register: false,
            ..POST
        };
        apq.resolve(&mut with_hash(DOC, &sha256_hex(DOC)), get)
            .await
            .expect("runs");
        assert!(!found(DOC).await);
        // Too long, or not a document: never kept.
        let long = format!("{{ {} }}", "a ".repeat(20_000));
        apq.resolve(&mut with_hash(&long, &sha256_hex(&long)), POST)
            .await
            .expect("passed on");
        assert!(!found(&long).await);
        let broken = "{ a";
        apq.resolve(&mut with_hash(broken, &sha256_hex(broken)), POST)
            .await
            .expect("passed on");
        assert!(!found(broken).await);
        // One address registers at most so many a minute.
        for n in 0..REGISTRATIONS_PER_MINUTE {
            let doc = format!("{{ a{n} }}");
            apq.resolve(&mut with_hash(&doc, &sha256_hex(&doc)), POST)
                .await
                .expect("registered");
        }
        let one_more = "{ b }";
        let err = apq
            .resolve(&mut with_hash(one_more, &sha256_hex(one_more)), POST)
            .await
            .expect_err("over the budget");
        assert_eq!(code(&err), "\"RATE_LIMITED\"");
    }

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
