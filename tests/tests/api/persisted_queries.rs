//! Automatic persisted queries and trusted documents, over POST, GET and WebSocket.

use curtain_tests::socket::{connect, next_message, send};
use curtain_tests::{Backend, TestApp, data, error_code};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const QUERY: &str = "query Venues { venues(first: 2) { edges { node { name } } } }";

fn sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn persisted(hash: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
}

/// POSTs `body` under `Accept`, returning the status and the body.
async fn post(app: &TestApp, body: Value, accept: &str) -> (u16, Value) {
    let response = app
        .client
        .post(app.url("/graphql"))
        .header("accept", accept)
        .json(&body)
        .send()
        .await
        .expect("sent");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

async fn get(app: &TestApp, params: &[(&str, String)]) -> (u16, Value) {
    let response = app
        .client
        .get(app.url("/graphql"))
        .query(params)
        .send()
        .await
        .expect("sent");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

const JSON: &str = "application/json";
const GRAPHQL_JSON: &str = "application/graphql-response+json";

async fn a_hash_runs_once_registered_over_post_and_get(app: &TestApp) {
    let hash = sha256(QUERY);
    let (status, body) = post(app, json!({ "extensions": persisted(&hash) }), JSON).await;
    assert_eq!(
        (status, error_code(&body)),
        (200, "PERSISTED_QUERY_NOT_FOUND"),
        "{body}"
    );
    assert_eq!(body["errors"][0]["message"], "PersistedQueryNotFound");
    assert!(body.get("data").is_none(), "a refusal has no data: {body}");
    // The same under the spec's media type is a request error.
    let (status, body) = post(app, json!({ "extensions": persisted(&hash) }), GRAPHQL_JSON).await;
    assert_eq!(
        (status, error_code(&body)),
        (400, "PERSISTED_QUERY_NOT_FOUND"),
        "{body}"
    );
    // Over GET too, before registration.
    let extensions = persisted(&hash).to_string();
    let (status, body) = get(app, &[("extensions", extensions.clone())]).await;
    assert_eq!(
        (status, error_code(&body)),
        (200, "PERSISTED_QUERY_NOT_FOUND"),
        "{body}"
    );

    // A hash that is not the document's registers nothing.
    let (_, body) = post(
        app,
        json!({ "query": "{ venues(first: 1) { totalCount } }", "extensions": persisted(&hash) }),
        JSON,
    )
    .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    let (_, body) = post(app, json!({ "extensions": persisted(&hash) }), JSON).await;
    assert_eq!(error_code(&body), "PERSISTED_QUERY_NOT_FOUND", "{body}");

    // Sent with its document, it runs and is registered.
    let (status, body) = post(app, json!({ "query": QUERY, "extensions": persisted(&hash) }), JSON).await;
    assert_eq!(status, 200);
    let expected = data(&body).clone();
    assert!(expected["venues"]["edges"].is_array(), "{body}");

    let (status, body) = post(app, json!({ "extensions": persisted(&hash) }), GRAPHQL_JSON).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(data(&body), &expected);
    let (status, body) = get(app, &[("extensions", extensions)]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(data(&body), &expected);

    // A mutation named by hash is still refused over GET.
    let mutation = "mutation { logOut }";
    let mutation_hash = sha256(mutation);
    post(
        app,
        json!({ "query": mutation, "extensions": persisted(&mutation_hash) }),
        JSON,
    )
    .await;
    let (status, _) = get(app, &[("extensions", persisted(&mutation_hash).to_string())]).await;
    assert_eq!(status, 405);

    // And over WebSocket.
    let mut socket = connect(app, None).await;
    send(
        &mut socket,
        json!({ "type": "subscribe", "id": "1", "payload": { "extensions": persisted(&hash) } }),
    )
    .await;
    let message = next_message(&mut socket).await.expect("next");
    assert_eq!(message["type"], "next", "{message}");
    assert_eq!(message["payload"]["data"], expected);
    let unknown = sha256("{ __typename }");
    send(
        &mut socket,
        json!({ "type": "subscribe", "id": "2", "payload": { "extensions": persisted(&unknown) } }),
    )
    .await;
    loop {
        let message = next_message(&mut socket).await.expect("message");
        if message["id"] == "2" {
            assert_eq!(message["type"], "error", "{message}");
            assert_eq!(message["payload"][0]["extensions"]["code"], "PERSISTED_QUERY_NOT_FOUND");
            break;
        }
    }
}

async fn requests_without_a_document_are_bad_requests(app: &TestApp) {
    for accept in [JSON, GRAPHQL_JSON] {
        let (status, body) = post(app, json!({ "qeury": "{ __typename }" }), accept).await;
        assert_eq!((status, error_code(&body)), (400, "BAD_REQUEST"), "{body}");
        let (status, body) = post(
            app,
            json!({ "query": "{ x", "extensions": { "persistedQuery": { "version": 1, "sha256Hash": "zz" } } }),
            accept,
        )
        .await;
        assert_eq!((status, error_code(&body)), (400, "BAD_REQUEST"), "{body}");
    }
}

async fn documents_that_cannot_run_have_no_data(app: &TestApp) {
    for (query, code) in [
        ("{ venues(first: 1) { edges ", "GRAPHQL_PARSE_FAILED"),
        ("{ noSuchField }", "GRAPHQL_VALIDATION_FAILED"),
    ] {
        let (status, body) = post(app, json!({ "query": query }), GRAPHQL_JSON).await;
        assert_eq!((status, error_code(&body)), (400, code), "{body}");
        assert!(body.get("data").is_none(), "{body}");
        let (status, body) = post(app, json!({ "query": query }), JSON).await;
        assert_eq!((status, error_code(&body)), (200, code), "{body}");
        assert!(body.get("data").is_none(), "{body}");
    }
    // Variables that do not fit are a request error too.
    let (status, body) = post(
        app,
        json!({ "query": "query($n: Int!) { venues(first: $n) { totalCount } }", "variables": { "n": "many" } }),
        GRAPHQL_JSON,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.get("data").is_none(), "{body}");
}

async fn get_answers_say_who_may_cache_them_and_name_their_operation(app: &TestApp) {
    let cache_control = |response: &reqwest::Response| {
        let value = response.headers().get("cache-control").and_then(|v| v.to_str().ok());
        value.unwrap_or_default().to_owned()
    };
    let url = app.url("/graphql");
    let anonymous = app
        .client
        .get(&url)
        .query(&[("query", QUERY)])
        .send()
        .await
        .expect("sent");
    assert_eq!(cache_control(&anonymous), "public, max-age=5");
    let vary = anonymous
        .headers()
        .get_all("vary")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>();
    assert!(vary.iter().any(|v| v.contains("authorization")), "{vary:?}");

    let viewer = app
        .client
        .get(&url)
        .query(&[("query", QUERY)])
        .bearer_auth(app.admin_token())
        .send()
        .await
        .expect("sent");
    assert_eq!(cache_control(&viewer), "private, no-store");
    let failed = app
        .client
        .get(&url)
        .query(&[("query", "{ nope }")])
        .send()
        .await
        .expect("sent");
    assert_eq!(cache_control(&failed), "private, no-store");

    // `operationName` picks the operation of a document with several.
    let (status, body) = get(
        app,
        &[
            (
                "query",
                "query A { venues(first: 1) { edges { node { id } } } } query B { __typename }".to_owned(),
            ),
            ("operationName", "B".to_owned()),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(data(&body), &json!({ "__typename": "QueryRoot" }));
}

curtain_tests::backend_tests!(
    get_answers_say_who_may_cache_them_and_name_their_operation,
    a_hash_runs_once_registered_over_post_and_get,
    requests_without_a_document_are_bad_requests,
    documents_that_cannot_run_have_no_data,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_registered_on_one_instance_runs_by_hash_on_another_through_redis() {
    let Some((a, b)) = TestApp::pair_with_redis().await else {
        return;
    };
    let hash = sha256(QUERY);
    let (_, body) = post(&b, json!({ "extensions": persisted(&hash) }), JSON).await;
    assert_eq!(error_code(&body), "PERSISTED_QUERY_NOT_FOUND", "{body}");
    let (status, _) = post(&a, json!({ "query": QUERY, "extensions": persisted(&hash) }), JSON).await;
    assert_eq!(status, 200);
    let (status, body) = post(&b, json!({ "extensions": persisted(&hash) }), JSON).await;
    assert_eq!(status, 200, "{body}");
    assert!(data(&body)["venues"]["edges"].is_array(), "{body}");
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_trusted_documents_mode_only_the_manifest_s_operations_run() {
    let manifest = json!({
        "format": "apollo-persisted-query-manifest",
        "version": 1,
        "operations": [
            { "id": sha256(QUERY), "name": "Venues", "type": "query", "body": QUERY },
            // The test server logs its admin in as it starts.
            { "id": sha256(curtain_tests::LOG_IN), "name": "LogIn", "type": "mutation", "body": curtain_tests::LOG_IN },
        ],
    });
    std::fs::write(manifest_path(), manifest.to_string()).expect("manifest");
    let app = TestApp::builder(Backend::Sqlite)
        .configure(|settings| {
            settings.graphql.persisted_only = true;
            settings.graphql.persisted_manifest = Some(manifest_path());
        })
        .spawn()
        .await
        .expect("SQLite");
    let hash = sha256(QUERY);
    let (status, body) = post(&app, json!({ "extensions": persisted(&hash) }), JSON).await;
    assert_eq!(status, 200, "{body}");
    assert!(data(&body)["venues"]["edges"].is_array(), "{body}");
    let (status, body) = post(&app, json!({ "query": QUERY }), JSON).await;
    assert_eq!(status, 200, "its exact text runs too: {body}");

    let other = "{ venues(first: 1) { totalCount } }";
    let (status, body) = post(&app, json!({ "query": other }), GRAPHQL_JSON).await;
    assert_eq!(
        (status, error_code(&body)),
        (400, "PERSISTED_QUERY_NOT_IN_LIST"),
        "{body}"
    );
    let (_, body) = post(
        &app,
        json!({ "query": other, "extensions": persisted(&sha256(other)) }),
        JSON,
    )
    .await;
    assert_eq!(
        error_code(&body),
        "PERSISTED_QUERY_NOT_IN_LIST",
        "clients cannot register: {body}"
    );
    let (_, body) = get(&app, &[("query", other.to_owned())]).await;
    assert_eq!(error_code(&body), "PERSISTED_QUERY_NOT_IN_LIST", "{body}");

    let mut socket = connect(&app, None).await;
    send(
        &mut socket,
        json!({ "type": "subscribe", "id": "1", "payload": { "query": "subscription { notificationReceived { id } }" } }),
    )
    .await;
    let message = next_message(&mut socket).await.expect("error");
    assert_eq!(message["type"], "error", "{message}");
    assert_eq!(
        message["payload"][0]["extensions"]["code"],
        "PERSISTED_QUERY_NOT_IN_LIST"
    );

    // A multipart request (an upload) is held to the list too.
    let (_, body) = crate::posters::upload(
        &app,
        app.admin_token(),
        "UGVyZm9ybWFuY2U6MQ",
        ("a.jpg", vec![0xFF, 0xD8, 0xFF]),
        true,
    )
    .await;
    assert_eq!(error_code(&body), "PERSISTED_QUERY_NOT_IN_LIST", "{body}");

    // And the legacy WebSocket protocol's `start`.
    // The legacy `graphql-ws` protocol (subscriptions-transport-ws).
    let (mut legacy, _) = crate::ws::connect(&app, "graphql-ws").await;
    send(&mut legacy, json!({ "type": "connection_init" })).await;
    assert_eq!(next_message(&mut legacy).await.expect("ack")["type"], "connection_ack");
    send(
        &mut legacy,
        json!({ "type": "start", "id": "1", "payload": { "query": "subscription { notificationReceived { id } }" } }),
    )
    .await;
    loop {
        let message = next_message(&mut legacy).await.expect("a message");
        if message["type"] == "ka" {
            continue;
        }
        assert_eq!(message["type"], "error", "{message}");
        assert_eq!(
            message["payload"][0]["extensions"]["code"],
            "PERSISTED_QUERY_NOT_IN_LIST"
        );
        break;
    }
    app.stop().await;
    let _ = std::fs::remove_file(manifest_path());
}

/// This test process's manifest (`TestAppBuilder::configure` takes a plain function).
fn manifest_path() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("curtain-trusted-manifest-{}.json", std::process::id()))
}
