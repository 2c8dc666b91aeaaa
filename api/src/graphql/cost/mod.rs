//! Cost before execution (architecture decision 13): every document is measured, and
//! refused when it is over a limit, before async-graphql validates it and before any
//! resolver runs, over HTTP and WebSocket alike (it is a schema extension).
//!
//! Why here: async-graphql's own depth and complexity limits are computed by walking the
//! document with every fragment expanded at every spread, so a small document of fragments
//! that each spread the previous one twice costs 2^n before any limit is compared. This
//! check measures each fragment once, so its own cost is linear in the document's size.
//!
//! In order, each against a setting of `[graphql]`:
//! 1. before parsing: the size in bytes, the number of tokens and the bracket nesting
//!    (which also keeps the recursive parser shallow);
//! 2. on the parsed document, fragments expanded once each (a cycle is a validation error):
//!    selection nesting as async-graphql counts it, field depth, fields and fragments
//!    selected, fragment spreads, root fields, aliases, and the estimated cost.
//!
//! The estimated cost approximates the values a response can hold and the rows read: each
//! field costs 1, and a list multiplies what is selected inside it by its size: a
//! connection's `edges`/`nodes` by its `first`/`last` (variables resolved; the default page
//! size when absent), seats by `seat_map_size_estimate`, any other list by
//! `list_size_estimate`. A field returning a seat map also costs its seats once, because
//! its resolver reads them all whatever is selected. The seat estimate is a static upper
//! bound (the most seats a venue may have) rather than the session's own venue: the check
//! must not touch the database and must answer alike on every instance.
//!
//! Every operation of the document is measured and the counts add up, since validation
//! visits them all; `@skip`/`@include` are ignored (the worst case counts).

mod lexical;
mod shape;
mod walk;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{ErrorExtensionValues, Pos, Request, ServerError, Variables};

pub use lexical::{Lexical, scan};
pub use shape::SchemaShape;

use crate::config::GraphqlSettings;
use crate::graphql::errors::{GRAPHQL_VALIDATION_FAILED, QUERY_TOO_COMPLEX, QUERY_TOO_DEEP};

/// Deepest selection-set nesting (through fragments), as async-graphql's recursion check
/// counts it; the schema is given the same limit, so that check never refuses first.
pub const NESTING_LIMIT: u64 = 32;
/// Deepest bracket nesting in the raw text, so the parser never recurses deeper.
pub const BRACKET_NESTING_LIMIT: u64 = 64;

/// The limits in force, from [`GraphqlSettings`].
#[derive(Debug, Clone)]
pub struct CostLimits {
    pub document_bytes: u64,
    pub tokens: u64,
    pub depth: u64,
    pub selections: u64,
    pub fragment_spreads: u64,
    pub root_fields: u64,
    pub aliases: u64,
    pub complexity: u64,
    pub default_page_size: u64,
    pub max_page_size: u64,
    pub list_size: u64,
    pub seat_map_size: u64,
}

impl CostLimits {
    pub fn from_settings(settings: &GraphqlSettings) -> Self {
        let n = |v: usize| v as u64;
        Self {
            document_bytes: n(settings.document_bytes_limit),
            tokens: n(settings.token_limit),
            depth: n(settings.depth_limit),
            selections: n(settings.selection_limit),
            fragment_spreads: n(settings.fragment_spread_limit),
            root_fields: n(settings.root_field_limit),
            aliases: n(settings.alias_limit),
            complexity: n(settings.complexity_limit),
            default_page_size: u64::from(settings.default_page_size),
            max_page_size: u64::from(settings.max_page_size),
            list_size: n(settings.list_size_estimate),
            seat_map_size: n(settings.seat_map_size_estimate),
        }
    }
}

/// What the parsed document measured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Measures {
    pub complexity: u64,
    pub depth: u64,
    pub nesting: u64,
    pub selections: u64,
    pub fragment_spreads: u64,
    pub root_fields: u64,
    pub aliases: u64,
}

/// Why a document was refused: the GraphQL error a client gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    /// Which bound was hit (`bytes`, `tokens`, `nesting`, `depth`, `selections`,
    /// `fragmentSpreads`, `rootFields`, `aliases`, `complexity`); `None` for a fragment cycle.
    pub measure: Option<&'static str>,
    pub value: u64,
    pub limit: u64,
    pub message: String,
    pub pos: Option<Pos>,
}

