//! Notifications: in-app, by email to a local SMTP server and to a local Slack webhook,
//! each exactly once; a failing channel is retried (or given up) without holding up the
//! others; a notification made on one instance reaches a subscriber on another.

use std::time::Duration;

use curtain_tests::fixtures::{
    confirm, create_performance, create_session, create_venue, day, hold, seats_of, small_layout,
};
use curtain_tests::outside::{SlackStandIn, SmtpSink};
use curtain_tests::socket::{self, next_message};
use curtain_tests::{Backend, TestApp, data};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

/// A session on sale of the show "Notified"; returns its id and seats.
async fn session(app: &TestApp) -> (String, Vec<String>) {
    let venue = create_venue(app, "Notice hall", small_layout(4)).await;
    let performance = create_performance(app, &venue, "Notified", &day(0).0, &day(10).0).await;
    let session = create_session(app, &performance, &day(2).1).await;
    let seats = seats_of(app, &session).await;
    (session, seats)
}

async fn my_notifications(app: &TestApp, token: &str) -> (Vec<Value>, i64) {
    let response = app
        .post(
            "{ myNotifications(first: 20) { nodes { id kind title body readAt } } unreadNotificationCount }",
            json!({}),
            Some(token),
        )
        .await;
    let data = data(&response);
    let nodes = data["myNotifications"]["nodes"].as_array().expect("nodes").clone();
    (nodes, data["unreadNotificationCount"].as_i64().expect("count"))
}

