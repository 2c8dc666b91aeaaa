//! A stand-in for Kakao's OAuth and profile endpoints, served over real HTTP on a random
//! port, so that Curtain's real Kakao client (PKCE, form-encoded token exchange, bearer
//! profile call) is exercised end to end.
//!
//! A test plays the browser's part: it reads `code_challenge` from the authorize URL Curtain
//! produced and registers a code for it, as Kakao would after the user consents.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The Kakao user behind a code.
#[derive(Debug, Clone)]
pub struct KakaoUser {
    pub id: i64,
    pub email: Option<String>,
    pub email_verified: bool,
    pub nickname: String,
}

#[derive(Debug, Clone)]
struct Grant {
    challenge: String,
    redirect_uri: String,
    user: KakaoUser,
}

#[derive(Default)]
struct Inner {
    grants: HashMap<String, Grant>,
    tokens: HashMap<String, KakaoUser>,
    token_requests: Vec<HashMap<String, String>>,
}

#[derive(Clone)]
pub struct KakaoStandIn {
    pub base_url: String,
    inner: Arc<Mutex<Inner>>,
}

impl KakaoStandIn {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let router = Router::new()
            .route("/oauth/token", post(token))
            .route("/v2/user/me", get(me))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base_url = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { base_url, inner }
    }

    /// What Kakao does when the user consents: a one-time code bound to the challenge and
    /// redirect URI of the authorize request.
    pub fn consent(&self, authorize_url: &str, code: &str, user: KakaoUser) {
        let query: HashMap<String, String> = authorize_url
            .split_once('?')
            .map(|(_, q)| {
                q.split('&')
                    .filter_map(|pair| pair.split_once('='))
                    .map(|(k, v)| (k.to_string(), percent_decode(v)))
                    .collect()
            })
            .unwrap_or_default();
        let grant = Grant {
            challenge: query.get("code_challenge").cloned().unwrap_or_default(),
            redirect_uri: query.get("redirect_uri").cloned().unwrap_or_default(),
            user,
        };
        self.inner.lock().expect("lock").grants.insert(code.to_string(), grant);
    }

    /// The form fields of every token request received.
    pub fn token_requests(&self) -> Vec<HashMap<String, String>> {
        self.inner.lock().expect("lock").token_requests.clone()
    }
}

fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[derive(Debug, Deserialize)]
struct TokenForm {
    grant_type: String,
    code: String,
    redirect_uri: String,
    client_id: String,
    code_verifier: Option<String>,
    client_secret: Option<String>,
}

fn oauth_error(description: &str) -> (StatusCode, Json<Value>) {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": "invalid_grant", "error_description": description })),
    )
}

async fn token(
    State(inner): State<Arc<Mutex<Inner>>>,
    Form(form): Form<HashMap<String, String>>,
) -> (StatusCode, Json<Value>) {
    let mut inner = inner.lock().expect("lock");
    inner.token_requests.push(form.clone());
    let Ok(form) = serde_json::from_value::<TokenForm>(json!(form)) else {
        return oauth_error("missing parameters");
    };
    if form.grant_type != "authorization_code" || form.client_id != "test-client-id" {
        return oauth_error("bad client or grant type");
    }
    if form.client_secret.as_deref() != Some("test-client-secret") {
        return oauth_error("bad client secret");
    }
    // Codes are single use.
    let Some(grant) = inner.grants.remove(&form.code) else {
        return oauth_error("unknown or used code");
    };
    let verifier = form.code_verifier.unwrap_or_default();
    if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != grant.challenge {
        return oauth_error("PKCE verification failed");
    }
    if grant.redirect_uri != form.redirect_uri {
        return oauth_error("redirect_uri mismatch");
    }
    let access_token = format!("kakao-access-{}", form.code);
    inner.tokens.insert(access_token.clone(), grant.user);
    (
        StatusCode::OK,
        Json(
            json!({ "access_token": access_token, "token_type": "bearer", "expires_in": 21599,
            "refresh_token": "kakao-refresh", "refresh_token_expires_in": 5183999 }),
        ),
    )
}

async fn me(State(inner): State<Arc<Mutex<Inner>>>, headers: HeaderMap) -> (StatusCode, Json<Value>) {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let inner = inner.lock().expect("lock");
    let Some(user) = inner.tokens.get(token) else {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "msg": "this access token does not exist", "code": -401 })),
        );
    };
    (
        StatusCode::OK,
        Json(json!({
            "id": user.id,
            "connected_at": "2026-11-22T00:00:00Z",
            "kakao_account": {
                "profile": { "nickname": user.nickname },
                "email": user.email,
                "is_email_valid": user.email.is_some(),
                "is_email_verified": user.email_verified,
            }
        })),
    )
}
