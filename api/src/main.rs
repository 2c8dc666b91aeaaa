//! The `curtain` binary: parse the command line, set up tracing, hand over to the library.

use std::process::ExitCode;

use clap::Parser;
use std::io::{BufRead, IsTerminal};

use curtain::auth::passwords;
use curtain::cli::{AdminCommand, AdminCreateArgs, Cli, Command, JobCommand, ServeArgs};
use curtain::domain::accounts::{self, NewAccount};
use curtain::startup::Application;
use curtain::{db, demo, graphql, jobs, telemetry};

/// A GraphQL answer is thousands of small allocations freed together; mimalloc serves them
/// with less work and less fragmentation than glibc's malloc (see the README's P2 figures).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    if !matches!(command, Command::Serve(_)) {
        // One-shot commands print their own result; routine progress would only be noise.
        settings.log.filter = "warn".into();
    }
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
            let seeded = demo::seed(&db, &settings.auth).await?;
            println!(
                "Loaded the demo catalog: {} venues, {} cast members, {} performances, {} sessions.",
                seeded.venues, seeded.cast_members, seeded.performances, seeded.sessions
            );
            for login in &seeded.logins {
                println!(
                    "Demo log-in ({:?}): {} / {}  (shown once; the buyer has four tickets for the first show)",
                    login.role, login.email, login.password
                );
            }
        }
        Command::Admin(AdminCommand::Create(args)) => create_admin(&settings, args).await?,
        Command::Job(JobCommand::List) => jobs::manual::list(&settings)?,
        Command::Job(JobCommand::Run(args)) => return jobs::manual::run(settings, &args.name).await,
        Command::Reindex => curtain::search::cli::reindex(&settings).await?,
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

async fn create_admin(settings: &curtain::config::Settings, args: AdminCreateArgs) -> anyhow::Result<()> {
    let email = curtain::domain::email::Email::parse(&args.email).map_err(|e| e.into_anyhow())?;
    let password = read_password()?;
    passwords::check_policy(&password, Some(email.as_str()), &settings.auth).map_err(|e| e.into_anyhow())?;
    let db = db::connect(&settings.database_url(), 2, None).await?;
    db::migrate(&db).await?;
    if accounts::find_by_email(&db, &email)
        .await
        .map_err(|e| e.into_anyhow())?
        .is_some()
    {
        anyhow::bail!("an account with {email} already exists; an admin can give it the ADMIN role with grantRole");
    }
    let hash = passwords::hash(&password, &settings.auth)
        .await
        .map_err(|e| e.into_anyhow())?;
    let account = NewAccount {
        email: Some(email.to_string()),
        email_verified: true,
        password_hash: Some(hash),
        name: args.name,
        phone: None,
        role: entity::Role::Admin,
        kakao_id: None,
    };
    accounts::create_account(&db, account)
        .await
        .map_err(|e| e.into_anyhow())?;
    println!("Created the admin account {email}.");
    Ok(())
}

/// The password from piped standard input (first line), or typed twice at a prompt.
fn read_password() -> anyhow::Result<String> {
    if !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        let password = line.trim_end_matches(['\r', '\n']).to_string();
        if password.is_empty() {
            anyhow::bail!(
                "no password on standard input; pipe one in, e.g. `printf '%s' \"$PASSWORD\" | curtain admin create …`"
            );
        }
        return Ok(password);
    }
    let password = rpassword::prompt_password("Password for the new admin: ")?;
    let again = rpassword::prompt_password("Type it again: ")?;
    if password != again {
        anyhow::bail!("the two passwords differ; nothing was created");
    }
    Ok(password)
}
