//! Security: cost. Every document is measured before async-graphql validates it and before
//! any resolver runs; one over a limit is refused with `QUERY_TOO_COMPLEX` (or
//! `QUERY_TOO_DEEP`), naming the measure and the limit, over HTTP and WebSocket alike.

use std::time::Duration;

use curtain_tests::fixtures::one_row_session;
use curtain_tests::socket::{connect, next_message, subscribe};
use curtain_tests::{Backend, TestApp, backend_tests, data, error_code};
use reqwest::StatusCode;
use reqwest::header::ACCEPT;
use serde_json::{Value, json};

backend_tests!(
    a_flood_of_seat_map_aliases_is_refused_before_any_database_call,
    big_legitimate_queries_still_run,
);

/// The finding's document: 24 fragments, each spreading the one before twice (2^24 fields
/// once expanded), in about 1 KB.
fn fragment_bomb() -> String {
    let mut doc = String::from("query { ...F24 }\nfragment F0 on QueryRoot { __typename }\n");
    for i in 1..=24 {
        doc.push_str(&format!(
            "fragment F{i} on QueryRoot {{ ...F{p} ...F{p} }}\n",
            p = i - 1
        ));
    }
    doc
}

/// POSTs under `Accept: application/graphql-response+json`, where a request error is a 400.
async fn post_strict(app: &TestApp, query: &str, variables: Value) -> (StatusCode, Value) {
    let response = app
        .client
        .post(app.url("/graphql"))
        .header(ACCEPT, "application/graphql-response+json")
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("sent");
    let status = response.status();
    (status, response.json().await.expect("a JSON body"))
}

/// Asserts a request error with `code` that ran nothing; returns the error's extensions.
fn assert_refused(status: StatusCode, body: &Value, code: &str) -> Value {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body:#}");
    assert_eq!(error_code(body), code, "{body:#}");
    assert!(body.get("data").is_none_or(Value::is_null), "nothing ran: {body:#}");
    body["errors"][0]["extensions"].clone()
}

async fn request_statements(app: &TestApp) -> f64 {
    app.metric("curtain_db_statements_total", "origin=\"request\"").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fragment_bomb_is_refused_while_the_server_keeps_answering() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("SQLite");
    let bomb = fragment_bomb();
    assert!(bomb.len() < 1_500, "about 1 KB: {}", bomb.len());
    // Several at once, as an attacker would, while a load balancer keeps probing.
    let attacks: Vec<_> = (0..4)
        .map(|_| {
            let (client, url, bomb) = (app.client.clone(), app.url("/graphql"), bomb.clone());
            tokio::spawn(async move {
                let response = client
                    .post(url)
                    .header(ACCEPT, "application/graphql-response+json")
                    .json(&json!({ "query": bomb }))
                    .send()
                    .await
                    .expect("sent");
                (response.status(), response.json::<Value>().await.expect("JSON"))
            })
        })
        .collect();
    for _ in 0..5 {
        let health = tokio::time::timeout(Duration::from_secs(5), app.client.get(app.url("/healthz")).send())
            .await
            .expect("/healthz answers while the bombs are measured")
            .expect("sent");
        assert_eq!(health.status(), StatusCode::OK);
    }
    for attack in attacks {
        let (status, body) = tokio::time::timeout(Duration::from_secs(10), attack)
            .await
            .expect("refused, not computed")
            .expect("task");
        let extensions = assert_refused(status, &body, "QUERY_TOO_COMPLEX");
        assert_eq!(extensions["measure"], "fragmentSpreads");
        assert!(
            extensions["cost"].as_u64() > extensions["limit"].as_u64(),
            "{extensions}"
        );
    }
    app.stop().await;
}

