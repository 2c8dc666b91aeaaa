//! Dataloaders: every relation and aggregate a nested query can reach is fetched in one
//! statement per level for all parents at once, so a page of 20 performances costs the same
//! number of statements as a page of 1.
//!
//! One loader struct serves several key types; each newtype key is one batched query.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use chrono::{DateTime, Utc};
use entity::{cast_member, performance, performance_cast, section, session, session_price, venue, waiting_room};
use sea_orm::{ColumnTrait, DatabaseExecutor, DbErr, EntityTrait, QueryFilter, QueryOrder};

use super::batch::{Abandoned, BatchTasks, Batcher};
use super::reads::Source;
use crate::domain::{cast, performances, seat_map, venues};
use crate::error::{ApiError, ApiResult};

/// Loader errors are shared between every waiting field, hence the `Arc`.
pub type LoadError = Arc<DbErr>;

pub fn load_error(err: LoadError) -> ApiError {
    let cause = anyhow::anyhow!("dataloader query failed: {err}");
    if crate::error::is_unreachable(&err) {
        ApiError::unavailable(cause)
    } else {
        ApiError::internal(cause)
    }
}

/// The value `key` loads through this request's loaders, or `None`.
pub async fn load<K>(ctx: &async_graphql::Context<'_>, key: K) -> ApiResult<Option<<CatalogLoader as Loader<K>>::Value>>
where
    K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
    CatalogLoader: Loader<K, Error = LoadError>,
{
    super::loaders(ctx)?.load_one(key).await.map_err(load_error)
}

/// The value `key` must load: a row the database's foreign keys promise (a performance's
/// venue, a ticket's seat). Its absence is an internal error saying `missing`.
pub async fn load_required<K>(
    ctx: &async_graphql::Context<'_>,
    key: K,
    missing: impl FnOnce() -> String,
) -> ApiResult<<CatalogLoader as Loader<K>>::Value>
where
    K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
    CatalogLoader: Loader<K, Error = LoadError>,
{
    load(ctx, key)
        .await?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!(missing())))
}

/// The list `key` loads; empty when it loads nothing.
pub async fn load_list<K, T>(ctx: &async_graphql::Context<'_>, key: K) -> ApiResult<Vec<T>>
where
    K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
    CatalogLoader: Loader<K, Value = Vec<T>, Error = LoadError>,
{
    Ok(load(ctx, key).await?.unwrap_or_default())
}

/// Per-request loaders (no cache survives a request, so nothing served is stale).
pub type Loaders = Batcher<CatalogLoader>;

impl Abandoned for LoadError {
    fn abandoned() -> Self {
        Arc::new(DbErr::Custom("the request ended before its batch was read".into()))
    }
}

/// Creates the loaders of one request, and the batch tasks [`super::batch::drive`] must run
/// beside its execution.
///
/// The catalog's loaders read `reads` (a replica, when the request was routed to one); the
/// loaders of other domains read `primary`. Either may be one snapshot for the whole query
/// (see [`super::reads`]).
pub fn per_request(primary: Source, reads: Source) -> (Loaders, BatchTasks) {
    Batcher::new(CatalogLoader { primary, reads })
}

pub struct CatalogLoader {
    /// For the loaders of other domains (payments, tickets, coupons, waitlists).
    primary: Source,
    /// For the catalog's loaders, which tolerate a replica's lag.
    reads: Source,
}

impl CatalogLoader {
    /// For loaders of other domains, implemented next to their GraphQL types: the primary.
    pub(crate) async fn db(&self) -> Result<DatabaseExecutor<'_>, DbErr> {
        self.primary.conn().await
    }

    async fn reads(&self) -> Result<DatabaseExecutor<'_>, DbErr> {
        self.reads.conn().await
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VenueKey(pub i64);
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PerformanceKey(pub i64);
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CastMemberKey(pub i64);
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionKey(pub i64);
/// Cast entries of a performance, in billing order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CastOfPerformance(pub i64);
/// Roles of a cast member across performances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RolesOfMember(pub i64);
/// Sections of a venue, front to back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SectionsOfVenue(pub i64);
/// Prices of a session by grade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PricesOfSession(pub i64);
/// Lowest price per grade over a performance's sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PriceTiersOfPerformance(pub i64);
/// The whole seat map of a session, read from the inventory on the primary (through the
/// query's snapshot when it has one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SeatMapOfSession(pub i64);
/// The waiting room of a session, when the box office configured one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RoomOfSession(pub i64);
/// Sessions of a performance starting in an optional window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionsOfPerformance {
    pub performance_id: i64,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

fn group<K: std::hash::Hash + Eq, V>(rows: impl IntoIterator<Item = V>, key: impl Fn(&V) -> K) -> HashMap<K, Vec<V>> {
    let mut map: HashMap<K, Vec<V>> = HashMap::new();
    for row in rows {
        map.entry(key(&row)).or_default().push(row);
    }
    map
}

fn ids<K: Copy>(keys: &[K], id: impl Fn(K) -> i64) -> Vec<i64> {
    keys.iter().map(|k| id(*k)).collect()
}

impl Loader<VenueKey> for CatalogLoader {
    type Value = venue::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[VenueKey]) -> Result<HashMap<VenueKey, Self::Value>, Self::Error> {
        let rows = venues::find_venues(&self.reads().await?, ids(keys, |k| k.0)).await?;
        Ok(rows.into_iter().map(|v| (VenueKey(v.id), v)).collect())
    }
}

