//! Behavioural tests on an in-memory index holding a small, realistic catalogue.
#![allow(clippy::unwrap_used)]

mod filters;
mod input;
mod lifecycle;
mod matching;
mod ranking;

use chrono::NaiveDate;

use crate::{CastDoc, Doc, Kind, PerformanceDoc, SearchIndex, SearchRequest, SearchResults, VenueDoc};

pub(crate) fn date(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).unwrap()
}

/// The `today` of most tests.
pub(crate) fn today() -> NaiveDate {
    date(2025, 6, 1)
}

#[allow(clippy::too_many_arguments)]
fn perf(
    id: i64,
    title: &str,
    english: &str,
    genre: &str,
    region: &str,
    venue: &str,
    cast: &[&str],
    run: (NaiveDate, NaiveDate),
) -> Doc {
    Doc::Performance(PerformanceDoc {
        id,
        title: title.into(),
        english_title: Some(english.into()),
        genre: genre.into(),
        region: region.into(),
        venue_name: venue.into(),
        cast_names: cast.iter().map(|name| name.to_string()).collect(),
        start_date: run.0,
        end_date: run.1,
    })
}

fn cast(id: i64, name: &str, english: &str) -> Doc {
    Doc::Cast(CastDoc {
        id,
        name: name.into(),
        english_name: Some(english.into()),
    })
}

fn venue(id: i64, name: &str, region: &str, address: &str) -> Doc {
    Doc::Venue(VenueDoc {
        id,
        name: name.into(),
        region: region.into(),
        address: address.into(),
    })
}

/// Ten performances, four cast members and three venues. Ids overlap across kinds on
/// purpose: documents are identified by (kind, id).
pub(crate) fn docs() -> Vec<Doc> {
    vec![
        perf(
            1,
            "레미제라블",
            "Les Misérables",
            "뮤지컬",
            "서울",
            "블루스퀘어",
            &["민우혁", "김우형"],
            (date(2025, 5, 1), date(2025, 8, 31)),
        ),
        perf(
            2,
            "오페라의 유령",
            "The Phantom of the Opera",
            "뮤지컬",
            "부산",
            "드림씨어터",
            &["조승우", "김주택"],
            (date(2025, 3, 1), date(2025, 9, 30)),
        ),
        perf(
            3,
            "지킬 앤 하이드",
            "Jekyll & Hyde",
            "뮤지컬",
            "서울",
            "샤롯데씨어터",
            &["조승우", "박도현"],
            (date(2025, 4, 1), date(2025, 7, 31)),
        ),
        perf(
            4,
            "햄릿",
            "Hamlet",
            "연극",
            "서울",
            "예술의전당",
            &["박도현"],
            (date(2024, 1, 1), date(2024, 2, 28)),
        ),
        perf(
            5,
            "햄릿: 더 플레이",
            "Hamlet: The Play",
            "연극",
            "서울",
            "대학로 아트원씨어터",
            &["민우혁"],
            (date(2025, 5, 1), date(2025, 12, 31)),
        ),
        perf(
            6,
            "라 트라비아타",
            "La Traviata",
            "오페라",
            "서울",
            "예술의전당",
            &[],
            (date(2025, 6, 10), date(2025, 6, 15)),
        ),
        perf(
            7,
            "예술의전당 여름음악축제",
            "SAC Summer Music Festival",
            "클래식",
            "서울",
            "롯데콘서트홀",
            &[],
            (date(2025, 7, 1), date(2025, 8, 15)),
        ),
        perf(
            8,
            "라이온 킹",
            "The Lion King",
            "뮤지컬",
            "대구",
            "계명아트센터",
            &[],
            (date(2025, 10, 1), date(2025, 12, 31)),
        ),
        perf(
            9,
            "드라큘라",
            "Dracula",
            "뮤지컬",
            "서울",
            "샤롯데씨어터",
            &["김준수"],
            (date(2024, 5, 1), date(2024, 8, 31)),
        ),
        perf(
            10,
            "카르멘",
            "Carmen",
            "오페라",
            "부산",
            "드림씨어터",
            &[],
            (date(2025, 5, 20), date(2025, 6, 20)),
        ),
        cast(1, "조승우", "Cho Seung-woo"),
        cast(2, "박도현", "Park Do-hyun"),
        cast(3, "민우혁", "Min Woo-hyuk"),
        cast(4, "김준수", "Kim Junsu"),
        venue(1, "샤롯데씨어터", "서울", "서울 송파구 올림픽로 240"),
        venue(2, "예술의전당", "서울", "서울 서초구 남부순환로 2406"),
        venue(3, "드림씨어터", "부산", "부산 남구 전포대로 133"),
    ]
}

pub(crate) fn fixture() -> SearchIndex {
    let index = SearchIndex::in_memory().unwrap();
    index.upsert(docs()).unwrap();
    index.commit().unwrap();
    index
}

/// A request for `query` with a page big enough for the whole fixture.
pub(crate) fn request(query: &str) -> SearchRequest {
    SearchRequest {
        limit: 50,
        ..SearchRequest::new(query, today())
    }
}

pub(crate) fn search(index: &SearchIndex, query: &str) -> SearchResults {
    index.search(&request(query)).unwrap()
}

/// The hits as (kind, id), best first.
pub(crate) fn keys(results: &SearchResults) -> Vec<(Kind, i64)> {
    results.hits.iter().map(|hit| (hit.kind, hit.id)).collect()
}

pub(crate) fn position(results: &SearchResults, key: (Kind, i64)) -> usize {
    keys(results)
        .iter()
        .position(|k| *k == key)
        .unwrap_or_else(|| panic!("{key:?} not in {:?}", keys(results)))
}

pub(crate) const P: Kind = Kind::Performance;
pub(crate) const C: Kind = Kind::CastMember;
pub(crate) const V: Kind = Kind::Venue;
