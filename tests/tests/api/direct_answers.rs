//! The catalog's hot read answered straight to JSON (`graphql::direct`) gives the executor's
//! answer byte for byte; anything the direct writer cannot answer, or an error, still gets
//! the executor's answer.
//!
//! A document runs directly once the executor has answered it without error, so each
//! document here is sent twice: the first answer is the executor's, the second the direct
//! writer's (counted by `curtain_graphql_direct_answers_total`). Plans are kept per instance,
//! and each test has its own.

use curtain_tests::fixtures::{add_cast, create_performance, create_session, create_venue, day, small_layout};
use curtain_tests::{TestApp, backend_tests, data, error_code};
use serde_json::{Value, json};

backend_tests!(
    direct_answers_are_the_executors_byte_for_byte,
    what_the_direct_writer_cannot_answer_gets_the_executors_answer,
    direct_answers_show_catalog_writes_at_once,
);

const DIRECT: &str = "curtain_graphql_direct_answers_total";

/// The body of a POST, as sent.
async fn raw(app: &TestApp, query: &str, variables: Value) -> String {
    app.client
        .post(app.url("/graphql"))
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("sent")
        .text()
        .await
        .expect("text")
}

/// The answer of `query`, and whether the direct writer gave it.
async fn answer(app: &TestApp, query: &str, variables: Value) -> (String, bool) {
    let before = app.metric(DIRECT, "").await;
    let text = raw(app, query, variables).await;
    let direct = app.metric(DIRECT, "").await - before;
    assert!(
        direct == 0.0 || direct == 1.0,
        "{direct} direct answers for one request"
    );
    (text, direct == 1.0)
}

/// Moves a cast role to billing order 2.
async fn bill_second(app: &TestApp, role: &str) {
    app.admin(
        "mutation($id: ID!) { updatePerformanceCast(id: $id, input: { billingOrder: 2 }) { id } }",
        json!({ "id": role }),
    )
    .await;
}

/// Two performances with cast, sessions and prices; the second with an English title and a
/// cast member with every optional field.
async fn catalog(app: &TestApp) -> Vec<String> {
    let (start, _) = day(0);
    let (end, _) = day(30);
    let venue = create_venue(app, "Direct hall \"큰\" 극장", small_layout(3)).await;
    let member = app
        .admin(
            "mutation($input: CreateCastMemberInput!) { createCastMember(input: $input) { id } }",
            json!({ "input": { "name": "배우 \\ 하나", "englishName": "One", "bio": "Line one\nline two" } }),
        )
        .await;
    let member = data(&member)["createCastMember"]["id"]
        .as_str()
        .expect("member")
        .to_string();
    let mut performances = Vec::new();
    for (i, title) in ["Direct one", "Direct two"].into_iter().enumerate() {
        let performance = create_performance(app, &venue, title, &start, &end).await;
        // Written out of order: a role billed first and a session starting first come last,
        // and two roles share a billing order (then the older comes first).
        let lead = add_cast(app, &performance, &member, "주연").await;
        add_cast(app, &performance, &member, "understudy").await;
        bill_second(app, &lead).await;
        create_session(app, &performance, &day(3 + i as i64).1).await;
        create_session(app, &performance, &day(5).1).await;
        create_session(app, &performance, &day(2).1).await;
        performances.push(performance);
    }
    let late = add_cast(app, &performances[0], &member, "swing").await;
    bill_second(app, &late).await;
    app.admin(
        "mutation($id: ID!) { updatePerformance(id: $id, input: { englishTitle: \"Two\", description: \"tab\\there\" }) { id } }",
        json!({ "id": performances[1] }),
    )
    .await;
    performances
}

