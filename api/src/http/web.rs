//! The buyer web app at `/` and GraphiQL at `/graphiql`: static files embedded in the binary,
//! so that the service runs with nothing to install and nothing fetched from the internet.
//!
//! Release builds carry the files (`api/web/app`, `api/web/graphiql`) inside the executable;
//! debug builds read them from disk on each request, so that an edit shows on reload.
//!
//! Every file is answered with a strong ETag (its SHA-256) and `Cache-Control: no-cache`:
//! names carry no hash, so a browser asks again each time and gets 304 while nothing changed.
//! Pages get a strict Content-Security-Policy: scripts, styles and connections from this
//! origin only (GraphiQL's editor needs inline styles, and the app Toss's payment widget when
//! a client key is configured).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_embed::{Embed, EmbeddedFile};

use super::HttpState;
use crate::config::Settings;

/// The buyer web app: `index.html` at `/`, the rest under `/app/`.
#[derive(Embed)]
#[folder = "web/app/"]
struct App;

/// GraphiQL and the packages it runs on, vendored from npm (see `web/graphiql/vendor`).
#[derive(Embed)]
#[folder = "web/graphiql/"]
#[exclude = "vendor/node_modules/*"]
#[exclude = "vendor/package.json"]
#[exclude = "vendor/package-lock.json"]
#[exclude = "vendor/*.mjs"]
#[exclude = "vendor/README.md"]
struct Graphiql;

/// The two pages' Content-Security-Policy headers, made once from the settings.
#[derive(Debug, Clone)]
pub struct Policies {
    app: HeaderValue,
    graphiql: HeaderValue,
}

/// Where Toss's payment widget loads from and talks to.
const TOSS_SCRIPT: &str = "https://js.tosspayments.com";
const TOSS_ORIGINS: &str = "https://*.tosspayments.com";
/// What both pages' policies start with.
const COMMON: &str = "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

impl Policies {
    pub fn new(settings: &Settings, poster_origin: Option<String>) -> Arc<Self> {
        let posters = poster_origin.map(|origin| format!(" {origin}")).unwrap_or_default();
        let toss = settings.payments.toss_client_key.is_some();
        // Toss's payment window is its own frame, but its script may add styles and images to
        // the page and post a form to Toss on phones: allowed only when it is configured (not
        // exercised by the tests, which have no Toss client key).
        let app = if toss {
            format!(
                "{COMMON}; script-src 'self' {TOSS_SCRIPT}; style-src 'self' 'unsafe-inline'; \
                 img-src 'self' data: blob:{posters} {TOSS_ORIGINS}; connect-src 'self' {TOSS_ORIGINS}; \
                 frame-src {TOSS_ORIGINS}; form-action 'self' {TOSS_ORIGINS}"
            )
        } else {
            format!(
                "{COMMON}; script-src 'self'; style-src 'self'; img-src 'self' data: blob:{posters}; \
                 connect-src 'self'; frame-src 'none'; form-action 'self'"
            )
        };
        let images = format!("img-src 'self' data: blob:{posters}");
        // GraphiQL's editor (CodeMirror) and its React components set inline styles.
        let graphiql = format!(
            "{COMMON}; script-src 'self'; style-src 'self' 'unsafe-inline'; {images}; font-src 'self' data:; \
             connect-src 'self'; frame-src 'none'; form-action 'self'"
        );
        Arc::new(Self {
            app: HeaderValue::from_str(&app).expect("a policy is ASCII"),
            graphiql: HeaderValue::from_str(&graphiql).expect("a policy is ASCII"),
        })
    }
}

/// `GET /`: the web app's page.
pub async fn app_index(State(state): State<HttpState>, headers: HeaderMap) -> Response {
    answer(App::get("index.html"), &headers, Some(&state.web.app))
}

