//! GraphQL types of search: what is asked (kinds, filter) and what comes back (hits with
//! their score and highlights, counts by genre and kind).

use async_graphql::connection::Connection;
use async_graphql::{Enum, InputObject, SimpleObject, Union};
use chrono::NaiveDate;
use search_index::Kind;

use crate::graphql::catalog::types::Genre;
use crate::graphql::catalog::{CastMember, Performance, Venue};
use crate::graphql::relay::Cursor;

/// What a search hit can be.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchKind {
    Performance,
    CastMember,
    Venue,
}

impl From<SearchKind> for Kind {
    fn from(kind: SearchKind) -> Self {
        match kind {
            SearchKind::Performance => Kind::Performance,
            SearchKind::CastMember => Kind::CastMember,
            SearchKind::Venue => Kind::Venue,
        }
    }
}

/// The name a kind has in the API, as facet values show it.
pub fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Performance => "PERFORMANCE",
        Kind::CastMember => "CAST_MEMBER",
        Kind::Venue => "VENUE",
    }
}

/// Narrows a search. `genre`, `from` and `to` only apply to performances, so giving any of
/// them leaves only performances; `region` keeps performances and venues there.
#[derive(InputObject, Debug, Default, Clone)]
pub struct SearchFilter {
    pub genre: Option<Genre>,
    /// A region as venues name it, e.g. "서울".
    pub region: Option<String>,
    /// Performances whose run overlaps `[from, to]` (either may be left open).
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

/// A performance, cast member or venue that matched.
#[derive(Union)]
pub enum SearchHit {
    Performance(Performance),
    CastMember(CastMember),
    Venue(Venue),
}

/// Where the words matched, with the matched parts wrapped in `<em>…</em>` and the rest
/// HTML-escaped, so that it can be shown as HTML as it is.
#[derive(SimpleObject, Debug, Clone)]
pub struct SearchHighlight {
    /// `title`, `englishTitle`, `name`, `englishName`, `castNames` or `venueName`.
    pub field: String,
    pub snippet: String,
}

/// A hit's relevance and highlights, beside its `node` and `cursor`.
#[derive(SimpleObject)]
pub struct SearchEdgeFields {
    /// Relevance: higher is better. Only comparable within one search.
    pub score: f64,
    pub highlights: Vec<SearchHighlight>,
}

/// How many matches there are of one genre or kind.
#[derive(SimpleObject, Debug, Clone)]
pub struct FacetCount {
    pub value: String,
    pub count: i32,
}

/// Counts over every match (not just this page), most frequent first.
#[derive(SimpleObject, Debug, Clone, Default)]
pub struct SearchFacets {
    /// Genres of the matching performances, e.g. `MUSICAL`.
    pub genre: Vec<FacetCount>,
    /// `PERFORMANCE`, `CAST_MEMBER`, `VENUE`.
    pub kind: Vec<FacetCount>,
}

/// The totals of a search, beside its edges and `pageInfo`.
#[derive(SimpleObject)]
pub struct SearchConnectionFields {
    /// Matches of the query and filter in all (not just this page).
    pub total_count: i32,
    pub facets: SearchFacets,
}

pub type SearchConnection = Connection<Cursor, SearchHit, SearchConnectionFields, SearchEdgeFields>;

/// Highlight field names as the API spells them.
pub fn field_name(field: &str) -> String {
    match field {
        "english_title" => "englishTitle".into(),
        "english_name" => "englishName".into(),
        "cast_names" => "castNames".into(),
        "venue_name" => "venueName".into(),
        other => other.to_string(),
    }
}
