//! The crate's error type.

/// Everything that can go wrong when indexing or searching.
///
/// Callers are expected to map [`SearchError::EmptyQuery`] to a user-input error (e.g. GraphQL
/// `BAD_USER_INPUT`) and everything else to an internal error: the other variants mean that
/// the index itself is unusable, never that the user typed something odd.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The query was empty or contained only whitespace. Searching for nothing is almost
    /// always a client bug, so it is reported instead of silently returning every document.
    #[error("the search query is empty")]
    EmptyQuery,
    /// The underlying tantivy index failed (I/O, lock held by another process, corrupt or
    /// incompatible on-disk index, ...).
    #[error("search index error: {0}")]
    Index(#[from] tantivy::TantivyError),
    /// The index directory could not be created.
    #[error("cannot prepare the search index directory: {0}")]
    Io(#[from] std::io::Error),
}

/// Shorthand for results of this crate.
pub type Result<T, E = SearchError> = std::result::Result<T, E>;
