//! Malformed graphql-transport-ws conversations: bad JSON, wrong types, huge ids, binary
//! frames, unknown message types, subscribing before `connection_init`, half-valid payloads.

use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use serde_json::json;

use super::documents::Builder;
use super::requests::Caller;
use super::schema::Schema;
use super::values::{self, KnownIds};

/// One frame the client sends.
#[derive(Debug, Clone)]
pub enum Frame {
    Text(String),
    Binary(Vec<u8>),
}

/// One socket's conversation.
#[derive(Debug, Clone)]
pub struct SocketCase {
    /// `Sec-WebSocket-Protocol`, when sent.
    pub protocol: Option<&'static str>,
    pub frames: Vec<Frame>,
    pub label: &'static str,
}

const INIT: &str = r#"{"type":"connection_init"}"#;

pub(crate) fn socket_case(schema: &Schema, known: &KnownIds, tokens: (&str, &str), rng: &mut StdRng) -> SocketCase {
    let caller = *[Caller::Anonymous, Caller::Buyer, Caller::Admin]
        .choose(rng)
        .unwrap_or(&Caller::Anonymous);
    let init = match caller {
        Caller::Anonymous => INIT.to_string(),
        Caller::Buyer => {
            json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {}", tokens.0) } })
                .to_string()
        }
        Caller::Admin => json!({ "type": "connection_init", "payload": { "accessToken": tokens.1 } }).to_string(),
    };
    let text = |s: &str| Frame::Text(s.to_string());
    let subscription = || {
        let session = known
            .0
            .get("Session")
            .and_then(|s| s.first())
            .cloned()
            .unwrap_or_default();
        json!({ "type": "subscribe", "id": "1", "payload": {
            "query": "subscription($s: ID!) { seatMapUpdates(sessionId: $s) { __typename } }",
            "variables": { "s": session } } })
        .to_string()
    };
    let (label, frames) = match rng.random_range(0..11) {
        0 => {
            let junk = [
                "{",
                "not json",
                "",
                "null",
                "[]",
                "123",
                "\"connection_init\"",
                "{\"type\":",
                "\u{0}",
            ];
            ("bad JSON", vec![text(junk.choose(rng).unwrap_or(&"{")), text(&init)])
        }
        1 => {
            let wrong = [
                r#"{"type":5}"#,
                r#"{"type":null}"#,
                r#"{"type":["subscribe"]}"#,
                r#"{"id":"1"}"#,
                r#"{"type":"subscribe","id":5,"payload":{"query":"{ __typename }"}}"#,
                r#"{"type":"subscribe","id":"1","payload":"{ __typename }"}"#,
                r#"{"type":"subscribe","id":"1","payload":{"query":5,"variables":[]}}"#,
                r#"{"type":"complete","id":{"a":1}}"#,
                r#"{"type":"ping","payload":"x"}"#,
            ];
            (
                "wrong types",
                vec![text(&init), text(wrong.choose(rng).unwrap_or(&"{}"))],
            )
        }
        2 => {
            let id = match rng.random_range(0..3) {
                0 => "9".repeat(rng.random_range(1_000..200_000)),
                1 => values::random_string(rng),
                _ => String::new(),
            };
            let subscribe = json!({ "type": "subscribe", "id": id, "payload": { "query": "subscription { notificationReceived { id } }" } });
            ("huge or odd id", vec![text(&init), Frame::Text(subscribe.to_string())])
        }
        3 => {
            let bytes: Vec<u8> = (0..rng.random_range(0..2_000)).map(|_| rng.random()).collect();
            let frames = if rng.random_bool(0.5) {
                vec![Frame::Binary(INIT.as_bytes().to_vec())]
            } else {
                vec![text(&init), Frame::Binary(bytes)]
            };
            ("binary frames", frames)
        }
        4 => {
            let unknown = [
                r#"{"type":"start","id":"1","payload":{"query":"{ __typename }"}}"#,
                r#"{"type":"connection_terminate"}"#,
                r#"{"type":"hello"}"#,
                r#"{"type":"next","id":"1","payload":{}}"#,
                r#"{"type":"error","id":"1","payload":[]}"#,
                r#"{"type":"connection_ack"}"#,
            ];
            (
                "unknown types",
                vec![text(&init), text(unknown.choose(rng).unwrap_or(&"{}"))],
            )
        }
        5 => ("subscribe before init", vec![Frame::Text(subscription())]),
        6 => {
            let operation = Builder::new(schema, known, rng).operation("S");
            let variables: serde_json::Map<String, serde_json::Value> = operation
                .variables
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), serde_json::from_str(v).ok()?)))
                .collect();
            let subscribe = json!({ "type": "subscribe", "id": "g", "payload": { "query": operation.text, "variables": variables } });
            (
                "generated document",
                vec![text(&init), Frame::Text(subscribe.to_string())],
            )
        }
        7 => {
            let frames = match rng.random_range(0..3) {
                0 => vec![text(&init), text(&init)],
                1 => vec![text(&init), Frame::Text(subscription()), Frame::Text(subscription())],
                _ => vec![text(&init), text(r#"{"type":"complete","id":"never"}"#)],
            };
            ("repeated messages", frames)
        }
        8 => {
            let payloads = [
                json!({ "Authorization": 5 }),
                json!({ "Authorization": "Bearer garbage.garbage.garbage" }),
                json!({ "Authorization": format!("Bearer {}", "x".repeat(20_000)) }),
                json!({ "accessToken": ["a"] }),
                json!("a string"),
            ];
            let init = json!({ "type": "connection_init", "payload": payloads.choose(rng) });
            let mut frames = vec![Frame::Text(init.to_string())];
            if rng.random_bool(0.3) {
                let deep = format!("{}{}", "[".repeat(5_000), "]".repeat(5_000));
                frames = vec![Frame::Text(format!(r#"{{"type":"connection_init","payload":{deep}}}"#))];
            }
            ("odd init payloads", frames)
        }
        9 => (
            "legacy protocol",
            vec![
                text(&init),
                text(r#"{"type":"start","id":"1","payload":{"query":"{ __typename }"}}"#),
            ],
        ),
        _ => ("a real subscription", vec![text(&init), Frame::Text(subscription())]),
    };
    let protocol = match (label, rng.random_range(0..20)) {
        ("legacy protocol", _) => Some("graphql-ws"),
        (_, 0) => None,
        (_, 1) => Some("nonsense"),
        _ => Some("graphql-transport-ws"),
    };
    SocketCase {
        protocol,
        frames,
        label,
    }
}
