//! Plain data going in (documents, requests) and coming out (hits, facets, suggestions).
//!
//! These types deliberately know nothing about databases or GraphQL: the api crate maps its
//! entities into them, which keeps this crate testable on its own.

use chrono::NaiveDate;

/// Largest page size [`crate::SearchIndex::search`] and [`crate::SearchIndex::suggest`] will
/// return; bigger requests are clamped so that one request cannot allocate without bound.
pub const MAX_LIMIT: usize = 100;

/// Deepest offset [`crate::SearchIndex::search`] pages to. Beyond it the page is empty (the
/// total and facets are still correct): collecting the top `offset + limit` documents costs
/// memory proportional to the offset, and nobody pages that deep in a ticketing site.
pub const MAX_OFFSET: usize = 10_000;

/// What a document (and so a hit) is. Search can be restricted to some kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// A show with a run (start and end date) at a venue.
    Performance,
    /// A person appearing in performances.
    CastMember,
    /// A theatre or hall.
    Venue,
}

impl Kind {
    /// Every kind, in a stable order.
    pub const ALL: [Kind; 3] = [Kind::Performance, Kind::CastMember, Kind::Venue];

    /// Stable name, used in facet paths and handy for logs and cache keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Performance => "performance",
            Kind::CastMember => "cast_member",
            Kind::Venue => "venue",
        }
    }

    pub(crate) fn code(self) -> u64 {
        match self {
            Kind::Performance => 1,
            Kind::CastMember => 2,
            Kind::Venue => 3,
        }
    }

    pub(crate) fn from_code(code: u64) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.code() == code)
    }

    /// The kind [`Kind::as_str`] names.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.as_str() == name)
    }
}

/// A performance as the index needs it. Cast and venue names are denormalised into it so
/// that a performance is found by the people in it and the place it plays at.
#[derive(Debug, Clone, PartialEq)]
pub struct PerformanceDoc {
    pub id: i64,
    pub title: String,
    pub english_title: Option<String>,
    /// Used as a filter and a facet; compared after trimming and lowercasing.
    pub genre: String,
    /// Used as a filter; compared after trimming and lowercasing.
    pub region: String,
    pub venue_name: String,
    pub cast_names: Vec<String>,
    pub start_date: NaiveDate,
    /// Last day of the run; performances that ended before the request's `today` rank lower.
    pub end_date: NaiveDate,
}

/// A cast member (actor, singer, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct CastDoc {
    pub id: i64,
    pub name: String,
    pub english_name: Option<String>,
}

/// A venue. Its address is searchable but not highlighted.
#[derive(Debug, Clone, PartialEq)]
pub struct VenueDoc {
    pub id: i64,
    pub name: String,
    /// Used as a filter, like a performance's region.
    pub region: String,
    pub address: String,
}

/// Any indexable document. `(kind, id)` identifies it: ids only need to be unique per kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Doc {
    Performance(PerformanceDoc),
    Cast(CastDoc),
    Venue(VenueDoc),
}

impl Doc {
    /// The kind of this document.
    pub fn kind(&self) -> Kind {
        match self {
            Doc::Performance(_) => Kind::Performance,
            Doc::Cast(_) => Kind::CastMember,
            Doc::Venue(_) => Kind::Venue,
        }
    }

    /// The id of this document within its kind.
    pub fn id(&self) -> i64 {
        match self {
            Doc::Performance(doc) => doc.id,
            Doc::Cast(doc) => doc.id,
            Doc::Venue(doc) => doc.id,
        }
    }
}

/// A keyword search with filters and paging.
///
/// `genre`, `from` and `to` only make sense for performances, so giving any of them restricts
/// the results to performances; `region` keeps performances and venues. Blank strings and an
/// empty `kinds` list mean "no filter", since that is what form inputs send when left empty.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchRequest {
    /// User text, taken literally (no query syntax). Empty or blank is an error.
    pub query: String,
    pub kinds: Option<Vec<Kind>>,
    pub genre: Option<String>,
    pub region: Option<String>,
    /// Keep performances whose run overlaps `[from, to]` (either bound may be open).
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// The caller's notion of today: performances that ended before it rank lower. Passed in
    /// rather than read from the clock so that results are reproducible and cacheable.
    pub today: NaiveDate,
    pub offset: usize,
    /// Page size, clamped to [`MAX_LIMIT`]. Zero returns only the total and facets.
    pub limit: usize,
}

impl SearchRequest {
    /// A request for `query` with no filters and the first 20 hits.
    pub fn new(query: impl Into<String>, today: NaiveDate) -> Self {
        SearchRequest {
            query: query.into(),
            kinds: None,
            genre: None,
            region: None,
            from: None,
            to: None,
            today,
            offset: 0,
            limit: 20,
        }
    }
}

/// One page of results plus counts over all matches.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SearchResults {
    /// Number of documents matching the query and filters (not just this page).
    pub total: usize,
    pub hits: Vec<Hit>,
    pub facets: Facets,
}

/// A matching document, to be loaded by the caller from `(kind, id)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub kind: Kind,
    pub id: i64,
    pub score: f32,
    /// Matched fields, in a fixed order (title/name first). May be empty, e.g. when only the
    /// address matched.
    pub highlights: Vec<Highlight>,
}

/// The text of one field with the matched parts wrapped in `<em>…</em>`.
///
/// The rest of the text is HTML-escaped, so the snippet can be rendered as HTML as is.
#[derive(Debug, Clone, PartialEq)]
pub struct Highlight {
    /// `title`, `english_title`, `name`, `english_name`, `cast_names` or `venue_name`.
    pub field: String,
    /// For `cast_names`, the matching names joined with `", "`.
    pub snippet: String,
}

/// Counts over every match of the query and filters, sorted by count (descending) then name.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Facets {
    /// Genres as given at indexing time (performances only).
    pub genre: Vec<(String, u64)>,
    pub kind: Vec<(Kind, u64)>,
}

/// A type-ahead entry: the title or name of a document matching the typed prefix.
#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    pub kind: Kind,
    pub id: i64,
    /// The performance title, cast member name or venue name.
    pub text: String,
}
