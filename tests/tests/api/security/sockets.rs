//! Security: sockets. A WebSocket follows its account: it closes (4403) when its token
//! expires, and at once after a log-out, a session revoked for refresh-token reuse, a role
//! change or dormancy, on whichever instance that happened. Its limits are in `limits`.

mod limits;

use std::time::{Duration, Instant};

use curtain::auth::flows::{self, TokenCheck};
use curtain::auth::jwt::JwtKeys;
use curtain::auth::viewer::Viewer;
use curtain::config::{JwtKeySetting, Settings};
use curtain::infra::kv::KeyValueStore;
use curtain_tests::fixtures::{database_id, run_job};
use curtain_tests::socket::{self, Socket};
use curtain_tests::{BUYER_PASSWORD, Backend, TestApp, backend_tests, data, error_code};
use futures::StreamExt;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

backend_tests!(
    logging_out_closes_the_sessions_sockets,
    reusing_a_spent_refresh_token_closes_the_familys_sockets,
    a_role_change_either_way_closes_the_accounts_sockets,
    an_account_made_dormant_has_its_sockets_closed,
    a_deny_list_that_cannot_be_read_refuses_http_but_not_an_open_socket,
);

const INBOX: &str = "subscription { notificationReceived { id kind } }";
/// Well under the 30 s periodic check, so only the account event can close a socket this
/// soon; generous for a loaded CI machine (a prompt close returns at once).
const PROMPTLY: Duration = Duration::from_secs(8);

/// A socket logged in with `token`, subscribed to its notifications.
async fn watching_inbox(app: &TestApp, token: &str) -> Socket {
    let mut socket = socket::connect(app, Some(token)).await;
    socket::subscribe(&mut socket, "inbox", INBOX, json!({})).await;
    // A round trip, so the subscription is running before the test acts.
    socket::send(&mut socket, json!({ "type": "ping" })).await;
    assert_eq!(socket::next_message(&mut socket).await.expect("pong")["type"], "pong");
    socket
}

/// Waits up to `within` for the server to close `socket`; fails on any message before it.
/// Returns the close code and how long it took.
pub(crate) async fn closed_within(socket: &mut Socket, within: Duration) -> (Option<u16>, Duration) {
    let started = Instant::now();
    loop {
        let left = within.saturating_sub(started.elapsed());
        let message = tokio::time::timeout(left, socket.next())
            .await
            .unwrap_or_else(|_| panic!("the socket was still open after {within:?}"));
        match message {
            Some(Ok(Message::Close(frame))) => return (frame.map(|f| u16::from(f.code)), started.elapsed()),
            Some(Ok(Message::Text(text))) => panic!("a message arrived instead of the close: {text}"),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return (None, started.elapsed()),
        }
    }
}

/// Asserts the socket is closed with 4403 promptly, then yields nothing more.
async fn forbidden_promptly(socket: &mut Socket) {
    let (code, _) = closed_within(socket, PROMPTLY).await;
    assert_eq!(code, Some(4403));
    let after = tokio::time::timeout(Duration::from_secs(5), socket.next()).await;
    assert!(
        matches!(after, Ok(None | Some(Err(_)))),
        "nothing after the close: {after:?}"
    );
}

async fn logging_out_closes_the_sessions_sockets(app: &TestApp) {
    let buyer = app.sign_up("leaving@example.com").await;
    let mut socket = watching_inbox(app, &buyer.access_token).await;
    // Another session of the same account keeps its socket.
    let other = app.log_in("leaving@example.com", BUYER_PASSWORD).await;
    let mut kept = watching_inbox(app, &other.access_token).await;

    let response = app
        .post(
            "mutation($t: String!) { logOut(refreshToken: $t) }",
            json!({ "t": buyer.refresh_token }),
            Some(&buyer.access_token),
        )
        .await;
    assert_eq!(data(&response)["logOut"], true);
    forbidden_promptly(&mut socket).await;

    socket::send(&mut kept, json!({ "type": "ping" })).await;
    assert_eq!(socket::next_message(&mut kept).await.expect("pong")["type"], "pong");
}

