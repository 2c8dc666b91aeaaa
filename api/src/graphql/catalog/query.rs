//! Public catalog queries.

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputObject, Object};
use chrono::NaiveDate;
use entity::{cast_member, performance, venue};

use super::types::{CastMember, Genre, Performance, Prefetched, SeatMap, Session, Venue};
use crate::catalog_cache::{self, CachedPerformance, ListedPage};
use crate::domain::paging::PageRequest;
use crate::domain::performances::PerformanceFilter;
use crate::domain::{cast, performances, sessions, venues};
use crate::error::ApiResult;
use crate::graphql::GqlResult;
use crate::graphql::relay::{Cursor, Keyset, connection, page_request};
use crate::graphql::{app, reader};
use crate::ids::{NodeKind, expect};
use crate::state::AppState;

/// Narrows `performances`. `from`/`to` select runs overlapping those days.
#[derive(InputObject, Debug, Default)]
pub struct PerformanceFilterInput {
    pub genre: Option<Genre>,
    pub venue_id: Option<ID>,
    pub cast_member_id: Option<ID>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

struct PerformancesByStart;
impl Keyset for PerformancesByStart {
    const LIST: &'static str = "performances";
    type Key = NaiveDate;
    type Row = performance::Model;
    fn position(row: &Self::Row) -> (String, i64) {
        (row.start_date.to_string(), row.id)
    }
    fn parse_key(key: &str) -> Option<NaiveDate> {
        key.parse().ok()
    }
}

struct VenuesByName;
impl Keyset for VenuesByName {
    const LIST: &'static str = "venues";
    type Key = String;
    type Row = venue::Model;
    fn position(row: &Self::Row) -> (String, i64) {
        (row.name.clone(), row.id)
    }
    fn parse_key(key: &str) -> Option<String> {
        Some(key.to_string())
    }
}

struct CastByName;
impl Keyset for CastByName {
    const LIST: &'static str = "castMembers";
    type Key = String;
    type Row = cast_member::Model;
    fn position(row: &Self::Row) -> (String, i64) {
        (row.name.clone(), row.id)
    }
    fn parse_key(key: &str) -> Option<String> {
        Some(key.to_string())
    }
}

#[derive(Default)]
pub struct CatalogQuery;

#[Object]
impl CatalogQuery {
    /// Performances ordered by the first day of their run.
    async fn performances(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<PerformanceFilterInput>,
    ) -> GqlResult<Connection<Cursor, Performance>> {
        let app = app(ctx)?;
        let page = page_request::<PerformancesByStart>(&app.settings.graphql, first, after)?;
        let filter = filter.unwrap_or_default();
        let filter = PerformanceFilter {
            genre: filter.genre.map(Into::into),
            venue_id: filter
                .venue_id
                .as_ref()
                .map(|id| expect(NodeKind::Venue, id, "filter.venueId"))
                .transpose()?,
            cast_member_id: filter
                .cast_member_id
                .as_ref()
                .map(|id| expect(NodeKind::CastMember, id, "filter.castMemberId"))
                .transpose()?,
            from: filter.from,
            to: filter.to,
        };
        if page.after.is_some() {
            let rows = performances::list_performances(&reader(ctx).await?, &filter, page).await?;
            return Ok(connection::<PerformancesByStart, _>(rows, Performance::new));
        }
        Ok(first_page(app, page, &filter).await?)
    }

    /// The performance with this ID; NOT_FOUND when there is none.
    async fn performance(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Option<Performance>> {
        let id = expect(NodeKind::Performance, &id, "id")?;
        let app = app(ctx)?;
        let load = async {
            performances::find_performance(&app.db, id)
                .await
                .map(CachedPerformance::from)
        };
        let key = format!("performance:{id}");
        let found =
            catalog_cache::read_through(app.cache.as_ref(), &app.catalog_loads, &app.metrics, &key, load).await?;
        Ok(Some(Performance::new(found.into())))
    }

    /// Venues ordered by name.
    async fn venues(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Connection<Cursor, Venue>> {
        let app = app(ctx)?;
        let page = page_request::<VenuesByName>(&app.settings.graphql, first, after)?;
        let rows = venues::list_venues(&reader(ctx).await?, page).await?;
        Ok(connection::<VenuesByName, _>(rows, Venue))
    }

    async fn venue(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Option<Venue>> {
        let id = expect(NodeKind::Venue, &id, "id")?;
        Ok(Some(Venue(venues::find_venue(&reader(ctx).await?, id).await?)))
    }

    /// Cast members ordered by name.
    async fn cast_members(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Connection<Cursor, CastMember>> {
        let app = app(ctx)?;
        let page = page_request::<CastByName>(&app.settings.graphql, first, after)?;
        let rows = cast::list_cast_members(&reader(ctx).await?, page).await?;
        Ok(connection::<CastByName, _>(rows, CastMember))
    }

    async fn cast_member(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Option<CastMember>> {
        let id = expect(NodeKind::CastMember, &id, "id")?;
        Ok(Some(CastMember(cast::find_cast_member(&reader(ctx).await?, id).await?)))
    }

    async fn session(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Option<Session>> {
        let id = expect(NodeKind::Session, &id, "id")?;
        Ok(Some(Session(sessions::find_session(&reader(ctx).await?, id).await?)))
    }

    /// Every seat of a session with its status, and the seat-map version it reflects.
    async fn seat_map(&self, ctx: &Context<'_>, session_id: ID) -> GqlResult<Option<SeatMap>> {
        let id = expect(NodeKind::Session, &session_id, "sessionId")?;
        Ok(Some(super::types::seat_map_of(ctx, id).await?))
    }
}

/// `performances(first:)` without `after` or `filter`: what a direct answer reads (see
/// [`crate::graphql::direct`]), through the same checks and cache as the resolver.
pub(crate) async fn unfiltered_first_page(
    app: &AppState,
    first: Option<i32>,
) -> ApiResult<Connection<Cursor, Performance>> {
    let page = page_request::<PerformancesByStart>(&app.settings.graphql, first, None)?;
    first_page(app, page, &PerformanceFilter::default()).await
}

/// A first page of performances. First pages are what every visitor opens: served from the
/// catalog cache with their rows' venues and price tiers, filled from the primary so that an
/// entry is never older than the event that cleared it.
async fn first_page(
    app: &AppState,
    page: PageRequest<NaiveDate>,
    filter: &PerformanceFilter,
) -> ApiResult<Connection<Cursor, Performance>> {
    let key = format!("performances:{}:{filter:?}", page.first);
    let load = catalog_cache::load_first_page(&app.db, filter, page);
    let listed: ListedPage =
        catalog_cache::read_through(app.cache.as_ref(), &app.catalog_loads, &app.metrics, &key, load)
            .await?
            .into();
    let ListedPage {
        page,
        venues,
        mut price_tiers,
    } = listed;
    Ok(connection::<PerformancesByStart, _>(page, |row| {
        let prefetched = Prefetched {
            venue: venues.get(&row.venue_id).cloned(),
            // Listed for the page's every row: a performance without sessions has none.
            price_tiers: Some(price_tiers.remove(&row.id).unwrap_or_default()),
        };
        Performance::prefetched(row, prefetched)
    }))
}