impl Loader<PerformanceKey> for CatalogLoader {
    type Value = performance::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[PerformanceKey]) -> Result<HashMap<PerformanceKey, Self::Value>, Self::Error> {
        let rows = performance::Entity::find()
            .filter(performance::Column::Id.is_in(ids(keys, |k| k.0)))
            .all(&self.reads().await?)
            .await?;
        Ok(rows.into_iter().map(|p| (PerformanceKey(p.id), p)).collect())
    }
}

impl Loader<CastMemberKey> for CatalogLoader {
    type Value = cast_member::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[CastMemberKey]) -> Result<HashMap<CastMemberKey, Self::Value>, Self::Error> {
        let rows = cast::find_cast_members(&self.reads().await?, ids(keys, |k| k.0)).await?;
        Ok(rows.into_iter().map(|c| (CastMemberKey(c.id), c)).collect())
    }
}

impl Loader<SessionKey> for CatalogLoader {
    type Value = session::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[SessionKey]) -> Result<HashMap<SessionKey, Self::Value>, Self::Error> {
        let rows = session::Entity::find()
            .filter(session::Column::Id.is_in(ids(keys, |k| k.0)))
            .all(&self.reads().await?)
            .await?;
        Ok(rows.into_iter().map(|s| (SessionKey(s.id), s)).collect())
    }
}

impl Loader<CastOfPerformance> for CatalogLoader {
    type Value = Vec<performance_cast::Model>;
    type Error = LoadError;

    async fn load(&self, keys: &[CastOfPerformance]) -> Result<HashMap<CastOfPerformance, Self::Value>, Self::Error> {
        let rows = cast::roles_in_performances(&self.reads().await?, ids(keys, |k| k.0)).await?;
        Ok(group(rows, |r| CastOfPerformance(r.performance_id)))
    }
}

impl Loader<RolesOfMember> for CatalogLoader {
    type Value = Vec<performance_cast::Model>;
    type Error = LoadError;

    async fn load(&self, keys: &[RolesOfMember]) -> Result<HashMap<RolesOfMember, Self::Value>, Self::Error> {
        let rows = performance_cast::Entity::find()
            .filter(performance_cast::Column::CastMemberId.is_in(ids(keys, |k| k.0)))
            .order_by_asc(performance_cast::Column::PerformanceId)
            .order_by_asc(performance_cast::Column::BillingOrder)
            .all(&self.reads().await?)
            .await?;
        Ok(group(rows, |r| RolesOfMember(r.cast_member_id)))
    }
}

