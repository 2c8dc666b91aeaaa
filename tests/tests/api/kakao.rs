//! Kakao log-in against a local stand-in of Kakao's servers over real HTTP.

use curtain_tests::kakao::{KakaoStandIn, KakaoUser};
use curtain_tests::{Backend, TestApp, data, error_code};
use serde_json::{Value, json};

const AUTHORIZE: &str = "mutation($r: String!) { kakaoAuthorizeUrl(redirectUri: $r) { url state } }";
const LOG_IN: &str = "mutation($c: String!, $s: String!) { logInWithKakao(code: $c, state: $s) { accessToken user { id name email kakaoLinked hasPassword } } }";
const REDIRECT: &str = "https://shop.example/auth/kakao";

async fn authorize(app: &TestApp) -> (String, String) {
    let response = app.gql(AUTHORIZE, json!({ "r": REDIRECT })).await;
    let authorization = &data(&response)["kakaoAuthorizeUrl"];
    (
        authorization["url"].as_str().unwrap_or_default().to_string(),
        authorization["state"].as_str().unwrap_or_default().to_string(),
    )
}

fn kakao_user(id: i64, email: Option<&str>) -> KakaoUser {
    KakaoUser {
        id,
        email: email.map(String::from),
        email_verified: true,
        nickname: format!("카카오{id}"),
    }
}

async fn kakao_log_in_creates_links_and_recognises_accounts(backend: Backend) {
    let kakao = KakaoStandIn::start().await;
    let Some(app) = TestApp::builder(backend).kakao(&kakao.base_url).spawn().await else {
        return;
    };

    // The authorize URL carries PKCE (S256), the state, the client and the redirect URI.
    let (url, state) = authorize(&app).await;
    assert!(
        url.starts_with(&format!("{}/oauth/authorize?", kakao.base_url)),
        "{url}"
    );
    for part in [
        "response_type=code",
        "client_id=test-client-id",
        "code_challenge=",
        "code_challenge_method=S256",
        &format!("state={state}"),
    ] {
        assert!(url.contains(part), "{part} in {url}");
    }

    // A new Kakao user gets a new account.
    kakao.consent(&url, "code-1", kakao_user(1001, Some("new@kakao.example")));
    let response = app.gql(LOG_IN, json!({ "c": "code-1", "s": state })).await;
    let first = data(&response)["logInWithKakao"]["user"].clone();
    assert_eq!(first["name"], "카카오1001");
    assert_eq!(first["email"], "new@kakao.example");
    assert_eq!(first["kakaoLinked"], true);
    assert_eq!(first["hasPassword"], false);
    let form = kakao.token_requests().pop().unwrap_or_default();
    assert!(
        form.get("code_verifier").is_some_and(|v| v.len() >= 43),
        "the verifier is sent: {form:?}"
    );

    // The state is single use, and an unknown state is refused.
    let response = app.gql(LOG_IN, json!({ "c": "code-1", "s": state })).await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT");
    let response = app.gql(LOG_IN, json!({ "c": "code-1", "s": "made-up-state" })).await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT");

    // The same Kakao user returns to the same account.
    let (url, state) = authorize(&app).await;
    kakao.consent(&url, "code-2", kakao_user(1001, Some("new@kakao.example")));
    let response = app.gql(LOG_IN, json!({ "c": "code-2", "s": state })).await;
    assert_eq!(data(&response)["logInWithKakao"]["user"]["id"], first["id"]);

    // A Kakao user whose verified email matches an account is linked to it. That account's
    // email was never verified, so whoever signed up with it may not own it: its password
    // and sessions go, and the Kakao owner can set a new password.
    let existing = app.sign_up("linked@example.com").await;
    let (url, state) = authorize(&app).await;
    kakao.consent(&url, "code-3", kakao_user(2002, Some("linked@example.com")));
    let response = app.gql(LOG_IN, json!({ "c": "code-3", "s": state })).await;
    let linked = &data(&response)["logInWithKakao"]["user"];
    assert_eq!(linked["id"], existing.user_id.as_str());
    assert_eq!(linked["kakaoLinked"], true);
    assert_eq!(linked["hasPassword"], false);
    let me = app
        .post("{ me { id } }", Value::Null, Some(&existing.access_token))
        .await;
    assert_eq!(error_code(&me), "UNAUTHENTICATED", "the pre-existing session is ended");
    let refreshed = app
        .gql(
            "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken } }",
            json!({ "t": existing.refresh_token }),
        )
        .await;
    assert_eq!(error_code(&refreshed), "UNAUTHENTICATED");
    let password_log_in = app
        .gql(
            "mutation { logIn(email: \"linked@example.com\", password: \"buyer password 1234\") { accessToken } }",
            Value::Null,
        )
        .await;
    assert_eq!(
        error_code(&password_log_in),
        "UNAUTHENTICATED",
        "the old password no longer works"
    );
    let kakao_token = data(&response)["logInWithKakao"]["accessToken"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let set_password = app
        .post(
            "mutation { changePassword(currentPassword: \"\", newPassword: \"the owner's new secret\") }",
            Value::Null,
            Some(&kakao_token),
        )
        .await;
    assert_eq!(data(&set_password)["changePassword"], true);
    app.log_in("linked@example.com", "the owner's new secret").await;

    // A code issued for another PKCE challenge (someone else's authorization) is refused.
    let (other_url, _) = authorize(&app).await;
    let (_, state) = authorize(&app).await;
    kakao.consent(&other_url, "code-4", kakao_user(3003, None));
    let response = app.gql(LOG_IN, json!({ "c": "code-4", "s": state })).await;
    assert_eq!(error_code(&response), "UNAUTHENTICATED");

    // The access token works like any other.
    let (url, state) = authorize(&app).await;
    kakao.consent(&url, "code-5", kakao_user(4004, None));
    let response = app.gql(LOG_IN, json!({ "c": "code-5", "s": state })).await;
    let token = data(&response)["logInWithKakao"]["accessToken"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let me = app.post("{ me { name email } }", Value::Null, Some(&token)).await;
    assert_eq!(data(&me)["me"], json!({ "name": "카카오4004", "email": null }));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_kakao_log_in_creates_links_and_recognises_accounts() {
    kakao_log_in_creates_links_and_recognises_accounts(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_kakao_log_in_creates_links_and_recognises_accounts() {
    kakao_log_in_creates_links_and_recognises_accounts(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kakao_log_in_is_refused_when_not_configured() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("app");
    let response = app.gql(AUTHORIZE, json!({ "r": REDIRECT })).await;
    assert_eq!(error_code(&response), "CONFLICT");
    app.stop().await;
}
