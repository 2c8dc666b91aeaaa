//! Dataloaders: every relation and aggregate a nested query can reach is fetched in one
//! statement per level for all parents at once, so a page of 20 performances costs the same
//! number of statements as a page of 1.
//!
//! One loader struct serves several key types; each newtype key is one batched query.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::dataloader::{DataLoader, Loader};
use chrono::{DateTime, Utc};
use entity::{cast_member, performance, performance_cast, section, session, session_price, venue};
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use sea_orm::sea_query::{Expr, Func};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tokio::sync::mpsc;

use crate::error::ApiError;

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

/// Per-request loaders (no cache survives a request, so nothing served is stale).
pub type Loaders = DataLoader<CatalogLoader>;

/// Batch tasks the loaders of one request have queued, waiting for [`drive`] to run them.
pub type BatchTasks = mpsc::UnboundedReceiver<BoxFuture<'static, ()>>;

/// Creates the loaders of one request.
///
/// Batches are not started on a timer: a timer shorter than the time it takes to walk a page
/// of results splits batches (on a busy machine, or with the batch task running on another
/// core meanwhile), and a longer one adds its length to every level of every query. Instead
/// each batch task is queued, and [`drive`] runs it on the request's own task once the
/// execution can go no further without data, that is, when every field of the level has
/// asked for its key. One statement per level, with no waiting.
///
/// The catalog's loaders read `reads` (a replica, when the request was routed to one); the
/// loaders of other domains read `primary`.
pub fn per_request(primary: DatabaseConnection, reads: DatabaseConnection) -> (Loaders, BatchTasks) {
    let (queue, tasks) = mpsc::unbounded_channel();
    let spawner = move |task: BoxFuture<'static, ()>| {
        // The receiver lives as long as the request; a send can only fail once it is over.
        let _ = queue.send(task);
    };
    (
        DataLoader::new(CatalogLoader { primary, reads }, spawner).delay(Duration::ZERO),
        tasks,
    )
}

/// The same for a stream of responses (a subscription or an operation over WebSocket).
pub fn drive_stream<S>(work: S, tasks: BatchTasks) -> impl futures::Stream<Item = S::Item>
where
    S: futures::Stream + Unpin,
{
    futures::stream::unfold(
        (work, tasks, FuturesUnordered::new()),
        |(mut work, mut tasks, mut running)| async move {
            loop {
                tokio::select! {
                    biased;
                    item = work.next() => return item.map(|item| (item, (work, tasks, running))),
                    Some(task) = tasks.recv() => running.push(task),
                    Some(()) = running.next(), if !running.is_empty() => {}
                }
            }
        },
    )
}

/// Runs `work` (a GraphQL execution) together with the batch tasks its loaders queue; the
/// work is always polled first, so a batch starts only when the work is waiting.
pub async fn drive<T>(work: impl Future<Output = T>, mut tasks: BatchTasks) -> T {
    let mut running = FuturesUnordered::new();
    let mut work = std::pin::pin!(work);
    loop {
        tokio::select! {
            biased;
            output = &mut work => return output,
            Some(task) = tasks.recv() => running.push(task),
            Some(()) = running.next(), if !running.is_empty() => {}
        }
    }
}

pub struct CatalogLoader {
    /// For the loaders of other domains (payments, tickets, coupons, waitlists).
    primary: DatabaseConnection,
    /// For the catalog's loaders, which tolerate a replica's lag.
    reads: DatabaseConnection,
}

impl CatalogLoader {
    /// For loaders of other domains, implemented next to their GraphQL types: the primary.
    pub(crate) fn db(&self) -> &DatabaseConnection {
        &self.primary
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
        let rows = venue::Entity::find()
            .filter(venue::Column::Id.is_in(ids(keys, |k| k.0)))
            .all(&self.reads)
            .await?;
        Ok(rows.into_iter().map(|v| (VenueKey(v.id), v)).collect())
    }
}

impl Loader<PerformanceKey> for CatalogLoader {
    type Value = performance::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[PerformanceKey]) -> Result<HashMap<PerformanceKey, Self::Value>, Self::Error> {
        let rows = performance::Entity::find()
            .filter(performance::Column::Id.is_in(ids(keys, |k| k.0)))
            .all(&self.reads)
            .await?;
        Ok(rows.into_iter().map(|p| (PerformanceKey(p.id), p)).collect())
    }
}

impl Loader<CastMemberKey> for CatalogLoader {
    type Value = cast_member::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[CastMemberKey]) -> Result<HashMap<CastMemberKey, Self::Value>, Self::Error> {
        let rows = cast_member::Entity::find()
            .filter(cast_member::Column::Id.is_in(ids(keys, |k| k.0)))
            .all(&self.reads)
            .await?;
        Ok(rows.into_iter().map(|c| (CastMemberKey(c.id), c)).collect())
    }
}

impl Loader<SessionKey> for CatalogLoader {
    type Value = session::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[SessionKey]) -> Result<HashMap<SessionKey, Self::Value>, Self::Error> {
        let rows = session::Entity::find()
            .filter(session::Column::Id.is_in(ids(keys, |k| k.0)))
            .all(&self.reads)
            .await?;
        Ok(rows.into_iter().map(|s| (SessionKey(s.id), s)).collect())
    }
}

impl Loader<CastOfPerformance> for CatalogLoader {
    type Value = Vec<performance_cast::Model>;
    type Error = LoadError;

    async fn load(&self, keys: &[CastOfPerformance]) -> Result<HashMap<CastOfPerformance, Self::Value>, Self::Error> {
        let rows = performance_cast::Entity::find()
            .filter(performance_cast::Column::PerformanceId.is_in(ids(keys, |k| k.0)))
            .order_by_asc(performance_cast::Column::BillingOrder)
            .order_by_asc(performance_cast::Column::Id)
            .all(&self.reads)
            .await?;
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
            .all(&self.reads)
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
            .all(&self.reads)
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
            .all(&self.reads)
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
        let rows: Vec<(i64, String, i32)> = session_price::Entity::find()
            .select_only()
            .column(session::Column::PerformanceId)
            .column(session_price::Column::Grade)
            .expr_as(
                Func::min(Expr::col((session_price::Entity, session_price::Column::Price))),
                "price",
            )
            .inner_join(session::Entity)
            .filter(session::Column::PerformanceId.is_in(ids(keys, |k| k.0)))
            .group_by(session::Column::PerformanceId)
            .group_by(session_price::Column::Grade)
            .into_tuple()
            .all(&self.reads)
            .await?;
        let mut grouped = group(rows, |r| PriceTiersOfPerformance(r.0));
        Ok(grouped
            .drain()
            .map(|(key, mut tiers)| {
                tiers.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.1.cmp(&b.1)));
                (key, tiers.into_iter().map(|(_, grade, price)| (grade, price)).collect())
            })
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
            let sessions = crate::domain::sessions::sessions_of(&self.reads, &performance_ids, from, to).await?;
            let mut by_performance = group(sessions, |s| s.performance_id);
            for key in keys {
                out.insert(key, by_performance.remove(&key.performance_id).unwrap_or_default());
            }
        }
        Ok(out)
    }
}
