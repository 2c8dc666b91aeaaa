//! Hostile or odd input: never an error (except blank), never a panic.

use crate::SearchError;

use super::{P, fixture, keys, request, search};

#[test]
fn empty_or_blank_query_is_an_error() {
    let index = fixture();
    for query in ["", " ", "\t\n \u{3000}"] {
        let result = index.search(&request(query));
        assert!(matches!(result, Err(SearchError::EmptyQuery)), "{query:?}: {result:?}");
    }
}

#[test]
fn query_syntax_is_plain_text() {
    let index = fixture();
    for query in [
        "\"",
        ":",
        "*",
        "(",
        ")",
        "-",
        "+",
        "^",
        "~",
        "[",
        "\"*:()-+^~[]{}!\\/",
        "a:b AND (c OR",
        "*:*",
    ] {
        let results = index.search(&request(query)).unwrap();
        assert!(results.hits.is_empty(), "{query:?} must not match everything");
    }
    for query in [
        "\"hamlet\"",
        "hamlet*",
        "(hamlet)",
        "-hamlet",
        "+hamlet",
        "hamlet^",
        "hamlet~",
        "[hamlet",
        "\"햄릿",
    ] {
        assert_eq!(search(&index, query).total, 2, "{query:?}");
    }
    for query in [
        "+hamlet^2",
        "hamlet~1",
        "title:hamlet",
        "hamlet OR carmen",
        "NOT hamlet",
        "[* TO *]",
    ] {
        assert!(index.search(&request(query)).is_ok(), "{query:?}");
    }
    // Field syntax is not interpreted either: "english" is just a word that does not match.
    assert!(search(&index, "english:hamlet").hits.is_empty());
}

#[test]
fn long_query_is_fine() {
    let index = fixture();
    let latin = "hamlet ".repeat(150);
    assert_eq!(latin.len(), 1050);
    assert_eq!(search(&index, &latin).total, 2);
    let korean = "햄릿".repeat(500);
    assert!(search(&index, &korean).hits.is_empty());
    let mixed: String = (0..1000)
        .map(|i| ['가', 'a', ' ', '"', '🎭', 'ㄱ', 'é'][i % 7])
        .collect();
    assert!(index.search(&request(&mixed)).is_ok());
    let one_word = "a".repeat(1000);
    assert!(search(&index, &one_word).hits.is_empty());
}

#[test]
fn emoji_and_control_characters_are_separators() {
    let index = fixture();
    assert_eq!(keys(&search(&index, "🎭햄릿🎭")), vec![(P, 5), (P, 4)]);
    assert_eq!(keys(&search(&index, "\u{0}햄릿\u{7}\u{1b}")), vec![(P, 5), (P, 4)]);
    for query in ["🎭", "\u{0}", "\u{1b}[31m", "\u{200b}", "\u{feff}", "\u{fffd}"] {
        assert!(index.search(&request(query)).is_ok(), "{query:?}");
    }
}

#[test]
fn odd_input_to_suggest_is_fine() {
    let index = fixture();
    for prefix in ["", "   ", "\"*:", "🎭", &"가".repeat(1000), &"x ".repeat(1000)] {
        assert!(index.suggest(prefix, 5).is_ok(), "{prefix:?}");
    }
    assert!(index.suggest("레미", 0).unwrap().is_empty());
}

#[test]
fn worst_case_query_stays_bounded() {
    let index = fixture();
    // 32 words (the cap) of 24 distinct syllables each (the per-word cap), plus more beyond.
    let query: String = (0..40u32)
        .map(|w| {
            (0..30u32)
                .filter_map(|c| char::from_u32(0xAC00 + w * 97 + c * 13))
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join(" ");
    assert!(search(&index, &query).hits.is_empty());
    assert!(index.suggest(&query, 10).unwrap().is_empty());
}
