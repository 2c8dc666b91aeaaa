//! Resolving a request: the document its hash names put in place, one sent with its hash
//! registered, and what the mode (APQ, off, trusted documents only) does not allow refused.

use async_graphql::{Request, ServerError, Value};

use super::{
    Caller, Mode, PERSISTED_QUERY_NOT_FOUND, PERSISTED_QUERY_NOT_IN_LIST, PERSISTED_QUERY_NOT_SUPPORTED,
    PersistedDocuments, sha256_hex,
};

impl PersistedDocuments {
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

fn coded(message: &str, code: &'static str) -> ServerError {
    crate::graphql::errors::with_code(ServerError::new(message, None), code)
}

fn not_in_list() -> ServerError {
    coded(
        "this server runs only the operations it was deployed with; this one is not among them",
        PERSISTED_QUERY_NOT_IN_LIST,
    )
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::sync::Arc;

    use super::*;
    use crate::config::GraphqlSettings;
    use crate::graphql::persisted::REGISTRATIONS_PER_MINUTE;
    use crate::infra::kv::{MemoryStore, SharedStore};

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
}
