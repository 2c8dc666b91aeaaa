//! The box office's view of scheduled job runs.

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};
use entity::job_run;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::domain::paging::Page;
use crate::error::ApiError;
use crate::graphql::guard::{Role, RoleGuard};
use crate::graphql::relay::{ById, Cursor, ListedById, connection, page_request};
use crate::graphql::{GqlResult, app};
use crate::ids::{NodeKind, encode};

pub struct JobRun(job_run::Model);

/// One run of a scheduled job.
#[Object]
impl JobRun {
    async fn id(&self) -> ID {
        encode(NodeKind::JobRun, self.0.id)
    }
    async fn job(&self) -> &str {
        &self.0.job
    }
    /// SCHEDULE or MANUAL (`curtain job run`).
    async fn trigger(&self) -> &str {
        &self.0.trigger
    }
    /// RUNNING, SUCCEEDED or FAILED.
    async fn status(&self) -> &str {
        &self.0.status
    }
    /// How many things the run processed (notifications sent, seats freed, …).
    async fn items_processed(&self) -> i64 {
        self.0.items
    }
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }
    async fn started_at(&self) -> DateTime<Utc> {
        self.0.started_at
    }
    async fn finished_at(&self) -> Option<DateTime<Utc>> {
        self.0.finished_at
    }
}

/// The `jobRuns` list's cursors: by id alone.
type NewestFirst = ById<job_run::Model>;
impl ListedById for job_run::Model {
    const LIST: &'static str = "jobRuns";
    fn id(&self) -> i64 {
        self.id
    }
}

#[derive(Default)]
pub struct JobQuery;

#[Object]
impl JobQuery {
    /// Runs of the scheduled jobs, newest first; `job` narrows to one (e.g. `remind-upcoming`).
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn job_runs(
        &self,
        ctx: &Context<'_>,
        job: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Connection<Cursor, JobRun>> {
        let app = app(ctx)?;
        let page = page_request::<NewestFirst>(&app.settings.graphql, first, after)?;
        let mut query = job_run::Entity::find();
        if let Some(job) = job {
            if crate::jobs::Job::from_name(&job).is_none() {
                return Err(ApiError::bad_input("job", format!("there is no job named {job:?}")).into());
            }
            query = query.filter(job_run::Column::Job.eq(job));
        }
        if let Some(((), id)) = page.after {
            query = query.filter(job_run::Column::Id.lt(id));
        }
        let rows = query
            .order_by_desc(job_run::Column::Id)
            .limit(page.first + 1)
            .all(&app.db)
            .await
            .map_err(ApiError::from)?;
        Ok(connection::<NewestFirst, _>(
            Page::from_overfetch(rows, page.first),
            JobRun,
        ))
    }
}
