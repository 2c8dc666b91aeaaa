//! What the drill runs and breaks: its own PostgreSQL cluster, its own Redis, and the two
//! server processes.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::HOLD_SECONDS;
use crate::free_port;

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// A PostgreSQL cluster of the drill's own.
pub(super) struct OwnPostgres {
    dir: PathBuf,
    port: u16,
    bindir: String,
    as_postgres: bool,
}

impl OwnPostgres {
    pub(super) async fn start(work: &Path) -> anyhow::Result<Self> {
        let bindir = Command::new("pg_config")
            .arg("--bindir")
            .output()
            .context("pg_config (PostgreSQL's server package) is needed for the drill")?;
        let bindir = String::from_utf8(bindir.stdout)?.trim().to_string();
        let dir = work.join("postgres");
        std::fs::create_dir_all(&dir)?;
        let as_postgres = is_root();
        if as_postgres {
            // PostgreSQL refuses to run as root; its files belong to `postgres`.
            run_tool(Command::new("chown").args(["-R", "postgres:postgres"]).arg(work))?;
            run_tool(Command::new("chmod").arg("755").arg(work))?;
        }
        let postgres = Self {
            dir,
            port: free_port()?,
            bindir,
            as_postgres,
        };
        postgres.tool(
            "initdb",
            &[
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
                "-D",
            ],
            true,
        )?;
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c fsync=off -c max_connections=300",
            postgres.port,
            postgres.dir.display()
        );
        postgres.pg_ctl(&["-o", &options, "-l", &postgres.log(), "-w", "start"])?;
        Ok(postgres)
    }

    pub(super) fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn log(&self) -> String {
        self.dir.with_extension("log").display().to_string()
    }

    pub(super) fn restart(&self) -> anyhow::Result<()> {
        self.pg_ctl(&["-m", "fast", "-l", &self.log(), "-w", "restart"])
    }

    fn pg_ctl(&self, args: &[&str]) -> anyhow::Result<()> {
        let mut all = vec!["-D", self.dir.to_str().unwrap_or_default()];
        all.extend_from_slice(args);
        self.tool("pg_ctl", &all, false)
    }

    fn tool(&self, name: &str, args: &[&str], dir_last: bool) -> anyhow::Result<()> {
        let program = format!("{}/{name}", self.bindir);
        let mut command = if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--", &program]);
            command
        } else {
            Command::new(&program)
        };
        command.args(args);
        if dir_last {
            command.arg(&self.dir);
        }
        run_tool(command.stdout(Stdio::null()))
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = self.pg_ctl(&["-m", "immediate", "stop"]);
    }
}

fn run_tool(command: &mut Command) -> anyhow::Result<()> {
    let status = command.status().with_context(|| format!("running {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed: {status}");
    }
    Ok(())
}

/// A `redis-server` of the drill's own, with nothing on disk.
pub(super) struct OwnRedis {
    port: u16,
    dir: PathBuf,
    child: Process,
}

impl OwnRedis {
    pub(super) fn start(work: &Path) -> anyhow::Result<Self> {
        let mut redis = Self {
            port: free_port()?,
            dir: work.to_path_buf(),
            child: Process::default(),
        };
        redis.restart()?;
        Ok(redis)
    }

