//! Direct answers: the catalog's hot read written straight to JSON.
//!
//! async-graphql resolves every field of an answer through a boxed future and builds the
//! answer as a tree of values, which [`super::order`] then puts in selection order and serde
//! writes out. For the read every visitor and app makes most (a page of performances with
//! their venue, cast and sessions: P2's answer has about 500 fields) that was most of the
//! server's time. So a query whose every field is a column or a catalog relation below
//! `performances(first:)` is compiled once into a [`plan::Plan`], and its answers are written
//! straight to JSON from the reads the dataloaders would make (one statement per relation
//! for the whole page, in the request's snapshot).
//!
//! The executor stays the reference and the way in for everything else:
//! - a document runs directly only after the executor answered it once without an error, so
//!   validation (and every message it gives) stays the executor's;
//! - a direct run that meets anything unusual (a variable that does not fit, a page size
//!   refused, a failed read) hands the request to the executor, whose answer carries the
//!   error with its path and code;
//! - tests compare both answers byte for byte (`tests/tests/api/direct_answers.rs`).
//!
//! Plans are kept per instance ([`Plans`], in the HTTP layer's state). A direct answer has
//! no resolver spans (there are no resolvers); its operation span is the executor's.

mod plan;
mod rows;
mod write;

use std::sync::Arc;

use async_graphql::parser::types::ExecutableDocument;

pub use self::plan::Plan;
pub use self::write::{Fallback, answer};

/// Documents seen, with their plan (`None`: the executor answers them), keyed by operation
/// name and text. Bounded by the keys' bytes, as clients choose the documents.
pub struct Plans {
    seen: moka::future::Cache<String, Option<Arc<Plan>>>,
}

/// What the keys of [`Plans`] may take in all (a plan is smaller than its document).
const PLAN_KEY_BYTES: u64 = 4 * 1024 * 1024;

impl Default for Plans {
    fn default() -> Self {
        Self {
            seen: moka::future::Cache::builder()
                .weigher(|key: &String, _: &Option<Arc<Plan>>| u32::try_from(key.len()).unwrap_or(u32::MAX))
                .max_capacity(PLAN_KEY_BYTES)
                .build(),
        }
    }
}

/// What is known of a document.
pub enum Known {
    /// The executor answered it without error, and it has a plan.
    Direct(Arc<Plan>),
    /// The executor answers it.
    Executor,
    /// Not seen yet (or only with errors): `plan` is what it compiles to, to be kept once
    /// the executor has answered it without error.
    Unseen { key: String, plan: Option<Arc<Plan>> },
}

impl Plans {
    /// Looks up the operation `operation_name` of `query` (parsed: `document`).
    pub async fn known(&self, query: &str, operation_name: Option<&str>, document: &ExecutableDocument) -> Known {
        let key = format!("{}\n{query}", operation_name.unwrap_or_default());
        match self.seen.get(&key).await {
            Some(Some(plan)) => Known::Direct(plan),
            Some(None) => Known::Executor,
            None => Known::Unseen {
                plan: plan::compile(document, operation_name).map(Arc::new),
                key,
            },
        }
    }

    /// After the executor answered a document without error: from now on it is known.
    pub async fn answered_cleanly(&self, known: Known) {
        if let Known::Unseen { key, plan } = known {
            self.seen.insert(key, plan).await;
        }
    }
}
