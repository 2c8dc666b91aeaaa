//! Turns catalog rows into the plain documents the index takes, a batch at a time, and works
//! out which documents a catalog change touches (a venue's name lives in its performances'
//! documents too, a cast member's name in every performance they play in).

use std::collections::{BTreeSet, HashMap};

use entity::{cast_member, performance, performance_cast, venue};
use sea_orm::{
    ActiveEnum, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use search_index::{CastDoc, Doc, Kind, PerformanceDoc, VenueDoc};

use crate::domain::catalog_events::{CatalogChange, CatalogObject};

/// Rows read per statement when loading documents.
pub(crate) const BATCH: u64 = 500;

/// The documents to re-index, and those to remove because their rows are gone.
#[derive(Debug, Default)]
pub struct Refresh {
    pub upsert: Vec<Doc>,
    pub remove: Vec<(Kind, i64)>,
}

/// Reloads everything `changes` touch. Deleted rows become removals, so applying a change
/// twice, or out of order, still ends with the index equal to the database.
pub async fn refresh(db: &impl ConnectionTrait, changes: &[CatalogChange]) -> anyhow::Result<Refresh> {
    let mut ids: HashMap<CatalogObject, BTreeSet<i64>> = HashMap::new();
    for change in changes {
        ids.entry(change.object).or_default().insert(change.id);
    }
    let venues: Vec<i64> = ids
        .remove(&CatalogObject::Venue)
        .unwrap_or_default()
        .into_iter()
        .collect();
    let members: Vec<i64> = ids
        .remove(&CatalogObject::CastMember)
        .unwrap_or_default()
        .into_iter()
        .collect();
    let mut performances = ids.remove(&CatalogObject::Performance).unwrap_or_default();
    if !venues.is_empty() {
        let at_venues: Vec<i64> = performance::Entity::find()
            .select_only()
            .column(performance::Column::Id)
            .filter(performance::Column::VenueId.is_in(venues.clone()))
            .into_tuple()
            .all(db)
            .await?;
        performances.extend(at_venues);
    }
    if !members.is_empty() {
        let playing: Vec<i64> = performance_cast::Entity::find()
            .select_only()
            .column(performance_cast::Column::PerformanceId)
            .filter(performance_cast::Column::CastMemberId.is_in(members.clone()))
            .into_tuple()
            .all(db)
            .await?;
        performances.extend(playing);
    }
    let performances: Vec<i64> = performances.into_iter().collect();

    let mut refresh = Refresh::default();
    for ids in performances.chunks(BATCH as usize) {
        let rows = performance::Entity::find()
            .filter(performance::Column::Id.is_in(ids.to_vec()))
            .all(db)
            .await?;
        collect(&mut refresh, Kind::Performance, ids, performance_docs(db, rows).await?);
    }
    for ids in venues.chunks(BATCH as usize) {
        let rows = venue::Entity::find()
            .filter(venue::Column::Id.is_in(ids.to_vec()))
            .all(db)
            .await?;
        collect(
            &mut refresh,
            Kind::Venue,
            ids,
            rows.into_iter().map(venue_doc).collect(),
        );
    }
    for ids in members.chunks(BATCH as usize) {
        let rows = cast_member::Entity::find()
            .filter(cast_member::Column::Id.is_in(ids.to_vec()))
            .all(db)
            .await?;
        collect(
            &mut refresh,
            Kind::CastMember,
            ids,
            rows.into_iter().map(cast_doc).collect(),
        );
    }
    Ok(refresh)
}

fn collect(refresh: &mut Refresh, kind: Kind, asked: &[i64], found: Vec<Doc>) {
    let present: BTreeSet<i64> = found.iter().map(Doc::id).collect();
    refresh
        .remove
        .extend(asked.iter().filter(|id| !present.contains(id)).map(|id| (kind, *id)));
    refresh.upsert.extend(found);
}

/// How many documents a full rebuild writes, for its progress bar.
pub async fn count_all(db: &impl ConnectionTrait) -> anyhow::Result<u64> {
    Ok(performance::Entity::find().count(db).await?
        + cast_member::Entity::find().count(db).await?
        + venue::Entity::find().count(db).await?)
}

/// One page of every kind's documents in id order: `kind`'s documents after `after`.
/// Returns the documents and the last id, or `None` once that kind is done.
pub async fn page(db: &impl ConnectionTrait, kind: Kind, after: i64) -> anyhow::Result<Option<(Vec<Doc>, i64)>> {
    let (docs, last) = match kind {
        Kind::Performance => {
            let rows = performance::Entity::find()
                .filter(performance::Column::Id.gt(after))
                .order_by_asc(performance::Column::Id)
                .limit(BATCH)
                .all(db)
                .await?;
            let last = rows.last().map(|row| row.id);
            (performance_docs(db, rows).await?, last)
        }
        Kind::CastMember => {
            let rows = cast_member::Entity::find()
                .filter(cast_member::Column::Id.gt(after))
                .order_by_asc(cast_member::Column::Id)
                .limit(BATCH)
                .all(db)
                .await?;
            let last = rows.last().map(|row| row.id);
            (rows.into_iter().map(cast_doc).collect(), last)
        }
        Kind::Venue => {
            let rows = venue::Entity::find()
                .filter(venue::Column::Id.gt(after))
                .order_by_asc(venue::Column::Id)
                .limit(BATCH)
                .all(db)
                .await?;
            let last = rows.last().map(|row| row.id);
            (rows.into_iter().map(venue_doc).collect(), last)
        }
    };
    Ok(last.map(|last| (docs, last)))
}

/// Performance documents with their venue's name and region and their cast's names (in
/// billing order), in two statements for the whole batch.
async fn performance_docs(db: &impl ConnectionTrait, rows: Vec<performance::Model>) -> anyhow::Result<Vec<Doc>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let venue_ids: BTreeSet<i64> = rows.iter().map(|row| row.venue_id).collect();
    let venues: HashMap<i64, venue::Model> = venue::Entity::find()
        .filter(venue::Column::Id.is_in(venue_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|venue| (venue.id, venue))
        .collect();
    let ids: Vec<i64> = rows.iter().map(|row| row.id).collect();
    let roles: Vec<(i64, String)> = performance_cast::Entity::find()
        .select_only()
        .column(performance_cast::Column::PerformanceId)
        .column(cast_member::Column::Name)
        .inner_join(cast_member::Entity)
        .filter(performance_cast::Column::PerformanceId.is_in(ids))
        .order_by_asc(performance_cast::Column::PerformanceId)
        .order_by_asc(performance_cast::Column::BillingOrder)
        .order_by_asc(performance_cast::Column::Id)
        .into_tuple()
        .all(db)
        .await?;
    let mut cast: HashMap<i64, Vec<String>> = HashMap::new();
    for (performance_id, name) in roles {
        let names = cast.entry(performance_id).or_default();
        // One person in two roles is one name to search.
        if !names.contains(&name) {
            names.push(name);
        }
    }
    Ok(rows
        .into_iter()
        .map(|row| {
            let venue = venues.get(&row.venue_id);
            Doc::Performance(PerformanceDoc {
                id: row.id,
                title: row.title,
                english_title: row.english_title,
                // The name a genre has in the API, and so in facets and filters.
                genre: row.genre.to_value(),
                region: venue.map(|v| v.region.clone()).unwrap_or_default(),
                venue_name: venue.map(|v| v.name.clone()).unwrap_or_default(),
                cast_names: cast.remove(&row.id).unwrap_or_default(),
                start_date: row.start_date,
                end_date: row.end_date,
            })
        })
        .collect())
}

fn cast_doc(row: cast_member::Model) -> Doc {
    Doc::Cast(CastDoc {
        id: row.id,
        name: row.name,
        english_name: row.english_name,
    })
}

fn venue_doc(row: venue::Model) -> Doc {
    Doc::Venue(VenueDoc {
        id: row.id,
        name: row.name,
        region: row.region,
        address: row.address,
    })
}
