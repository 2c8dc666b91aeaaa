//! Posters on local storage: multipart upload over real HTTP, type decided by the bytes,
//! replacement and deletion removing the old object, CSRF protection, and presigned uploads
//! through the service. The helpers are shared with `posters_s3`.

use curtain_tests::fixtures::{create_performance, create_venue, day, small_layout};
use curtain_tests::{Backend, TestApp, data, error_code};
use reqwest::StatusCode;
use serde_json::{Value, json};

const UPLOAD: &str = "mutation($p: ID!, $f: Upload!) { uploadPoster(performanceId: $p, file: $f) { id posterUrl } }";
pub(crate) const UPLOAD_URL: &str = "mutation($p: ID!, $t: String!, $n: Int!) {
    createPosterUploadUrl(performanceId: $p, contentType: $t, contentLength: $n) { url key contentType expiresAt } }";
pub(crate) const ATTACH: &str =
    "mutation($p: ID!, $k: String!) { attachPoster(performanceId: $p, key: $k) { posterUrl } }";

/// A PNG signature followed by filler: what the server sniffs is all there.
pub(crate) fn png() -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    bytes.extend(std::iter::repeat_n(7u8, 2_000));
    bytes
}

pub(crate) fn jpeg() -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F'];
    bytes.extend(std::iter::repeat_n(3u8, 1_000));
    bytes
}

pub(crate) async fn performance(app: &TestApp) -> String {
    performance_named(app, "Poster show").await
}

pub(crate) async fn performance_named(app: &TestApp, title: &str) -> String {
    let venue = create_venue(app, &format!("{title} hall"), small_layout(2)).await;
    create_performance(app, &venue, title, &day(0).0, &day(5).0).await
}

/// POSTs `uploadPoster` as a GraphQL multipart request, built by hand as the spec lays it
/// out; `preflight` adds the header that proves the request is not a cross-site form post.
pub(crate) async fn upload(
    app: &TestApp,
    token: &str,
    performance: &str,
    (name, bytes): (&str, Vec<u8>),
    preflight: bool,
) -> (StatusCode, Value) {
    let boundary = "curtain-test-boundary-7f3a";
    let operations = json!({ "query": UPLOAD, "variables": { "p": performance, "f": null } });
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
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"0\"; filename=\"{name}\"\r\nContent-Type: image/jpeg\r\n\r\n")
            .bytes(),
    );
    body.extend(bytes);
    body.extend(format!("\r\n--{boundary}--\r\n").bytes());
    let mut request = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(token)
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(body);
    if preflight {
        request = request.header("apollo-require-preflight", "true");
    }
    let response = request.send().await.expect("request sent");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub(crate) async fn poster_url(app: &TestApp, performance: &str) -> Value {
    let response = app
        .gql(
            "query($p: ID!) { performance(id: $p) { posterUrl } }",
            json!({ "p": performance }),
        )
        .await;
    data(&response)["performance"]["posterUrl"].clone()
}

