//! Marking the matched parts of stored titles and names with `<em>…</em>`.
//!
//! tantivy's `SnippetGenerator` only knows the terms of a query, which would highlight single
//! n-grams and nothing for prefix or typo matches. Titles and names are short, so we instead
//! re-run our own matching on the whole text: the same analyzers, the same grams, the same
//! prefix and one-edit rules as the query, mapped back to byte offsets of the original text.

use tantivy::tokenizer::{TextAnalyzer, TokenStream};

use crate::tokenize::{FUZZY_MIN_CHARS, QueryWord, initial_consonant, query_grams};

/// Precomputed matchers for one query.
pub(crate) struct Highlighter {
    /// Grams of CJK words, lowercased; any occurrence in the text is marked.
    grams: Vec<Vec<char>>,
    /// Grams of consonant words, matched against the text's initial consonants.
    chosung_grams: Vec<Vec<char>>,
    /// Folded Latin words and whether they match as a prefix.
    latin_words: Vec<(Vec<char>, bool)>,
    latin: TextAnalyzer,
}

impl Highlighter {
    pub(crate) fn new(words: &[QueryWord], latin: TextAnalyzer, mut gram: TextAnalyzer) -> Highlighter {
        let mut highlighter = Highlighter {
            grams: Vec::new(),
            chosung_grams: Vec::new(),
            latin_words: Vec::new(),
            latin,
        };
        for word in words {
            match word {
                QueryWord::Cjk(text) => {
                    let grams = query_grams(text, &mut gram).into_iter().map(|g| g.chars().collect());
                    highlighter.grams.extend(grams);
                }
                QueryWord::Chosung(text) => {
                    let grams = query_grams(text, &mut gram).into_iter().map(|g| g.chars().collect());
                    highlighter.chosung_grams.extend(grams);
                }
                QueryWord::Latin { term, prefix } => highlighter.latin_words.push((term.chars().collect(), *prefix)),
            }
        }
        highlighter
    }

    /// `text` HTML-escaped with its matches wrapped in `<em>`, or `None` if nothing matched.
    pub(crate) fn highlight(&mut self, text: &str) -> Option<String> {
        let mut ranges: Vec<(usize, usize)> = Vec::new();
        let chars: Vec<(usize, usize, char)> = text
            .char_indices()
            .map(|(start, c)| (start, start + c.len_utf8(), c.to_lowercase().next().unwrap_or(c)))
            .collect();
        mark_grams(&chars, &self.grams, &mut ranges);
        let consonants: Vec<(usize, usize, char)> = chars
            .iter()
            .filter_map(|&(start, end, c)| Some((start, end, initial_consonant(c)?)))
            .collect();
        mark_grams(&consonants, &self.chosung_grams, &mut ranges);
        if !self.latin_words.is_empty() {
            let mut stream = self.latin.token_stream(text);
            while let Some(token) = stream.next() {
                let token_chars: Vec<char> = token.text.chars().collect();
                if self
                    .latin_words
                    .iter()
                    .any(|(word, prefix)| latin_match(&token_chars, word, *prefix))
                {
                    ranges.push((token.offset_from, token.offset_to));
                }
            }
        }
        if ranges.is_empty() {
            return None;
        }
        ranges.sort_unstable();
        let mut out = String::with_capacity(text.len() + 16);
        let mut written = 0;
        let mut iter = ranges.into_iter().peekable();
        while let Some((start, mut end)) = iter.next() {
            while let Some(&(next_start, next_end)) = iter.peek() {
                if next_start > end {
                    break;
                }
                end = end.max(next_end);
                iter.next();
            }
            let start = start.max(written);
            push_escaped(&mut out, text.get(written..start).unwrap_or_default());
            out.push_str("<em>");
            push_escaped(&mut out, text.get(start..end).unwrap_or_default());
            out.push_str("</em>");
            written = end;
        }
        push_escaped(&mut out, text.get(written..).unwrap_or_default());
        Some(out)
    }
}

