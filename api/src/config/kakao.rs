//! Settings of Kakao log-in.

use secrecy::SecretString;
use serde::Deserialize;

/// Kakao log-in (OAuth 2.0 authorization code with PKCE). Off until `client_id` is set.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KakaoSettings {
    /// The app's REST API key.
    pub client_id: Option<String>,
    pub client_secret: Option<SecretString>,
    pub authorize_url: String,
    pub token_url: String,
    pub profile_url: String,
    /// Redirect URIs clients may ask for; empty allows any (Kakao still checks its own list).
    pub allowed_redirect_uris: Vec<String>,
    /// Timeout of each call to Kakao.
    pub timeout_seconds: u64,
}

impl Default for KakaoSettings {
    fn default() -> Self {
        Self {
            client_id: None,
            client_secret: None,
            authorize_url: "https://kauth.kakao.com/oauth/authorize".into(),
            token_url: "https://kauth.kakao.com/oauth/token".into(),
            profile_url: "https://kapi.kakao.com/v2/user/me".into(),
            allowed_redirect_uris: Vec::new(),
            timeout_seconds: 10,
        }
    }
}
