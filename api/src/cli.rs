//! The command line: `curtain [serve]`, `migrate`, `seed-demo`, `schema [--check]`,
//! `admin create`, `job list|run`, `reindex`.
//! Flags override `curtain.toml` and `CURTAIN_*` variables.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use secrecy::SecretString;

use crate::config::Settings;

/// Curtain: ticketing for live performances, spoken to in GraphQL.
///
/// With no configuration it runs on embedded defaults: a SQLite file and stored files under
/// ./data, and a demo catalog loaded into an empty database.
#[derive(Debug, Parser)]
#[command(name = "curtain", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do; `serve` when left out.
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Settings file [default: ./curtain.toml, if present].
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory for the SQLite database and stored files [default: ./data].
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database to use: sqlite://FILE or postgres://USER@HOST/DB [default: DIR/curtain.db].
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the GraphQL server (the default command).
    Serve(ServeArgs),
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Load the demo catalog into an empty database, then exit.
    SeedDemo,
    /// Print the GraphQL schema (SDL) the server serves.
    Schema(SchemaArgs),
    /// Manage admin accounts.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Scheduled jobs: list them, or run one now.
    #[command(subcommand)]
    Job(JobCommand),
    /// Rebuild the search index from the database, with a progress bar. A server using the
    /// same data directory keeps serving searches from the old index and switches to the
    /// new one within a few seconds of it being ready.
    Reindex,
}

#[derive(Debug, Subcommand)]
pub enum JobCommand {
    /// List every job with what it does and when it runs.
    List,
    /// Run a job now, with a progress bar; the run is recorded like a scheduled one. If
    /// another instance is running the same job, says so and exits with status 2.
    Run(JobRunArgs),
}

#[derive(Debug, Args)]
pub struct JobRunArgs {
    /// The job's name, as `curtain job list` shows it (e.g. remind-upcoming).
    pub name: String,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an admin account (the way to get the first one). The password is read from
    /// standard input when it is piped, else prompted for.
    Create(AdminCreateArgs),
}

#[derive(Debug, Args)]
pub struct AdminCreateArgs {
    /// Email address to log in with.
    #[arg(long)]
    pub email: String,
    /// Name shown in the audit log.
    #[arg(long)]
    pub name: String,
}

#[derive(Debug, Args, Default)]
pub struct ServeArgs {
    /// Port to listen on; 0 picks a free one [default: 8080].
    #[arg(long, short)]
    pub port: Option<u16>,
    /// Address to listen on; 0.0.0.0 accepts other machines [default: 127.0.0.1].
    #[arg(long)]
    pub bind: Option<IpAddr>,
    /// Do not apply pending migrations at start-up.
    #[arg(long)]
    pub no_migrate: bool,
    /// Do not load the demo catalog into an empty database.
    #[arg(long)]
    pub no_demo: bool,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Compare with the schema file instead of printing; exit 1 when they differ.
    #[arg(long)]
    pub check: bool,
    /// The schema file --check compares with.
    #[arg(long, value_name = "FILE", default_value = "schema.graphql")]
    pub file: PathBuf,
}

impl GlobalArgs {
    /// Loads the layered settings and applies these flags on top.
    pub fn settings(&self) -> anyhow::Result<Settings> {
        let mut settings = Settings::load(self.config.as_deref())?;
        if let Some(dir) = &self.data_dir {
            settings.data_dir = dir.clone();
        }
        if let Some(url) = &self.database_url {
            settings.database.url = Some(SecretString::from(url.clone()));
        }
        Ok(settings)
    }
}

impl ServeArgs {
    pub fn apply(&self, settings: &mut Settings) {
        if let Some(port) = self.port {
            settings.server.port = port;
        }
        if let Some(bind) = self.bind {
            settings.server.bind = bind;
        }
        if self.no_migrate {
            settings.database.migrate_on_start = false;
        }
        if self.no_demo {
            settings.demo.seed_when_empty = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_may_follow_the_command() {
        let cli = Cli::try_parse_from(["curtain", "serve", "--port", "0", "--data-dir", "/tmp/x"]).ok();
        let cli = cli.expect("parses");
        assert_eq!(cli.global.data_dir, Some(PathBuf::from("/tmp/x")));
        assert!(matches!(
            cli.command,
            Some(Command::Serve(ServeArgs { port: Some(0), .. }))
        ));
    }
}
