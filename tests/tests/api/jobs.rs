//! Scheduled jobs against fixtures: each does its work once however often it runs, every
//! run is recorded, only one instance runs a job at a time, and the scheduler runs them on
//! their cron schedules.

use std::time::Duration;

use chrono::Utc;
use curtain::jobs::runner::{self, Outcome, Trigger};
use curtain::jobs::{Job, NoProgress};
use curtain_tests::fixtures::{
    confirm, create_performance, create_session, create_venue, database_id, day, hold, move_session, run_job, seats_of,
    small_layout,
};
use curtain_tests::outside::SmtpSink;
use curtain_tests::{Backend, TestApp, backend_tests, data, error_code};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;

backend_tests!(
    show_reminders_go_once_to_confirmed_buyers_of_tomorrows_sessions,
    review_prompts_go_once_after_a_show_has_ended,
    old_performances_lose_their_seat_inventory_once_unless_reservations_are_open,
    every_run_is_recorded_for_admins,
);

/// Runs `job` by hand, as `curtain job run` does; returns how many items it processed.
async fn run(app: &TestApp, job: Job) -> i64 {
    let record = run_job(&app.state.job_env(), job).await;
    assert_eq!(record.status, "SUCCEEDED", "{record:?}");
    record.items
}

async fn notifications_of_kind(app: &TestApp, kind: &str) -> u64 {
    entity::notification::Entity::find()
        .filter(entity::notification::Column::Kind.eq(kind))
        .count(&app.db)
        .await
        .expect("count")
}

/// A confirmed reservation for a session starting at `starts_at`; returns the session id.
async fn confirmed_buyer(app: &TestApp, email: &str, starts_at: &str) -> String {
    let venue = create_venue(app, "Job hall", small_layout(4)).await;
    let performance = create_performance(app, &venue, "Jobbed", &day(0).0, &day(10).0).await;
    let session = create_session(app, &performance, starts_at).await;
    let seats = seats_of(app, &session).await;
    let buyer = app.sign_up(email).await;
    let reservation = hold(app, &buyer.access_token, &session, &[&seats[0]], "job").await;
    confirm(app, &reservation).await;
    session
}

async fn show_reminders_go_once_to_confirmed_buyers_of_tomorrows_sessions(app: &TestApp) {
    let session = confirmed_buyer(app, "tomorrow@example.com", &day(2).1).await;
    // Two days ahead: not yet.
    assert_eq!(run(app, Job::RemindUpcoming).await, 0);
    move_session(app, &session, Utc::now() + chrono::Duration::hours(20)).await;
    assert_eq!(run(app, Job::RemindUpcoming).await, 1);
    assert_eq!(
        run(app, Job::RemindUpcoming).await,
        0,
        "the second run reminds nobody again"
    );
    assert_eq!(notifications_of_kind(app, "SHOW_REMINDER").await, 1);
}

async fn review_prompts_go_once_after_a_show_has_ended(app: &TestApp) {
    let session = confirmed_buyer(app, "reviewer@example.com", &day(2).1).await;
    // Started an hour ago, but a 150-minute show is still on.
    move_session(app, &session, Utc::now() - chrono::Duration::hours(1)).await;
    assert_eq!(run(app, Job::PromptReviews).await, 0);
    move_session(app, &session, Utc::now() - chrono::Duration::hours(3)).await;
    assert_eq!(run(app, Job::PromptReviews).await, 1);
    assert_eq!(run(app, Job::PromptReviews).await, 0);
    assert_eq!(notifications_of_kind(app, "REVIEW_PROMPT").await, 1);
}

