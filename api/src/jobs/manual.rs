//! `curtain job list` and `curtain job run NAME`: jobs by hand, with a progress bar.

use std::process::ExitCode;
use std::sync::Arc;

use secrecy::ExposeSecret;

use super::runner::{self, Outcome, Trigger};
use super::{Bar, Job, JobEnv, scheduler};
use crate::config::Settings;
use crate::db;

pub fn list(settings: &Settings) -> anyhow::Result<()> {
    for job in Job::ALL {
        let schedule = match scheduler::schedule_of(&settings.jobs, job)? {
            Some(cron) => cron.pattern.to_string(),
            None => "off".into(),
        };
        println!("{:<24} {:<16} {}", job.name(), schedule, job.describe());
    }
    Ok(())
}

pub async fn run(settings: Settings, name: &str) -> anyhow::Result<ExitCode> {
    let Some(job) = Job::from_name(name) else {
        let names: Vec<&str> = Job::ALL.iter().map(|job| job.name()).collect();
        anyhow::bail!("there is no job named {name:?}; the jobs are: {}", names.join(", "));
    };
    let db = db::connect(&settings.database_url(), 4, None).await?;
    db::migrate(&db).await?;
    let channels = crate::domain::notify::Channels {
        email: settings.notifications.smtp_host.is_some(),
        slack: settings.notifications.slack_webhook_url.is_some(),
    };
    let redis_url = settings.redis.url.as_ref().map(|url| url.expose_secret().to_string());
    let deny_list = crate::infra::kv::connect(redis_url.as_deref(), &settings.redis.key_prefix).await?;
    // With Redis, the servers' sockets of accounts made dormant here hear of it at once.
    let bus = crate::infra::bus::connect(redis_url.as_deref(), &settings.redis.key_prefix).await?;
    // Links are not needed here, only deletions, so the public URL may stay empty.
    let files = crate::storage::LocalFiles::new(
        settings.files_dir(),
        settings.server.public_url.as_deref().unwrap_or(""),
    );
    let storage = crate::storage::from_settings(&settings, &files)?;
    let payments = crate::infra::payments::from_settings(&settings.payments)?;
    let env = JobEnv {
        deny_list,
        bus,
        db,
        storage,
        payments,
        settings: Arc::new(settings),
        channels,
        locks: Default::default(),
    };
    let bar = Bar::new(job.name());
    let outcome = runner::run(&env, job, Trigger::Manual, &bar).await?;
    bar.finish();
    match outcome {
        Outcome::Ran(run) if run.status == "SUCCEEDED" => {
            println!("{}: done, {} processed.", job.name(), run.items);
            Ok(ExitCode::SUCCESS)
        }
        Outcome::Ran(run) => {
            eprintln!(
                "{} failed: {}",
                job.name(),
                run.error.as_deref().unwrap_or("no error recorded")
            );
            Ok(ExitCode::FAILURE)
        }
        Outcome::Busy => {
            eprintln!(
                "{} is running on another instance right now; try again when it is done.",
                job.name()
            );
            Ok(ExitCode::from(2))
        }
    }
}
