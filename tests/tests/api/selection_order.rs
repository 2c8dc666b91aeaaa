//! Response keys come in the order of the selection (GraphQL spec §7.2.2), whatever order
//! the fields finish in: plain fields, fields a dataloader answers later, aliases, fragments.

use curtain_tests::socket::{connect, subscribe};
use curtain_tests::{TestApp, fixtures};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

/// Asserts that `keys` (as JSON object keys) first appear in `text` in this order.
fn in_order(text: &str, keys: &[&str]) {
    let mut last = 0;
    for key in keys {
        let needle = format!("\"{key}\":");
        let at = text[last..]
            .find(&needle)
            .unwrap_or_else(|| panic!("{key} is not after the keys before it in {text}"));
        last += at + needle.len();
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
    in_order(
        &text,
        &["z", "performances", "venue", "title", "sessions", "id", "c", "me", "a"],
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
    in_order(&text, &["second", "first", "status", "seats", "price", "id"]);
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
    in_order(
        &text,
        &["seatMapUpdates", "seats", "status", "id", "version", "__typename"],
    );
}

curtain_tests::backend_tests!(
    queries_and_mutations_answer_in_selection_order,
    subscription_events_answer_in_selection_order,
);
