//! Kakao log-in: the OAuth 2.0 authorization-code flow with PKCE, then the user's profile.
//!
//! Endpoints come from configuration (Kakao's real URLs by default), so tests run the same
//! client against a local stand-in over real HTTP.

use std::borrow::Cow;
use std::time::Duration;

use anyhow::Context;
use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, TokenResponse, TokenUrl,
};
use secrecy::ExposeSecret;
use serde::Deserialize;

use crate::config::KakaoSettings;

type Client = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

pub struct KakaoClient {
    oauth: Client,
    http: reqwest::Client,
    profile_url: String,
}

impl std::fmt::Debug for KakaoClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KakaoClient")
            .field("profile_url", &self.profile_url)
            .finish_non_exhaustive()
    }
}

/// A started authorization: where to send the browser, and the secrets to keep server-side.
#[derive(Debug)]
pub struct Authorization {
    pub url: String,
    pub state: String,
    pub verifier: String,
}

/// The parts of Kakao's `/v2/user/me` answer we use.
#[derive(Debug, Clone, Deserialize)]
pub struct KakaoProfile {
    pub id: i64,
    #[serde(default)]
    pub kakao_account: KakaoAccount,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct KakaoAccount {
    pub email: Option<String>,
    #[serde(default)]
    pub is_email_verified: bool,
    #[serde(default)]
    pub is_email_valid: bool,
    #[serde(default)]
    pub profile: Option<KakaoProfileDetails>,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct KakaoProfileDetails {
    pub nickname: Option<String>,
}

impl KakaoProfile {
    /// The email, only when Kakao vouches for it (verified and still valid).
    pub fn verified_email(&self) -> Option<String> {
        let account = &self.kakao_account;
        account
            .email
            .clone()
            .filter(|_| account.is_email_verified && account.is_email_valid)
            .map(|e| e.to_lowercase())
    }

    pub fn display_name(&self) -> String {
        let account = &self.kakao_account;
        account
            .profile
            .as_ref()
            .and_then(|p| p.nickname.clone())
            .or_else(|| account.name.clone())
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| "카카오 사용자".to_string())
    }
}

impl KakaoClient {
    /// `None` when Kakao log-in is not configured.
    pub fn from_settings(settings: &KakaoSettings) -> anyhow::Result<Option<Self>> {
        let Some(client_id) = &settings.client_id else {
            return Ok(None);
        };
        let mut oauth = BasicClient::new(ClientId::new(client_id.clone()))
            .set_auth_uri(AuthUrl::new(settings.authorize_url.clone()).context("kakao.authorize_url is not a URL")?)
            .set_token_uri(TokenUrl::new(settings.token_url.clone()).context("kakao.token_url is not a URL")?)
            // Kakao reads client credentials from the form body, not a Basic header.
            .set_auth_type(AuthType::RequestBody);
        if let Some(secret) = &settings.client_secret {
            oauth = oauth.set_client_secret(ClientSecret::new(secret.expose_secret().to_string()));
        }
        let http = reqwest::Client::builder()
            // Following redirects from a token endpoint would leak the code elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(settings.timeout_seconds))
            .build()
            .context("building the HTTP client for Kakao")?;
        Ok(Some(Self {
            oauth,
            http,
            profile_url: settings.profile_url.clone(),
        }))
    }

    pub fn authorize(&self, redirect_uri: &str) -> anyhow::Result<Authorization> {
        let redirect = RedirectUrl::new(redirect_uri.to_string()).context("the redirect URI is not a URL")?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state) = self
            .oauth
            .authorize_url(CsrfToken::new_random)
            .set_pkce_challenge(challenge)
            .set_redirect_uri(Cow::Owned(redirect))
            .url();
        Ok(Authorization {
            url: url.to_string(),
            state: state.secret().clone(),
            verifier: verifier.secret().clone(),
        })
    }

    /// Exchanges the code (with the PKCE verifier) and reads the profile.
    pub async fn profile(&self, code: &str, verifier: &str, redirect_uri: &str) -> anyhow::Result<KakaoProfile> {
        let redirect = RedirectUrl::new(redirect_uri.to_string()).context("the redirect URI is not a URL")?;
        let token = self
            .oauth
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_string()))
            .set_redirect_uri(Cow::Owned(redirect))
            .request_async(&self.http)
            .await
            .map_err(|e| anyhow::anyhow!("Kakao refused the authorization code: {e}"))?;
        let response = self
            .http
            .get(&self.profile_url)
            .bearer_auth(token.access_token().secret())
            .send()
            .await
            .context("calling Kakao's profile endpoint")?
            .error_for_status()
            .context("Kakao's profile endpoint answered with an error")?;
        response
            .json::<KakaoProfile>()
            .await
            .context("Kakao's profile answer was not understood")
    }
}
