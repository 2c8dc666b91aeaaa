//! Response keys come in the order of the selection (GraphQL spec §7.2.2), whatever order
//! the fields finish in: plain fields, fields a dataloader answers later, aliases, fragments.

use curtain_tests::socket::{connect, subscribe};
use curtain_tests::{TestApp, fixtures};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

/// The answer with its objects' keys in the order they were sent (async-graphql's value
/// keeps it; `serde_json::Value` here would sort them).
fn parse(text: &str) -> async_graphql::Value {
    serde_json::from_str(text).unwrap_or_else(|err| panic!("{err}: {text}"))
}

/// The value at `path` (names, or list indexes as numbers).
fn at<'a>(value: &'a async_graphql::Value, path: &[&str]) -> &'a async_graphql::Value {
    let mut at = value;
    for step in path {
        at = match (at, step.parse::<usize>()) {
            (async_graphql::Value::List(items), Ok(index)) => &items[index],
            (async_graphql::Value::Object(map), _) => &map[*step],
            (other, _) => panic!("no {step} in {other}"),
        };
    }
    at
}

/// The keys of the object at `path`, in order.
fn keys(value: &async_graphql::Value, path: &[&str]) -> Vec<String> {
    match at(value, path) {
        async_graphql::Value::Object(map) => map.keys().map(ToString::to_string).collect(),
        other => panic!("not an object: {other}"),
    }
}

async fn raw(app: &TestApp, query: &str, token: Option<&str>) -> String {
    let mut request = app.client.post(app.url("/graphql")).json(&json!({ "query": query }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("sent").text().await.expect("text")
}

async fn queries_and_mutations_answer_in_selection_order(app: &TestApp) {
    let session = fixtures::one_row_session(app, "Order", 4).await;
    // `me` and `__typename` finish at once; the connections wait for their loaders.
    let text = raw(
        app,
        "{ z: __typename performances(first: 5) { edges { node { venue { name } title sessions { id } id } } } \
           ...Rest me { id } a: __typename } \
         fragment Rest on QueryRoot { c: venues(first: 1) { edges { node { name id } } } }",
        None,
    )
    .await;
    let answer = parse(&text);
    assert_eq!(
        keys(&answer, &["data"]),
        ["z", "performances", "c", "me", "a"],
        "{text}"
    );
    let nodes = match at(&answer, &["data", "performances", "edges"]) {
        async_graphql::Value::List(edges) => edges.len(),
        other => panic!("{other}"),
    };
    assert!(nodes >= 1, "{text}");
    for n in 0..nodes {
        let n = n.to_string();
        let node = ["data", "performances", "edges", n.as_str(), "node"];
        assert_eq!(keys(&answer, &node), ["venue", "title", "sessions", "id"], "{text}");
    }
    assert_eq!(
        keys(&answer, &["data", "c", "edges", "0", "node"]),
        ["name", "id"],
        "{text}"
    );

    let buyer = app.sign_up("order@example.com").await;
    let text = raw(
        app,
        &format!(
            r#"mutation {{ second: markNotificationsRead(ids: [])
                 first: holdSeats(sessionId: "{}", seatIds: ["{}"], idempotencyKey: "order-1") {{ status seats {{ price id }} id }} }}"#,
            session.session, session.seats[0]
        ),
        Some(&buyer.access_token),
    )
    .await;
    let answer = parse(&text);
    assert_eq!(keys(&answer, &["data"]), ["second", "first"], "{text}");
    assert_eq!(keys(&answer, &["data", "first"]), ["status", "seats", "id"], "{text}");
    assert_eq!(
        keys(&answer, &["data", "first", "seats", "0"]),
        ["price", "id"],
        "{text}"
    );
}

/// The event's fields finish in order today (none waits for a loader); this guards the shared
/// encodings of the fan-out, which serialise each event once for its subscribers.
async fn subscription_events_answer_in_selection_order(app: &TestApp) {
    let session = fixtures::one_row_session(app, "Order live", 4).await;
    let mut socket = connect(app, None).await;
    subscribe(
        &mut socket,
        "1",
        "subscription($s: ID!) { seatMapUpdates(sessionId: $s) { ... on SeatMapSnapshot { seats { status id } version } __typename } }",
        json!({ "s": session.session }),
    )
    .await;
    // The raw frame: the client's JSON parser would not keep the order.
    use futures::StreamExt;
    let text = loop {
        match tokio::time::timeout(std::time::Duration::from_secs(10), socket.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => break text.to_string(),
            Ok(Some(Ok(_))) => continue,
            other => panic!("no event: {other:?}"),
        }
    };
    let event = parse(&text);
    let root = ["payload", "data", "seatMapUpdates"];
    assert_eq!(keys(&event, &root), ["seats", "version", "__typename"], "{text}");
    for seat in ["0", "1", "2", "3"] {
        let path = [&root[..], &["seats", seat]].concat();
        assert_eq!(keys(&event, &path), ["status", "id"], "{text}");
    }
}

curtain_tests::backend_tests!(
    queries_and_mutations_answer_in_selection_order,
    subscription_events_answer_in_selection_order,
);