impl Loader<SectionsOfVenue> for CatalogLoader {
    type Value = Vec<section::Model>;
    type Error = LoadError;

    async fn load(&self, keys: &[SectionsOfVenue]) -> Result<HashMap<SectionsOfVenue, Self::Value>, Self::Error> {
        let rows = section::Entity::find()
            .filter(section::Column::VenueId.is_in(ids(keys, |k| k.0)))
            .order_by_asc(section::Column::Position)
            .all(&self.reads().await?)
            .await?;
        Ok(group(rows, |r| SectionsOfVenue(r.venue_id)))
    }
}

impl Loader<PricesOfSession> for CatalogLoader {
    type Value = Vec<session_price::Model>;
    type Error = LoadError;

    async fn load(&self, keys: &[PricesOfSession]) -> Result<HashMap<PricesOfSession, Self::Value>, Self::Error> {
        let rows = session_price::Entity::find()
            .filter(session_price::Column::SessionId.is_in(ids(keys, |k| k.0)))
            .order_by_desc(session_price::Column::Price)
            .all(&self.reads().await?)
            .await?;
        Ok(group(rows, |r| PricesOfSession(r.session_id)))
    }
}

impl Loader<PriceTiersOfPerformance> for CatalogLoader {
    /// (grade, lowest price), most expensive grade first.
    type Value = Vec<(String, i32)>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[PriceTiersOfPerformance],
    ) -> Result<HashMap<PriceTiersOfPerformance, Self::Value>, Self::Error> {
        let tiers = performances::price_tiers(&self.reads().await?, ids(keys, |k| k.0)).await?;
        Ok(tiers
            .into_iter()
            .map(|(id, tiers)| (PriceTiersOfPerformance(id), tiers))
            .collect())
    }
}

impl Loader<SessionsOfPerformance> for CatalogLoader {
    type Value = Vec<session::Model>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[SessionsOfPerformance],
    ) -> Result<HashMap<SessionsOfPerformance, Self::Value>, Self::Error> {
        // Sibling fields nearly always share one window, so this is one query per window.
        let windows = group(keys.iter().copied(), |k| (k.from, k.to));
        let mut out = HashMap::new();
        for ((from, to), keys) in windows {
            let performance_ids = ids(&keys, |k| k.performance_id);
            let sessions =
                crate::domain::sessions::sessions_of(&self.reads().await?, &performance_ids, from, to).await?;
            let mut by_performance = group(sessions, |s| s.performance_id);
            for key in keys {
                out.insert(key, by_performance.remove(&key.performance_id).unwrap_or_default());
            }
        }
        Ok(out)
    }
}

impl Loader<SeatMapOfSession> for CatalogLoader {
    type Value = seat_map::SeatMap;
    type Error = LoadError;

    async fn load(&self, keys: &[SeatMapOfSession]) -> Result<HashMap<SeatMapOfSession, Self::Value>, Self::Error> {
        let maps = seat_map::load_seat_maps(&self.db().await?, &ids(keys, |k| k.0)).await?;
        Ok(maps.into_iter().map(|(id, map)| (SeatMapOfSession(id), map)).collect())
    }
}

impl Loader<RoomOfSession> for CatalogLoader {
    type Value = waiting_room::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[RoomOfSession]) -> Result<HashMap<RoomOfSession, Self::Value>, Self::Error> {
        let rooms = waiting_room::Entity::find()
            .filter(waiting_room::Column::SessionId.is_in(ids(keys, |k| k.0)))
            .all(&self.db().await?)
            .await?;
        Ok(rooms
            .into_iter()
            .map(|room| (RoomOfSession(room.session_id), room))
            .collect())
    }
}
