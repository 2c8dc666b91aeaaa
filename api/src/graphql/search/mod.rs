//! `search` and `suggest`: one box that finds performances, cast and venues. The index does
//! the matching (see [`crate::search`]); the hits' objects load through the request's
//! dataloaders like any other catalog object.

mod types;

use async_graphql::connection::Edge;
use async_graphql::{Context, Object};
use chrono::Utc;
use sea_orm::ActiveEnum;
use search_index::{Kind, SearchRequest, SearchResults};
use sha2::{Digest, Sha256};

use types::{
    FacetCount, SearchConnection, SearchConnectionFields, SearchEdgeFields, SearchFacets, SearchHighlight, SearchHit,
    field_name, kind_name,
};
pub use types::{SearchFilter, SearchKind};

use crate::config::GraphqlSettings;
use crate::error::ApiResult;
use crate::graphql::catalog::{CastMember, Performance, Venue};
use crate::graphql::loaders::{CastMemberKey, PerformanceKey, VenueKey, load_error};
use crate::graphql::relay::{offset_after, offset_cursor};
use crate::graphql::{GqlResult, app, loaders};

/// Cursors of search results name this list.
const LIST: &str = "search";

#[derive(Default)]
pub struct SearchQuery;

#[Object]
impl SearchQuery {
    /// Finds performances, cast members and venues by keyword, best first. Korean matches by
    /// fragment ("미제라") and by initial consonants ("ㄹㅁㅈㄹㅂ"); Latin ignores case and
    /// accents, matches the last word as a prefix and forgives one typo in longer words.
    /// Every word must match. A blank query is BAD_USER_INPUT; any other text is taken
    /// literally.
    async fn search(
        &self,
        ctx: &Context<'_>,
        query: String,
        kinds: Option<Vec<SearchKind>>,
        filter: Option<SearchFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<SearchConnection> {
        let app = app(ctx)?;
        let request = search_request(
            &app.settings.graphql,
            query,
            kinds,
            filter.unwrap_or_default(),
            first,
            after,
        )?;
        let results = app.search.search(request.clone()).await?;
        Ok(to_connection(ctx, &request, results).await?)
    }

    /// Up to 10 titles and names for a type-ahead box, matching what was typed so far. Blank
    /// input gives none.
    async fn suggest(&self, ctx: &Context<'_>, prefix: String) -> GqlResult<Vec<String>> {
        Ok(app(ctx)?.search.suggest(&prefix)?)
    }
}

/// Checks the arguments and turns them into an index request.
fn search_request(
    settings: &GraphqlSettings,
    query: String,
    kinds: Option<Vec<SearchKind>>,
    filter: SearchFilter,
    first: Option<i32>,
    after: Option<String>,
) -> ApiResult<SearchRequest> {
    let limit = crate::graphql::relay::page_size(settings, first)? as usize;
    let today = Utc::now()
        .with_timezone(&crate::domain::box_office_offset())
        .date_naive();
    let mut request = SearchRequest::new(query, today);
    request.kinds = kinds.map(|kinds| kinds.into_iter().map(Kind::from).collect());
    request.genre = filter.genre.map(|genre| entity::Genre::from(genre).to_value());
    request.region = filter.region;
    request.from = filter.from;
    request.to = filter.to;
    request.limit = limit;
    if let Some(after) = after {
        request.offset = offset_after(LIST, &fingerprint(&request), &after)?;
    }
    Ok(request)
}

/// Identifies what was asked, paging aside, so that a cursor only continues its own search.
fn fingerprint(request: &SearchRequest) -> String {
    let asked = (
        &request.query,
        &request.kinds,
        &request.genre,
        &request.region,
        request.from,
        request.to,
    );
    let digest = Sha256::digest(format!("{asked:?}").as_bytes());
    hex::encode(&digest[..8])
}

/// Loads each hit's object (one statement per kind) and builds the connection. A hit whose
/// row was deleted a moment ago, before the index heard of it, is left out.
async fn to_connection(
    ctx: &Context<'_>,
    request: &SearchRequest,
    results: SearchResults,
) -> ApiResult<SearchConnection> {
    let loaders = loaders(ctx)?;
    let ids = |kind: Kind| results.hits.iter().filter(move |h| h.kind == kind).map(|h| h.id);
    let mut performances = loaders
        .load_many(ids(Kind::Performance).map(PerformanceKey))
        .await
        .map_err(load_error)?;
    let mut members = loaders
        .load_many(ids(Kind::CastMember).map(CastMemberKey))
        .await
        .map_err(load_error)?;
    let mut venues = loaders
        .load_many(ids(Kind::Venue).map(VenueKey))
        .await
        .map_err(load_error)?;

    let reachable = results.total.min(search_index::MAX_OFFSET + request.limit);
    let has_next_page = request.offset + results.hits.len() < reachable && request.limit > 0;
    let fields = SearchConnectionFields {
        total_count: i32::try_from(results.total).unwrap_or(i32::MAX),
        facets: facets(&results),
    };
    let mut connection = SearchConnection::with_additional_fields(request.offset > 0, has_next_page, fields);
    let key = fingerprint(request);
    for (position, hit) in results.hits.into_iter().enumerate() {
        let node = match hit.kind {
            Kind::Performance => performances
                .remove(&PerformanceKey(hit.id))
                .map(|m| SearchHit::Performance(Performance::new(m))),
            Kind::CastMember => members
                .remove(&CastMemberKey(hit.id))
                .map(|m| SearchHit::CastMember(CastMember(m))),
            Kind::Venue => venues.remove(&VenueKey(hit.id)).map(|m| SearchHit::Venue(Venue(m))),
        };
        let Some(node) = node else { continue };
        let highlights = hit
            .highlights
            .into_iter()
            .map(|h| SearchHighlight {
                field: field_name(&h.field),
                snippet: h.snippet,
            })
            .collect();
        let cursor = offset_cursor(LIST, &key, request.offset + position);
        let extra = SearchEdgeFields {
            score: f64::from(hit.score),
            highlights,
        };
        connection.edges.push(Edge::with_additional_fields(cursor, node, extra));
    }
    Ok(connection)
}

fn facets(results: &SearchResults) -> SearchFacets {
    let count = |n: u64| i32::try_from(n).unwrap_or(i32::MAX);
    SearchFacets {
        genre: results
            .facets
            .genre
            .iter()
            .map(|(value, n)| FacetCount {
                value: value.clone(),
                count: count(*n),
            })
            .collect(),
        kind: results
            .facets
            .kind
            .iter()
            .map(|(kind, n)| FacetCount {
                value: kind_name(*kind).to_string(),
                count: count(*n),
            })
            .collect(),
    }
}
