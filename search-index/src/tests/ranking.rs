//! Ranking: names before mentions, titles before venues, current before ended.

use crate::SearchRequest;

use super::{C, P, V, date, fixture, keys, position, search};

#[test]
fn cast_member_ranks_before_performances_featuring_them() {
    let index = fixture();
    let results = search(&index, "조승우");
    assert_eq!(keys(&results)[0], (C, 1));
    let mut performances = keys(&results)[1..].to_vec();
    performances.sort();
    assert_eq!(performances, vec![(P, 2), (P, 3)]);
}

#[test]
fn title_match_ranks_before_venue_match() {
    let index = fixture();
    // 예술의전당 is the title of performance 7 and the venue of performances 4 and 6.
    let results = search(&index, "예술의전당");
    assert!(
        position(&results, (P, 7)) < position(&results, (P, 6)),
        "{:?}",
        keys(&results)
    );
    assert!(
        position(&results, (V, 2)) < position(&results, (P, 6)),
        "{:?}",
        keys(&results)
    );
    assert!(keys(&results).contains(&(P, 4)));
}

#[test]
fn ended_performances_rank_below_current_ones() {
    let index = fixture();
    // 햄릿 (4, ended in 2024) has the shorter title and would win on text alone.
    let now = search(&index, "햄릿");
    assert_eq!(keys(&now), vec![(P, 5), (P, 4)]);
    let back_then = index
        .search(&SearchRequest {
            limit: 50,
            ..SearchRequest::new("햄릿", date(2024, 2, 1))
        })
        .unwrap();
    assert_eq!(keys(&back_then), vec![(P, 4), (P, 5)]);
    assert!(now.hits[1].score < back_then.hits[0].score);
}

#[test]
fn ended_performance_is_still_found() {
    let index = fixture();
    assert_eq!(keys(&search(&index, "드라큘라")), vec![(P, 9)]);
}

#[test]
fn exact_word_scores_above_prefix_and_typo() {
    let index = fixture();
    let exact = search(&index, "phantom").hits[0].score;
    let prefix = search(&index, "phant").hits[0].score;
    let typo = search(&index, "phantm").hits[0].score;
    assert!(exact > prefix && exact > typo, "{exact} {prefix} {typo}");
}
