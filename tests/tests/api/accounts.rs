//! Accounts: sign-up, log-in, refresh with rotation and reuse detection, log-out, forged
//! tokens, lock-out, rate limits, roles, masking and the audit log.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use curtain_tests::{ADMIN_EMAIL, BUYER_PASSWORD, Backend, TestApp, TestAppBuilder, backend_tests, data, error_code};
use serde_json::{Value, json};

backend_tests!(
    a_buyer_signs_up_logs_in_refreshes_and_logs_out,
    a_reused_refresh_token_ends_the_whole_session,
    forged_and_expired_tokens_are_refused,
    changing_the_password_ends_other_sessions,
    profiles_are_private_and_editable,
    only_admins_change_the_catalog_and_roles,
    admin_actions_are_audited,
    bad_sign_ups_are_refused,
);

const ME: &str = "{ me { id email name phone role } }";
const REFRESH: &str =
    "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken refreshToken user { id } } }";
const LOG_OUT: &str = "mutation($t: String!) { logOut(refreshToken: $t) }";

async fn a_buyer_signs_up_logs_in_refreshes_and_logs_out(app: &TestApp) {
    let signed_up = app.sign_up("Buyer@Example.com").await;
    let response = app.post(ME, Value::Null, Some(&signed_up.access_token)).await;
    assert_eq!(data(&response)["me"]["email"], "buyer@example.com");
    assert_eq!(data(&response)["me"]["role"], "USER");
    assert_eq!(data(&response)["me"]["phone"], "010-1234-5678");

    let session = app.log_in("buyer@example.com", BUYER_PASSWORD).await;
    assert_eq!(session.user_id, signed_up.user_id);

    let response = app.gql(REFRESH, json!({ "t": session.refresh_token })).await;
    let renewed = &data(&response)["refreshToken"];
    assert_ne!(
        renewed["refreshToken"],
        session.refresh_token.as_str(),
        "refresh tokens rotate"
    );
    let access = renewed["accessToken"].as_str().unwrap_or_default().to_string();
    let refresh = renewed["refreshToken"].as_str().unwrap_or_default().to_string();
    let response = app.post(ME, Value::Null, Some(&access)).await;
    assert_eq!(data(&response)["me"]["id"], signed_up.user_id.as_str());

    let response = app.post(LOG_OUT, json!({ "t": refresh }), Some(&access)).await;
    assert_eq!(data(&response)["logOut"], true);
    // The access token in use stops working at once, and so does the refresh token.
    let response = app.post(ME, Value::Null, Some(&access)).await;
    assert_eq!(error_code(&response), "UNAUTHENTICATED");
    let response = app.gql(REFRESH, json!({ "t": refresh })).await;
    assert_eq!(error_code(&response), "UNAUTHENTICATED");
    // The sign-up session is separate and still works.
    let response = app.post(ME, Value::Null, Some(&signed_up.access_token)).await;
    assert_eq!(data(&response)["me"]["id"], signed_up.user_id.as_str());

    // Anonymous callers are nobody.
    assert!(data(&app.gql(ME, Value::Null).await)["me"].is_null());
}

async fn a_reused_refresh_token_ends_the_whole_session(app: &TestApp) {
    app.sign_up("victim@example.com").await;
    let session = app.log_in("victim@example.com", BUYER_PASSWORD).await;
    // The thief uses the token first...
    let response = app.gql(REFRESH, json!({ "t": session.refresh_token })).await;
    let thief = data(&response)["refreshToken"].clone();
    // ...then the owner presents the same (now spent) token: the family is revoked.
    let response = app.gql(REFRESH, json!({ "t": session.refresh_token })).await;
    assert_eq!(error_code(&response), "UNAUTHENTICATED");
    // The thief's newer tokens are dead too.
    let response = app.gql(REFRESH, json!({ "t": thief["refreshToken"] })).await;
    assert_eq!(error_code(&response), "UNAUTHENTICATED");
    let response = app.post(ME, Value::Null, thief["accessToken"].as_str()).await;
    assert_eq!(error_code(&response), "UNAUTHENTICATED");
    let response = app.post(ME, Value::Null, Some(&session.access_token)).await;
    assert_eq!(error_code(&response), "UNAUTHENTICATED");
}

