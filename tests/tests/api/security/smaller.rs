//! Security: the smaller findings. Database text never reaches a client, constraints answer
//! by name, moderation is audited, long lists are bounded and revocations cannot be evicted.

use std::time::Duration;

use chrono::Utc;
use curtain::error::ApiError;
use curtain_tests::fixtures::{
    confirm, create_cast_member, create_performance, create_session, create_venue, database_id, day, hold,
    move_session, seats_of, small_layout,
};
use curtain_tests::{Backend, TestApp, backend_tests, data, error_code};
use sea_orm::{ActiveModelTrait, EntityTrait, NotSet};
use serde_json::{Value, json};

backend_tests!(
    constraint_violations_answer_by_the_constraint_s_name,
    text_with_control_characters_is_bad_input_on_every_database,
    an_admin_changing_or_deleting_someone_s_review_is_audited,
    marking_a_huge_list_of_notifications_read_is_bad_input,
);

/// Every message and code in `response` must be ours: no SQL, no driver wording.
fn assert_no_database_text(response: &Value) {
    let text = response.to_string().to_ascii_lowercase();
    for leak in [
        "sql",
        "constraint",
        "violates",
        "database",
        "locked",
        "execution error",
        "query error",
    ] {
        assert!(!text.contains(leak), "{leak:?} leaked in {response}");
    }
}

/// The table of constraints names them as each database really reports them: a duplicate
/// email and a venue deleted from under its performance, straight at the database.
async fn constraint_violations_answer_by_the_constraint_s_name(app: &TestApp) {
    let admin = entity::user::Entity::find()
        .one(&app.db)
        .await
        .expect("read")
        .expect("the admin");
    let mut twin: entity::user::ActiveModel = admin.into();
    twin.id = NotSet;
    let err = twin.insert(&app.db).await.expect_err("emails are unique");
    match curtain::constraints::answer(err, "the caller's words") {
        ApiError::Conflict(message) => assert_eq!(message, "an account with this email already exists"),
        other => panic!("expected CONFLICT, got {other:?}"),
    }

    let venue = create_venue(app, "Busy hall", small_layout(2)).await;
    create_performance(app, &venue, "Still running", &day(0).0, &day(5).0).await;
    let err = entity::venue::Entity::delete_by_id(database_id(&venue))
        .exec(&app.db)
        .await
        .expect_err("a venue with performances stays");
    let expected = match app.backend {
        Backend::Postgres => "the venue still has performances",
        // SQLite names no foreign key: the caller says what it means.
        Backend::Sqlite => "the caller's words",
    };
    match curtain::constraints::answer(err, "the caller's words") {
        ApiError::Conflict(message) => assert_eq!(message, expected),
        other => panic!("expected CONFLICT, got {other:?}"),
    }
}

async fn text_with_control_characters_is_bad_input_on_every_database(app: &TestApp) {
    let create = "mutation($input: CreateCastMemberInput!) { createCastMember(input: $input) { id } }";
    // PostgreSQL refuses NUL in text with an error of its own; SQLite would store it. NUL is
    // refused before any resolver runs; other control characters by the field's check.
    for (name, field) in [("Nul\u{0}Byte", None), ("Bell\u{7}Ring", Some("name"))] {
        let response = app.admin(create, json!({ "input": { "name": name } })).await;
        assert_eq!(error_code(&response), "BAD_USER_INPUT", "{response}");
        if let Some(field) = field {
            assert_eq!(response["errors"][0]["extensions"]["field"], field);
        }
        assert_no_database_text(&response);
    }
}

async fn an_admin_changing_or_deleting_someone_s_review_is_audited(app: &TestApp) {
    let venue = create_venue(app, "Moderated hall", small_layout(2)).await;
    let performance = create_performance(app, &venue, "Moderate me", &day(0).0, &day(10).0).await;
    let session = create_session(app, &performance, &day(2).1).await;
    let seats = seats_of(app, &session).await;
    let buyer = app.sign_up("reviewer@example.com").await;
    let reservation = hold(app, &buyer.access_token, &session, &[&seats[0]], "moderation").await;
    confirm(app, &reservation).await;
    move_session(app, &session, Utc::now() - chrono::Duration::hours(1)).await;
    let written = app
        .post(
            "mutation($p: ID!) { writeReview(performanceId: $p, rating: 5, body: \"Loved it\") { id } }",
            json!({ "p": performance }),
            Some(&buyer.access_token),
        )
        .await;
    let review = data(&written)["writeReview"]["id"]
        .as_str()
        .expect("review id")
        .to_string();
    // The author's own edit is not moderation.
    let own = app
        .post(
            "mutation($id: ID!) { updateReview(id: $id, body: \"Loved it a lot\") { id } }",
            json!({ "id": review }),
            Some(&buyer.access_token),
        )
        .await;
    data(&own);
    assert!(audited(app, &review).await.is_empty());

    let edited = app
        .admin(
            "mutation($id: ID!) { updateReview(id: $id, body: \"[removed by the box office]\") { id } }",
            json!({ "id": review }),
        )
        .await;
    data(&edited);
    let deleted = app
        .admin("mutation($id: ID!) { deleteReview(id: $id) }", json!({ "id": review }))
        .await;
    data(&deleted);
    assert_eq!(audited(app, &review).await, ["deleteReview", "updateReview"]);
}

