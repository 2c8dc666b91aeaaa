//! The `curtain` binary: parse the command line, set up tracing, hand over to the library.

use std::process::ExitCode;

use clap::Parser;
use curtain::cli::{Cli, Command, ServeArgs};
use curtain::startup::Application;
use curtain::{db, demo, graphql, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let command = cli.command.unwrap_or_else(|| Command::Serve(ServeArgs::default()));
    if let Command::Schema(args) = &command {
        return schema(args);
    }
    let mut settings = cli.global.settings()?;
    telemetry::init(&settings.log);
    match command {
        Command::Serve(args) => {
            args.apply(&mut settings);
            Application::build(settings).await?.run_until_stopped().await?;
        }
        Command::Migrate => {
            let db = db::connect(&settings.database_url(), 2, None).await?;
            db::migrate(&db).await?;
            println!("The database is up to date.");
        }
        Command::SeedDemo => {
            let db = db::connect(&settings.database_url(), 2, None).await?;
            db::migrate(&db).await?;
            if !demo::catalog_is_empty(&db).await? {
                anyhow::bail!(
                    "the database already has a catalog; seed-demo only fills an empty database \
                     (use another --data-dir or --database-url)"
                );
            }
            let seeded = demo::seed(&db).await?;
            println!(
                "Loaded the demo catalog: {} venues, {} cast members, {} performances, {} sessions.",
                seeded.venues, seeded.cast_members, seeded.performances, seeded.sessions
            );
        }
        Command::Schema(_) => unreachable!("handled above"),
    }
    Ok(ExitCode::SUCCESS)
}

fn schema(args: &curtain::cli::SchemaArgs) -> anyhow::Result<ExitCode> {
    let sdl = graphql::sdl();
    if !args.check {
        print!("{sdl}");
        return Ok(ExitCode::SUCCESS);
    }
    let on_disk =
        std::fs::read_to_string(&args.file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", args.file.display()))?;
    if on_disk == sdl {
        println!("{} matches the served schema.", args.file.display());
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "{} differs from the served schema; regenerate it with `cargo run -- schema > {}`",
            args.file.display(),
            args.file.display()
        );
        Ok(ExitCode::FAILURE)
    }
}
