//! What a query finds: Korean fragments, initial consonants, Latin folding/prefix/typos.

use super::{C, P, V, fixture, keys, search};

#[test]
fn korean_fragment_finds_title() {
    let index = fixture();
    assert_eq!(keys(&search(&index, "미제라")), vec![(P, 1)]);
    assert_eq!(keys(&search(&index, "레미제라블")), vec![(P, 1)]);
    assert_eq!(keys(&search(&index, "트라비")), vec![(P, 6)]);
}

#[test]
fn korean_fragment_does_not_match_on_one_shared_syllable() {
    let index = fixture();
    // 오페라의 유령 and 라 트라비아타 share "라" with the query but not the fragment.
    let found = keys(&search(&index, "미제라"));
    assert!(!found.contains(&(P, 2)) && !found.contains(&(P, 6)), "{found:?}");
    assert_eq!(keys(&search(&index, "오페라")), vec![(P, 2)]);
    // A longer word needs all of its trigrams: 라이온 shares 라 and 이 with nothing else.
    assert_eq!(keys(&search(&index, "라이온")), vec![(P, 8)]);
}

#[test]
fn korean_fragment_finds_cast_member() {
    let index = fixture();
    let results = search(&index, "승우");
    assert_eq!(keys(&results)[0], (C, 1));
    let mut rest = keys(&results)[1..].to_vec();
    rest.sort();
    assert_eq!(rest, vec![(P, 2), (P, 3)]);
}

#[test]
fn korean_words_may_match_different_fields() {
    let index = fixture();
    // Title word + cast word: only the 지킬 앤 하이드 with 조승우.
    assert_eq!(keys(&search(&index, "조승우 지킬")), vec![(P, 3)]);
    // Words of a title typed without the particle or in another order.
    assert_eq!(keys(&search(&index, "유령 오페라")), vec![(P, 2)]);
    // A venue by its address.
    assert_eq!(keys(&search(&index, "서초구")), vec![(V, 2)]);
}

#[test]
fn initial_consonants_find_titles_and_names() {
    let index = fixture();
    assert_eq!(keys(&search(&index, "ㄹㅁㅈㄹㅂ")), vec![(P, 1)]);
    assert_eq!(keys(&search(&index, "ㄹㅁ ㅈㄹㅂ")), vec![(P, 1)], "spaces are ignored");
    assert_eq!(
        keys(&search(&index, "ㅈㅋㅇㅎㅇㄷ")),
        vec![(P, 3)],
        "spaces of the title are ignored"
    );
    let results = search(&index, "ㅈㅅㅇ");
    assert_eq!(keys(&results)[0], (C, 1));
    assert!(keys(&results).contains(&(P, 2)), "performances starring 조승우 follow");
}

#[test]
fn latin_is_case_and_accent_insensitive() {
    let index = fixture();
    assert_eq!(keys(&search(&index, "miserables")), vec![(P, 1)]);
    assert_eq!(keys(&search(&index, "LES MISÉRABLES")), vec![(P, 1)]);
    assert_eq!(keys(&search(&index, "Cho Seung-woo")), vec![(C, 1)]);
}

#[test]
fn last_latin_word_matches_as_prefix() {
    let index = fixture();
    assert_eq!(keys(&search(&index, "phan")), vec![(P, 2)]);
    assert_eq!(keys(&search(&index, "phantom of the op")), vec![(P, 2)]);
    // Only the last word: "phan" in the middle must be a whole word.
    assert!(search(&index, "phan opera").hits.is_empty());
}

#[test]
fn one_typo_is_tolerated_on_long_words() {
    let index = fixture();
    assert_eq!(keys(&search(&index, "phantm")), vec![(P, 2)]);
    assert_eq!(keys(&search(&index, "phantm opera")), vec![(P, 2)]);
    assert_eq!(keys(&search(&index, "hamelt")), vec![(P, 5), (P, 4)], "transposition");
    assert_eq!(keys(&search(&index, "traviatta")), vec![(P, 6)], "insertion");
    // Short words must be exact (or a prefix when last): "opea" is neither.
    assert!(search(&index, "opea").hits.is_empty());
    assert!(search(&index, "lin king").hits.is_empty());
}

#[test]
fn highlights_mark_matched_text() {
    let index = fixture();
    let results = search(&index, "미제라");
    let title = results.hits[0].highlights.iter().find(|h| h.field == "title").unwrap();
    assert_eq!(title.snippet, "레<em>미제라</em>블");

    let results = search(&index, "phantom");
    let english = results.hits[0]
        .highlights
        .iter()
        .find(|h| h.field == "english_title")
        .unwrap();
    assert_eq!(english.snippet, "The <em>Phantom</em> of the Opera");

    let results = search(&index, "승우");
    let cast_member = &results.hits[0];
    assert_eq!(cast_member.highlights[0].field, "name");
    assert_eq!(cast_member.highlights[0].snippet, "조<em>승우</em>");
    let performance = results.hits.iter().find(|hit| hit.kind == P).unwrap();
    let cast_names = performance.highlights.iter().find(|h| h.field == "cast_names").unwrap();
    assert_eq!(cast_names.snippet, "조<em>승우</em>");

    let results = search(&index, "ㄹㅁㅈㄹㅂ");
    assert_eq!(results.hits[0].highlights[0].snippet, "<em>레미제라블</em>");
}