async fn old_performances_lose_their_seat_inventory_once_unless_reservations_are_open(app: &TestApp) {
    let session = confirmed_buyer(app, "long-ago@example.com", &day(2).1).await;
    let seats = seats_of(app, &session).await;
    // A second buyer still holds a seat: the purge waits for that hold to end.
    let late = app.sign_up("still-holding@example.com").await;
    let open = hold(app, &late.access_token, &session, &[&seats[1]], "open").await;
    let performance = entity::session::Entity::find_by_id(database_id(&session))
        .one(&app.db)
        .await
        .expect("query")
        .expect("session")
        .performance_id;
    let long_ago = Utc::now().date_naive() - chrono::Duration::days(400);
    entity::performance::Entity::update_many()
        .col_expr(entity::performance::Column::StartDate, Expr::value(long_ago))
        .col_expr(entity::performance::Column::EndDate, Expr::value(long_ago))
        .filter(entity::performance::Column::Id.eq(performance))
        .exec(&app.db)
        .await
        .expect("age the performance");
    assert_eq!(run(app, Job::PurgeOldPerformances).await, 0, "a hold is open");

    let released = app
        .post(
            "mutation($r: ID!) { releaseHold(reservationId: $r) { status } }",
            json!({ "r": open }),
            Some(&late.access_token),
        )
        .await;
    assert_eq!(data(&released)["releaseHold"]["status"], "RELEASED");
    let announced = || async {
        entity::outbox::Entity::find()
            .filter(entity::outbox::Column::Topic.eq("catalog"))
            .filter(entity::outbox::Column::AggregateId.eq(performance))
            .count(&app.db)
            .await
            .expect("count")
    };
    let before = announced().await;
    assert_eq!(run(app, Job::PurgeOldPerformances).await, 1);
    assert_eq!(run(app, Job::PurgeOldPerformances).await, 0);
    assert_eq!(
        announced().await,
        before + 1,
        "the purge is announced once, for search and caches"
    );
    let seats_left = entity::session_seat::Entity::find()
        .filter(entity::session_seat::Column::SessionId.eq(database_id(&session)))
        .count(&app.db)
        .await
        .expect("count");
    assert_eq!(seats_left, 0);
    // What accounting needs stays: the performance, its session and the confirmed sale.
    let confirmed = entity::reservation::Entity::find()
        .filter(entity::reservation::Column::SessionId.eq(database_id(&session)))
        .filter(entity::reservation::Column::Status.eq(entity::ReservationStatus::Confirmed))
        .count(&app.db)
        .await
        .expect("count");
    assert_eq!(confirmed, 1);
}

async fn every_run_is_recorded_for_admins(app: &TestApp) {
    run(app, Job::ExpireHolds).await;
    run(app, Job::WarnDormant).await;
    let response = app
        .admin(
            r#"{ jobRuns(job: "expire-holds", first: 5) { nodes { job trigger status itemsProcessed startedAt finishedAt error } } }"#,
            json!({}),
        )
        .await;
    let runs = data(&response)["jobRuns"]["nodes"].as_array().expect("runs").clone();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["trigger"], "MANUAL");
    assert_eq!(runs[0]["status"], "SUCCEEDED");
    assert!(runs[0]["finishedAt"].is_string());
    let buyer = app.sign_up("curious@example.com").await;
    let refused = app
        .post(
            "{ jobRuns(first: 5) { nodes { job } } }",
            json!({}),
            Some(&buyer.access_token),
        )
        .await;
    assert_eq!(error_code(&refused), "FORBIDDEN");
}

