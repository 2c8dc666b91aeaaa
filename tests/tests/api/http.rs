//! GraphQL over HTTP semantics, health, metrics, request ids, CORS and compression.

use curtain_tests::{TestApp, backend_tests};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde_json::{Value, json};

backend_tests!(
    queries_work_over_get_but_mutations_do_not,
    request_errors_are_400_under_graphql_response_json_and_200_under_json,
    unsupported_media_types_are_refused,
    health_readiness_and_metrics_are_served,
    the_metrics_an_operator_watches_are_counted,
    request_ids_are_propagated_or_generated,
    cors_allows_only_configured_origins,
    responses_are_compressed_when_asked,
);

async fn queries_work_over_get_but_mutations_do_not(app: &TestApp) {
    let response = app
        .client
        .get(app.url("/graphql"))
        .query(&[("query", "{ venues { edges { node { id } } } }")])
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["data"]["venues"]["edges"], json!([]));

    let response = app
        .client
        .get(app.url("/graphql"))
        .query(&[("query", "mutation { deleteVenue(id: \"x\") }")])
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        response.headers().get("allow").and_then(|v| v.to_str().ok()),
        Some("POST")
    );
}

async fn request_errors_are_400_under_graphql_response_json_and_200_under_json(app: &TestApp) {
    let bad = json!({ "query": "{ noSuchField }" });
    let response = app
        .client
        .post(app.url("/graphql"))
        .header(ACCEPT, "application/graphql-response+json")
        .json(&bad)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()),
        Some("application/graphql-response+json")
    );
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED");

    let response = app
        .client
        .post(app.url("/graphql"))
        .header(ACCEPT, "application/json")
        .json(&bad)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()),
        Some("application/json")
    );

    // A field error is not a request error: 200 under both.
    let not_found = json!({ "query": "{ venue(id: \"VmVudWU6OTk5\") { id } }" });
    let response = app
        .client
        .post(app.url("/graphql"))
        .header(ACCEPT, "application/graphql-response+json")
        .json(&not_found)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
}

async fn unsupported_media_types_are_refused(app: &TestApp) {
    let response = app
        .client
        .post(app.url("/graphql"))
        .header(CONTENT_TYPE, "text/plain")
        .body("{ venues { edges { cursor } } }")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let response = app
        .client
        .post(app.url("/graphql"))
        .header(CONTENT_TYPE, "application/json")
        .body("{ not json")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    let response = app
        .client
        .post(app.url("/graphql"))
        .header(ACCEPT, "text/html")
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::NOT_ACCEPTABLE);
}

async fn health_readiness_and_metrics_are_served(app: &TestApp) {
    let response = app.client.get(app.url("/healthz")).send().await.expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    let response = app.client.get(app.url("/readyz")).send().await.expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    let response = app.client.get(app.url("/graphiql")).send().await.expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.text().await.expect("html").contains("/graphql"));

    app.gql("query VenueList { venues { edges { cursor } } }", Value::Null)
        .await;
    let text = app.metrics_text().await;
    assert!(
        text.contains("curtain_http_requests_total{method=\"POST\",route=\"/graphql\",status=\"200\"}"),
        "{text}"
    );
    assert!(
        text.contains("curtain_graphql_operations_total{operation=\"VenueList\",outcome=\"ok\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("curtain_graphql_operation_duration_seconds_bucket{"),
        "{text}"
    );
    assert!(text.contains("curtain_db_pool_connections{state=\"idle\"}"), "{text}");
    assert!(app.metric("curtain_db_statements_total", "outcome=\"ok\"").await > 0.0);
}

async fn request_ids_are_propagated_or_generated(app: &TestApp) {
    let response = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "req-abc-123")
        .send()
        .await
        .expect("sent");
    assert_eq!(
        response.headers().get("x-request-id").and_then(|v| v.to_str().ok()),
        Some("req-abc-123")
    );
    let response = app.client.get(app.url("/healthz")).send().await.expect("sent");
    let generated = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert_eq!(generated.len(), 36, "a UUID: {generated}");
}

async fn cors_allows_only_configured_origins(app: &TestApp) {
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/graphql"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let response = preflight("https://shop.example").await.expect("sent");
    assert_eq!(
        response
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://shop.example")
    );
    let response = preflight("https://evil.example").await.expect("sent");
    assert!(response.headers().get("access-control-allow-origin").is_none());
}

async fn responses_are_compressed_when_asked(app: &TestApp) {
    let response = app
        .client
        .get(app.url("/graphiql"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("sent");
    assert_eq!(
        response.headers().get("content-encoding").and_then(|v| v.to_str().ok()),
        Some("gzip")
    );
}

/// What the dashboard in `deploy/grafana` plots: holds by outcome, sessions on sale,
/// sockets, outbox lag per consumer, search latency, payment calls and the breaker.
async fn the_metrics_an_operator_watches_are_counted(app: &TestApp) {
    use curtain_tests::fixtures::{hold, one_row_session};
    let row = one_row_session(app, "계측 공연", 4).await;
    let buyer = app.sign_up("metered@example.com").await;
    let other = app.sign_up("metered-too@example.com").await;
    hold(app, &buyer.access_token, &row.session, &[&row.seats[0]], "metered-1").await;
    let taken = app
        .post(
            "mutation($s: ID!, $seats: [ID!]!) { holdSeats(sessionId: $s, seatIds: $seats, idempotencyKey: \"metered-2\") { id } }",
            json!({ "s": row.session, "seats": [row.seats[0]] }),
            Some(&other.access_token),
        )
        .await;
    assert_eq!(curtain_tests::error_code(&taken), "SEAT_UNAVAILABLE");
    let search = app.gql("{ search(query: \"계측\") { totalCount } }", json!({})).await;
    curtain_tests::data(&search);

    assert_eq!(app.metric("curtain_holds_total", r#"outcome="held""#).await, 1.0);
    assert_eq!(
        app.metric("curtain_holds_total", r#"outcome="seat_unavailable""#).await,
        1.0
    );
    assert_eq!(
        app.metric("curtain_hold_duration_seconds_count", r#"outcome="held""#)
            .await,
        1.0
    );
    assert_eq!(app.metric("curtain_sessions_on_sale", "").await, 1.0);
    assert_eq!(app.metric("curtain_search_duration_seconds_count", "").await, 1.0);
    assert_eq!(app.metric("curtain_payment_breaker_open", "").await, 0.0);
    let text = app.metrics_text().await;
    for series in [
        "curtain_websocket_connections 0",
        "curtain_websocket_operations 0",
        r#"curtain_outbox_lag_seconds{consumer="relay"}"#,
        r#"curtain_outbox_lag_seconds{consumer="search_index"}"#,
    ] {
        assert!(text.contains(series), "{series} in {text}");
    }
}