async fn forged_and_expired_tokens_are_refused(app: &TestApp) {
    let session = app.sign_up("forger@example.com").await;
    let parts: Vec<&str> = session.access_token.split('.').collect();
    let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(parts[1]).unwrap_or_default()).unwrap_or_default();
    let claims: Value = serde_json::from_str(&payload).unwrap_or_default();
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap_or_default()).unwrap_or_default();

    let encode = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let mut admin_claims = claims.clone();
    admin_claims["role"] = json!("ADMIN");
    let mut expired_claims = claims.clone();
    expired_claims["exp"] = json!(claims["iat"].as_i64().unwrap_or(0) - 3600);
    let mut unknown_kid = header.clone();
    unknown_kid["kid"] = json!("no-such-key");
    let forged = [
        (
            "role changed",
            format!("{}.{}.{}", parts[0], encode(&admin_claims), parts[2]),
        ),
        (
            "alg none",
            format!(
                "{}.{}.",
                encode(&json!({ "alg": "none", "typ": "JWT", "kid": header["kid"] })),
                encode(&admin_claims)
            ),
        ),
        (
            "another algorithm",
            format!(
                "{}.{}.{}",
                encode(&json!({ "alg": "HS512", "typ": "JWT", "kid": header["kid"] })),
                parts[1],
                parts[2]
            ),
        ),
        (
            "bad signature",
            format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode([0u8; 32])),
        ),
        (
            "unknown kid",
            format!("{}.{}.{}", encode(&unknown_kid), parts[1], parts[2]),
        ),
        (
            "expired",
            format!("{}.{}.{}", parts[0], encode(&expired_claims), parts[2]),
        ),
        ("garbage", "not.a.token".to_string()),
    ];
    for (what, token) in forged {
        let response = app.post(ME, Value::Null, Some(&token)).await;
        assert_eq!(error_code(&response), "UNAUTHENTICATED", "{what}");
        let response = app
            .post(
                "mutation { createCastMember(input: { name: \"x\" }) { id } }",
                Value::Null,
                Some(&token),
            )
            .await;
        assert_eq!(error_code(&response), "UNAUTHENTICATED", "{what}");
    }
}

async fn changing_the_password_ends_other_sessions(app: &TestApp) {
    let first = app.sign_up("changer@example.com").await;
    let second = app.log_in("changer@example.com", BUYER_PASSWORD).await;
    let change = "mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }";
    let response = app
        .post(
            change,
            json!({ "c": "wrong password!!", "n": "a brand new secret" }),
            Some(&first.access_token),
        )
        .await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT");
    let response = app
        .post(
            change,
            json!({ "c": BUYER_PASSWORD, "n": "password123" }),
            Some(&first.access_token),
        )
        .await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT", "common passwords are refused");
    let response = app
        .post(
            change,
            json!({ "c": BUYER_PASSWORD, "n": "a brand new secret" }),
            Some(&first.access_token),
        )
        .await;
    assert_eq!(data(&response)["changePassword"], true);

    assert!(
        data(&app.post(ME, Value::Null, Some(&first.access_token)).await)["me"]["id"].is_string(),
        "this session stays"
    );
    assert_eq!(
        error_code(&app.post(ME, Value::Null, Some(&second.access_token)).await),
        "UNAUTHENTICATED"
    );
    assert_eq!(
        error_code(&app.gql(REFRESH, json!({ "t": second.refresh_token })).await),
        "UNAUTHENTICATED"
    );
    let old = app
        .gql(
            "mutation { logIn(email: \"changer@example.com\", password: \"buyer password 1234\") { accessToken } }",
            Value::Null,
        )
        .await;
    assert_eq!(error_code(&old), "UNAUTHENTICATED");
    app.log_in("changer@example.com", "a brand new secret").await;
}

