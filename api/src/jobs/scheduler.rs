//! Runs every job on its cron schedule in this process (when `jobs.enabled`).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use croner::Cron;
use croner::parser::{CronParser, Seconds};
use tokio::task::JoinHandle;

use super::runner::{self, Outcome, Trigger};
use super::{Job, JobEnv, NoProgress};

/// The schedule of `job`: configured, or its default; `None` when turned off.
pub fn schedule_of(settings: &crate::config::JobSettings, job: Job) -> anyhow::Result<Option<Cron>> {
    let pattern = settings
        .schedules
        .get(job.name())
        .map(String::as_str)
        .unwrap_or(job.default_schedule());
    if pattern.trim().is_empty() {
        return Ok(None);
    }
    let cron = CronParser::builder()
        .seconds(Seconds::Optional)
        .build()
        .parse(pattern)
        .with_context(|| format!("jobs.schedules.{} = {pattern:?} is not a cron expression", job.name()))?;
    Ok(Some(cron))
}

pub fn spawn(env: JobEnv, relay: crate::outbox::relay::RelayWaker) -> anyhow::Result<Vec<JoinHandle<()>>> {
    let settings = &env.settings.jobs;
    // Unknown names are typos: say so at start-up rather than never run them.
    if let Some(unknown) = settings.schedules.keys().find(|name| Job::from_name(name).is_none()) {
        anyhow::bail!("jobs.schedules names an unknown job {unknown:?}; see `curtain job list`");
    }
    if !settings.enabled {
        tracing::info!("scheduled jobs are off in this instance (jobs.enabled = false)");
        return Ok(Vec::new());
    }
    let mut tasks = Vec::new();
    for job in Job::ALL {
        if let Some(cron) = schedule_of(settings, job)? {
            tasks.push(crate::metrics::spawn_background(run_on_schedule(
                env.clone(),
                job,
                cron,
                relay.clone(),
            )));
        }
    }
    Ok(tasks)
}

async fn run_on_schedule(env: JobEnv, job: Job, cron: Cron, relay: crate::outbox::relay::RelayWaker) {
    let env = Arc::new(env);
    loop {
        let now = Utc::now();
        let Ok(next) = cron.find_next_occurrence(&now, false) else {
            tracing::warn!(
                job = job.name(),
                "the job's schedule has no next time; it will not run again"
            );
            return;
        };
        let wait = (next - now).to_std().unwrap_or(Duration::ZERO);
        tokio::time::sleep(wait).await;
        match runner::run(&env, job, Trigger::Schedule, &NoProgress).await {
            Ok(Outcome::Ran(run)) => {
                relay.wake();
                tracing::debug!(job = job.name(), status = %run.status, items = run.items, "scheduled job ran");
            }
            Ok(Outcome::Busy) => tracing::debug!(job = job.name(), "scheduled job skipped: another run holds its lock"),
            Err(err) => tracing::warn!(job = job.name(), error = ?err, "a scheduled job could not run"),
        }
    }
}