async fn a_flood_of_seat_map_aliases_is_refused_before_any_database_call(app: &TestApp) {
    let show = one_row_session(app, "Alias flood", 10).await;
    let aliases = |n: usize, selection: &str| {
        let fields: String = (0..n)
            .map(|i| format!(" m{i}: seatMap(sessionId: $s) {{ {selection} }}"))
            .collect();
        format!("query($s: ID!) {{{fields} }}")
    };
    let before = request_statements(app).await;
    // The finding: 1,200 of them in one request.
    let (status, body) = post_strict(
        app,
        &aliases(1_200, "version seats { id status }"),
        json!({ "s": show.session }),
    )
    .await;
    assert_refused(status, &body, "QUERY_TOO_COMPLEX");
    // Fewer, each over a limit of its own.
    let (status, body) = post_strict(app, &aliases(100, "version"), json!({ "s": show.session })).await;
    assert_eq!(assert_refused(status, &body, "QUERY_TOO_COMPLEX")["measure"], "aliases");
    let (status, body) = post_strict(app, &aliases(13, "version"), json!({ "s": show.session })).await;
    let extensions = assert_refused(status, &body, "QUERY_TOO_COMPLEX");
    assert_eq!(extensions["measure"], "complexity");
    assert_eq!(extensions["limit"], 250_000);
    assert_eq!(
        request_statements(app).await,
        before,
        "no statement ran for a refused document"
    );

    // A couple of seat maps are fine.
    let (status, body) = post_strict(app, &aliases(2, "version seats { id }"), json!({ "s": show.session })).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(data(&body)["m1"]["seats"].as_array().map(Vec::len), Some(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_multiply_through_nested_connections() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("SQLite");
    let query = "query($n: Int) { performances(first: $n) { edges { node { title reviews(first: $n) { \
                 edges { node { body performance { reviews(first: $n) { edges { node { rating } } } } } } } } } } }";
    let (status, body) = post_strict(&app, query, json!({ "n": 100 })).await;
    let extensions = assert_refused(status, &body, "QUERY_TOO_COMPLEX");
    assert_eq!(extensions["measure"], "complexity");
    assert!(extensions["cost"].as_u64() > Some(1_000_000), "{extensions}");
    let (status, body) = post_strict(&app, query, json!({ "n": 3 })).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(data(&body)["performances"]["edges"], json!([]));
    // Without `first`, the default page size (20) counts, which is fine.
    let (status, body) = post_strict(&app, query, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fragment_cycles_are_refused_as_invalid_without_hanging() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("SQLite");
    for cycle in [
        "{ ...A } fragment A on QueryRoot { ...B } fragment B on QueryRoot { ...A }",
        "{ ...A } fragment A on QueryRoot { __typename ...A }",
        // Doubling on every turn: walking it naively never ends.
        "{ ...A } fragment A on QueryRoot { ...B ...B } fragment B on QueryRoot { ...A ...A }",
    ] {
        let (status, body) = tokio::time::timeout(Duration::from_secs(10), post_strict(&app, cycle, Value::Null))
            .await
            .expect("answered at once");
        assert_refused(status, &body, "GRAPHQL_VALIDATION_FAILED");
        let message = body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains("Cannot spread fragment"), "{message}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_long_dense_and_nested_documents_are_refused_before_parsing() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("SQLite");
    let long = format!("{{ __typename }} # {}", "x".repeat(20_000));
    let (status, body) = post_strict(&app, &long, Value::Null).await;
    let extensions = assert_refused(status, &body, "QUERY_TOO_COMPLEX");
    assert_eq!(
        (extensions["measure"].clone(), extensions["limit"].clone()),
        (json!("bytes"), json!(16_384))
    );

    let dense = format!("{{{} }}", " a".repeat(4_500));
    assert!(dense.len() < 16_384);
    let (status, body) = post_strict(&app, &dense, Value::Null).await;
    let extensions = assert_refused(status, &body, "QUERY_TOO_COMPLEX");
    assert_eq!(
        (extensions["measure"].clone(), extensions["cost"].clone()),
        (json!("tokens"), json!(4_502))
    );

    let nested = format!("{{ performances(filter: {}) {{ nodes {{ id }} }} }}", "[".repeat(200));
    let (status, body) = post_strict(&app, &nested, Value::Null).await;
    assert_eq!(assert_refused(status, &body, "QUERY_TOO_DEEP")["measure"], "nesting");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_subscribers_get_the_same_refusals() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("SQLite");
    let show = one_row_session(&app, "Socket cost", 4).await;
    let mut socket = connect(&app, None).await;
    // graphql-transport-ws runs queries too.
    subscribe(&mut socket, "bomb", &fragment_bomb(), Value::Null).await;
    let message = next_message(&mut socket).await.expect("an answer, not a closed socket");
    assert_eq!(
        (message["type"].clone(), message["id"].clone()),
        (json!("error"), json!("bomb")),
        "{message}"
    );
    assert_eq!(message["payload"][0]["extensions"]["code"], "QUERY_TOO_COMPLEX");
    assert_eq!(message["payload"][0]["extensions"]["measure"], "fragmentSpreads");

    let flood: String = (0..100)
        .map(|i| format!(" m{i}: seatMapUpdates(sessionId: $s) {{ __typename }}"))
        .collect();
    subscribe(
        &mut socket,
        "flood",
        &format!("subscription($s: ID!) {{{flood} }}"),
        json!({ "s": show.session }),
    )
    .await;
    let message = next_message(&mut socket).await.expect("an answer");
    assert_eq!(message["type"], "error", "{message}");
    assert_eq!(message["payload"][0]["extensions"]["measure"], "aliases");

    // The connection is still good for a reasonable subscription.
    let live = "subscription($s: ID!) { seatMapUpdates(sessionId: $s) { __typename \
                ... on SeatMapSnapshot { version seats { id status } } } }";
    subscribe(&mut socket, "live", live, json!({ "s": show.session })).await;
    let message = next_message(&mut socket).await.expect("the snapshot");
    assert_eq!(message["type"], "next", "{message}");
    assert_eq!(
        message["payload"]["data"]["seatMapUpdates"]["seats"]
            .as_array()
            .map(Vec::len),
        Some(4)
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_limits_follow_the_settings() {
    let app = TestApp::builder(Backend::Sqlite)
        .configure(|s| {
            s.graphql.alias_limit = 1;
            s.graphql.complexity_limit = 6;
        })
        .spawn()
        .await
        .expect("SQLite");
    let (status, body) = post_strict(&app, "{ a: __typename b: __typename }", Value::Null).await;
    assert_eq!(assert_refused(status, &body, "QUERY_TOO_COMPLEX")["limit"], 1);
    let (status, body) = post_strict(&app, "{ venues(first: 5) { nodes { name } } }", Value::Null).await;
    let extensions = assert_refused(status, &body, "QUERY_TOO_COMPLEX");
    assert_eq!(
        (extensions["cost"].clone(), extensions["limit"].clone()),
        (json!(7), json!(6))
    );
    let (status, body) = post_strict(&app, "{ venues(first: 2) { nodes { name } } }", Value::Null).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    app.stop().await;
}

async fn big_legitimate_queries_still_run(app: &TestApp) {
    let show = one_row_session(app, "Legitimate", 12).await;
    // The README's catalog query, at the largest page.
    let catalog = "{ performances(first: 100) { edges { node { title englishTitle startDate endDate \
                   venue { name region } cast { role castMember { name } } \
                   sessions { id startsAt saleState availableSeatCount totalSeatCount } priceTiers { grade price } \
                   } } pageInfo { hasNextPage endCursor } } }";
    let (status, body) = post_strict(app, catalog, Value::Null).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(data(&body)["performances"]["edges"][0]["node"]["title"], "Legitimate");
    // The README's seat map query, every seat field.
    let seat_map = "query($s: ID!) { seatMap(sessionId: $s) { version availableCount \
                    seats { id section row number grade price status x y accessible } } }";
    let (status, body) = post_strict(app, seat_map, json!({ "s": show.session })).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(data(&body)["seatMap"]["seats"].as_array().map(Vec::len), Some(12));
    // GraphiQL's schema query.
    let (status, body) = post_strict(app, INTROSPECTION, Value::Null).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(data(&body)["__schema"]["queryType"]["name"], "QueryRoot");
}

/// The shape of GraphiQL's schema query (graphql-js `getIntrospectionQuery`).
const INTROSPECTION: &str = "
query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) {
    name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason
  }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name } } } } } } }
}";
