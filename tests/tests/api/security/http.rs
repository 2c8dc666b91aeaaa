//! Security: the HTTP layer. Forged client addresses, metrics an outsider can read or grow,
//! slow clients holding connections, mutations over GET, load beyond capacity, oversized
//! multipart documents, unsigned uploads and sniffable files.

use std::time::Duration;

use curtain::config::Settings;
use curtain_tests::socket::{next_message, send};
use curtain_tests::{Backend, TestApp, data, error_code};
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const LOG_IN: &str = "mutation { logIn(email: \"nobody@example.com\", password: \"whatever 12345\") { accessToken } }";

async fn spawn(configure: fn(&mut Settings)) -> TestApp {
    spawn_limited(None, configure).await
}

async fn spawn_limited(rate_limit_per_minute: Option<u32>, configure: fn(&mut Settings)) -> TestApp {
    let mut builder = TestApp::builder(Backend::Sqlite).configure(configure);
    if let Some(calls) = rate_limit_per_minute {
        builder = builder.rate_limit_per_minute(calls);
    }
    builder.spawn().await.expect("SQLite is always available")
}

/// Posts `logIn` as if relayed by a proxy that sends `forwarded` as `X-Forwarded-For`.
async fn log_in_via(app: &TestApp, forwarded: &str) -> Value {
    app.client
        .post(app.url("/graphql"))
        .header("x-forwarded-for", forwarded)
        .json(&json!({ "query": LOG_IN }))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_peer_cannot_escape_the_log_in_rate_limit_by_forging_x_forwarded_for() {
    // Proxies are configured, but the test client (127.0.0.1) is not one of them.
    let app = spawn_limited(Some(3), |s| {
        s.server.trusted_proxies = vec!["10.0.0.0/8".parse().expect("cidr")]
    })
    .await;
    // The harness's admin log-in used one call of 127.0.0.1's three.
    for forged in ["198.51.100.1", "198.51.100.2"] {
        assert_eq!(error_code(&log_in_via(&app, forged).await), "UNAUTHENTICATED");
    }
    assert_eq!(error_code(&log_in_via(&app, "198.51.100.3").await), "RATE_LIMITED");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_the_client_is_the_rightmost_untrusted_hop() {
    // The test client plays the proxy: it appends the address it "saw" (203.0.113.7) to
    // whatever the client claimed on the left.
    let app = spawn_limited(Some(3), |s| {
        s.server.trusted_proxies = vec!["127.0.0.1".parse().expect("cidr")]
    })
    .await;
    for claimed in ["1.1.1.1", "2.2.2.2", "3.3.3.3"] {
        let response = log_in_via(&app, &format!("{claimed}, 203.0.113.7")).await;
        assert_eq!(error_code(&response), "UNAUTHENTICATED", "{claimed}");
    }
    let response = log_in_via(&app, "4.4.4.4, 203.0.113.7").await;
    assert_eq!(error_code(&response), "RATE_LIMITED", "the forged hop must not count");
    // Another real client behind the same proxy has its own allowance.
    let response = log_in_via(&app, "4.4.4.4, 203.0.113.8").await;
    assert_eq!(error_code(&response), "UNAUTHENTICATED");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_behind_a_trusted_proxy_is_limited_as_its_real_client() {
    let app = spawn_limited(Some(3), |s| {
        s.server.trusted_proxies = vec!["127.0.0.1".parse().expect("cidr")]
    })
    .await;
    for _ in 0..3 {
        assert_eq!(error_code(&log_in_via(&app, "203.0.113.7").await), "UNAUTHENTICATED");
    }
    // Through the proxy, the same client opens a socket: its log-ins are already spent,
    // whereas the proxy's own address (127.0.0.1) has used one call only.
    let url = app.url("/graphql").replacen("http://", "ws://", 1);
    let mut request = url.into_client_request().expect("request");
    let headers = request.headers_mut();
    headers.insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().expect("header"),
    );
    headers.insert("x-forwarded-for", "9.9.9.9, 203.0.113.7".parse().expect("header"));
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.expect("handshake");
    send(&mut socket, json!({ "type": "connection_init" })).await;
    assert_eq!(next_message(&mut socket).await.expect("ack")["type"], "connection_ack");
    send(
        &mut socket,
        json!({ "type": "subscribe", "id": "1", "payload": { "query": LOG_IN } }),
    )
    .await;
    let message = next_message(&mut socket).await.expect("a result");
    assert_eq!(message["type"], "next", "{message}");
    assert_eq!(error_code(&message["payload"]), "RATE_LIMITED", "{message}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_not_served_on_the_api_port_without_the_token() {
    let app = spawn(|_| {}).await;
    let response = app.client.get(app.url("/metrics")).send().await.expect("sent");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(app.metrics_text().await.contains("curtain_http_requests_total"));
    app.stop().await;

    let app = spawn(|s| s.metrics.token = Some("metrics-token-for-tests".to_string().into())).await;
    let status = |token: Option<&'static str>| {
        let mut request = app.client.get(app.url("/metrics"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move { request.send().await.expect("sent").status() }
    };
    assert_eq!(status(None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status(Some("metrics-token-for-test")).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status(Some("metrics-token-for-tests")).await, StatusCode::OK);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_operation_names_add_a_bounded_number_of_series() {
    let app = spawn(|s| s.metrics.max_operation_labels = 20).await;
    for chunk in (0..1_000).collect::<Vec<_>>().chunks(50) {
        let queries: Vec<String> = chunk.iter().map(|i| format!("query Op{i} {{ __typename }}")).collect();
        join_all(queries.iter().map(|query| app.gql(query, Value::Null))).await;
    }
    // An invented method gets no series of its own either.
    let method = reqwest::Method::from_bytes(b"FROBNICATE").expect("method");
    app.client
        .request(method, app.url("/graphql"))
        .send()
        .await
        .expect("sent");

    let text = app.metrics_text().await;
    let series = text
        .lines()
        .filter(|line| line.starts_with("curtain_graphql_operations_total{"))
        .count();
    assert!(series <= 21, "{series} series:\n{text}");
    assert!(
        app.metric("curtain_graphql_operations_total", "operation=\"other\"")
            .await
            >= 980.0,
        "{text}"
    );
    assert!(!text.contains("FROBNICATE"), "{text}");
    app.stop().await;
}

fn host(app: &TestApp) -> String {
    app.address.trim_start_matches("http://").to_string()
}

/// Reads what the server sends until it closes the connection; `None` if it is still open
/// after `wait`.
async fn read_until_closed(stream: &mut TcpStream, wait: Duration) -> Option<String> {
    let mut received = Vec::new();
    let closed = tokio::time::timeout(wait, async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    closed.ok().map(|()| String::from_utf8_lossy(&received).into_owned())
}

/// Reads until the response head has arrived; `None` if it has not within `wait`.
async fn read_head(stream: &mut TcpStream, wait: Duration) -> Option<String> {
    let mut received = Vec::new();
    tokio::time::timeout(wait, async {
        let mut buffer = [0u8; 4096];
        while !received.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await
    .ok()?;
    Some(String::from_utf8_lossy(&received).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_sends_its_headers_slowly_is_cut_off() {
    // Applies to every connection, the harness's own included: a second, for a loaded machine.
    let app = spawn(|s| s.server.header_read_timeout_ms = 1_000).await;
    // Half a request, then silence.
    let mut stream = TcpStream::connect(host(&app)).await.expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: curtain\r\n")
        .await
        .expect("write");
    let closed = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    assert!(closed.is_some(), "the connection is still open after 10 s");

    // Not a byte at all (before hyper can even tell HTTP/1 from HTTP/2).
    let mut stream = TcpStream::connect(host(&app)).await.expect("connect");
    let closed = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    assert!(closed.is_some(), "a silent connection is still open after 10 s");

    // A prompt client is unaffected.
    let response = app.client.get(app.url("/healthz")).send().await.expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_sends_its_body_slowly_gets_408() {
    let app = spawn(|s| s.server.body_read_timeout_ms = 1_000).await;
    let mut stream = TcpStream::connect(host(&app)).await.expect("connect");
    stream
        .write_all(
            b"POST /graphql HTTP/1.1\r\nHost: curtain\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"query\":",
        )
        .await
        .expect("write");
    // The answer names the cause, and the connection is closed (the rest of the body
    // would otherwise be read as a next request).
    let answer = read_until_closed(&mut stream, Duration::from_secs(10))
        .await
        .expect("the connection is closed within 10 s");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("BODY_TIMEOUT"), "{answer}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_past_its_deadline_gets_503_but_a_websocket_outlives_it() {
    let app = spawn(|s| {
        // Also the deadline of the harness's own admin log-in while spawning (argon2 and a
        // SQLite write): two seconds, for a loaded machine.
        s.server.request_timeout_ms = 2_000;
        s.server.body_read_timeout_ms = 10_000;
    })
    .await;
    let mut socket = curtain_tests::socket::connect(&app, None).await;
    let mut stream = TcpStream::connect(host(&app)).await.expect("connect");
    stream
        .write_all(b"POST /graphql HTTP/1.1\r\nHost: curtain\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
        .await
        .expect("write");
    let answer = read_until_closed(&mut stream, Duration::from_secs(10))
        .await
        .expect("the connection is closed within 10 s");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("REQUEST_TIMEOUT"), "{answer}");

    // The socket opened before the request is past the request deadline (the 503 came after
    // it), and a little more, and still answers.
    tokio::time::sleep(Duration::from_millis(300)).await;
    send(
        &mut socket,
        json!({ "type": "subscribe", "id": "1", "payload": { "query": "{ __typename }" } }),
    )
    .await;
    let message = next_message(&mut socket).await.expect("a result");
    assert!(message["payload"]["data"]["__typename"].is_string(), "{message}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_named_mutation_over_get_is_refused_with_405() {
    let app = spawn(|_| {}).await;
    let response = app
        .client
        .get(app.url("/graphql"))
        .query(&[(
            "query",
            "mutation SignUp { signUp(input: { email: \"get@example.com\", password: \"long enough 1234\", name: \"G\", phone: \"010-1111-2222\" }) { accessToken } }",
        )])
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        response.headers().get("allow").and_then(|v| v.to_str().ok()),
        Some("POST")
    );
    // Nothing ran: the address is still free.
    let response = app
        .gql(
            "mutation { signUp(input: { email: \"get@example.com\", password: \"long enough 1234\", name: \"G\", phone: \"010-1111-2222\" }) { accessToken } }",
            Value::Null,
        )
        .await;
    data(&response);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_the_in_flight_bound_requests_are_shed_with_503_but_health_still_answers() {
    let app = spawn(|s| {
        s.server.max_in_flight_requests = Some(1);
        s.server.body_read_timeout_ms = 10_000;
    })
    .await;
    // One request holds the only slot: its body never finishes.
    let mut holder = TcpStream::connect(host(&app)).await.expect("connect");
    holder
        .write_all(b"POST /graphql HTTP/1.1\r\nHost: curtain\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
        .await
        .expect("write");
    // Let the server take the holder's request first: a probe let in ahead of it would have
    // the holder shed instead, and then nothing would hold the slot.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let query = || {
        app.client
            .get(app.url("/graphql"))
            .query(&[("query", "{ __typename }")])
            .send()
    };
    let mut shed = None;
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        let response = query().await.expect("sent");
        if response.status() == StatusCode::SERVICE_UNAVAILABLE {
            shed = Some(response);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let shed = shed.expect("a request beyond the bound is shed");
    assert_eq!(
        shed.headers().get("retry-after").and_then(|v| v.to_str().ok()),
        Some("1")
    );
    assert_eq!(error_code(&shed.json().await.expect("JSON")), "SERVER_BUSY");
    for path in ["/healthz", "/readyz"] {
        let response = app.client.get(app.url(path)).send().await.expect("sent");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    // Once the slot is free, requests are served again.
    drop(holder);
    let mut served = false;
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        if query().await.expect("sent").status() == StatusCode::OK {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(served, "the slot was never freed");
    app.stop().await;
}

/// A multipart GraphQL request whose `operations` part is `padding` bytes longer than needed.
fn multipart(padding: usize) -> (String, Vec<u8>) {
    let boundary = "curtain-security-boundary";
    let query = format!("{}mutation($f: Upload!) {{ __typename }}", " ".repeat(padding));
    let operations = json!({ "query": query, "variables": { "f": null } });
    let mut body = Vec::new();
    for (field, value) in [
        ("operations", operations.to_string()),
        ("map", json!({ "0": ["variables.f"] }).to_string()),
    ] {
        body.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"\r\n\r\n{value}\r\n").bytes(),
        );
    }
    body.extend(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"0\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\nPNG\r\n--{boundary}--\r\n").bytes(),
    );
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_operations_over_the_json_limit_are_refused_with_413() {
    let app = spawn(|s| s.server.body_limit_bytes = 4_096).await;
    let post = |(content_type, body): (String, Vec<u8>)| {
        app.client
            .post(app.url("/graphql"))
            .header("content-type", content_type)
            .header("apollo-require-preflight", "true")
            .body(body)
            .send()
    };
    let response = post(multipart(10_000)).await.expect("sent");
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Within the limit, the same request is read (and fails only for what it asks).
    let response = post(multipart(10)).await.expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsigned_upload_is_refused_before_its_body_is_read() {
    let app = spawn(|_| {}).await;
    let mut stream = TcpStream::connect(host(&app)).await.expect("connect");
    let expires = chrono::Utc::now().timestamp() + 600;
    let request = format!(
        "PUT /files/uploads/posters/ab/forged.png?expires={expires}&length=1000000&type=image%2Fpng&signature=forged HTTP/1.1\r\n\
         Host: curtain\r\nContent-Type: image/png\r\nContent-Length: 1000000\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    // Not a byte of the promised megabyte is sent: the answer must not wait for it.
    let head = read_head(&mut stream, Duration::from_secs(10))
        .await
        .expect("an answer within 10 s");
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_posters_cannot_be_sniffed_into_another_type() {
    let app = spawn(|_| {}).await;
    let performance = crate::posters::performance(&app).await;
    let (status, response) = crate::posters::upload(
        &app,
        app.admin_token(),
        &performance,
        ("poster.png", crate::posters::png()),
        true,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{response}");
    let url = data(&response)["uploadPoster"]["posterUrl"].as_str().expect("url");
    let served = app.client.get(url).send().await.expect("sent");
    assert_eq!(served.status(), StatusCode::OK);
    assert_eq!(
        served
            .headers()
            .get("x-content-type-options")
            .and_then(|v| v.to_str().ok()),
        Some("nosniff")
    );
    app.stop().await;
}
