//! Bad input gets a clear error with a code and changes nothing.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use curtain_tests::fixtures::{create_performance, create_venue, day, small_layout};
use curtain_tests::{TestApp, backend_tests, data, error_code};
use serde_json::{Value, json};

backend_tests!(
    unknown_and_malformed_ids_are_told_apart,
    paging_arguments_are_checked,
    invalid_catalog_input_is_refused_and_changes_nothing,
    queries_beyond_the_limits_are_refused,
    mutations_need_an_admin,
    documents_that_cannot_run_get_their_codes,
);

fn global_id(kind: &str, id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{kind}:{id}"))
}

async fn count(app: &TestApp, list: &str) -> usize {
    let response = app
        .gql(
            &format!("{{ {list}(first: 100) {{ edges {{ node {{ id }} }} }} }}"),
            Value::Null,
        )
        .await;
    data(&response)[list]["edges"].as_array().map(Vec::len).unwrap_or(0)
}

async fn unknown_and_malformed_ids_are_told_apart(app: &TestApp) {
    let unknown = global_id("Performance", 987_654);
    let response = app
        .gql(
            "query($id: ID!) { performance(id: $id) { title } }",
            json!({ "id": unknown }),
        )
        .await;
    assert_eq!(error_code(&response), "NOT_FOUND");
    assert_eq!(response["errors"][0]["message"], "performance not found");

    let response = app
        .gql(
            "query($id: ID!) { performance(id: $id) { title } }",
            json!({ "id": "nonsense!" }),
        )
        .await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT");
    assert_eq!(response["errors"][0]["extensions"]["field"], "id");

    // An ID of another type is not a performance ID.
    let response = app
        .gql(
            "query($id: ID!) { performance(id: $id) { title } }",
            json!({ "id": global_id("Venue", 1) }),
        )
        .await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT");

    let response = app
        .gql("query($id: ID!) { node(id: $id) { id } }", json!({ "id": unknown }))
        .await;
    assert!(data(&response)["node"].is_null());
    for (query, name) in [
        ("query($id: ID!) { session(id: $id) { id } }", "Session"),
        ("query($id: ID!) { seatMap(sessionId: $id) { version } }", "Session"),
        ("query($id: ID!) { venue(id: $id) { id } }", "Venue"),
        ("query($id: ID!) { castMember(id: $id) { id } }", "CastMember"),
    ] {
        let response = app.gql(query, json!({ "id": global_id(name, 424_242) })).await;
        assert_eq!(error_code(&response), "NOT_FOUND", "{query}");
    }
}

async fn paging_arguments_are_checked(app: &TestApp) {
    let response = app
        .gql("{ performances(first: 100000) { edges { cursor } } }", Value::Null)
        .await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT");
    assert_eq!(response["errors"][0]["extensions"]["field"], "first");
    let response = app.gql("{ venues(first: -1) { edges { cursor } } }", Value::Null).await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT");
    let response = app
        .gql(
            "{ performances(after: \"not-a-cursor\") { edges { cursor } } }",
            Value::Null,
        )
        .await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT");
    assert_eq!(response["errors"][0]["extensions"]["field"], "after");

    // A cursor from one list is refused by another.
    create_venue(app, "Cursor hall", small_layout(1)).await;
    let response = app.gql("{ venues(first: 1) { edges { cursor } } }", Value::Null).await;
    let cursor = data(&response)["venues"]["edges"][0]["cursor"].clone();
    let response = app
        .gql(
            "query($c: String) { castMembers(after: $c) { edges { cursor } } }",
            json!({ "c": cursor }),
        )
        .await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT");
}

