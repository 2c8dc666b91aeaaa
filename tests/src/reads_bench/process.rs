//! The processes under test: the `curtain` binary started on the server's core (and this
//! process pinned to the other), watched through /proc, paused while the other server is
//! measured, and stopped when done.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::{LOAD_CORE, SERVER_CORE};
use crate::free_port;

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
    pub(super) child: Child,
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

    /// Stops the process (SIGSTOP) until the guard is dropped (SIGCONT). The two servers
    /// share one core, and while one is measured the other must not run there: PostGraphile's
    /// V8 collects its heap in 40–70 ms bursts for a while after a load ends (seen with
    /// per-process CPU samples here), which stalled every request Curtain had in flight and
    /// made its p99; Curtain's own background work (the outbox relay's polls) would land in
    /// PostGraphile's figures the same way.
    pub fn pause(&self) -> anyhow::Result<Paused<'_>> {
        signal(self.pid(), "-STOP")?;
        Ok(Paused(self))
    }

    /// Stops the process with SIGTERM and waits for it.
    pub fn stop(mut self) {
        let _ = signal(self.pid(), "-TERM");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A server stopped by [`Server::pause`]; it runs again when this is dropped.
pub struct Paused<'a>(&'a Server);

impl Drop for Paused<'_> {
    fn drop(&mut self) {
        if let Err(err) = signal(self.0.pid(), "-CONT") {
            // Its next run would wait for answers that never come.
            eprintln!("could not resume the server (pid {}): {err:#}", self.0.pid());
        }
    }
}

fn signal(pid: u32, signal: &str) -> anyhow::Result<()> {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .context("kill(1) is needed to pause the server not being measured")?;
    if !status.success() {
        bail!("kill {signal} {pid} failed");
    }
    Ok(())
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
pub(super) async fn wait_for(
    server: &Server,
    path: &str,
    timeout: Duration,
    success: bool,
) -> anyhow::Result<Duration> {
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
