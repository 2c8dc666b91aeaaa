//! Text analysis shared by indexing, querying and highlighting.
//!
//! Korean is written without reliable word boundaries for search purposes (particles glue to
//! nouns, and buyers type fragments such as "미제라" for "레미제라블"), so Korean text is indexed
//! as character n-grams (1 to 3 characters). Latin text is indexed as words, lowercased and
//! accent-folded, so that prefixes and typos can be matched on whole words. Names and titles
//! are also indexed as their initial consonants (초성), which is how Koreans often type a
//! name quickly ("ㅈㅅㅇ" for "조승우").
//!
//! User text never reaches tantivy's query parser: [`analyze_query`] splits it into plain
//! words here, and `query.rs` builds term queries from them, so query syntax characters are
//! just separators.

use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, NgramTokenizer, RemoveLongFilter, SimpleTokenizer, TextAnalyzer, TokenStream,
};

/// Tokenizer name of word fields: words, lowercased and accent-folded.
pub(crate) const LATIN_TOKENIZER: &str = "curtain_latin";
/// Tokenizer name of n-gram fields (Korean text and initial consonants).
pub(crate) const GRAM_TOKENIZER: &str = "curtain_gram";
/// Longest n-gram indexed. Three keeps the index small while making a query gram specific
/// enough that sharing one syllable ("라") never makes a title match.
pub(crate) const MAX_GRAM: usize = 3;
/// Words of a query beyond this are ignored, so that a pasted essay stays a cheap query.
pub(crate) const MAX_QUERY_WORDS: usize = 32;
/// Characters of one CJK or consonant word beyond this are ignored (bounds the n-gram count).
pub(crate) const MAX_WORD_CHARS: usize = 24;
/// Latin words of at least this many characters tolerate one typo.
pub(crate) const FUZZY_MIN_CHARS: usize = 5;
/// Word tokens longer than this (in bytes) are dropped on both sides; nobody searches them.
const MAX_TOKEN_BYTES: usize = 40;

/// Initial consonants in the order of the Unicode Hangul syllable block.
const CHOSUNG: [char; 19] = [
    'ㄱ', 'ㄲ', 'ㄴ', 'ㄷ', 'ㄸ', 'ㄹ', 'ㅁ', 'ㅂ', 'ㅃ', 'ㅅ', 'ㅆ', 'ㅇ', 'ㅈ', 'ㅉ', 'ㅊ', 'ㅋ', 'ㅌ', 'ㅍ', 'ㅎ',
];
const SYLLABLE_FIRST: u32 = 0xAC00;
const SYLLABLE_LAST: u32 = 0xD7A3;
/// Syllables per initial consonant (21 vowels × 28 finals).
const SYLLABLES_PER_INITIAL: u32 = 588;

/// Analyzer of word fields (Latin titles and names, but also Korean words as whole words).
pub(crate) fn latin_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

/// Analyzer of n-gram fields: every 1..=3 character gram, lowercased.
pub(crate) fn gram_analyzer() -> TextAnalyzer {
    let grams = NgramTokenizer::all_ngrams(1, MAX_GRAM).expect("1..=MAX_GRAM is a valid n-gram range");
    TextAnalyzer::builder(grams).filter(LowerCaser).build()
}

/// The initial consonant of a Hangul syllable; a compatibility consonant maps to itself.
pub(crate) fn initial_consonant(c: char) -> Option<char> {
    let code = u32::from(c);
    if (SYLLABLE_FIRST..=SYLLABLE_LAST).contains(&code) {
        let index = (code - SYLLABLE_FIRST) / SYLLABLES_PER_INITIAL;
        return CHOSUNG.get(usize::try_from(index).ok()?).copied();
    }
    CHOSUNG.contains(&c).then_some(c)
}

/// The initial consonants of the Hangul in `text`, everything else dropped ("지킬 앤 하이드"
/// → "ㅈㅋㅇㅎㅇㄷ"), so that a consonant query matches regardless of spacing.
pub(crate) fn chosung(text: &str) -> String {
    text.chars().filter_map(initial_consonant).collect()
}

/// Characters of scripts written without spaces between words, which we n-gram.
fn is_cjk(c: char) -> bool {
    matches!(u32::from(c),
        0x1100..=0x11FF // Hangul jamo
        | 0x3040..=0x30FF // kana
        | 0x3130..=0x318F // Hangul compatibility jamo
        | 0x3400..=0x4DBF | 0x4E00..=0x9FFF // CJK ideographs
        | 0xA960..=0xA97F | 0xD7B0..=0xD7FF // Hangul jamo extensions
        | 0xAC00..=0xD7A3) // Hangul syllables
}

/// One word of a user query, classified by how it has to be matched.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum QueryWord {
    /// Only initial consonants: matched against the 초성 fields.
    Chosung(String),
    /// Contains Korean (or other CJK) text: matched as a substring via n-grams.
    Cjk(String),
    /// A folded Latin (or digit) word; `prefix` for the last word of the query, which the
    /// user may still be typing.
    Latin { term: String, prefix: bool },
}

