//! Reviews: only buyers who attended may review, once per performance; authors and admins
//! edit and delete them; the performance's average and count follow every change.

use chrono::{Duration, Utc};
use curtain_tests::fixtures::{
    confirm, create_performance, create_session, create_venue, day, hold, move_session, seats_of, small_layout,
};
use curtain_tests::{Session, TestApp, backend_tests, data, error_code};
use serde_json::{Value, json};

backend_tests!(
    only_buyers_with_a_confirmed_seat_at_a_started_session_may_review_once,
    authors_and_admins_edit_and_delete_reviews_and_other_buyers_cannot,
    the_average_and_count_follow_every_write_update_and_delete,
    bad_input_is_refused_and_changes_nothing,
);

const WRITE: &str = "mutation($p: ID!, $r: Int!, $b: String!) {
    writeReview(performanceId: $p, rating: $r, body: $b) { id rating body performance { averageRating reviewCount } } }";
const UPDATE: &str =
    "mutation($id: ID!, $r: Int, $b: String) { updateReview(id: $id, rating: $r, body: $b) { id rating body } }";
const DELETE: &str = "mutation($id: ID!) { deleteReview(id: $id) }";
const TOTALS: &str = "query($p: ID!) { performance(id: $p) { averageRating reviewCount
    reviews(first: 10) { edges { node { id rating body } } } } }";

/// A performance with one session on sale in two days, and that session's seat IDs.
struct Show {
    performance: String,
    session: String,
    seats: Vec<String>,
}

async fn show(app: &TestApp) -> Show {
    let venue = create_venue(app, "Review hall", small_layout(4)).await;
    let performance = create_performance(app, &venue, "Review me", &day(0).0, &day(10).0).await;
    let session = create_session(app, &performance, &day(2).1).await;
    let seats = seats_of(app, &session).await;
    Show {
        performance,
        session,
        seats,
    }
}

/// A buyer with a confirmed seat.
async fn attendee(app: &TestApp, show: &Show, email: &str, seat: usize) -> Session {
    let buyer = app.sign_up(email).await;
    let reservation = hold(
        app,
        &buyer.access_token,
        &show.session,
        &[&show.seats[seat]],
        &format!("review-{seat}"),
    )
    .await;
    confirm(app, &reservation).await;
    buyer
}

/// Moves the session's start an hour into the past, as if the show had begun.
async fn begin(app: &TestApp, show: &Show) {
    move_session(app, &show.session, Utc::now() - Duration::hours(1)).await;
}

async fn write(app: &TestApp, buyer: &Session, show: &Show, rating: i64, body: &str) -> Value {
    app.post(
        WRITE,
        json!({ "p": show.performance, "r": rating, "b": body }),
        Some(&buyer.access_token),
    )
    .await
}

async fn totals(app: &TestApp, show: &Show) -> Value {
    data(&app.gql(TOTALS, json!({ "p": show.performance })).await)["performance"].clone()
}

