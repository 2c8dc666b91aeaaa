//! A lexical pass over the raw document, before the parser sees it: counts tokens and the
//! deepest bracket nesting in one linear scan, so that neither a flood of tokens nor a
//! pathologically nested document reaches the (recursive) parser.

/// What the scan found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lexical {
    /// Names, punctuators, numbers and strings; whitespace, commas and comments are free.
    pub tokens: u64,
    /// Deepest nesting of `{`, `(` and `[`.
    pub nesting: u64,
}

/// Scans `query` as GraphQL's lexical grammar does, closely enough to count: malformed
/// input is still counted (one token per stray byte) and left to the parser to refuse.
pub fn scan(query: &str) -> Lexical {
    let bytes = query.as_bytes();
    let mut lexical = Lexical::default();
    let mut depth: u64 = 0;
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        match byte {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => {
                i += 1;
                continue;
            }
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
                continue;
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => i = block_string_end(bytes, i + 3),
            b'"' => i = string_end(bytes, i + 1),
            b'{' | b'(' | b'[' => {
                depth += 1;
                lexical.nesting = lexical.nesting.max(depth);
                i += 1;
            }
            b'}' | b')' | b']' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b'.' if bytes[i..].starts_with(b"...") => i += 3,
            b'_' | b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' => {
                i += 1;
                // Names and numbers (with `.`, exponents and signs) run to the next other byte.
                while i < bytes.len()
                    && matches!(bytes[i], b'_' | b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'+' | b'-')
                {
                    i += 1;
                }
            }
            0xEF if bytes[i..].starts_with(&[0xEF, 0xBB, 0xBF]) => {
                // A byte-order mark is ignored, like whitespace.
                i += 3;
                continue;
            }
            _ => i += 1,
        }
        lexical.tokens += 1;
    }
    lexical
}

/// The index after a `"…"` string whose body starts at `i` (or the end of its line when
/// it is not closed).
fn string_end(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            b'\n' | b'\r' => return i,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The index after a `"""…"""` block string whose body starts at `i`.
fn block_string_end(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() {
        if bytes[i..].starts_with(b"\\\"\"\"") {
            i += 4;
        } else if bytes[i..].starts_with(b"\"\"\"") {
            return i + 3;
        } else {
            i += 1;
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(query: &str) -> u64 {
        scan(query).tokens
    }

    #[test]
    fn tokens_are_counted_as_the_grammar_defines_them() {
        assert_eq!(tokens("{ a }"), 3);
        assert_eq!(tokens("query Q($n: Int = 5) { a(first: $n) { ...F } }"), 23);
        assert_eq!(
            tokens("{ a(x: -1.5e+3, y: \"a } b\", z: \"\"\"x \\\"\"\" }\"\"\") }"),
            14
        );
        assert_eq!(tokens("# a comment { { {\n{ a,,, b }"), 4);
        assert_eq!(tokens("\u{feff}{ a }"), 3);
    }

    #[test]
    fn nesting_counts_every_kind_of_bracket() {
        assert_eq!(scan("{ a { b(x: [[1]]) } }").nesting, 5);
        assert_eq!(scan("{ a } { b }").nesting, 1);
        assert_eq!(scan("}}} { a }").nesting, 1);
        assert_eq!(scan("{ a(s: \"{{{{\") }").nesting, 2);
    }

    #[test]
    fn unterminated_strings_end_the_scan_without_looping() {
        assert_eq!(tokens("{ a(s: \"abc"), 6);
        assert_eq!(tokens("{ a(s: \"\"\"abc"), 6);
        assert_eq!(tokens("\"\\"), 1);
    }
}
