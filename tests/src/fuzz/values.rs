//! Argument and variable values: mostly of the right type (real IDs from the catalog among
//! them), sometimes of the wrong one, with edge cases of every scalar.
//!
//! No value contains text the leak check looks for (SQL keywords in capitals, paths, Rust
//! type names), so that an echo of the input is never taken for a leak.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;

/// A value written either as a GraphQL literal or as JSON.
#[derive(Debug, Clone)]
pub(crate) enum Val {
    Null,
    /// Digits as written, so that numbers beyond any integer type can be sent.
    Number(String),
    Str(String),
    Bool(bool),
    Enum(String),
    List(Vec<Val>),
    Object(Vec<(String, Val)>),
}

impl Val {
    pub(crate) fn literal(&self) -> String {
        match self {
            Val::Null => "null".into(),
            Val::Number(n) => n.clone(),
            Val::Str(s) => serde_json::Value::String(s.clone()).to_string(),
            Val::Bool(b) => b.to_string(),
            Val::Enum(e) => e.clone(),
            Val::List(items) => format!("[{}]", items.iter().map(Val::literal).collect::<Vec<_>>().join(", ")),
            Val::Object(fields) => format!(
                "{{{}}}",
                fields
                    .iter()
                    .map(|(k, v)| format!("{k}: {}", v.literal()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// JSON text; numbers stay as written (possibly beyond what a parser accepts).
    pub(crate) fn json(&self) -> String {
        match self {
            Val::Enum(e) => serde_json::Value::String(e.clone()).to_string(),
            Val::List(items) => format!("[{}]", items.iter().map(Val::json).collect::<Vec<_>>().join(",")),
            Val::Object(fields) => format!(
                "{{{}}}",
                fields
                    .iter()
                    .map(|(k, v)| format!("{}:{}", serde_json::Value::String(k.clone()), v.json()))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            other => other.literal(),
        }
    }
}

/// Global IDs of real objects, by node type (`Session`, `Seat`, …).
#[derive(Debug, Clone, Default)]
pub struct KnownIds(pub HashMap<String, Vec<String>>);

impl KnownIds {
    /// A real ID for an argument named `hint` (`sessionId`, `seatIds`, or the field's name for
    /// a bare `id`), or any real ID when the name says nothing.
    fn pick(&self, hint: &str, rng: &mut StdRng) -> Option<String> {
        let hint = hint.to_ascii_lowercase();
        let kind = self
            .0
            .keys()
            .find(|kind| hint.contains(&kind.to_ascii_lowercase()))
            .or_else(|| self.0.keys().collect::<Vec<_>>().choose(rng).copied())?;
        self.0.get(kind)?.choose(rng).cloned()
    }
}

const STRINGS: &[&str] = &[
    "",
    " ",
    "a",
    "레미제라블",
    "ㄹㅁㅈㄹㅂ",
    "미제라",
    "Les Mis",
    "' or '1'='1",
    "1; drop table seats --",
    "%",
    "_%_",
    "\\",
    "\"",
    "\u{0}",
    "😀🎭🎟️",
    "\u{202e}evil",
    "e\u{301}",
    "<script>alert(1)</script>",
    "${jndi:ldap://127.0.0.1/a}",
    "\n\r\t",
    "null",
    "0",
    "-1",
    "buyer@example.com",
    "admin@curtain.test",
    "not-an-email",
    "010-1234-5678",
    "2026-02-30",
    "Bearer x",
];

const INTS: &[&str] = &[
    "0",
    "1",
    "-1",
    "2",
    "3",
    "5",
    "10",
    "50",
    "100",
    "1000",
    "2147483647",
    "-2147483648",
    "2147483648",
    "-2147483649",
    "9223372036854775807",
    "99999999999999999999999999",
];

const FLOATS: &[&str] = &[
    "0.0", "-0.0", "1.5", "0.1", "-3.25", "1e308", "1e400", "-1e400", "5e-324",
];

const DATE_TIMES: &[&str] = &[
    "2026-12-24T19:30:00+09:00",
    "2020-01-01T00:00:00Z",
    "2099-12-31T23:59:59Z",
    "2026-13-45T99:99:99Z",
    "+275760-09-13T00:00:00Z",
    "-000001-01-01T00:00:00Z",
    "yesterday",
    "",
];

const DATES: &[&str] = &[
    "2026-12-25",
    "2026-02-29",
    "0000-00-00",
    "9999-12-31",
    "-9999-01-01",
    "25/12/2026",
    "",
];

const NODE_KINDS: &[&str] = &[
    "Performance",
    "Venue",
    "CastMember",
    "Session",
    "Seat",
    "User",
    "Reservation",
    "Coupon",
    "Review",
    "Nope",
];

pub(crate) fn random_string(rng: &mut StdRng) -> String {
    match rng.random_range(0..10) {
        0 => (0..rng.random_range(1..40))
            .map(|_| char::from_u32(rng.random_range(0x20..0x2FFFF)).unwrap_or('?'))
            .collect(),
        1 => "가".repeat(rng.random_range(100..5_000)),
        2 => "a".repeat(rng.random_range(1_000..70_000)),
        _ => (*STRINGS.choose(rng).unwrap_or(&"")).to_string(),
    }
}

fn random_id(known: &KnownIds, hint: &str, rng: &mut StdRng) -> String {
    match rng.random_range(0..10) {
        0..6 => known.pick(hint, rng).unwrap_or_default(),
        6 | 7 => {
            let kind = NODE_KINDS.choose(rng).unwrap_or(&"Seat");
            let id = INTS.choose(rng).unwrap_or(&"1");
            URL_SAFE_NO_PAD.encode(format!("{kind}:{id}"))
        }
        8 => (*["1", "-1", "abc", "!!!", "====", "U2VzcTox", "Session:1"]
            .choose(rng)
            .unwrap_or(&"1"))
        .to_string(),
        _ => random_string(rng),
    }
}

/// A value of the scalar or enum `name`: any edge case when `sloppy`, else one that the type
/// accepts (though perhaps not the resolver).
pub(crate) fn scalar(
    name: &str,
    hint: &str,
    enum_values: Option<&[String]>,
    sloppy: bool,
    known: &KnownIds,
    rng: &mut StdRng,
) -> Val {
    let pick = |list: &[&str], rng: &mut StdRng| (*list.choose(rng).unwrap_or(&"")).to_string();
    match (name, enum_values) {
        (_, Some(values)) if !sloppy => Val::Enum(values.choose(rng).cloned().unwrap_or_default()),
        ("Int", _) if !sloppy => Val::Number(rng.random_range(-2..60).to_string()),
        ("Float", _) if !sloppy => Val::Number(pick(&FLOATS[..5], rng)),
        ("ID", _) if !sloppy => Val::Str(known.pick(hint, rng).unwrap_or_default()),
        ("DateTime", _) if !sloppy => Val::Str(pick(&DATE_TIMES[..3], rng)),
        ("NaiveDate", _) if !sloppy => Val::Str(pick(&DATES[..2], rng)),
        (_, Some(values)) => match rng.random_range(0..10) {
            0 => Val::Enum("NOT_A_VALUE".into()),
            1 => Val::Str(values.choose(rng).cloned().unwrap_or_default()),
            _ => Val::Enum(values.choose(rng).cloned().unwrap_or_default()),
        },
        ("Int", _) => match rng.random_range(0..4) {
            0 => Val::Number(rng.random_range(-1000..1000).to_string()),
            _ => Val::Number(pick(INTS, rng)),
        },
        ("Float", _) => Val::Number(pick(FLOATS, rng)),
        ("Boolean", _) => Val::Bool(rng.random_bool(0.5)),
        ("ID", _) => Val::Str(random_id(known, hint, rng)),
        ("DateTime", _) => Val::Str(pick(DATE_TIMES, rng)),
        ("NaiveDate", _) => Val::Str(pick(DATES, rng)),
        ("JSON", _) => wrong(rng),
        _ => Val::Str(random_string(rng)),
    }
}

/// A value of a random shape, for where another type is expected.
pub(crate) fn wrong(rng: &mut StdRng) -> Val {
    match rng.random_range(0..8) {
        0 => Val::Null,
        1 => Val::Number(pick_str(INTS, rng)),
        2 => Val::Number(pick_str(FLOATS, rng)),
        3 => Val::Str(random_string(rng)),
        4 => Val::Bool(rng.random_bool(0.5)),
        5 => Val::Enum("RANDOM_ENUM".into()),
        6 => Val::List((0..rng.random_range(0..4)).map(|_| Val::Number("1".into())).collect()),
        _ => Val::Object(vec![("unknownField".into(), Val::Str("x".into()))]),
    }
}

fn pick_str(list: &[&str], rng: &mut StdRng) -> String {
    (*list.choose(rng).unwrap_or(&"")).to_string()
}