async fn only_buyers_with_a_confirmed_seat_at_a_started_session_may_review_once(app: &TestApp) {
    let show = show(app).await;
    let stranger = app.sign_up("stranger@example.com").await;
    let holder = app.sign_up("holder@example.com").await;
    hold(app, &holder.access_token, &show.session, &[&show.seats[0]], "review-0").await;
    let buyer = attendee(app, &show, "buyer@example.com", 1).await;

    let response = write(app, &buyer, &show, 5, "Can't wait").await;
    assert_eq!(error_code(&response), "FORBIDDEN", "the show has not started yet");
    let message = response["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("confirmed ticket"), "the refusal says why: {message}");

    begin(app, &show).await;
    let response = write(app, &stranger, &show, 5, "Never went").await;
    assert_eq!(error_code(&response), "FORBIDDEN", "no reservation at all");
    let response = write(app, &holder, &show, 5, "Only held").await;
    assert_eq!(error_code(&response), "FORBIDDEN", "a hold is not a ticket");

    let response = write(app, &buyer, &show, 4, "  Wonderful cast  ").await;
    let review = &data(&response)["writeReview"];
    assert_eq!(review["rating"], 4);
    assert_eq!(review["body"], "Wonderful cast");
    assert_eq!(review["performance"]["reviewCount"], 1);

    let response = write(app, &buyer, &show, 1, "Changed my mind").await;
    assert_eq!(
        error_code(&response),
        "CONFLICT",
        "one review per buyer per performance"
    );
    let totals = totals(app, &show).await;
    assert_eq!(totals["reviewCount"], 1);
    assert_eq!(totals["averageRating"], 4.0);

    let response = app
        .gql(WRITE, json!({ "p": show.performance, "r": 5, "b": "anon" }))
        .await;
    assert_eq!(error_code(&response), "UNAUTHENTICATED");
}

async fn authors_and_admins_edit_and_delete_reviews_and_other_buyers_cannot(app: &TestApp) {
    let show = show(app).await;
    let author = attendee(app, &show, "author@example.com", 0).await;
    let other = attendee(app, &show, "other@example.com", 1).await;
    begin(app, &show).await;
    let mine = data(&write(app, &author, &show, 3, "Fine").await)["writeReview"]["id"].clone();
    let theirs = data(&write(app, &other, &show, 5, "Superb").await)["writeReview"]["id"].clone();

    let response = app
        .post(UPDATE, json!({ "id": mine, "r": 1 }), Some(&other.access_token))
        .await;
    assert_eq!(error_code(&response), "FORBIDDEN");
    let response = app.post(DELETE, json!({ "id": mine }), Some(&other.access_token)).await;
    assert_eq!(error_code(&response), "FORBIDDEN");

    let response = app
        .post(
            UPDATE,
            json!({ "id": mine, "b": "Better on reflection" }),
            Some(&author.access_token),
        )
        .await;
    let updated = &data(&response)["updateReview"];
    assert_eq!(updated["rating"], 3, "an omitted rating is kept");
    assert_eq!(updated["body"], "Better on reflection");

    let response = app
        .admin(UPDATE, json!({ "id": theirs, "b": "[removed by moderator]" }))
        .await;
    assert_eq!(data(&response)["updateReview"]["body"], "[removed by moderator]");
    let response = app.admin(DELETE, json!({ "id": theirs })).await;
    assert_eq!(data(&response)["deleteReview"], theirs);
    let response = app
        .post(DELETE, json!({ "id": mine }), Some(&author.access_token))
        .await;
    assert_eq!(data(&response)["deleteReview"], mine);

    let response = app
        .post(DELETE, json!({ "id": mine }), Some(&author.access_token))
        .await;
    assert_eq!(error_code(&response), "NOT_FOUND");
    let totals = totals(app, &show).await;
    assert_eq!(totals["reviewCount"], 0);
    assert!(totals["averageRating"].is_null());
    assert_eq!(totals["reviews"]["edges"], json!([]));
}

async fn the_average_and_count_follow_every_write_update_and_delete(app: &TestApp) {
    let show = show(app).await;
    let first = attendee(app, &show, "first@example.com", 0).await;
    let second = attendee(app, &show, "second@example.com", 1).await;
    begin(app, &show).await;
    let before = totals(app, &show).await;
    assert_eq!(before["reviewCount"], 0);
    assert!(before["averageRating"].is_null());

    let early = data(&write(app, &first, &show, 5, "Loved it").await)["writeReview"]["id"].clone();
    let late = data(&write(app, &second, &show, 2, "Too long").await)["writeReview"]["id"].clone();
    let now = totals(app, &show).await;
    assert_eq!(now["reviewCount"], 2);
    assert_eq!(now["averageRating"], 3.5);
    let ids: Vec<&Value> = now["reviews"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| &e["node"]["id"])
        .collect();
    assert_eq!(ids, vec![&late, &early], "newest first");

    let response = app
        .post(UPDATE, json!({ "id": late, "r": 4 }), Some(&second.access_token))
        .await;
    data(&response);
    assert_eq!(totals(app, &show).await["averageRating"], 4.5);

    let response = app
        .post(DELETE, json!({ "id": early }), Some(&first.access_token))
        .await;
    data(&response);
    let now = totals(app, &show).await;
    assert_eq!(now["reviewCount"], 1);
    assert_eq!(now["averageRating"], 4.0);

    let page = app
        .gql(
            "query($p: ID!) { performance(id: $p) { reviews(first: 1) { pageInfo { hasNextPage } edges { cursor node { id } } } } }",
            json!({ "p": show.performance }),
        )
        .await;
    let reviews = &data(&page)["performance"]["reviews"];
    assert_eq!(reviews["edges"][0]["node"]["id"], late);
    assert_eq!(reviews["pageInfo"]["hasNextPage"], false);
}

async fn bad_input_is_refused_and_changes_nothing(app: &TestApp) {
    let show = show(app).await;
    let buyer = attendee(app, &show, "critic@example.com", 0).await;
    begin(app, &show).await;
    let too_long = "가".repeat(2_001);
    for (rating, body) in [(0, "ok"), (6, "ok"), (5, "   "), (5, too_long.as_str())] {
        let response = write(app, &buyer, &show, rating, body).await;
        assert_eq!(error_code(&response), "BAD_USER_INPUT", "rating {rating}");
    }
    assert_eq!(totals(app, &show).await["reviewCount"], 0);

    let id = data(&write(app, &buyer, &show, 3, "Solid").await)["writeReview"]["id"].clone();
    for change in [
        json!({ "id": id, "r": 0 }),
        json!({ "id": id, "r": 6 }),
        json!({ "id": id, "b": "" }),
    ] {
        let response = app.post(UPDATE, change, Some(&buyer.access_token)).await;
        assert_eq!(error_code(&response), "BAD_USER_INPUT");
    }
    let now = totals(app, &show).await;
    assert_eq!(now["averageRating"], 3.0);
    assert_eq!(now["reviews"]["edges"][0]["node"]["body"], "Solid");
}
