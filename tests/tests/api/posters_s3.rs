//! Posters on S3, against an in-process s3s-fs server that checks signatures: multipart
//! uploads, replacement and deletion removing the old object, and presigned uploads checked
//! before they are attached.

use curtain_tests::s3::{BUCKET, S3Stub};
use curtain_tests::{Backend, TestApp, data, error_code};
use serde_json::json;

use super::posters::{
    ATTACH, UPLOAD_URL, jpeg, on_both_backends, performance, performance_named, png, poster_url, put_presigned, upload,
};

async fn s3_app(backend: Backend, stub: &S3Stub) -> Option<TestApp> {
    TestApp::builder(backend).s3(&stub.endpoint).spawn().await
}

async fn multipart_uploads_go_to_s3_and_replacements_delete_the_old_object(backend: Backend) {
    let stub = S3Stub::spawn().await;
    let Some(app) = s3_app(backend, &stub).await else {
        return;
    };
    let performance = performance(&app).await;
    let (_, response) = upload(&app, app.admin_token(), &performance, ("a.png", png()), true).await;
    let first = data(&response)["uploadPoster"]["posterUrl"]
        .as_str()
        .expect("url")
        .to_string();
    assert!(
        first.starts_with(&format!("{}/{BUCKET}/posters/", stub.endpoint)),
        "{first}"
    );
    let keys = stub.keys();
    assert_eq!(keys.len(), 1);
    assert_eq!(stub.read(&keys[0]), Some(png()));

    let (_, response) = upload(&app, app.admin_token(), &performance, ("b.jpg", jpeg()), true).await;
    data(&response);
    let replaced = stub.keys();
    assert_eq!(replaced.len(), 1, "the old object is deleted");
    assert_ne!(replaced, keys);
    assert_eq!(stub.read(&replaced[0]), Some(jpeg()));

    let response = app
        .admin(
            "mutation($id: ID!) { deletePerformance(id: $id) }",
            json!({ "id": performance }),
        )
        .await;
    data(&response);
    assert!(stub.keys().is_empty(), "deleting the performance deletes its poster");
    app.stop().await;
}

async fn a_presigned_s3_upload_is_checked_before_it_is_attached(backend: Backend) {
    let stub = S3Stub::spawn().await;
    let Some(app) = s3_app(backend, &stub).await else {
        return;
    };
    let performance = performance(&app).await;
    let other = performance_named(&app, "Other show").await;

    let (key, status) = put_presigned(&app, &performance, "image/png", png()).await;
    assert!(status.is_success(), "{status}");
    let response = app.admin(ATTACH, json!({ "p": other, "k": key })).await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT", "a key of another performance");
    let response = app.admin(ATTACH, json!({ "p": performance, "k": key })).await;
    let url = data(&response)["attachPoster"]["posterUrl"]
        .as_str()
        .expect("url")
        .to_string();
    assert!(url.ends_with(&key));
    assert_eq!(stub.read(&key), Some(png()));

    let (spoofed, status) =
        put_presigned(&app, &performance, "image/jpeg", b"<html>not an image</html>".to_vec()).await;
    assert!(status.is_success());
    let response = app.admin(ATTACH, json!({ "p": performance, "k": spoofed })).await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT");
    assert_eq!(stub.read(&spoofed), None, "a refused object is deleted");
    assert_eq!(
        poster_url(&app, &performance).await,
        json!(url),
        "the poster is unchanged"
    );

    let response = app
        .admin(
            UPLOAD_URL,
            json!({ "p": performance, "t": "image/png", "n": 6 * 1024 * 1024 }),
        )
        .await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT", "over the size limit");
    let response = app
        .admin(UPLOAD_URL, json!({ "p": performance, "t": "text/html", "n": 10 }))
        .await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT", "not an image type");
    let missing = key.replace(".png", "0.png");
    let response = app.admin(ATTACH, json!({ "p": performance, "k": missing })).await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT", "nothing uploaded");
    app.stop().await;
}

on_both_backends!(
    multipart_uploads_go_to_s3_and_replacements_delete_the_old_object,
    a_presigned_s3_upload_is_checked_before_it_is_attached,
);