async fn profiles_are_private_and_editable(app: &TestApp) {
    let session = app.sign_up("editor@example.com").await;
    let response = app
        .post(
            "mutation { updateMe(input: { name: \"김철수\", phone: \"010-2222-3333\" }) { name phone email } }",
            Value::Null,
            Some(&session.access_token),
        )
        .await;
    assert_eq!(
        data(&response)["updateMe"],
        json!({ "name": "김철수", "phone": "010-2222-3333", "email": "editor@example.com" })
    );
    let response = app
        .gql("mutation { updateMe(input: { name: \"x\" }) { name } }", Value::Null)
        .await;
    assert_eq!(error_code(&response), "UNAUTHENTICATED");

    // Another user's account is not reachable by id.
    let other = app.sign_up("other@example.com").await;
    let response = app
        .post(
            "query($id: ID!) { node(id: $id) { id } }",
            json!({ "id": other.user_id }),
            Some(&session.access_token),
        )
        .await;
    assert!(data(&response)["node"].is_null());

    // Admins see others masked.
    let response = app
        .admin(
            "{ adminAccountByEmail(email: \"editor@example.com\") { name email phone role } }",
            Value::Null,
        )
        .await;
    assert_eq!(
        data(&response)["adminAccountByEmail"],
        json!({ "name": "김철수", "email": "ed***@example.com", "phone": "010-****-3333", "role": "USER" })
    );
}

async fn only_admins_change_the_catalog_and_roles(app: &TestApp) {
    let buyer = app.sign_up("plain@example.com").await;
    let create = "mutation { createCastMember(input: { name: \"배우\" }) { id } }";
    assert_eq!(error_code(&app.gql(create, Value::Null).await), "UNAUTHENTICATED");
    assert_eq!(
        error_code(&app.post(create, Value::Null, Some(&buyer.access_token)).await),
        "FORBIDDEN"
    );
    assert_eq!(
        error_code(
            &app.post(
                "{ auditLog { edges { cursor } } }",
                Value::Null,
                Some(&buyer.access_token)
            )
            .await
        ),
        "FORBIDDEN"
    );

    let grant = "mutation($id: ID!, $role: Role!) { grantRole(userId: $id, role: $role) { role email } }";
    let response = app
        .post(
            grant,
            json!({ "id": buyer.user_id, "role": "ADMIN" }),
            Some(&buyer.access_token),
        )
        .await;
    assert_eq!(error_code(&response), "FORBIDDEN");
    let response = app.admin(grant, json!({ "id": buyer.user_id, "role": "ADMIN" })).await;
    assert_eq!(
        data(&response)["grantRole"],
        json!({ "role": "ADMIN", "email": "pl***@example.com" })
    );

    // The new role arrives with the next log-in or refresh.
    let promoted = app.log_in("plain@example.com", BUYER_PASSWORD).await;
    assert!(
        data(&app.post(create, Value::Null, Some(&promoted.access_token)).await)["createCastMember"]["id"].is_string()
    );

    // Demotion ends the account's sessions at once.
    let response = app.admin(grant, json!({ "id": buyer.user_id, "role": "USER" })).await;
    assert_eq!(data(&response)["grantRole"]["role"], "USER");
    assert_eq!(
        error_code(&app.post(create, Value::Null, Some(&promoted.access_token)).await),
        "UNAUTHENTICATED"
    );
}

async fn admin_actions_are_audited(app: &TestApp) {
    let response = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(admin_token(app).await)
        .header("x-request-id", "audit-req-1")
        .json(&json!({ "query": "mutation { createCastMember(input: { name: \"감사 대상\" }) { id } }" }))
        .send()
        .await
        .expect("sent");
    let body: Value = response.json().await.expect("json");
    let member = data(&body)["createCastMember"]["id"].clone();
    let response = app
        .admin(
            "{ auditLog(first: 5) { edges { node { action targetType targetId requestId actor { email role } } } } }",
            Value::Null,
        )
        .await;
    let latest = &data(&response)["auditLog"]["edges"][0]["node"];
    assert_eq!(latest["action"], "createCastMember");
    assert_eq!(latest["targetType"], "CastMember");
    assert_eq!(latest["targetId"], member);
    assert_eq!(latest["requestId"], "audit-req-1");
    assert_eq!(latest["actor"]["role"], "ADMIN");
    assert_eq!(latest["actor"]["email"], "ad***@curtain.test");
}

async fn admin_token(app: &TestApp) -> String {
    app.log_in(ADMIN_EMAIL, curtain_tests::ADMIN_PASSWORD)
        .await
        .access_token
}