/// `GET /app/{path}`: the web app's scripts, styles and images.
pub async fn app_file(State(state): State<HttpState>, Path(path): Path<String>, headers: HeaderMap) -> Response {
    answer(App::get(&path), &headers, Some(&state.web.app))
}

/// `GET /graphiql`: GraphiQL's page.
pub async fn graphiql_index(State(state): State<HttpState>, headers: HeaderMap) -> Response {
    answer(Graphiql::get("index.html"), &headers, Some(&state.web.graphiql))
}

/// `GET /graphiql/{path}`: GraphiQL's scripts and styles.
pub async fn graphiql_file(State(state): State<HttpState>, Path(path): Path<String>, headers: HeaderMap) -> Response {
    answer(Graphiql::get(&path), &headers, Some(&state.web.graphiql))
}

/// A file, or 304 when the client holds this version, or 404.
fn answer(file: Option<EmbeddedFile>, request: &HeaderMap, policy: Option<&HeaderValue>) -> Response {
    let Some(file) = file else {
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    };
    let etag = etag(&file);
    let mut response = if fresh(request, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut response = file.data.into_owned().into_response();
        let mime = content_type(file.metadata.mimetype());
        response.headers_mut().insert(header::CONTENT_TYPE, mime);
        response
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, etag);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    if let Some(policy) = policy {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy.clone());
    }
    response
}

/// The file's media type; text in UTF-8, said so, so that browsers never guess.
fn content_type(mime: &str) -> HeaderValue {
    let text = mime.starts_with("text/") || mime == "application/javascript" || mime == "image/svg+xml";
    let value = if text {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_owned()
    };
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("application/octet-stream"))
}

/// A strong validator: the first 16 bytes of the file's SHA-256, in hex.
fn etag(file: &EmbeddedFile) -> HeaderValue {
    let hash = file.metadata.sha256_hash();
    HeaderValue::from_str(&format!("\"{}\"", hex::encode(&hash[..16]))).expect("hex is ASCII")
}

/// Whether `If-None-Match` names this version (or is `*`).
fn fresh(request: &HeaderMap, etag: &HeaderValue) -> bool {
    let Some(tags) = request.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let ours = etag.to_str().unwrap_or_default();
    tags.split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/") == ours)
}

/// The origin (scheme, host and port) of an absolute URL; `None` for a relative one.
pub fn origin_of(url: &str) -> Option<String> {
    let origin = reqwest::Url::parse(url).ok()?.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_is_compared_with_the_file_s_tag() {
        let tag = HeaderValue::from_static("\"abc\"");
        let mut headers = HeaderMap::new();
        assert!(!fresh(&headers, &tag));
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"x\", W/\"abc\""));
        assert!(fresh(&headers, &tag));
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"abd\""));
        assert!(!fresh(&headers, &tag));
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert!(fresh(&headers, &tag));
    }

    #[test]
    fn toss_s_origins_are_allowed_only_with_a_client_key() {
        let mut settings = Settings::default();
        let without = Policies::new(&settings, None);
        let app = without.app.to_str().unwrap_or_default();
        assert!(app.contains("script-src 'self';"), "{app}");
        assert!(!app.contains("tosspayments"), "{app}");
        assert!(!app.contains("unsafe-inline"), "{app}");
        settings.payments.toss_client_key = Some("test_ck_x".into());
        let with = Policies::new(&settings, Some("https://cdn.example.com".into()));
        let app = with.app.to_str().unwrap_or_default();
        assert!(app.contains("script-src 'self' https://js.tosspayments.com"), "{app}");
        assert!(
            app.contains("img-src 'self' data: blob: https://cdn.example.com"),
            "{app}"
        );
    }

    #[test]
    fn origins_of_absolute_urls_only() {
        assert_eq!(
            origin_of("https://cdn.example.com:8443/posters/a.png").as_deref(),
            Some("https://cdn.example.com:8443")
        );
        assert_eq!(origin_of("/files/posters/a.png"), None);
    }
}