/// Asks for an upload URL and PUTs `bytes` to it; returns the key and the PUT's status.
pub(crate) async fn put_presigned(
    app: &TestApp,
    performance: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> (String, StatusCode) {
    let response = app
        .admin(
            UPLOAD_URL,
            json!({ "p": performance, "t": content_type, "n": bytes.len() }),
        )
        .await;
    let ticket = &data(&response)["createPosterUploadUrl"];
    let url = ticket["url"].as_str().expect("url");
    let status = app
        .client
        .put(url)
        .header("content-type", content_type)
        .body(bytes)
        .send()
        .await
        .expect("PUT")
        .status();
    (ticket["key"].as_str().expect("key").to_string(), status)
}

fn local_files(app: &TestApp) -> Vec<String> {
    let root = app.state.files.dir.join("posters");
    let mut files = Vec::new();
    for dir in std::fs::read_dir(&root).into_iter().flatten().flatten() {
        for file in std::fs::read_dir(dir.path()).into_iter().flatten().flatten() {
            files.push(file.file_name().to_string_lossy().to_string());
        }
    }
    files
}

async fn a_poster_uploaded_by_multipart_is_served_replaced_and_deleted_with_its_performance(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let performance = performance(&app).await;
    let (status, response) = upload(&app, app.admin_token(), &performance, ("poster.png", png()), true).await;
    assert_eq!(status, StatusCode::OK);
    let first = data(&response)["uploadPoster"]["posterUrl"]
        .as_str()
        .expect("url")
        .to_string();
    assert!(
        first.starts_with(&app.url("/files/posters/")) && first.ends_with(".png"),
        "{first}"
    );
    let served = app.client.get(&first).send().await.expect("poster");
    assert_eq!(served.status(), StatusCode::OK);
    assert!(
        served.headers()["cache-control"]
            .to_str()
            .unwrap_or_default()
            .contains("immutable")
    );
    assert_eq!(served.bytes().await.expect("bytes").to_vec(), png());

    let (_, response) = upload(&app, app.admin_token(), &performance, ("poster.jpg", jpeg()), true).await;
    let second = data(&response)["uploadPoster"]["posterUrl"]
        .as_str()
        .expect("url")
        .to_string();
    assert_ne!(first, second, "a replacement gets a fresh key");
    assert_eq!(
        app.client.get(&first).send().await.expect("old").status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(local_files(&app).len(), 1, "the replaced poster is deleted");

    let response = app
        .admin(
            "mutation($id: ID!) { deletePerformance(id: $id) }",
            json!({ "id": performance }),
        )
        .await;
    data(&response);
    assert!(
        local_files(&app).is_empty(),
        "deleting the performance deletes its poster"
    );
    app.stop().await;
}

async fn spoofed_types_missing_preflight_headers_and_buyers_are_refused(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let performance = performance(&app).await;
    let text = b"I am plain text wearing a .jpg name".to_vec();
    let (_, response) = upload(&app, app.admin_token(), &performance, ("poster.jpg", text), true).await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT");

    let (status, response) = upload(&app, app.admin_token(), &performance, ("poster.png", png()), false).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{response}");
    assert!(
        response["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("Apollo-Require-Preflight")
    );

    let buyer = app.sign_up("poster-fan@example.com").await;
    let (_, response) = upload(&app, &buyer.access_token, &performance, ("poster.png", png()), true).await;
    assert_eq!(error_code(&response), "FORBIDDEN");

    assert!(poster_url(&app, &performance).await.is_null());
    assert!(local_files(&app).is_empty(), "nothing refused was stored");
    app.stop().await;
}

async fn a_presigned_local_upload_goes_through_the_service_and_is_signed(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let performance = performance(&app).await;
    let response = app
        .admin(UPLOAD_URL, json!({ "p": performance, "t": "image/webp", "n": 16 }))
        .await;
    let ticket = &data(&response)["createPosterUploadUrl"];
    let url = ticket["url"].as_str().expect("url").to_string();
    let webp = b"RIFF\x08\0\0\0WEBPVP8 ".to_vec();
    let tampered = url.replace("length=16", "length=17");
    let status = app
        .client
        .put(&tampered)
        .header("content-type", "image/webp")
        .body(webp.clone())
        .send()
        .await
        .expect("PUT")
        .status();
    assert_eq!(status, StatusCode::FORBIDDEN, "a changed URL is refused");
    let status = app
        .client
        .put(&url)
        .header("content-type", "image/webp")
        .body(webp)
        .send()
        .await
        .expect("PUT")
        .status();
    assert_eq!(status, StatusCode::OK);
    let key = ticket["key"].as_str().expect("key");
    let response = app.admin(ATTACH, json!({ "p": performance, "k": key })).await;
    let poster = data(&response)["attachPoster"]["posterUrl"]
        .as_str()
        .expect("url")
        .to_string();
    assert_eq!(
        app.client.get(&poster).send().await.expect("GET").status(),
        StatusCode::OK
    );
    app.stop().await;
}

/// Runs each `$name(Backend)` as `sqlite::$name` and `postgres::$name`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(curtain_tests::Backend::Sqlite).await; })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(curtain_tests::Backend::Postgres).await; })*
        }
    };
}

on_both_backends!(
    a_poster_uploaded_by_multipart_is_served_replaced_and_deleted_with_its_performance,
    spoofed_types_missing_preflight_headers_and_buyers_are_refused,
    a_presigned_local_upload_goes_through_the_service_and_is_signed,
);

pub(crate) use on_both_backends;