/// The audit log's actions on `target`, newest first.
async fn audited(app: &TestApp, target: &str) -> Vec<String> {
    let response = app
        .admin(
            "{ auditLog(first: 100) { edges { node { action targetId actor { email } } } } }",
            json!({}),
        )
        .await;
    data(&response)["auditLog"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|edge| &edge["node"])
        .filter(|node| node["targetId"] == target)
        .inspect(|node| assert_eq!(node["actor"]["email"], "ad***@curtain.test", "the admin, masked"))
        .map(|node| node["action"].as_str().expect("action").to_string())
        .collect()
}

async fn marking_a_huge_list_of_notifications_read_is_bad_input(app: &TestApp) {
    let buyer = app.sign_up("reader@example.com").await;
    let ids: Vec<String> = (1..=40_000)
        .map(|id| curtain::ids::encode(curtain::ids::NodeKind::Notification, id).to_string())
        .collect();
    let query = "mutation($ids: [ID!]!) { markNotificationsRead(ids: $ids) }";
    let response = app.post(query, json!({ "ids": ids }), Some(&buyer.access_token)).await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT", "{}", response["errors"]);
    assert_eq!(response["errors"][0]["extensions"]["field"], "ids");
    let few = app
        .post(query, json!({ "ids": &ids[..500] }), Some(&buyer.access_token))
        .await;
    assert_eq!(data(&few)["markNotificationsRead"], 0);
}

/// A write that cannot start because SQLite's write lock is held past its busy timeout is an
/// internal error with a request id, not the driver's "database is locked" as bad input.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_the_database_refuses_to_start_is_internal_and_says_nothing_of_the_database() {
    let app = TestApp::spawn(Backend::Sqlite)
        .await
        .expect("SQLite is always available");
    let other_instance = curtain::db::connect(&secrecy::SecretString::from(app.database_url.clone()), 1, None)
        .await
        .expect("a second pool");
    let holding = curtain::db::begin_write(&other_instance).await.expect("the write lock");
    // The busy timeout is 10 s: this waits it out once.
    let response = tokio::time::timeout(
        Duration::from_secs(30),
        app.admin(
            "mutation($input: CreateCastMemberInput!) { createCastMember(input: $input) { id } }",
            json!({ "input": { "name": "Blocked" } }),
        ),
    )
    .await
    .expect("an answer after the busy timeout");
    holding.rollback().await.expect("release the lock");
    assert_eq!(error_code(&response), "INTERNAL_SERVER_ERROR", "{response}");
    assert_eq!(response["errors"][0]["message"], "internal server error");
    assert!(response["errors"][0]["extensions"]["requestId"].is_string());
    assert_no_database_text(&response);
    // And once the lock is free, the same write goes through.
    create_cast_member(&app, "Unblocked").await;
    app.stop().await;
}

/// The in-process deny-list is a store of its own: filling the rate-limit store far past its
/// capacity leaves a logged-out token refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_rate_limit_keys_cannot_evict_a_revoked_token() {
    let app = TestApp::spawn(Backend::Sqlite)
        .await
        .expect("SQLite is always available");
    let buyer = app.sign_up("revoked@example.com").await;
    let me = "{ me { email } }";
    let logged_out = app
        .post(
            "mutation($r: String!) { logOut(refreshToken: $r) }",
            json!({ "r": buyer.refresh_token }),
            Some(&buyer.access_token),
        )
        .await;
    data(&logged_out);
    assert_eq!(
        error_code(&app.post(me, json!({}), Some(&buyer.access_token)).await),
        "UNAUTHENTICATED"
    );
    // As an attacker rotating addresses and emails would, one counter per attempt.
    let kv = app.state.kv.clone();
    for i in 0..150_000u32 {
        kv.increment(&format!("rate:logIn:flood-{i}"), Duration::from_secs(60))
            .await
            .expect("counted");
    }
    assert_eq!(
        error_code(&app.post(me, json!({}), Some(&buyer.access_token)).await),
        "UNAUTHENTICATED",
        "the revocation survived the flood"
    );
    app.stop().await;
}