/// Adds the byte range of every occurrence of every gram in `chars`.
fn mark_grams(chars: &[(usize, usize, char)], grams: &[Vec<char>], ranges: &mut Vec<(usize, usize)>) {
    for gram in grams.iter().filter(|gram| !gram.is_empty()) {
        for window in chars.windows(gram.len()) {
            if window.iter().map(|&(_, _, c)| c).eq(gram.iter().copied())
                && let (Some(first), Some(last)) = (window.first(), window.last())
            {
                ranges.push((first.0, last.1));
            }
        }
    }
}

/// Mirrors `query::latin_word`: exact, prefix for the last word, one edit for long words.
fn latin_match(token: &[char], word: &[char], prefix: bool) -> bool {
    let fuzzy = word.len() >= FUZZY_MIN_CHARS;
    if token == word || (prefix && token.starts_with(word)) {
        return true;
    }
    if !fuzzy {
        return false;
    }
    if prefix {
        let shortest = word.len().saturating_sub(1);
        (shortest..=word.len() + 1).any(|len| token.get(..len).is_some_and(|start| within_one_edit(start, word)))
    } else {
        within_one_edit(token, word)
    }
}

/// Whether `a` and `b` differ by at most one insertion, deletion, substitution or
/// transposition of adjacent characters (the Levenshtein automaton used by the query).
fn within_one_edit(a: &[char], b: &[char]) -> bool {
    if a.len().abs_diff(b.len()) > 1 {
        return false;
    }
    let common = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let (a, b) = (&a[common..], &b[common..]);
    match a.len().cmp(&b.len()) {
        std::cmp::Ordering::Greater => a[1..] == *b,
        std::cmp::Ordering::Less => *a == b[1..],
        std::cmp::Ordering::Equal if a.is_empty() => true,
        std::cmp::Ordering::Equal => {
            a[1..] == b[1..] || (a.len() >= 2 && a[0] == b[1] && a[1] == b[0] && a[2..] == b[2..])
        }
    }
}

fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenize::{analyze_query, gram_analyzer, latin_analyzer};

    fn highlight(query: &str, text: &str) -> Option<String> {
        let words = analyze_query(query, &mut latin_analyzer());
        Highlighter::new(&words, latin_analyzer(), gram_analyzer()).highlight(text)
    }

    #[test]
    fn marks_korean_substrings_chosung_and_latin_words() {
        assert_eq!(
            highlight("미제라", "레미제라블").as_deref(),
            Some("레<em>미제라</em>블")
        );
        assert_eq!(
            highlight("레미제라블", "레미제라블").as_deref(),
            Some("<em>레미제라블</em>")
        );
        assert_eq!(highlight("ㅈㅅㅇ", "조승우").as_deref(), Some("<em>조승우</em>"));
        assert_eq!(
            highlight("miserables", "Les Misérables").as_deref(),
            Some("Les <em>Misérables</em>")
        );
        assert_eq!(
            highlight("phantm", "The Phantom of the Opera").as_deref(),
            Some("The <em>Phantom</em> of the Opera")
        );
        assert_eq!(
            highlight("phan", "The Phantom").as_deref(),
            Some("The <em>Phantom</em>")
        );
        assert_eq!(highlight("hamlet", "Macbeth"), None);
    }

    #[test]
    fn escapes_html_around_marks() {
        assert_eq!(
            highlight("rent", "<Rent> & co").as_deref(),
            Some("&lt;<em>Rent</em>&gt; &amp; co")
        );
    }

    #[test]
    fn one_edit_distance() {
        let chars = |s: &str| s.chars().collect::<Vec<_>>();
        assert!(within_one_edit(&chars("phantom"), &chars("phantm")));
        assert!(within_one_edit(&chars("hamlet"), &chars("hamelt")));
        assert!(within_one_edit(&chars("hamlet"), &chars("hamlot")));
        assert!(!within_one_edit(&chars("hamlet"), &chars("hmalte")));
        assert!(!within_one_edit(&chars("opera"), &chars("oper__")));
    }
}
