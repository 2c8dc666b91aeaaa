//! Where a read goes: a healthy replica in turn, unless the viewer's own recent write is not
//! on it yet (read-your-writes by WAL position), or the primary.

use std::sync::PoisonError;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::positions::wal_position;
use super::{PrimaryReason, ReplicaState, Replicas, Route};

impl Replicas {
    /// Where the reads of an operation go: `writes` for a mutation, `viewer` the account
    /// calling (anonymous callers have no writes of their own to see).
    pub async fn route(&self, writes: bool, viewer: Option<i64>) -> Route {
        if self.members.is_empty() {
            return Route::Primary(PrimaryReason::NoReplica);
        }
        if writes {
            return Route::Primary(PrimaryReason::Writes);
        }
        let must_have = match viewer {
            None => None,
            Some(user_id) => match self.writes.get(&write_key(user_id)).await {
                Ok(position) => position.and_then(|p| p.parse::<u64>().ok()),
                // Whether this viewer wrote is unknown: read where the write certainly is.
                Err(err) => {
                    tracing::debug!(error = ?err, "reading a viewer's last write position failed");
                    return Route::Primary(PrimaryReason::OwnWrite);
                }
            },
        };
        let count = self.members.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut behind_own_write = false;
        for offset in 0..count {
            let index = (start + offset) % count;
            let state = *self.members[index].state.lock().unwrap_or_else(PoisonError::into_inner);
            if !state.up || state.lag().is_none_or(|lag| lag > self.max_lag) {
                continue;
            }
            if let Some(position) = must_have
                && state.replayed.is_none_or(|replayed| replayed < position)
            {
                behind_own_write = true;
                continue;
            }
            return Route::Replica(index);
        }
        Route::Primary(if behind_own_write {
            PrimaryReason::OwnWrite
        } else {
            PrimaryReason::NoHealthyReplica
        })
    }

    /// Remembers, after `user_id`'s mutation has committed, the primary's WAL position, so
    /// that the viewer's next reads wait for a replica that has replayed it.
    pub async fn wrote(&self, user_id: i64) {
        if self.members.is_empty() {
            return;
        }
        let position = tokio::time::timeout(Duration::from_millis(500), wal_position(&self.primary)).await;
        let remembered = match position.unwrap_or_else(|_| Err(anyhow::anyhow!("no answer within 500 ms"))) {
            Ok(position) => {
                let ttl = self.max_lag + self.poll_every + Duration::from_secs(1);
                self.writes.set(&write_key(user_id), &position.to_string(), ttl).await
            }
            Err(err) => Err(err),
        };
        if let Err(err) = remembered {
            // Reads may then see the replica's older state for up to the lag bound.
            tracing::warn!(error = ?err, user_id, "remembering a viewer's write position failed");
        }
    }

    /// Whether the replica behind `route` still answers (a request failed there, or for a
    /// reason of its own); one that does not is taken out of use until the monitor sees it
    /// answer again. True for the primary.
    pub async fn answers(&self, route: Route) -> bool {
        let Route::Replica(index) = route else { return true };
        let member = &self.members[index];
        let ping = tokio::time::timeout(Duration::from_secs(1), member.pool.ping()).await;
        let answers = matches!(ping, Ok(Ok(())));
        if !answers {
            *member.state.lock().unwrap_or_else(PoisonError::into_inner) = ReplicaState::UNKNOWN;
        }
        answers
    }
}

fn write_key(user_id: i64) -> String {
    format!("replica:wrote:{user_id}")
}
