//! Fuzzing the running server: a schema-aware generator of GraphQL requests sent over HTTP,
//! and malformed graphql-transport-ws conversations, each answer checked for a 5xx status
//! and for internals (SQL, file paths, Rust type names) in its text.
//!
//! A run is a function of its seed: the same seed generates the same requests in the same
//! order. `CURTAIN_FUZZ_SEED`, `CURTAIN_FUZZ_CASES` and `CURTAIN_FUZZ_SOCKETS` override the
//! defaults.

mod catalog;
mod documents;
mod frames;
mod requests;
mod schema;
mod sockets;
mod values;

use std::collections::BTreeMap;
use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;

pub use catalog::known_ids;
pub use frames::{Frame, SocketCase};
pub use requests::{Caller, FuzzRequest};
pub use schema::Schema;
pub use values::KnownIds;

use crate::{ADMIN_EMAIL, ADMIN_PASSWORD, BUYER_PASSWORD, TestApp};
use catalog::log_in;

/// How much to send, from what seed.
#[derive(Debug, Clone)]
pub struct FuzzSettings {
    pub seed: u64,
    /// HTTP requests.
    pub cases: usize,
    /// WebSocket conversations.
    pub sockets: usize,
    /// How long one answer may take before it is counted as a timeout (not a failure).
    pub timeout: Duration,
}

impl FuzzSettings {
    pub const DEFAULT_SEED: u64 = 20_261_204;

    /// The defaults, overridden by `CURTAIN_FUZZ_SEED`, `CURTAIN_FUZZ_CASES` and
    /// `CURTAIN_FUZZ_SOCKETS`.
    pub fn from_env() -> Self {
        let number = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(default)
        };
        FuzzSettings {
            seed: number("CURTAIN_FUZZ_SEED", Self::DEFAULT_SEED),
            cases: number("CURTAIN_FUZZ_CASES", 2_000) as usize,
            sockets: number("CURTAIN_FUZZ_SOCKETS", 200) as usize,
            timeout: Duration::from_secs(5),
        }
    }
}

/// What a run saw. `failures` each name the seed, the case and the offending input.
#[derive(Debug, Default)]
pub struct Report {
    pub statuses: BTreeMap<u16, usize>,
    /// The first error's `extensions.code` of each answer (`ok` without errors).
    pub codes: BTreeMap<String, usize>,
    /// The first unmangled request and its answer for each code, to see what the codes mean.
    pub samples: BTreeMap<String, String>,
    pub manglings: BTreeMap<&'static str, usize>,
    pub timeouts: Vec<String>,
    pub socket_endings: BTreeMap<String, usize>,
    pub failures: Vec<String>,
}

/// Text that must never reach a client: SQL, database driver names, file paths, Rust types.
const LEAKS: &[&str] = &[
    "SELECT ",
    "INSERT ",
    "UPDATE ",
    "DELETE FROM",
    "syntax error at",
    "sqlx",
    "SQLITE_",
    "sqlite3",
    "constraint failed",
    "violates",
    "database is locked",
    "no such table",
    "pool timed out",
    "error returned from database",
    "/src/",
    ".rs:",
    "/home/",
    "/root/",
    "/work/",
    "/tmp/",
    "core::",
    "alloc::",
    "std::",
    "tokio::",
    "sea_orm",
    "DbErr",
    "anyhow",
    "panicked",
    "RUST_BACKTRACE",
];

/// The first internal-looking text in `answer` that `input` did not itself contain (an
/// echo of the input, as in "unknown field", is not a leak).
pub fn leak(answer: &str, input: &str) -> Option<&'static str> {
    LEAKS
        .iter()
        .copied()
        .find(|pattern| answer.contains(pattern) && !input.contains(pattern))
}

/// Thread-name prefix of the runtime a fuzz run is on; panics on such threads are counted.
pub const THREAD_NAME: &str = "curtain-fuzz";
static PANICS: AtomicUsize = AtomicUsize::new(0);

/// Counts, from now on, panics on threads named [`THREAD_NAME`] (the in-process server's
/// included), still printing them as usual.
pub fn watch_panics() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current()
                .name()
                .is_some_and(|n| n.starts_with(THREAD_NAME))
            {
                PANICS.fetch_add(1, Ordering::SeqCst);
            }
            previous(info);
        }));
    });
}

/// Panics counted by [`watch_panics`] so far.
pub fn panics_so_far() -> usize {
    PANICS.load(Ordering::SeqCst)
}

