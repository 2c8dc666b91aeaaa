//! `sweep-orphan-files` deletes stored posters no performance refers to once they are past
//! the grace period, on local storage and on S3, and leaves attached posters alone.

use curtain::jobs::Job;
use curtain_tests::fixtures::{job_env_with, run_job};
use curtain_tests::s3::S3Stub;
use curtain_tests::{Backend, TestApp, data};

use super::posters::{on_both_backends, performance, png, poster_url, put_presigned, upload};

/// Runs the sweep with `grace_hours`; returns how many files it deleted.
async fn sweep(app: &TestApp, grace_hours: i64) -> i64 {
    let env = job_env_with(app, |settings| settings.jobs.orphan_grace_hours = grace_hours);
    let record = run_job(&env, Job::SweepOrphanFiles).await;
    assert_eq!(record.status, "SUCCEEDED", "{record:?}");
    record.items
}

/// Attaches one poster and leaves one presigned upload unattached; sweeps; `exists` says
/// whether a key is still stored, read from the store's own disk.
async fn only_unattached_files_past_the_grace_period_are_swept(app: &TestApp, exists: impl Fn(&str) -> bool) {
    let performance = performance(app).await;
    let (_, response) = upload(app, app.admin_token(), &performance, ("a.png", png()), true).await;
    let url = data(&response)["uploadPoster"]["posterUrl"]
        .as_str()
        .expect("url")
        .to_string();
    let attached = url
        .rsplit_once("/posters/")
        .map(|(_, rest)| format!("posters/{rest}"))
        .expect("a poster key");
    let (abandoned, status) = put_presigned(app, &performance, "image/png", png()).await;
    assert!(status.is_success(), "{status}");
    assert!(exists(&attached) && exists(&abandoned));

    assert_eq!(sweep(app, 24).await, 0, "a fresh upload may still be attached");
    assert!(exists(&abandoned));

    assert_eq!(sweep(app, 0).await, 1);
    assert!(!exists(&abandoned), "the unattached upload is deleted");
    assert!(exists(&attached), "the attached poster stays");
    assert_eq!(poster_url(app, &performance).await, serde_json::json!(url));
    assert_eq!(sweep(app, 0).await, 0, "a second sweep finds nothing");
}

async fn local_files_are_swept(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let dir = app.state.files.dir.clone();
    only_unattached_files_past_the_grace_period_are_swept(&app, |key| dir.join(key).is_file()).await;
    app.stop().await;
}

async fn s3_objects_are_swept(backend: Backend) {
    let stub = S3Stub::spawn().await;
    let Some(app) = TestApp::builder(backend).s3(&stub.endpoint).spawn().await else {
        return;
    };
    only_unattached_files_past_the_grace_period_are_swept(&app, |key| stub.read(key).is_some()).await;
    app.stop().await;
}

on_both_backends!(local_files_are_swept, s3_objects_are_swept);
