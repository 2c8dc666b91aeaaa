//! Filters, facets and paging.

use crate::{Kind, MAX_LIMIT, SearchRequest};

use super::{C, P, V, date, fixture, keys, request};

fn sorted(mut keys: Vec<(Kind, i64)>) -> Vec<(Kind, i64)> {
    keys.sort();
    keys
}

#[test]
fn single_syllable_matches_broadly() {
    let index = fixture();
    let results = index.search(&request("라")).unwrap();
    assert_eq!(sorted(keys(&results)), vec![(P, 1), (P, 2), (P, 6), (P, 8), (P, 9)]);
}

#[test]
fn kind_filter() {
    let index = fixture();
    let only_cast = SearchRequest {
        kinds: Some(vec![Kind::CastMember]),
        ..request("조승우")
    };
    assert_eq!(keys(&index.search(&only_cast).unwrap()), vec![(C, 1)]);
    let two = SearchRequest {
        kinds: Some(vec![Kind::Venue, Kind::Performance]),
        ..request("씨어터")
    };
    assert!(keys(&index.search(&two).unwrap()).iter().all(|(kind, _)| *kind != C));
    let empty_means_all = SearchRequest {
        kinds: Some(vec![]),
        ..request("조승우")
    };
    assert_eq!(index.search(&empty_means_all).unwrap().total, 3);
}

#[test]
fn genre_filter_keeps_only_performances_of_that_genre() {
    let index = fixture();
    let musicals = SearchRequest {
        genre: Some("뮤지컬".into()),
        ..request("라")
    };
    assert_eq!(
        sorted(keys(&index.search(&musicals).unwrap())),
        vec![(P, 1), (P, 2), (P, 8), (P, 9)]
    );
    let with_cast_match = SearchRequest {
        genre: Some(" 뮤지컬 ".into()),
        ..request("조승우")
    };
    assert_eq!(
        sorted(keys(&index.search(&with_cast_match).unwrap())),
        vec![(P, 2), (P, 3)]
    );
    let blank = SearchRequest {
        genre: Some("  ".into()),
        ..request("조승우")
    };
    assert_eq!(index.search(&blank).unwrap().total, 3, "a blank genre is no filter");
}

#[test]
fn region_filter_keeps_performances_and_venues() {
    let index = fixture();
    let busan = SearchRequest {
        region: Some("부산".into()),
        ..request("씨어터")
    };
    assert_eq!(
        sorted(keys(&index.search(&busan).unwrap())),
        vec![(P, 2), (P, 10), (V, 3)]
    );
}

#[test]
fn date_filter_keeps_runs_overlapping_the_range() {
    let index = fixture();
    let mid_june = SearchRequest {
        from: Some(date(2025, 6, 12)),
        to: Some(date(2025, 6, 20)),
        ..request("라")
    };
    assert_eq!(
        sorted(keys(&index.search(&mid_june).unwrap())),
        vec![(P, 1), (P, 2), (P, 6)]
    );
    // Bounds are inclusive: La Traviata runs 2025-06-10..=2025-06-15.
    let last_day = SearchRequest {
        from: Some(date(2025, 6, 15)),
        to: Some(date(2025, 6, 15)),
        ..request("트라비아타")
    };
    assert_eq!(keys(&index.search(&last_day).unwrap()), vec![(P, 6)]);
    let day_after = SearchRequest {
        from: Some(date(2025, 6, 16)),
        ..request("트라비아타")
    };
    assert!(index.search(&day_after).unwrap().hits.is_empty());
    let until_2024 = SearchRequest {
        to: Some(date(2024, 12, 31)),
        ..request("라")
    };
    assert_eq!(keys(&index.search(&until_2024).unwrap()), vec![(P, 9)]);
    // Dates restrict to performances even when a cast member matches.
    let with_cast = SearchRequest {
        from: Some(date(2025, 1, 1)),
        ..request("조승우")
    };
    assert_eq!(sorted(keys(&index.search(&with_cast).unwrap())), vec![(P, 2), (P, 3)]);
}

#[test]
fn facets_count_all_matches_not_just_the_page() {
    let index = fixture();
    let results = index
        .search(&SearchRequest {
            limit: 1,
            ..request("라")
        })
        .unwrap();
    assert_eq!(results.hits.len(), 1);
    assert_eq!(results.total, 5);
    assert_eq!(
        results.facets.genre,
        vec![("뮤지컬".to_string(), 4), ("오페라".to_string(), 1)]
    );
    assert_eq!(results.facets.kind, vec![(Kind::Performance, 5)]);

    let results = index.search(&request("조승우")).unwrap();
    assert_eq!(results.facets.kind, vec![(Kind::Performance, 2), (Kind::CastMember, 1)]);
}

#[test]
fn paging() {
    let index = fixture();
    let all = keys(&index.search(&request("라")).unwrap());
    let page = |offset, limit| {
        index
            .search(&SearchRequest {
                offset,
                limit,
                ..request("라")
            })
            .unwrap()
    };
    assert_eq!(keys(&page(0, 2)), all[..2]);
    assert_eq!(keys(&page(2, 2)), all[2..4]);
    assert_eq!(keys(&page(4, 2)), all[4..]);
    assert!(page(5, 2).hits.is_empty());
    let count_only = page(0, 0);
    assert!(count_only.hits.is_empty());
    assert_eq!(count_only.total, 5);
    assert_eq!(count_only.facets.kind, vec![(Kind::Performance, 5)]);
    let huge = page(usize::MAX, usize::MAX);
    assert!(huge.hits.is_empty());
    assert_eq!(huge.total, 5);
    assert_eq!(page(0, usize::MAX).hits.len(), 5.min(MAX_LIMIT));
}
