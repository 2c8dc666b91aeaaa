//! Limits and switches of the GraphQL endpoint: depth, cost, pages, persisted queries.

use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GraphqlSettings {
    /// Deepest field nesting a query may have, counted through fragments (introspection
    /// fields excluded). Over it: `QUERY_TOO_DEEP`.
    pub depth_limit: usize,
    /// Highest estimated cost a document may have: every field costs 1, a list multiplies
    /// what is selected inside it by its size (a connection by `first`, or the default page
    /// size; a seat list by `seat_map_size_estimate`; any other list by
    /// `list_size_estimate`), and a seat map costs its seats once more for being read.
    /// Over it: `QUERY_TOO_COMPLEX`. See `graphql::cost`.
    pub complexity_limit: usize,
    /// Largest `first` a connection accepts.
    pub max_page_size: u32,
    /// Page size when `first` is not given.
    pub default_page_size: u32,
    /// Serve GraphiQL at `/graphiql`.
    pub graphiql: bool,
    /// Accept automatic persisted queries: documents registered by their SHA-256 and then
    /// sent by hash alone (see `graphql::persisted`).
    pub persisted_queries: bool,
    /// Run only the operations of `persisted_manifest` (trusted documents), for production
    /// APIs whose only clients are your own apps.
    pub persisted_only: bool,
    /// A manifest of persisted operations: Apollo's `persisted-query-manifest.json` or a map
    /// of ids to documents. Required by `persisted_only`; otherwise its operations are
    /// registered at start.
    pub persisted_manifest: Option<PathBuf>,
    /// How long shared caches (a CDN) may keep an anonymous query's answer to GET, when it
    /// has no errors (`Cache-Control: public, max-age=…`); 0: never. Anything else is
    /// `private, no-store`.
    pub get_cache_seconds: u64,
    /// How long a WebSocket client has to send `connection_init` before it is closed (4408).
    pub ws_init_timeout_ms: u64,
    /// Longest document (query text) accepted, in bytes, checked before it is parsed.
    pub document_bytes_limit: usize,
    /// Most lexical tokens (names, punctuation, values) a document may have, checked before
    /// it is parsed.
    pub token_limit: usize,
    /// Most fields and fragments a document may select once its fragments are expanded.
    pub selection_limit: usize,
    /// Most fragment spreads (named or inline) a document may have once expanded.
    pub fragment_spread_limit: usize,
    /// Most fields at the root of the operations, counted through fragments.
    pub root_field_limit: usize,
    /// Most aliased fields, counted through fragments.
    pub alias_limit: usize,
    /// Items assumed in a plain list (not a connection, not seats) when estimating cost.
    pub list_size_estimate: usize,
    /// Seats assumed in one seat map when estimating cost: by default the most a venue may
    /// have, so the estimate holds for any session without asking the database.
    pub seat_map_size_estimate: usize,
}

impl Default for GraphqlSettings {
    fn default() -> Self {
        Self {
            depth_limit: 12,
            complexity_limit: 250_000,
            max_page_size: 100,
            default_page_size: 20,
            graphiql: true,
            persisted_queries: true,
            persisted_only: false,
            persisted_manifest: None,
            get_cache_seconds: 5,
            ws_init_timeout_ms: 3_000,
            document_bytes_limit: 16 * 1024,
            token_limit: 4_000,
            selection_limit: 2_000,
            fragment_spread_limit: 500,
            root_field_limit: 32,
            alias_limit: 64,
            list_size_estimate: 20,
            // The largest seat map a venue may have (`domain::venues::MAX_SEATS_PER_VENUE`,
            // which a test there keeps equal); settings sit below the domain.
            seat_map_size_estimate: 20_000,
        }
    }
}