    pub(super) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub(super) fn restart(&mut self) -> anyhow::Result<()> {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .spawn()
            .context("redis-server is needed for the drill")?;
        self.child = Process(Some(child));
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if Instant::now() > deadline {
                bail!("redis-server did not start");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    pub(super) fn stop(&mut self) {
        self.child.kill();
    }
}

/// One server process.
pub(super) struct Instance {
    pub(super) base: String,
    child: Process,
}

/// Shared by both instances: they accept each other's tokens.
const JWT_KEYS: &str = r#"[{kid="drill",secret="0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}]"#;

impl Instance {
    /// Starts instance `name` (again, on the port it had, when it ran before) and waits
    /// until it is ready.
    pub(super) async fn start(
        server: &Path,
        work: &Path,
        name: &str,
        database: &str,
        redis: &str,
    ) -> anyhow::Result<Self> {
        let port_file = work.join(format!("{name}.port"));
        let port = match std::fs::read_to_string(&port_file) {
            Ok(port) => port.trim().parse()?,
            Err(_) => free_port()?,
        };
        std::fs::write(&port_file, port.to_string())?;
        let data = work.join(name);
        std::fs::create_dir_all(&data)?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(work.join(format!("{name}.log")))?;
        let settings = [
            ("DATABASE_URL", database.to_string()),
            ("REDIS_URL", redis.to_string()),
            ("CURTAIN_BIND", "127.0.0.1".into()),
            ("CURTAIN_PORT", port.to_string()),
            ("CURTAIN_DATA_DIR", data.display().to_string()),
            ("CURTAIN_METRICS_LISTEN", "false".into()),
            ("CURTAIN_LOG_FILTER", "warn".into()),
            ("CURTAIN_AUTH_JWT_KEYS", JWT_KEYS.into()),
            ("CURTAIN_AUTH_ARGON2_MEMORY_KIB", "1024".into()),
            ("CURTAIN_AUTH_ARGON2_ITERATIONS", "1".into()),
            ("CURTAIN_AUTH_RATE_LIMIT_PER_MINUTE", "100000".into()),
            ("CURTAIN_BOOKING_HOLD_SECONDS", HOLD_SECONDS.to_string()),
            ("CURTAIN_BOOKING_SWEEP_INTERVAL_SECONDS", "1".into()),
            ("CURTAIN_BOOKING_HOLD_ATTEMPTS_PER_IP_PER_MINUTE", "1000000".into()),
            ("CURTAIN_BOOKING_HOLD_ATTEMPTS_PER_ACCOUNT_PER_MINUTE", "100000".into()),
            ("CURTAIN_BOOKING_MAX_LIVE_RESERVATIONS_PER_BUYER", "1000".into()),
            // Two seats each at most: buyers × 2 stays below the seats, so the sale never
            // sells out and every fault's recovery shows as a hold going through.
            ("CURTAIN_BOOKING_MAX_SEATS_PER_BUYER", "2".into()),
            // Every buyer and subscriber of the drill comes from 127.0.0.1.
            ("CURTAIN_WEBSOCKET_SOCKETS_PER_IP", "0".into()),
            ("CURTAIN_SEARCH_IN_MEMORY", "true".into()),
            ("CURTAIN_SEARCH_CATCH_UP_MS", "200".into()),
            ("CURTAIN_SERVER_SHUTDOWN_GRACE_SECONDS", "1".into()),
            ("CURTAIN_DEMO_SEED_WHEN_EMPTY", "false".into()),
            // A payment cut off by the kill or the restart is left PAYING; reconciliation
            // settles it by asking the provider, here within seconds instead of a minute.
            ("CURTAIN_PAYMENTS_RECONCILE_AFTER_SECONDS", "2".into()),
            (
                "CURTAIN_JOBS_SCHEDULES",
                r#"{"reconcile-payments"="*/2 * * * * *"}"#.into(),
            ),
        ];
        let child = Command::new(server)
            .arg("drill-instance")
            .envs(settings)
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", server.display()))?;
        let instance = Self {
            base: format!("http://127.0.0.1:{port}"),
            child: Process(Some(child)),
        };
        let mut instance = instance;
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(child) = instance.child.0.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                bail!(
                    "instance {name} exited ({status}) before it was ready; see {}",
                    work.join(format!("{name}.log")).display()
                );
            }
            let ready = client.get(format!("{}/readyz", instance.base)).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return Ok(instance);
            }
            if Instant::now() > deadline {
                bail!(
                    "instance {name} was not ready within 60 s; see {}",
                    work.join(format!("{name}.log")).display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILL: no shutdown, no draining, no chance to clean up.
    pub(super) fn kill(&mut self) {
        self.child.kill();
    }
}

/// A child process of the drill, killed (SIGKILL) and reaped when asked or when dropped.
#[derive(Default)]
struct Process(Option<Child>);

impl Process {
    fn kill(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}