/// Splits user text into at most [`MAX_QUERY_WORDS`] words. Anything that is not a letter or
/// digit (query syntax, punctuation, emoji, control characters) separates words.
///
/// A query made only of initial consonants (spaces ignored) is one [`QueryWord::Chosung`]
/// word, so "ㄹㅁ ㅈㄹㅂ" and "ㄹㅁㅈㄹㅂ" behave the same.
pub(crate) fn analyze_query(query: &str, latin: &mut TextAnalyzer) -> Vec<QueryWord> {
    let mut non_space = query.chars().filter(|c| !c.is_whitespace()).peekable();
    if non_space.peek().is_some() && non_space.clone().all(|c| CHOSUNG.contains(&c)) {
        return vec![QueryWord::Chosung(non_space.take(MAX_WORD_CHARS).collect())];
    }
    let words: Vec<&str> = query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .take(MAX_QUERY_WORDS)
        .collect();
    let last = words.len().saturating_sub(1);
    let mut analyzed = Vec::new();
    for (position, word) in words.into_iter().enumerate() {
        let truncated = || word.chars().take(MAX_WORD_CHARS).collect::<String>();
        if word.chars().all(|c| CHOSUNG.contains(&c)) {
            analyzed.push(QueryWord::Chosung(truncated()));
        } else if word.chars().any(is_cjk) {
            analyzed.push(QueryWord::Cjk(truncated()));
        } else {
            let mut stream = latin.token_stream(word);
            while let Some(token) = stream.next() {
                let prefix = position == last;
                analyzed.push(QueryWord::Latin {
                    term: token.text.clone(),
                    prefix,
                });
            }
        }
    }
    analyzed
}

/// The grams a document must contain for `word` to be a substring of one of its values: the
/// word itself when it is short, otherwise all of its overlapping trigrams. Produced by the
/// same analyzer as the index, so normalisation cannot drift between the two sides.
pub(crate) fn query_grams(word: &str, gram: &mut TextAnalyzer) -> Vec<String> {
    let size = word.chars().count().min(MAX_GRAM);
    let mut grams: Vec<String> = Vec::new();
    let mut stream = gram.token_stream(word);
    while let Some(token) = stream.next() {
        let original = word.get(token.offset_from..token.offset_to).unwrap_or_default();
        if original.chars().count() == size && !grams.contains(&token.text) {
            grams.push(token.text.clone());
        }
    }
    grams
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chosung_maps_syllables_and_drops_the_rest() {
        assert_eq!(chosung("레미제라블"), "ㄹㅁㅈㄹㅂ");
        assert_eq!(chosung("조승우"), "ㅈㅅㅇ");
        assert_eq!(chosung("지킬 앤 하이드"), "ㅈㅋㅇㅎㅇㄷ");
        assert_eq!(chosung("까치 MJ 2024 힣"), "ㄲㅊㅎ");
        assert_eq!(chosung("ㄱ가"), "ㄱㄱ");
    }

    #[test]
    fn query_words_are_classified() {
        let mut latin = latin_analyzer();
        assert_eq!(
            analyze_query("  Misérables  레미-PHAN ", &mut latin),
            vec![
                QueryWord::Latin {
                    term: "miserables".into(),
                    prefix: false
                },
                QueryWord::Cjk("레미".into()),
                QueryWord::Latin {
                    term: "phan".into(),
                    prefix: true
                },
            ]
        );
        assert_eq!(
            analyze_query("ㄹㅁ ㅈㄹㅂ", &mut latin),
            vec![QueryWord::Chosung("ㄹㅁㅈㄹㅂ".into())]
        );
        assert_eq!(analyze_query("\"*:()^~[-+", &mut latin), vec![]);
        assert_eq!(analyze_query("🎭\u{0}\u{7}", &mut latin), vec![]);
    }

    #[test]
    fn query_is_capped() {
        let mut latin = latin_analyzer();
        let long = "hamlet ".repeat(500);
        assert_eq!(analyze_query(&long, &mut latin).len(), MAX_QUERY_WORDS);
        let korean = "가".repeat(1000);
        assert_eq!(
            analyze_query(&korean, &mut latin),
            vec![QueryWord::Cjk("가".repeat(MAX_WORD_CHARS))]
        );
        // A word too long to ever be indexed is dropped rather than searched.
        assert_eq!(analyze_query(&"a".repeat(1000), &mut latin), vec![]);
    }

    #[test]
    fn query_grams_are_trigrams_or_the_short_word() {
        let mut gram = gram_analyzer();
        assert_eq!(query_grams("미제라", &mut gram), vec!["미제라"]);
        assert_eq!(query_grams("레미제라블", &mut gram), vec!["레미제", "미제라", "제라블"]);
        assert_eq!(query_grams("승우", &mut gram), vec!["승우"]);
        assert_eq!(query_grams("햄", &mut gram), vec!["햄"]);
        assert_eq!(query_grams("MJ뮤", &mut gram), vec!["mj뮤"]);
    }
}