async fn invalid_catalog_input_is_refused_and_changes_nothing(app: &TestApp) {
    let create_venue_query = "mutation($input: CreateVenueInput!) { createVenue(input: $input) { id } }";
    for layout in [
        json!({ "sections": [] }),
        json!({ "sections": [{ "name": "1층", "rows": [] }] }),
        json!({ "sections": [{ "name": "1층", "rows": [{ "label": "A", "seatCount": 0, "grade": "R" }] }] }),
        json!({ "sections": [{ "name": "1층", "rows": [{ "label": "A", "seatCount": 5, "grade": "R", "accessibleSeats": [6] }] }] }),
    ] {
        let response = app
            .admin(
                create_venue_query,
                json!({ "input": { "name": "Empty", "address": "x", "region": "서울", "layout": layout } }),
            )
            .await;
        assert_eq!(error_code(&response), "BAD_USER_INPUT", "{layout}");
    }
    assert_eq!(count(app, "venues").await, 0, "no venue was created");

    let venue = create_venue(app, "Valid hall", small_layout(2)).await;
    let (start, _) = day(0);
    let (end, _) = day(5);
    let create = "mutation($input: CreatePerformanceInput!) { createPerformance(input: $input) { id } }";
    let base = json!({ "title": "Title", "genre": "OPERA", "runningMinutes": 120, "startDate": start, "endDate": end, "venueId": venue });
    for (field, value) in [
        ("title", json!("   ")),
        ("runningMinutes", json!(0)),
        ("endDate", json!(day(-3).0)),
        ("venueId", json!(global_id("Venue", 99_999))),
        ("minimumAge", json!(-1)),
    ] {
        let mut input = base.clone();
        input[field] = value;
        let response = app.admin(create, json!({ "input": input })).await;
        assert_eq!(error_code(&response), "BAD_USER_INPUT", "{field}");
        assert_eq!(response["errors"][0]["extensions"]["field"], field, "{response}");
    }
    assert_eq!(count(app, "performances").await, 0, "no performance was created");

    let performance = create_performance(app, &venue, "Priced", &start, &end).await;
    let create_session = "mutation($input: CreateSessionInput!) { createSession(input: $input) { id } }";
    for (why, input) in [
        (
            "a grade without price",
            json!({ "performanceId": performance, "startsAt": day(1).1, "prices": [{ "grade": "VIP", "price": 1 }] }),
        ),
        (
            "an unknown grade",
            json!({ "performanceId": performance, "startsAt": day(1).1,
            "prices": [{ "grade": "VIP", "price": 1 }, { "grade": "R", "price": 1 }, { "grade": "Z", "price": 1 }] }),
        ),
        (
            "a start outside the run",
            json!({ "performanceId": performance, "startsAt": day(30).1,
            "prices": [{ "grade": "VIP", "price": 1 }, { "grade": "R", "price": 1 }] }),
        ),
        (
            "a negative price",
            json!({ "performanceId": performance, "startsAt": day(1).1,
            "prices": [{ "grade": "VIP", "price": -5 }, { "grade": "R", "price": 1 }] }),
        ),
    ] {
        let response = app.admin(create_session, json!({ "input": input })).await;
        assert_eq!(error_code(&response), "BAD_USER_INPUT", "{why}");
    }
    let response = app
        .gql(
            "query($id: ID!) { performance(id: $id) { sessions { id } } }",
            json!({ "id": performance }),
        )
        .await;
    assert_eq!(data(&response)["performance"]["sessions"], json!([]));

    // Type errors in arguments are caught before anything runs.
    let response = app
        .gql("{ performances(first: \"ten\") { edges { cursor } } }", Value::Null)
        .await;
    assert_eq!(error_code(&response), "GRAPHQL_VALIDATION_FAILED");
    let response = app
        .gql("{ performances(first: 1) { edges { cursor }", Value::Null)
        .await;
    assert_eq!(error_code(&response), "GRAPHQL_PARSE_FAILED");
}

async fn queries_beyond_the_limits_are_refused(app: &TestApp) {
    let deep = "{ performances { edges { node { cast { castMember { roles { performance { cast { castMember { roles { performance { venue { name } } } } } } } } } } } } }";
    let response = app.gql(deep, Value::Null).await;
    assert_eq!(error_code(&response), "QUERY_TOO_DEEP");
    assert!(response.get("data").is_none_or(Value::is_null));
}

async fn mutations_need_an_admin(app: &TestApp) {
    let mutation = "mutation { createCastMember(input: { name: \"Intruder\" }) { id } }";
    let response = app.gql(mutation, Value::Null).await;
    assert_eq!(error_code(&response), "UNAUTHENTICATED");
    let response = app.post(mutation, Value::Null, Some("wrong-key")).await;
    assert_eq!(error_code(&response), "UNAUTHENTICATED");
    assert_eq!(count(app, "castMembers").await, 0);
}

/// Parse, validation and operation-choice errors each get their code, checked before the
/// schema runs anything.
async fn documents_that_cannot_run_get_their_codes(app: &TestApp) {
    let post = |body: Value| async move {
        let response = app
            .client
            .post(format!("{}/graphql", app.address))
            .json(&body)
            .send()
            .await
            .expect("answer");
        assert_eq!(response.status(), 200, "application/json answers 200");
        response.json::<Value>().await.expect("json")
    };
    let cases = [
        (json!({ "query": "{ performances { " }), "GRAPHQL_PARSE_FAILED"),
        (json!({ "query": "{ noSuchField }" }), "GRAPHQL_VALIDATION_FAILED"),
        (
            json!({ "query": "{ venues { edges { cursor } } }", "operationName": "Named" }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "query": "query A { venues { edges { cursor } } } query B { venues { edges { cursor } } }" }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "query": "query A { venues { edges { cursor } } }", "operationName": "B" }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "query": "subscription { notificationReceived { id } }" }),
            "BAD_USER_INPUT",
        ),
    ];
    for (body, code) in cases {
        let response = post(body.clone()).await;
        assert_eq!(error_code(&response), code, "{body}: {response}");
        assert!(response.get("data").is_none_or(Value::is_null), "{body}: {response}");
    }
    let named = post(json!({ "query": "query A { venues { edges { cursor } } }", "operationName": "A" })).await;
    assert!(named.get("errors").is_none(), "{named}");
}