/// Sends `settings.cases` generated requests, one after another, then `settings.sockets`
/// malformed WebSocket conversations, and checks every answer.
pub async fn run(app: &TestApp, settings: &FuzzSettings) -> Report {
    let schema = Schema::parse(&curtain::graphql::sdl()).expect("the served schema parses");
    let buyer_email = "fuzz-buyer@example.com";
    let mut buyer = app.sign_up(buyer_email).await.access_token;
    let mut admin = log_in(app, ADMIN_EMAIL, ADMIN_PASSWORD)
        .await
        .expect("the admin logs in");
    let known = known_ids(app, &buyer).await;
    // A connection per request: a reused one the server has just closed (as idle timeouts
    // do) would fail for reasons that are not the request's.
    let client = reqwest::Client::builder()
        .timeout(settings.timeout)
        .pool_max_idle_per_host(0)
        .build()
        .expect("HTTP client");
    let mut rng = StdRng::seed_from_u64(settings.seed);
    let mut report = Report::default();
    for case in 0..settings.cases {
        // Generated mutations may log a caller out or change its role; log in again now and
        // then (deterministically) so that guarded fields stay reachable.
        if case % 250 == 249 {
            buyer = log_in(app, buyer_email, BUYER_PASSWORD).await.unwrap_or(buyer);
            admin = log_in(app, ADMIN_EMAIL, ADMIN_PASSWORD).await.unwrap_or(admin);
        }
        let request = requests::request(&schema, &known, &mut rng);
        *report.manglings.entry(request.mangling).or_default() += 1;
        let token = match request.caller {
            Caller::Anonymous => None,
            Caller::Buyer => Some(buyer.as_str()),
            Caller::Admin => Some(admin.as_str()),
        };
        let describe = |what: &str| {
            format!(
                "case {case} of seed {} ({:?}, {}, {}): {what}\n  request: {} {}",
                settings.seed,
                request.caller,
                request.mangling,
                request.content_type,
                if request.get { "GET ?" } else { "POST" },
                shorten(&request.body, 4_000)
            )
        };
        match send(&client, app, &request, token).await {
            Ok((status, text)) => {
                *report.statuses.entry(status).or_default() += 1;
                let code = first_code(&text);
                *report.codes.entry(code.clone()).or_default() += 1;
                if request.mangling == "none" && !report.samples.contains_key(&code) {
                    let sample = format!("{}\n    -> {}", shorten(&request.body, 600), shorten(&text, 600));
                    report.samples.insert(code.clone(), sample);
                }
                if status >= 500 || code == "INTERNAL_SERVER_ERROR" {
                    report.failures.push(describe(&format!(
                        "status {status}\n  answer: {}",
                        shorten(&text, 2_000)
                    )));
                } else if let Some(pattern) = leak(&text, &request.body) {
                    report.failures.push(describe(&format!(
                        "answer contains {pattern:?}\n  answer: {}",
                        shorten(&text, 2_000)
                    )));
                }
            }
            Err(error) if error.is_timeout() => report.timeouts.push(describe("no answer in time")),
            // A URL longer than the client takes: the server never saw it.
            Err(error) if error.is_builder() => *report.codes.entry("not sent (URL too long)".into()).or_default() += 1,
            // Refused while still sending, as a body over the limit may be.
            Err(_) if request.body.len() > app.state.settings.server.body_limit_bytes => {
                *report.codes.entry("cut off (body over the limit)".into()).or_default() += 1
            }
            Err(error) => report.failures.push(describe(&format!("no answer: {}", chain(&error)))),
        }
    }
    sockets::run(app, &schema, &known, (&buyer, &admin), settings, &mut rng, &mut report).await;
    report
}

async fn send(
    client: &reqwest::Client,
    app: &TestApp,
    request: &FuzzRequest,
    token: Option<&str>,
) -> Result<(u16, String), reqwest::Error> {
    let builder = if request.get {
        client.get(format!("{}?{}", app.url("/graphql"), request.body))
    } else {
        client
            .post(app.url("/graphql"))
            .header("content-type", request.content_type)
            .body(request.body.clone())
    };
    let builder = match token {
        Some(token) => builder.bearer_auth(token),
        None => builder,
    };
    let response = builder.send().await?;
    let status = response.status().as_u16();
    Ok((status, response.text().await?))
}

/// The first error's code in a GraphQL answer, `ok` when it has none, `not JSON` when it
/// is not a GraphQL answer.
fn first_code(text: &str) -> String {
    let Ok(answer) = serde_json::from_str::<serde_json::Value>(text) else {
        return "not JSON".into();
    };
    let answer = if answer.is_array() { &answer[0] } else { &answer };
    match answer.get("errors") {
        None => "ok".into(),
        Some(errors) => errors[0]["extensions"]["code"]
            .as_str()
            .unwrap_or("no code")
            .to_string(),
    }
}

/// An error and its sources, which say what happened to the connection.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// At most `limit` bytes of `text`, cut at a char boundary.
fn shorten(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_string();
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &text[..end], text.len())
}
