//! Whole HTTP requests: a generated document, often mangled (truncated, nested deep,
//! fragments duplicated or cyclic, numbers huge, unicode inserted, variables of the wrong
//! type), in an envelope that is sometimes wrong too.

use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;

use super::documents::Builder;
use super::schema::Schema;
use super::values::{self, KnownIds};

/// Whose token a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    Anonymous,
    Buyer,
    Admin,
}

/// One request as sent: `GET /graphql?{body}` or `POST /graphql` with `body`.
#[derive(Debug, Clone)]
pub struct FuzzRequest {
    pub caller: Caller,
    pub get: bool,
    pub content_type: &'static str,
    pub body: String,
    /// What was done to the document, for the report.
    pub mangling: &'static str,
}

/// The `index`th request of the run seeded by the generator's RNG.
pub(crate) fn request(schema: &Schema, known: &KnownIds, rng: &mut StdRng) -> FuzzRequest {
    let caller = match rng.random_range(0..10) {
        0..4 => Caller::Anonymous,
        4..7 => Caller::Buyer,
        _ => Caller::Admin,
    };
    let operation = Builder::new(schema, known, rng).operation("Op");
    let mut text = operation.text;
    let mut pairs = operation.variables;
    let mut mangling = "none";
    if rng.random_bool(0.4) {
        mangling = mangle(&mut text, &mut pairs, schema, rng);
    }
    let variables = format!(
        "{{{}}}",
        pairs
            .iter()
            .map(|(k, v)| format!("\"{k}\":{v}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let mut request = FuzzRequest {
        caller,
        get: false,
        content_type: "application/json",
        body: format!(
            "{{\"query\":{},\"variables\":{variables}}}",
            serde_json::Value::String(text.clone())
        ),
        mangling,
    };
    if rng.random_bool(0.08) {
        envelope(&mut request, &text, &variables, operation.kind, rng);
    }
    request
}

/// Changes the document or its variables in one of many ways; returns which.
fn mangle(text: &mut String, variables: &mut Vec<(String, String)>, schema: &Schema, rng: &mut StdRng) -> &'static str {
    let query = schema.query.as_str();
    match rng.random_range(0..13) {
        0 => {
            let cut = char_boundary(text, rng.random_range(0..text.len().max(1)));
            text.truncate(cut);
            "truncated"
        }
        1 => {
            text.push_str(&format!(
                " fragment F on {query} {{ __typename }} fragment F on {query} {{ __typename }}"
            ));
            *text = text.replacen("{", "{ ...F ", 1);
            "duplicated fragment"
        }
        2 => {
            text.push_str(&format!(
                " fragment A on {query} {{ ...B }} fragment B on {query} {{ ...A }}"
            ));
            *text = text.replacen("{", "{ ...A ", 1);
            "fragment cycle"
        }
        3 => {
            let levels = rng.random_range(3..11);
            let mut fragments = format!(" fragment L0 on {query} {{ __typename }}");
            for level in 1..=levels {
                let below = level - 1;
                fragments.push_str(&format!(" fragment L{level} on {query} {{ ...L{below} ...L{below} }}"));
            }
            text.push_str(&fragments);
            *text = text.replacen("{", &format!("{{ ...L{levels} "), 1);
            "small fragment bomb"
        }
        4 => {
            let depth = rng.random_range(20..400);
            let open = format!("... on {query} {{ ").repeat(depth);
            *text = format!("query Deep {{ {open}__typename{} }}", " }".repeat(depth));
            "deep inline fragments"
        }
        5 => {
            let depth = rng.random_range(50..2000);
            *text = format!("{{ {}", "{".repeat(depth));
            "unbalanced braces"
        }
        6 => {
            let depth = rng.random_range(10..300);
            *text = format!(
                "query {{ performances(first: {}1{}) {{ totalCount }} }}",
                "[".repeat(depth),
                "]".repeat(depth)
            );
            "nested list literal"
        }
        7 => {
            let huge = [
                "99999999999999999999999999999999",
                "1e99999",
                "-0.0000000000000001e-999",
            ];
            let number = huge.choose(rng).unwrap_or(&"1e99999");
            *text = text.replace("1", number);
            for (_, value) in variables.iter_mut() {
                *value = value.replace("1", number);
            }
            "huge numbers"
        }
        8 => {
            for _ in 0..rng.random_range(1..4) {
                let at = char_boundary(text, rng.random_range(0..text.len().max(1)));
                let inserted = char::from_u32(rng.random_range(0x80..0x10FFFF)).unwrap_or('\u{FFFD}');
                text.insert(at, inserted);
            }
            "unicode inserted"
        }
        9 => {
            if variables.is_empty() {
                variables.push(("v0".into(), String::new()));
            }
            for (_, value) in variables.iter_mut() {
                *value = values::wrong(rng).json();
            }
            "wrong variable types"
        }
        10 => {
            let count = rng.random_range(50..300);
            let aliases: String = (0..count).map(|i| format!("a{i}: __typename ")).collect();
            *text = text.replacen("{", &format!("{{ {aliases}"), 1);
            "aliases"
        }
        11 => {
            let noise = [
                " @skip(if: \"yes\")",
                " @include",
                " @nope",
                " @skip(if: true) @skip(if: false)",
            ];
            let noise = noise.choose(rng).unwrap_or(&" @nope");
            *text = text.replacen(" {", &format!("{noise} {{"), 1);
            "directive noise"
        }
        _ => {
            for _ in 0..rng.random_range(1..6) {
                let at = char_boundary(text, rng.random_range(0..text.len().max(1)));
                if at < text.len() {
                    text.remove(at);
                }
            }
            "characters deleted"
        }
    }
}

/// Wraps the document in a wrong or unusual envelope.
fn envelope(request: &mut FuzzRequest, text: &str, variables: &str, kind: &str, rng: &mut StdRng) {
    let query = serde_json::Value::String(text.to_string()).to_string();
    match rng.random_range(0..9) {
        0 => request.body = format!("{{\"query\":{query},\"variables\":[1,2]}}"),
        1 => request.body = format!("{{\"query\":{query},\"variables\":\"{{}}\"}}"),
        2 => request.body = "{\"variables\":{}}".into(),
        3 => request.body = format!("{{\"query\":12,\"operationName\":{query}}}"),
        4 => request.body = format!("[{},{}]", request.body, request.body),
        5 => {
            let cut = char_boundary(&request.body, rng.random_range(0..request.body.len().max(1)));
            request.body.truncate(cut);
        }
        6 => {
            request.body = format!(
                "{{\"query\":{query},\"variables\":{variables},\"operationName\":\"Other\",\"extensions\":{{\"persistedQuery\":{{\"version\":1,\"sha256Hash\":\"abc\"}}}}}}"
            )
        }
        7 => {
            request.content_type = [
                "text/plain",
                "application/graphql",
                "application/x-www-form-urlencoded",
                "",
            ]
            .choose(rng)
            .copied()
            .unwrap_or("text/plain");
        }
        _ => {
            request.get = true;
            let encoded: String = url_encode(text);
            request.body = format!("query={encoded}&variables={}", url_encode(variables));
            if kind != "query" && rng.random_bool(0.5) {
                request.body.push_str("&operationName=Op");
            }
        }
    }
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The nearest char boundary at or below `at`.
fn char_boundary(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}
