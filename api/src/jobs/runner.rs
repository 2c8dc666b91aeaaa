//! Runs a job once, under its lock, and records the run.

use chrono::Utc;
use entity::job_run;
use sea_orm::{ActiveModelTrait, IntoActiveModel, Set};

use super::{Job, JobEnv, Progress, execute, lock};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Schedule,
    Manual,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Self::Schedule => "SCHEDULE",
            Self::Manual => "MANUAL",
        }
    }
}

#[derive(Debug)]
pub enum Outcome {
    /// The run happened; its record says how it went.
    Ran(job_run::Model),
    /// Another run of the job (on this or another instance) is under way.
    Busy,
}

/// A failed job needs someone's attention: say so on Slack (when configured).
async fn tell_the_box_office(env: &JobEnv, job: Job, id: i64) {
    if !env.channels.slack {
        return;
    }
    let line = format!(
        "작업 실패 (job failed): {} · run {id} · see jobRuns(job: \"{}\") for the error",
        job.name(),
        job.name()
    );
    let key = format!("job-failed:{id}");
    if let Err(err) =
        crate::domain::notify::deliver(&env.db, crate::domain::notify::SLACK, &key, "", &line, &line, None).await
    {
        tracing::warn!(job = job.name(), error = ?err.into_anyhow(), "the job failure could not be queued for Slack");
    }
}

pub async fn run(env: &JobEnv, job: Job, trigger: Trigger, progress: &dyn Progress) -> anyhow::Result<Outcome> {
    let Some(held) = lock::try_lock(&env.db, &env.locks, job).await? else {
        return Ok(Outcome::Busy);
    };
    let record = job_run::ActiveModel {
        job: Set(job.name().to_string()),
        trigger: Set(trigger.as_str().to_string()),
        status: Set("RUNNING".into()),
        items: Set(0),
        error: Set(None),
        started_at: Set(Utc::now()),
        finished_at: Set(None),
        ..Default::default()
    }
    .insert(&env.db)
    .await?;
    let run_id = record.id;
    let result = execute(job, env, progress).await;
    let mut finished = record.into_active_model();
    finished.finished_at = Set(Some(Utc::now()));
    match &result {
        Ok(items) => {
            finished.status = Set("SUCCEEDED".into());
            finished.items = Set(*items as i64);
        }
        Err(err) => {
            tracing::error!(job = job.name(), error = ?err, "a job failed");
            finished.status = Set("FAILED".into());
            finished.error = Set(Some(format!("{err:#}")));
            tell_the_box_office(env, job, run_id).await;
        }
    }
    let finished = finished.update(&env.db).await?;
    held.release().await?;
    Ok(Outcome::Ran(finished))
}