async fn reusing_a_spent_refresh_token_closes_the_familys_sockets(app: &TestApp) {
    let buyer = app.sign_up("replayed@example.com").await;
    let mut socket = watching_inbox(app, &buyer.access_token).await;
    let refresh = "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken } }";
    let rotated = app.gql(refresh, json!({ "t": buyer.refresh_token })).await;
    data(&rotated);
    let replayed = app.gql(refresh, json!({ "t": buyer.refresh_token })).await;
    assert_eq!(error_code(&replayed), "UNAUTHENTICATED");
    forbidden_promptly(&mut socket).await;
}

async fn a_role_change_either_way_closes_the_accounts_sockets(app: &TestApp) {
    let grant = "mutation($id: ID!, $role: Role!) { grantRole(userId: $id, role: $role) { role } }";
    let buyer = app.sign_up("promoted@example.com").await;
    let mut as_user = watching_inbox(app, &buyer.access_token).await;
    let response = app.admin(grant, json!({ "id": buyer.user_id, "role": "ADMIN" })).await;
    assert_eq!(data(&response)["grantRole"]["role"], "ADMIN");
    forbidden_promptly(&mut as_user).await;

    let admin = app.log_in("promoted@example.com", BUYER_PASSWORD).await;
    let mut as_admin = watching_inbox(app, &admin.access_token).await;
    let response = app.admin(grant, json!({ "id": buyer.user_id, "role": "USER" })).await;
    assert_eq!(data(&response)["grantRole"]["role"], "USER");
    forbidden_promptly(&mut as_admin).await;
    // The demoted admin's token is refused over HTTP too, not merely read as USER.
    let refused = app
        .post(
            "{ jobRuns(first: 1) { nodes { id } } }",
            json!({}),
            Some(&admin.access_token),
        )
        .await;
    assert_eq!(error_code(&refused), "UNAUTHENTICATED");
}

async fn an_account_made_dormant_has_its_sockets_closed(app: &TestApp) {
    let buyer = app.sign_up("dozing@example.com").await;
    let mut socket = watching_inbox(app, &buyer.access_token).await;
    entity::user::Entity::update_many()
        .col_expr(
            entity::user::Column::LastLoginAt,
            Expr::value(chrono::Utc::now() - chrono::Duration::days(400)),
        )
        .filter(entity::user::Column::Id.eq(database_id(&buyer.user_id)))
        .exec(&app.db)
        .await
        .expect("age the account");
    let run = run_job(&app.state.job_env(), curtain::jobs::Job::MarkDormant).await;
    assert_eq!(run.items, 1);
    forbidden_promptly(&mut socket).await;
}

const SHORT_KID: &str = "socket-tests";
const SHORT_SECRET: &str = "a signing secret for the socket tests, long enough";

