//! Accounts unused for a year go dormant: their owners are warned a month before, then
//! their personal data moves out of `users` into `dormant_accounts`, as Korean privacy law
//! expects of long-unused accounts. The owner gets it back by re-verifying their email.

use chrono::{DateTime, Duration, Utc};
use entity::{Role, dormant_account, user};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use super::{JobEnv, Progress};
use crate::domain::notify::{self, Facts, Kind};
use crate::error::ApiError;
use crate::ids::UserId;

/// Name shown for a dormant account while its data is set aside.
pub const DORMANT_NAME: &str = "휴면 회원";

/// Users last seen before `cutoff` (by log-in, or by sign-up if they never logged in).
fn idle_since(cutoff: DateTime<Utc>) -> Condition {
    Condition::any().add(user::Column::LastLoginAt.lt(cutoff)).add(
        Condition::all()
            .add(user::Column::LastLoginAt.is_null())
            .add(user::Column::CreatedAt.lt(cutoff)),
    )
}

/// A keyset page of active buyer accounts idle since `cutoff`.
async fn idle_page(env: &JobEnv, cutoff: DateTime<Utc>, after: i64) -> anyhow::Result<Vec<user::Model>> {
    Ok(user::Entity::find()
        .filter(user::Column::DormantAt.is_null())
        .filter(user::Column::Role.eq(Role::User))
        .filter(idle_since(cutoff))
        .filter(user::Column::Id.gt(after))
        .order_by_asc(user::Column::Id)
        .limit(env.settings.jobs.batch_size.max(1))
        .all(&env.db)
        .await?)
}

pub async fn warn(env: &JobEnv, progress: &dyn Progress) -> anyhow::Result<u64> {
    let jobs = &env.settings.jobs;
    let cutoff = Utc::now() - Duration::days(jobs.dormant_after_days - jobs.dormant_warning_days);
    let (mut after, mut warned) = (0, 0);
    loop {
        let page = idle_page(env, cutoff, after).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        progress.add_total(page.len() as u64);
        for account in page {
            let seen = account.last_login_at.unwrap_or(account.created_at);
            // Once per stretch of idleness: a log-in and a new idle year warn again.
            let key = format!("dormancy-warning:{}:{}", account.id, seen.timestamp());
            let txn = crate::db::begin_write(&env.db).await?;
            let made = notify::notify(
                &txn,
                env.channels,
                UserId(account.id),
                Kind::DormancyWarning,
                &key,
                &Facts::default(),
                serde_json::json!({}),
            )
            .await
            .map_err(ApiError::into_anyhow)?;
            txn.commit().await?;
            warned += u64::from(made.is_some());
            progress.advance(1);
        }
    }
    Ok(warned)
}

pub async fn mark(env: &JobEnv, progress: &dyn Progress) -> anyhow::Result<u64> {
    let cutoff = Utc::now() - Duration::days(env.settings.jobs.dormant_after_days);
    let (mut after, mut marked) = (0, 0);
    loop {
        let page = idle_page(env, cutoff, after).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        progress.add_total(page.len() as u64);
        for account in page {
            marked += move_aside(env, account).await?;
            progress.advance(1);
        }
    }
    Ok(marked)
}

/// Moves one account's personal data aside and ends its sessions; 1 if it did.
async fn move_aside(env: &JobEnv, account: user::Model) -> anyhow::Result<u64> {
    let now = Utc::now();
    let txn = crate::db::begin_write(&env.db).await?;
    let changed = user::Entity::update_many()
        .col_expr(user::Column::Email, Expr::value(Option::<String>::None))
        .col_expr(user::Column::Phone, Expr::value(Option::<String>::None))
        .col_expr(user::Column::Name, Expr::value(DORMANT_NAME))
        .col_expr(user::Column::DormantAt, Expr::value(now))
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::Id.eq(account.id))
        .filter(user::Column::DormantAt.is_null())
        .exec(&txn)
        .await?
        .rows_affected;
    if changed == 0 {
        txn.rollback().await?;
        return Ok(0);
    }
    dormant_account::Entity::insert(dormant_account::ActiveModel {
        user_id: Set(account.id),
        email: Set(account.email),
        name: Set(account.name),
        phone: Set(account.phone),
        moved_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(dormant_account::Column::UserId)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    let sessions = crate::domain::refresh_tokens::revoke_other_families(&txn, UserId(account.id), None)
        .await
        .map_err(ApiError::into_anyhow)?;
    txn.commit().await?;
    crate::auth::flows::deny_access(env.deny_list.as_ref(), &env.settings.auth, &sessions)
        .await
        .map_err(ApiError::into_anyhow)?;
    crate::live::sockets::announce(env.bus.as_ref(), account.id, Default::default()).await;
    Ok(1)
}