/// The warning a month ahead, then the move aside a year after the last log-in, then the
/// way back with a code sent by email.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unused_accounts_are_warned_made_dormant_and_reactivated_by_email() {
    let smtp = SmtpSink::start().await;
    let app = TestApp::builder(Backend::Sqlite)
        .smtp(smtp.port)
        .spawn()
        .await
        .expect("app");
    let buyer = app.sign_up("sleepy@example.com").await;
    let user_id = database_id(
        data(&app.post("{ me { id } }", json!({}), Some(&buyer.access_token)).await)["me"]["id"]
            .as_str()
            .expect("id"),
    );
    let last_seen = |days: i64| {
        entity::user::Entity::update_many()
            .col_expr(
                entity::user::Column::LastLoginAt,
                Expr::value(Utc::now() - chrono::Duration::days(days)),
            )
            .filter(entity::user::Column::Id.eq(user_id))
            .exec(&app.db)
    };
    last_seen(340).await.expect("age the account");
    assert_eq!(run(&app, Job::MarkDormant).await, 0, "not a year yet");
    assert_eq!(run(&app, Job::WarnDormant).await, 1);
    assert_eq!(run(&app, Job::WarnDormant).await, 0, "warned once");
    assert_eq!(notifications_of_kind(&app, "DORMANCY_WARNING").await, 1);
    assert_eq!(smtp.wait_for(1, Duration::from_secs(10)).await.len(), 1);

    last_seen(370).await.expect("age the account");
    assert_eq!(run(&app, Job::MarkDormant).await, 1);
    assert_eq!(run(&app, Job::MarkDormant).await, 0);
    let user = entity::user::Entity::find_by_id(user_id)
        .one(&app.db)
        .await
        .expect("query")
        .expect("user");
    assert_eq!((user.email, user.phone), (None, None), "personal data moved out");
    assert!(user.dormant_at.is_some());

    let log_in = "mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) { accessToken } }";
    let wrong = app
        .gql(log_in, json!({ "e": "sleepy@example.com", "p": "not the password" }))
        .await;
    assert_eq!(
        error_code(&wrong),
        "UNAUTHENTICATED",
        "a wrong password says nothing more"
    );
    let right = app
        .gql(
            log_in,
            json!({ "e": "sleepy@example.com", "p": curtain_tests::BUYER_PASSWORD }),
        )
        .await;
    assert_eq!(error_code(&right), "ACCOUNT_DORMANT");
    let me = app.post("{ me { id } }", json!({}), Some(&buyer.access_token)).await;
    assert!(
        me["data"]["me"].is_null() || me["errors"].is_array(),
        "old sessions ended: {me}"
    );

    let asked = app
        .gql(
            "mutation($e: String!) { requestReactivation(email: $e) }",
            json!({ "e": "sleepy@example.com" }),
        )
        .await;
    assert_eq!(data(&asked)["requestReactivation"], true);
    let mails = smtp.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(mails[1].to, ["sleepy@example.com"]);
    let code = code_in(&mails[1].data);
    let reactivate = "mutation($e: String!, $c: String!) { reactivateAccount(email: $e, code: $c) { user { email } } }";
    let wrong_code = if code == "000000" { "000001" } else { "000000" };
    let refused = app
        .gql(reactivate, json!({ "e": "sleepy@example.com", "c": wrong_code }))
        .await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT");
    let back = app
        .gql(reactivate, json!({ "e": "sleepy@example.com", "c": code }))
        .await;
    assert_eq!(data(&back)["reactivateAccount"]["user"]["email"], "sleepy@example.com");
    let again = app
        .gql(reactivate, json!({ "e": "sleepy@example.com", "c": code }))
        .await;
    assert_eq!(error_code(&again), "BAD_USER_INPUT", "a code works once");
    let logged_in = app
        .gql(
            log_in,
            json!({ "e": "sleepy@example.com", "p": curtain_tests::BUYER_PASSWORD }),
        )
        .await;
    assert!(data(&logged_in)["logIn"]["accessToken"].is_string());
    app.stop().await;
}

/// The six-digit code in a (base64 or quoted-printable encoded) email.
fn code_in(message: &str) -> String {
    use base64::Engine;
    let decoded: String = message
        .lines()
        .filter_map(|line| base64::engine::general_purpose::STANDARD.decode(line.trim()).ok())
        .filter_map(|bytes| String::from_utf8(bytes).ok())
        .collect::<Vec<_>>()
        .join("\n");
    let text = format!("{message}\n{decoded}");
    text.split(|c: char| !c.is_ascii_digit())
        .find(|word| word.len() == 6)
        .expect("a six-digit code")
        .to_string()
}