/// Waits until the buyer has `n` notifications.
async fn wait_for_notifications(app: &TestApp, token: &str, n: usize) -> (Vec<Value>, i64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (nodes, unread) = my_notifications(app, token).await;
        if nodes.len() >= n || tokio::time::Instant::now() > deadline {
            return (nodes, unread);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn deliveries(app: &TestApp, channel: &str) -> Vec<entity::delivery::Model> {
    entity::delivery::Entity::find()
        .filter(entity::delivery::Column::Channel.eq(channel))
        .order_by_asc(entity::delivery::Column::Id)
        .all(&app.db)
        .await
        .expect("deliveries")
}

/// Waits until no delivery of `channel` is pending any more.
async fn settled(app: &TestApp, channel: &str) -> Vec<entity::delivery::Model> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let rows = deliveries(app, channel).await;
        if rows.iter().all(|row| row.status != "PENDING") || tokio::time::Instant::now() > deadline {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_buyer_is_notified_in_app_and_by_email_and_the_box_office_on_slack_once() {
    notified_once(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_buyer_is_notified_in_app_and_by_email_and_the_box_office_on_slack_once() {
    notified_once(Backend::Postgres).await;
}

async fn notified_once(backend: Backend) {
    let (smtp, slack) = (SmtpSink::start().await, SlackStandIn::start().await);
    let Some(app) = TestApp::builder(backend)
        .smtp(smtp.port)
        .slack(&slack.url)
        .spawn()
        .await
    else {
        return;
    };
    let (session, seats) = session(&app).await;
    let buyer = app.sign_up("english@example.com").await;
    let updated = app
        .post(
            "mutation { updateMe(input: { language: EN }) { language } }",
            json!({}),
            Some(&buyer.access_token),
        )
        .await;
    assert_eq!(data(&updated)["updateMe"]["language"], "EN");

    let reservation = hold(&app, &buyer.access_token, &session, &[&seats[0]], "n1").await;
    let mails = smtp.wait_for(1, WAIT).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, ["english@example.com"]);
    assert_eq!(mails[0].header("Subject").as_deref(), Some("Seats held: Notified"));
    assert!(mails[0].data.contains("multipart/alternative"), "plain text and HTML");
    let (nodes, unread) = wait_for_notifications(&app, &buyer.access_token, 1).await;
    assert_eq!((nodes.len(), unread), (1, 1));
    assert_eq!(nodes[0]["kind"], "HOLD_PLACED");

    confirm(&app, &reservation).await;
    let mails = smtp.wait_for(2, WAIT).await;
    assert_eq!(
        mails[1].header("Subject").as_deref(),
        Some("Booking confirmed: Notified")
    );
    let posts = slack.wait_for(1, WAIT).await;
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert!(
        posts[0].contains("Notified") && posts[0].contains("confirmed"),
        "{posts:?}"
    );

    // A Korean buyer (the default) reads Korean.
    let korean = app.sign_up("korean@example.com").await;
    hold(&app, &korean.access_token, &session, &[&seats[1]], "n2").await;
    let (nodes, _) = wait_for_notifications(&app, &korean.access_token, 1).await;
    assert_eq!(nodes[0]["title"], "좌석 선점 완료: Notified");
    smtp.wait_for(3, WAIT).await;

    let (nodes, unread) = wait_for_notifications(&app, &buyer.access_token, 2).await;
    assert_eq!((nodes.len(), unread), (2, 2));
    let ids: Vec<&str> = nodes.iter().map(|n| n["id"].as_str().expect("id")).collect();
    let marked = app
        .post(
            "mutation($ids: [ID!]!) { markNotificationsRead(ids: $ids) }",
            json!({ "ids": ids }),
            Some(&buyer.access_token),
        )
        .await;
    assert_eq!(data(&marked)["markNotificationsRead"], 2);
    assert_eq!(my_notifications(&app, &buyer.access_token).await.1, 0);
    // Someone else's ids mark nothing.
    let foreign = app
        .post(
            "mutation($ids: [ID!]!) { markNotificationsRead(ids: $ids) }",
            json!({ "ids": ids }),
            Some(&korean.access_token),
        )
        .await;
    assert_eq!(data(&foreign)["markNotificationsRead"], 0);

    // Nothing is sent twice, however long the workers keep polling.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(smtp.received().len(), 3);
    assert_eq!(slack.accepted().len(), 1);
    assert!(settled(&app, "EMAIL").await.iter().all(|row| row.status == "SENT"));
    app.stop().await;
}

/// SMTP refuses twice and then accepts: the email goes out once, on the third attempt.
/// Slack never answers well: it is given up after its attempts, and meanwhile email kept
/// flowing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_channel_is_retried_without_duplicates_and_holds_up_nothing() {
    let (smtp, slack) = (SmtpSink::start().await, SlackStandIn::start().await);
    smtp.fail_next(2);
    slack.fail_next(usize::MAX);
    let app = TestApp::builder(Backend::Sqlite)
        .smtp(smtp.port)
        .slack(&slack.url)
        .spawn()
        .await
        .expect("app");
    let (session, seats) = session(&app).await;
    let buyer = app.sign_up("retried@example.com").await;
    let reservation = hold(&app, &buyer.access_token, &session, &[&seats[0]], "r1").await;
    confirm(&app, &reservation).await;

    let mails = smtp.wait_for(2, WAIT).await;
    assert_eq!(mails.len(), 2, "the hold and the confirmation, each once");
    let emails = settled(&app, "EMAIL").await;
    assert_eq!(emails.len(), 2);
    assert!(emails.iter().all(|row| row.status == "SENT"), "{emails:?}");
    assert_eq!(
        emails.iter().map(|row| row.attempts).sum::<i32>(),
        4,
        "two refusals, two sends"
    );

    let slack_rows = settled(&app, "SLACK").await;
    assert_eq!(slack_rows.len(), 1);
    let row = &slack_rows[0];
    assert_eq!(row.status, "FAILED");
    assert_eq!(row.attempts, 4, "max_attempts in tests");
    assert!(row.last_error.as_deref().unwrap_or_default().contains("500"), "{row:?}");
    assert!(
        !row.last_error.as_deref().unwrap_or_default().contains("secret"),
        "the webhook URL is a secret"
    );
    assert_eq!(slack.refused(), 4);
    assert!(slack.accepted().is_empty());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(smtp.received().len(), 2);
    assert_eq!(slack.refused(), 4, "a failed delivery is not tried again");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_made_on_one_instance_reaches_a_subscriber_on_another() {
    let Some((a, b)) = TestApp::pair_with_redis().await else {
        return;
    };
    let (session, seats) = session(&a).await;
    let buyer = a.sign_up("subscriber@example.com").await;
    let mut socket = socket::connect(&b, Some(&buyer.access_token)).await;
    socket::subscribe(
        &mut socket,
        "inbox",
        "subscription { notificationReceived { id kind title } }",
        json!({}),
    )
    .await;
    // A notification for someone else must not arrive.
    let other = a.sign_up("someone-else@example.com").await;
    hold(&a, &other.access_token, &session, &[&seats[2]], "other").await;
    hold(&a, &buyer.access_token, &session, &[&seats[0]], "mine").await;

    let message = next_message(&mut socket).await.expect("a notification");
    assert_eq!(message["type"], "next", "{message:#}");
    let pushed = &data(&message["payload"])["notificationReceived"];
    assert_eq!(pushed["kind"], "HOLD_PLACED");
    assert_eq!(pushed["title"], "좌석 선점 완료: Notified");
    let (nodes, _) = wait_for_notifications(&b, &buyer.access_token, 1).await;
    assert_eq!(nodes[0]["id"], pushed["id"]);
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribing_to_notifications_needs_a_log_in() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let mut socket = socket::connect(&app, None).await;
    socket::subscribe(
        &mut socket,
        "anon",
        "subscription { notificationReceived { id } }",
        json!({}),
    )
    .await;
    let message = next_message(&mut socket).await.expect("an answer");
    assert_eq!(message["type"], "next", "{message:#}");
    assert_eq!(
        message["payload"]["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{message:#}"
    );
    app.stop().await;
}
