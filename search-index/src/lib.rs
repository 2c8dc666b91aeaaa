//! Curtain's embedded keyword search over performances, cast and venues (tantivy).
//!
//! The crate takes plain documents ([`Doc`]) so that it knows nothing of the api crate or the
//! database; the caller indexes them with [`SearchIndex::upsert`] + [`SearchIndex::commit`]
//! and maps hits back to entities by `(kind, id)`.
//!
//! # Matching
//!
//! Tuned for what a Korean ticket buyer types into a search box:
//!
//! - **Korean fragments**: "미제라" finds "레미제라블", "승우" finds "조승우". Korean text is
//!   indexed as 1–3 character n-grams; a query word must match *all* of its grams (the word
//!   itself up to three characters, every trigram beyond), so it behaves like a substring
//!   search and one shared syllable is not enough to match.
//! - **Initial consonants (초성)**: "ㄹㅁㅈㄹㅂ" finds "레미제라블". Titles and names are also
//!   indexed as their initial consonants; a query made only of consonants searches those.
//! - **Latin**: case- and accent-insensitive ("miserables" finds "Les Misérables"), the last
//!   word matches as a prefix ("phan"), and words of five or more letters tolerate one typo
//!   ("phantm").
//! - **Every word must match** somewhere (title, English title, cast, venue, address), so
//!   "조승우 지킬" finds the 지킬 앤 하이드 starring 조승우.
//!
//! # Ranking
//!
//! BM25, with a match in a title or name weighing three times a match in a performance's
//! cast or venue, so the cast member or venue itself comes before the performances that
//! merely mention it. Performances whose run ended before the request's `today` have their
//! score multiplied by 0.3, so current shows come first.
//!
//! # Robustness
//!
//! User text is never given to tantivy's query parser: queries are built from our own
//! tokenization, so query syntax, emoji or control characters are just separators, and
//! queries are capped (32 words, 24 characters per Korean word) to stay cheap. Only an empty
//! or blank query is an error ([`SearchError::EmptyQuery`]).

mod error;
mod highlight;
mod index;
mod query;
mod schema;
mod tokenize;
mod types;

pub use error::{Result, SearchError};
pub use index::SearchIndex;
pub use types::{
    CastDoc, Doc, Facets, Highlight, Hit, Kind, MAX_LIMIT, MAX_OFFSET, PerformanceDoc, SearchRequest, SearchResults,
    Suggestion, VenueDoc,
};

#[cfg(test)]
mod tests;