impl Refusal {
    fn over(measure: &'static str, value: u64, limit: u64) -> Self {
        let (code, what) = match measure {
            "bytes" => (QUERY_TOO_COMPLEX, "the document is too long"),
            "tokens" => (QUERY_TOO_COMPLEX, "the document has too many tokens"),
            "nesting" => (QUERY_TOO_DEEP, "the document is nested too deep"),
            "depth" => (QUERY_TOO_DEEP, "the query is nested too deep"),
            "selections" => (QUERY_TOO_COMPLEX, "the query selects too many fields"),
            "fragmentSpreads" => (QUERY_TOO_COMPLEX, "the query spreads too many fragments"),
            "rootFields" => (QUERY_TOO_COMPLEX, "the query has too many root fields"),
            "aliases" => (QUERY_TOO_COMPLEX, "the query has too many aliases"),
            _ => (QUERY_TOO_COMPLEX, "the query is too complex"),
        };
        Self {
            code,
            measure: Some(measure),
            value,
            limit,
            message: format!("{what}: {measure} {value} is over the limit of {limit}"),
            pos: None,
        }
    }

    fn nesting(level: u64) -> Self {
        Self::over("nesting", level, NESTING_LIMIT)
    }

    fn cycle(fragment: &str, pos: Pos) -> Self {
        Self {
            code: GRAPHQL_VALIDATION_FAILED,
            measure: None,
            value: 0,
            limit: 0,
            message: format!("Cannot spread fragment \"{fragment}\" within itself"),
            pos: Some(pos),
        }
    }

    /// The GraphQL error: `extensions` carry `code`, and `measure`, `cost` and `limit`.
    pub fn into_server_error(self) -> ServerError {
        let mut err = ServerError::new(self.message, self.pos);
        let mut extensions = ErrorExtensionValues::default();
        extensions.set("code", self.code);
        if let Some(measure) = self.measure {
            extensions.set("measure", measure);
            extensions.set("cost", self.value);
            extensions.set("limit", self.limit);
        }
        err.extensions = Some(extensions);
        err
    }
}

/// The cost check: the schema's shape and the limits.
#[derive(Debug, Clone)]
pub struct CostModel {
    shape: Arc<SchemaShape>,
    limits: CostLimits,
}

impl CostModel {
    pub fn new(shape: Arc<SchemaShape>, limits: CostLimits) -> Self {
        Self { shape, limits }
    }

    /// The checks on the raw text, before parsing.
    pub fn check_text(&self, query: &str) -> Result<Lexical, Refusal> {
        let bytes = query.len() as u64;
        if bytes > self.limits.document_bytes {
            return Err(Refusal::over("bytes", bytes, self.limits.document_bytes));
        }
        let lexical = scan(query);
        if lexical.tokens > self.limits.tokens {
            return Err(Refusal::over("tokens", lexical.tokens, self.limits.tokens));
        }
        if lexical.nesting > BRACKET_NESTING_LIMIT {
            return Err(Refusal::over("nesting", lexical.nesting, BRACKET_NESTING_LIMIT));
        }
        Ok(lexical)
    }

    /// Measures a parsed document and compares it with the limits.
    pub fn check_document(&self, doc: &ExecutableDocument, variables: &Variables) -> Result<Measures, Refusal> {
        let measures = walk::Walk::new(self, doc, variables).measure()?;
        let limits = &self.limits;
        for (measure, value, limit) in [
            ("nesting", measures.nesting, NESTING_LIMIT),
            ("depth", measures.depth, limits.depth),
            ("fragmentSpreads", measures.fragment_spreads, limits.fragment_spreads),
            ("aliases", measures.aliases, limits.aliases),
            ("rootFields", measures.root_fields, limits.root_fields),
            ("selections", measures.selections, limits.selections),
            ("complexity", measures.complexity, limits.complexity),
        ] {
            if value > limit {
                return Err(Refusal::over(measure, value, limit));
            }
        }
        Ok(measures)
    }

    /// Checks a request and leaves its parsed document in it, so it is parsed only once.
    /// A document that does not parse is left for async-graphql to refuse with its usual
    /// parse error (the size checks have already bounded what parsing it costs).
    pub fn admit(&self, request: &mut Request) -> Result<(), Refusal> {
        self.check_text(&request.query)?;
        // Taken out for a moment: the parsed document borrows the request.
        let variables = std::mem::take(&mut request.variables);
        let checked = match request.parsed_query() {
            Ok(doc) => self.check_document(doc, &variables).map(|_| ()),
            Err(_) => Ok(()),
        };
        request.variables = variables;
        checked
    }
}
