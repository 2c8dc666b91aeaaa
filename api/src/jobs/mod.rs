//! Scheduled jobs. Each runs on its cron schedule in every instance's scheduler, but only
//! one instance at a time (see [`lock`]); each can also be run by hand with
//! `curtain job run NAME`; every run is recorded in `job_runs`. Jobs work in keyset-paged
//! batches, so memory stays bounded on millions of rows, and are idempotent: running one
//! twice in a row does nothing the second time.

mod dormancy;
mod orphans;
pub use dormancy::DORMANT_NAME;
pub mod lock;
pub mod manual;
mod purge;
mod reminders;
pub mod runner;
pub mod scheduler;

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::config::Settings;
use crate::domain::notify::Channels;

/// Every job there is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Job {
    ExpireHolds,
    RemindUpcoming,
    PromptReviews,
    WarnDormant,
    MarkDormant,
    PurgeOldPerformances,
    SweepOrphanFiles,
    ReconcilePayments,
}

impl Job {
    pub const ALL: [Job; 8] = [
        Job::ExpireHolds,
        Job::RemindUpcoming,
        Job::PromptReviews,
        Job::WarnDormant,
        Job::MarkDormant,
        Job::PurgeOldPerformances,
        Job::SweepOrphanFiles,
        Job::ReconcilePayments,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::ExpireHolds => "expire-holds",
            Self::RemindUpcoming => "remind-upcoming",
            Self::PromptReviews => "prompt-reviews",
            Self::WarnDormant => "warn-dormant",
            Self::MarkDormant => "mark-dormant",
            Self::PurgeOldPerformances => "purge-old-performances",
            Self::SweepOrphanFiles => "sweep-orphan-files",
            Self::ReconcilePayments => "reconcile-payments",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|job| job.name() == name)
    }

    /// What the job does, for `--help` and logs.
    pub fn describe(self) -> &'static str {
        match self {
            Self::ExpireHolds => "expire unpaid holds past their time and free their seats",
            Self::RemindUpcoming => "remind buyers the day before their show (once)",
            Self::PromptReviews => "ask buyers for a review after their show (once)",
            Self::WarnDormant => "warn accounts 30 days before they would go dormant",
            Self::MarkDormant => "make accounts unused for a year dormant, moving their personal data aside",
            Self::PurgeOldPerformances => "purge seat inventories and posters of performances long over",
            Self::SweepOrphanFiles => "delete stored posters no performance refers to, once a day old",
            Self::ReconcilePayments => "settle payments left PAYING over a minute by asking the payment provider",
        }
    }

    /// When it runs unless configured otherwise (`sec min hour day month weekday`, UTC).
    pub fn default_schedule(self) -> &'static str {
        match self {
            // The sweeper frees holds every few seconds; this is the recorded safety net.
            Self::ExpireHolds => "0 * * * * *",
            Self::RemindUpcoming => "0 0 * * * *",
            Self::PromptReviews => "0 30 * * * *",
            Self::WarnDormant => "0 0 18 * * *",
            Self::MarkDormant => "0 30 18 * * *",
            Self::PurgeOldPerformances => "0 0 19 * * *",
            Self::SweepOrphanFiles => "0 30 19 * * *",
            Self::ReconcilePayments => "30 * * * * *",
        }
    }
}

/// Reports how far a run has come (a progress bar on the command line, nothing in the
/// scheduler).
pub trait Progress: Send + Sync {
    fn add_total(&self, n: u64);
    fn advance(&self, n: u64);
}

pub struct NoProgress;

impl Progress for NoProgress {
    fn add_total(&self, _: u64) {}
    fn advance(&self, _: u64) {}
}

/// A progress bar on standard error for the long commands (`curtain job run`,
/// `curtain reindex`); indicatif hides it when standard error is not a terminal.
pub struct Bar(indicatif::ProgressBar);

impl Bar {
    pub fn new(label: &str) -> Self {
        let bar = indicatif::ProgressBar::new(0);
        if let Ok(style) = indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({elapsed})") {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(label.to_string());
        Self(bar)
    }

    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
}

impl Progress for Bar {
    fn add_total(&self, n: u64) {
        self.0.inc_length(n);
    }
    fn advance(&self, n: u64) {
        self.0.inc(n);
    }
}

/// What jobs run with: the server's state, or the command line's own connection.
#[derive(Clone)]
pub struct JobEnv {
    pub db: DatabaseConnection,
    pub settings: Arc<Settings>,
    pub channels: Channels,
    pub locks: Arc<lock::LocalLocks>,
    /// The token deny-list (with Redis, the instances'): ending a dormant account's sessions.
    pub deny_list: crate::infra::kv::SharedStore,
    /// Tells sockets on every instance when an account went dormant.
    pub bus: crate::infra::bus::SharedBus,
    /// Where stored files (posters) live.
    pub storage: crate::storage::SharedStorage,
    /// The payment provider: in the server, the one requests use, so that its circuit
    /// breaker counts the job's failures and requests' alike.
    pub payments: crate::infra::payments::SharedProvider,
}

/// Runs the job's work; returns how many things it processed.
async fn execute(job: Job, env: &JobEnv, progress: &dyn Progress) -> anyhow::Result<u64> {
    let items = match job {
        Job::ExpireHolds => crate::domain::holds::expire_holds(&env.db)
            .await
            .map_err(crate::error::ApiError::into_anyhow)?,
        Job::RemindUpcoming => reminders::remind_upcoming(env, progress).await?,
        Job::PromptReviews => reminders::prompt_reviews(env, progress).await?,
        Job::WarnDormant => dormancy::warn(env, progress).await?,
        Job::MarkDormant => dormancy::mark(env, progress).await?,
        Job::PurgeOldPerformances => purge::purge_old_performances(env, progress).await?,
        Job::SweepOrphanFiles => orphans::sweep_orphan_files(env, progress).await?,
        Job::ReconcilePayments => reconcile_payments(env).await?,
    };
    Ok(items)
}

/// Settles reservations left PAYING.
async fn reconcile_payments(env: &JobEnv) -> anyhow::Result<u64> {
    let settings = &env.settings.payments;
    let deps = crate::domain::payments::PaymentDeps {
        db: &env.db,
        provider: env.payments.as_ref(),
        settings,
        channels: env.channels,
    };
    crate::domain::payments::reconcile_payments(deps, chrono::Duration::seconds(settings.reconcile_after_seconds))
        .await
        .map_err(crate::error::ApiError::into_anyhow)
}