fn known_signing_key(settings: &mut Settings) {
    settings.auth.jwt_keys = vec![JwtKeySetting {
        kid: SHORT_KID.into(),
        secret: SHORT_SECRET.to_string().into(),
    }];
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_closes_when_its_token_expires() {
    let app = TestApp::builder(Backend::Sqlite)
        .configure(known_signing_key)
        .spawn()
        .await
        .expect("app");
    let buyer = app.sign_up("brief@example.com").await;
    // A token of the real signing key that lives two seconds instead of fifteen minutes.
    let keys = JwtKeys::from_keys(
        &[(SHORT_KID.into(), SHORT_SECRET.as_bytes().to_vec())],
        chrono::Duration::seconds(2),
    );
    let (token, expires_at) = keys
        .issue(database_id(&buyer.user_id), "USER", "short-session")
        .expect("a token");
    let mut socket = watching_inbox(&app, &token).await;
    let (code, _) = closed_within(&mut socket, Duration::from_secs(10)).await;
    assert_eq!(code, Some(4403));
    assert!(
        chrono::Utc::now() >= expires_at - chrono::Duration::milliseconds(1100),
        "closed at the token's exp (whole seconds), not before"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ended_without_word_on_the_bus_is_caught_by_the_periodic_check() {
    let app = TestApp::builder(Backend::Sqlite)
        .configure(|settings| settings.websocket.identity_check_ms = 300)
        .spawn()
        .await
        .expect("app");
    let buyer = app.sign_up("unannounced@example.com").await;
    let mut socket = watching_inbox(&app, &buyer.access_token).await;
    // Deny-listed as a log-out does, but with no account event: as if Redis lost it.
    let session = app.state.jwt.verify(&buyer.access_token).expect("claims").sid;
    curtain::auth::flows::deny_access(app.state.deny_list.as_ref(), &app.state.settings.auth, &[session])
        .await
        .expect("deny-list");
    forbidden_promptly(&mut socket).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_change_without_word_on_the_bus_is_caught_by_the_periodic_check() {
    let app = TestApp::builder(Backend::Sqlite)
        .configure(|settings| settings.websocket.identity_check_ms = 300)
        .spawn()
        .await
        .expect("app");
    let buyer = app.sign_up("quietly-promoted@example.com").await;
    let mut socket = watching_inbox(&app, &buyer.access_token).await;
    // Promoted in the database with no account event: as if the announcement was lost.
    // The token stays valid (a promotion ends no session): only the stored role tells.
    entity::user::Entity::update_many()
        .col_expr(entity::user::Column::Role, Expr::value(entity::Role::Admin))
        .filter(entity::user::Column::Id.eq(database_id(&buyer.user_id)))
        .exec(&app.db)
        .await
        .expect("promoted");
    forbidden_promptly(&mut socket).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logging_out_on_one_instance_closes_the_socket_on_another() {
    let Some((a, b)) = TestApp::pair_with_redis().await else {
        return;
    };
    let buyer = a.sign_up("everywhere@example.com").await;
    let mut socket = watching_inbox(&b, &buyer.access_token).await;
    let response = a
        .post(
            "mutation($t: String!) { logOut(refreshToken: $t) }",
            json!({ "t": buyer.refresh_token }),
            Some(&buyer.access_token),
        )
        .await;
    assert_eq!(data(&response)["logOut"], true);
    let (code, took) = closed_within(&mut socket, PROMPTLY).await;
    assert_eq!(code, Some(4403));
    eprintln!("the socket on the other instance closed {took:?} after the log-out");
    b.stop().await;
    a.stop().await;
}

/// A deny-list that cannot be read, as Redis during a blip.
struct Unreachable;

#[async_trait::async_trait]
impl KeyValueStore for Unreachable {
    async fn set(&self, _: &str, _: &str, _: Duration) -> anyhow::Result<()> {
        anyhow::bail!("unreachable")
    }
    async fn get(&self, _: &str) -> anyhow::Result<Option<String>> {
        anyhow::bail!("unreachable")
    }
    async fn take(&self, _: &str) -> anyhow::Result<Option<String>> {
        anyhow::bail!("unreachable")
    }
    async fn delete(&self, _: &str) -> anyhow::Result<()> {
        anyhow::bail!("unreachable")
    }
    async fn increment(&self, _: &str, _: Duration) -> anyhow::Result<(u64, Duration)> {
        anyhow::bail!("unreachable")
    }
    fn backend(&self) -> &'static str {
        "unreachable"
    }
}

/// HTTP fails closed when the deny-list cannot be read; the check an open socket makes tells
/// "could not check" apart from "ended", so a blip does not disconnect every socket.
async fn a_deny_list_that_cannot_be_read_refuses_http_but_not_an_open_socket(app: &TestApp) {
    let buyer = app.sign_up("blip@example.com").await;
    let mut state = app.state.clone();
    state.auth.deny_list = std::sync::Arc::new(Unreachable);
    assert!(matches!(
        flows::authenticate(&state.auth, Some(&buyer.access_token)).await,
        Viewer::Rejected(curtain::auth::jwt::TokenError::Unverifiable)
    ));
    assert!(matches!(
        flows::check_token(&state.auth, &buyer.access_token).await,
        TokenCheck::Unknown
    ));
    // Readable again: a valid token is valid, a deny-listed one refused.
    assert!(matches!(
        flows::check_token(&app.state.auth, &buyer.access_token).await,
        TokenCheck::Valid(_)
    ));
    let session = app.state.jwt.verify(&buyer.access_token).expect("claims").sid;
    flows::deny_access(app.state.deny_list.as_ref(), &app.state.settings.auth, &[session])
        .await
        .expect("deny-list");
    assert!(matches!(
        flows::check_token(&app.state.auth, &buyer.access_token).await,
        TokenCheck::Refused(_)
    ));
}