async fn bad_sign_ups_are_refused(app: &TestApp) {
    let sign_up = "mutation($input: SignUpInput!) { signUp(input: $input) { accessToken } }";
    for (field, input) in [
        (
            "email",
            json!({ "email": "not an email", "password": BUYER_PASSWORD, "name": "a" }),
        ),
        (
            "password",
            json!({ "email": "p@example.com", "password": "short", "name": "a" }),
        ),
        (
            "password",
            json!({ "email": "p@example.com", "password": "qwerty123", "name": "a" }),
        ),
        (
            "name",
            json!({ "email": "p@example.com", "password": BUYER_PASSWORD, "name": "  " }),
        ),
        (
            "phone",
            json!({ "email": "p@example.com", "password": BUYER_PASSWORD, "name": "a", "phone": "call me" }),
        ),
    ] {
        let response = app.gql(sign_up, json!({ "input": input })).await;
        assert_eq!(error_code(&response), "BAD_USER_INPUT", "{field}");
        assert_eq!(response["errors"][0]["extensions"]["field"], field);
    }
    app.sign_up("taken@example.com").await;
    let response = app
        .gql(
            sign_up,
            json!({ "input": { "email": "TAKEN@example.com", "password": BUYER_PASSWORD, "name": "a" } }),
        )
        .await;
    assert_eq!(error_code(&response), "CONFLICT");
}

/// Lock-out and rate limits need their own servers (tight limits, or Redis).
async fn failed_log_ins_lock_the_account_without_telling_if_it_exists(app: &TestApp) {
    app.sign_up("locked@example.com").await;
    let log_in = "mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) { accessToken } }";
    let mut messages = Vec::new();
    for _ in 0..5 {
        let response = app
            .gql(log_in, json!({ "e": "locked@example.com", "p": "wrong password 1" }))
            .await;
        assert_eq!(error_code(&response), "UNAUTHENTICATED");
        messages.push(response["errors"][0]["message"].clone());
        let response = app
            .gql(log_in, json!({ "e": "nobody@example.com", "p": "wrong password 1" }))
            .await;
        assert_eq!(error_code(&response), "UNAUTHENTICATED");
        messages.push(response["errors"][0]["message"].clone());
    }
    assert!(
        messages.windows(2).all(|w| w[0] == w[1]),
        "unknown and known emails get the same answer"
    );
    for email in ["locked@example.com", "nobody@example.com"] {
        let response = app.gql(log_in, json!({ "e": email, "p": BUYER_PASSWORD })).await;
        assert_eq!(error_code(&response), "RATE_LIMITED", "{email}");
        assert!(response["errors"][0]["extensions"]["retryAfter"].as_u64() > Some(0));
    }
    // The lock ends on its own (these servers lock for 2 seconds).
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    app.log_in("locked@example.com", BUYER_PASSWORD).await;
}

fn short_locks() -> TestAppBuilder {
    TestApp::builder(Backend::Sqlite).lockout_seconds(2)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_failed_log_ins_lock_the_account_without_telling_if_it_exists() {
    let app = short_locks().spawn().await.expect("SQLite");
    failed_log_ins_lock_the_account_without_telling_if_it_exists(&app).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_failed_log_ins_lock_the_account_without_telling_if_it_exists() {
    if curtain_tests::redis_url().is_none() {
        return;
    }
    let app = short_locks().redis().spawn().await.expect("app");
    failed_log_ins_lock_the_account_without_telling_if_it_exists(&app).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_ins_are_rate_limited_per_address() {
    let app = TestApp::builder(Backend::Sqlite)
        .rate_limit_per_minute(3)
        .spawn()
        .await
        .expect("app");
    let log_in = "mutation { logIn(email: \"a@example.com\", password: \"whatever 12345\") { accessToken } }";
    // The harness's own admin log-in used one call.
    for _ in 0..2 {
        assert_eq!(error_code(&app.gql(log_in, Value::Null).await), "UNAUTHENTICATED");
    }
    let response = app.gql(log_in, Value::Null).await;
    assert_eq!(error_code(&response), "RATE_LIMITED");
    assert!(response["errors"][0]["extensions"]["retryAfter"].as_u64() >= Some(1));
    app.stop().await;
}