/// Two instances on one PostgreSQL: while one runs a job the other is told it is busy, and
/// both running at once notify each buyer once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_one_instance_runs_a_job_at_a_time() {
    let Some(a) = TestApp::spawn(Backend::Postgres).await else {
        return;
    };
    let b = a.spawn_sibling().await.expect("the second instance");
    let held = curtain::jobs::lock::try_lock(&a.db, &a.state.job_locks, Job::RemindUpcoming)
        .await
        .expect("lock")
        .expect("free at first");
    let busy = runner::run(&b.state.job_env(), Job::RemindUpcoming, Trigger::Manual, &NoProgress)
        .await
        .expect("run");
    assert!(matches!(busy, Outcome::Busy), "{busy:?}");
    held.release().await.expect("release");

    for i in 0..3 {
        let session = confirmed_buyer(&a, &format!("both-{i}@example.com"), &day(2).1).await;
        move_session(&a, &session, Utc::now() + chrono::Duration::hours(10)).await;
    }
    let (env_a, env_b) = (a.state.job_env(), b.state.job_env());
    let (first, second) = tokio::join!(
        runner::run(&env_a, Job::RemindUpcoming, Trigger::Manual, &NoProgress),
        runner::run(&env_b, Job::RemindUpcoming, Trigger::Manual, &NoProgress),
    );
    let items: i64 = [first.expect("run"), second.expect("run")]
        .into_iter()
        .map(|outcome| match outcome {
            Outcome::Ran(record) => record.items,
            Outcome::Busy => 0,
        })
        .sum();
    assert_eq!(items, 3);
    assert_eq!(notifications_of_kind(&a, "SHOW_REMINDER").await, 3);
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_runs_jobs_on_their_cron_schedule() {
    let app = TestApp::builder(Backend::Sqlite)
        .job_schedule("expire-holds", "* * * * * *")
        .spawn()
        .await
        .expect("app");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut runs = 0;
    while runs < 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        runs = entity::job_run::Entity::find()
            .filter(entity::job_run::Column::Job.eq("expire-holds"))
            .filter(entity::job_run::Column::Trigger.eq("SCHEDULE"))
            .count(&app.db)
            .await
            .expect("count");
    }
    assert!(runs >= 2, "{runs} scheduled runs in 5 s");
    let others = entity::job_run::Entity::find()
        .filter(entity::job_run::Column::Job.ne("expire-holds"))
        .count(&app.db)
        .await
        .expect("count");
    assert_eq!(others, 0, "jobs without a schedule stay off");
    app.stop().await;
}

/// A job that fails is recorded with its error, and the box office hears of it on Slack.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_run_is_recorded_and_told_to_the_box_office() {
    use sea_orm::ConnectionTrait;
    let slack = curtain_tests::outside::SlackStandIn::start().await;
    let app = TestApp::builder(Backend::Sqlite)
        .slack(&slack.url)
        .spawn()
        .await
        .expect("app");
    app.sign_up("gone-quiet@example.com").await;
    entity::user::Entity::update_many()
        .col_expr(
            entity::user::Column::LastLoginAt,
            Expr::value(Utc::now() - chrono::Duration::days(400)),
        )
        .filter(entity::user::Column::Email.eq("gone-quiet@example.com"))
        .exec(&app.db)
        .await
        .expect("age the account");
    // Break the job: the table it moves personal data into is gone.
    app.db
        .execute_unprepared("DROP TABLE dormant_accounts")
        .await
        .expect("drop the table");
    let outcome = runner::run(&app.state.job_env(), Job::MarkDormant, Trigger::Manual, &NoProgress)
        .await
        .expect("the run is recorded");
    let Outcome::Ran(record) = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(record.status, "FAILED");
    assert!(record.error.as_deref().is_some_and(|e| !e.is_empty()));
    let posts = slack.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(posts.len(), 1);
    assert!(posts[0].contains("mark-dormant"), "{posts:?}");
    let user = entity::user::Entity::find()
        .filter(entity::user::Column::Name.ne(curtain::jobs::DORMANT_NAME))
        .filter(entity::user::Column::LastLoginAt.lt(Utc::now() - chrono::Duration::days(300)))
        .count(&app.db)
        .await
        .expect("count");
    assert_eq!(user, 1, "the account was left as it was");
    app.stop().await;
}