/// Documents the direct writer answers: P2's and P5's, and every field it writes through
/// aliases, fragments, `__typename` and literal conditions.
const DOCUMENTS: [(&str, &str); 4] = [
    (
        "P2",
        "query DirectP2($first: Int) { performances(first: $first) { nodes {
            venue { name } cast { role castMember { name } } sessions { startsAt availableSeatCount } } } }",
    ),
    (
        "P5",
        "query DirectP5 { performances(first: 20) { edges { cursor node { id title genre posterUrl startDate
            endDate venue { name region } priceTiers { grade price } } } pageInfo { hasNextPage endCursor } } }",
    ),
    (
        "every field",
        "query DirectEverything($first: Int = 1) { list: performances(first: $first) {
            __typename
            pageInfo { __typename hasPreviousPage hasNextPage startCursor endCursor }
            edges { __typename cursor node { ...Whole } }
            t: __typename
            nodes { title again: title title @skip(if: true) id @include(if: false) }
          } }
          fragment Whole on Performance {
            __typename id title englishTitle description genre minimumAge runningMinutes startDate endDate
            posterUrl averageRating reviewCount createdAt updatedAt
            venue { __typename id name address region seatCount }
            ... on Performance { cast { __typename id role billingOrder castMember { __typename id name englishName bio } } }
            sessions { __typename id startsAt salesOpenAt salesCloseAt status saleState availableSeatCount totalSeatCount }
            priceTiers { __typename grade price }
          }",
    ),
    (
        "empty page",
        "query DirectEmpty { performances(first: 0) { edges { cursor } nodes { id } pageInfo { hasNextPage startCursor endCursor } } }",
    ),
];

async fn direct_answers_are_the_executors_byte_for_byte(app: &TestApp) {
    catalog(app).await;
    for (name, document) in DOCUMENTS {
        let variable_sets = [json!({}), json!({ "first": 2 }), json!({ "first": null })];
        for (i, variables) in variable_sets.into_iter().enumerate() {
            // Another text of the same document (plans are kept per text), so that the
            // executor answers it first.
            let query = format!("{document}{}", " ".repeat(i));
            let (executed, direct) = answer(app, &query, variables.clone()).await;
            assert!(!direct, "{name} {variables}: the first answer is the executor's");
            let parsed: Value = serde_json::from_str(&executed).unwrap_or_else(|err| panic!("{err}: {executed}"));
            assert!(parsed.get("errors").is_none(), "{name}: {executed}");
            let (written, direct) = answer(app, &query, variables.clone()).await;
            assert!(direct, "{name} {variables}: the second answer is the direct writer's");
            assert_eq!(
                written, executed,
                "{name} {variables}: the same bytes as the executor's"
            );
        }
    }
    // The executor's answer and the direct writer's, side by side for the whole document.
    let (executed, _) = answer(app, DOCUMENTS[2].1, json!({ "first": 2 })).await;
    assert!(executed.contains("\"englishTitle\":\"Two\""), "{executed}");
    assert!(executed.contains("\"bio\":\"Line one\\nline two\""), "{executed}");
    assert!(executed.contains("\"description\":\"tab\\there\""), "{executed}");
}

async fn what_the_direct_writer_cannot_answer_gets_the_executors_answer(app: &TestApp) {
    let performances = catalog(app).await;
    // A selection beyond the direct writer: executed every time, and right.
    let windowed = "query DirectWindowed($from: DateTime) { performances(first: 5) { nodes { title
        sessions(from: $from) { startsAt } venue { sections { name } } } } }";
    for _ in 0..2 {
        let (text, direct) = answer(app, windowed, json!({ "from": day(3).1 })).await;
        assert!(!direct, "an argument below the root is the executor's");
        let parsed: Value = serde_json::from_str(&text).expect("JSON");
        let nodes = parsed["data"]["performances"]["nodes"]
            .as_array()
            .expect("nodes")
            .clone();
        assert_eq!(nodes.len(), 2, "{text}");
        assert_eq!(nodes[0]["sessions"].as_array().map(Vec::len), Some(2), "{text}");
        assert_eq!(nodes[0]["venue"]["sections"][0]["name"], "1층", "{text}");
    }
    // A variable in a skipped selection is still checked by the executor: such a document
    // stays the executor's.
    let skipped = "query DirectSkipped($r: Int) { performances(first: 2) { nodes { title
        reviews(first: $r) @skip(if: true) { nodes { id } } } } }";
    for _ in 0..2 {
        assert!(!answer(app, skipped, json!({})).await.1, "a variable beside `first`");
    }
    let (text, _) = answer(app, skipped, json!({ "r": "x" })).await;
    let parsed: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(error_code(&parsed), "GRAPHQL_VALIDATION_FAILED", "{text}");
    let fallbacks = app.metric("curtain_graphql_direct_fallbacks_total", "").await;
    // A known document whose variables do not fit: the executor's error, not an answer.
    let known = "query DirectKnown($first: Int) { performances(first: $first) { nodes { title } } }";
    answer(app, known, json!({ "first": 1 })).await;
    assert!(answer(app, known, json!({ "first": 1 })).await.1, "known now");
    for (variables, code) in [
        (json!({ "first": 100_000 }), "BAD_USER_INPUT"),
        (json!({ "first": -1 }), "BAD_USER_INPUT"),
        (json!({ "first": "two" }), "GRAPHQL_VALIDATION_FAILED"),
    ] {
        let (text, direct) = answer(app, known, variables.clone()).await;
        assert!(!direct, "{variables}: {text}");
        let parsed: Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(error_code(&parsed), code, "{variables}: {text}");
    }
    // A required variable left out, after the document was answered with it.
    let required = "query DirectRequired($first: Int!) { performances(first: $first) { nodes { title } } }";
    answer(app, required, json!({ "first": 1 })).await;
    let (text, direct) = answer(app, required, json!({})).await;
    assert!(!direct, "{text}");
    assert!(
        text.contains("\"errors\""),
        "a missing required variable is an error: {text}"
    );
    assert_eq!(
        app.metric("curtain_graphql_direct_fallbacks_total", "").await - fallbacks,
        4.0,
        "each handed back to the executor, and counted"
    );
    // A GET is answered directly too, with the same caching as the executor's answer.
    let query = [("query", "query DirectGet { performances(first: 1) { nodes { id } } }")];
    let mut bodies = Vec::new();
    for _ in 0..2 {
        let response = app
            .client
            .get(app.url("/graphql"))
            .query(&query)
            .send()
            .await
            .expect("sent");
        assert!(response.status().is_success());
        bodies.push((
            response.headers().get("cache-control").cloned(),
            response.text().await.expect("text"),
        ));
    }
    assert_eq!(bodies[0], bodies[1], "GET: the same answer and headers either way");
    assert!(bodies[1].1.contains(&performances[0]), "{:?}", bodies[1]);
}

async fn direct_answers_show_catalog_writes_at_once(app: &TestApp) {
    let performances = catalog(app).await;
    let query = "query DirectFresh { performances(first: 5) { nodes { id
        cast { role } sessions { startsAt } venue { name } } } }";
    answer(app, query, json!({})).await;
    let member = app
        .admin(
            "mutation { createCastMember(input: { name: \"새 배우\" }) { id } }",
            json!({}),
        )
        .await;
    let member = data(&member)["createCastMember"]["id"]
        .as_str()
        .expect("member")
        .to_string();
    add_cast(app, &performances[0], &member, "new role").await;
    create_session(app, &performances[0], &day(9).1).await;
    let (text, direct) = answer(app, query, json!({})).await;
    assert!(direct, "{text}");
    let parsed: Value = serde_json::from_str(&text).expect("JSON");
    let first = &parsed["data"]["performances"]["nodes"][0];
    assert_eq!(first["id"], performances[0].as_str(), "{text}");
    assert_eq!(
        first["cast"].as_array().map(Vec::len),
        Some(4),
        "the new role at once: {text}"
    );
    assert_eq!(
        first["sessions"].as_array().map(Vec::len),
        Some(4),
        "the new session at once: {text}"
    );
}
