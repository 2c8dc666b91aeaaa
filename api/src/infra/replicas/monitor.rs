//! The lag monitor: every poll it samples the primary's WAL position and each replica's
//! replay position, and bounds each replica's lag in time from the primary's recent positions.

use std::collections::VecDeque;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use super::positions::{replay_position, wal_position};
use super::{ReplicaState, Replicas};

impl Replicas {
    /// Checks every replica each poll interval until the task is aborted.
    pub fn spawn_monitor(self: &Arc<Self>) -> Option<tokio::task::JoinHandle<()>> {
        if self.members.is_empty() {
            return None;
        }
        let replicas = self.clone();
        Some(crate::metrics::spawn_background(async move {
            let mut history = History::default();
            let mut ticks = tokio::time::interval(replicas.poll_every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                replicas.check(&mut history).await;
            }
        }))
    }

    async fn check(&self, history: &mut History) {
        // Taken before asking: the primary had at least this position at this instant.
        let sampled = Instant::now();
        let timeout = self.poll_every.max(Duration::from_secs(1));
        let primary = match tokio::time::timeout(timeout, wal_position(&self.primary)).await {
            Ok(Ok(position)) => Some(position),
            Ok(Err(err)) => {
                tracing::debug!(error = ?err, "reading the primary's WAL position failed");
                None
            }
            Err(_) => None,
        };
        if let Some(position) = primary {
            history.record(sampled, position, self.max_lag * 2 + Duration::from_secs(1));
        }
        // Every replica at once: one that does not answer must not delay the others.
        let checks = self
            .members
            .iter()
            .map(|member| tokio::time::timeout(timeout, replay_position(&member.monitor)));
        let answers = futures::future::join_all(checks).await;
        for (index, (member, answer)) in self.members.iter().zip(answers).enumerate() {
            let (state, why) = match answer {
                Ok(Ok(Some(replayed))) => (
                    ReplicaState {
                        up: true,
                        caught_up_to: primary.and_then(|_| history.caught_up_to(replayed)),
                        replayed: Some(replayed),
                    },
                    "",
                ),
                Ok(Ok(None)) => (
                    ReplicaState::UNKNOWN,
                    "it is not in recovery (promoted, or not a replica)",
                ),
                Ok(Err(err)) => {
                    tracing::debug!(replica = index + 1, error = ?err, "checking a replica failed");
                    (ReplicaState::UNKNOWN, "it does not answer")
                }
                Err(_) => (ReplicaState::UNKNOWN, "it does not answer in time"),
            };
            let mut current = member.state.lock().unwrap_or_else(PoisonError::into_inner);
            if current.up != state.up {
                if state.up {
                    tracing::info!(replica = index + 1, "the replica answers: reading from it");
                } else {
                    tracing::warn!(
                        replica = index + 1,
                        why,
                        "reads go to the primary instead of the replica"
                    );
                }
            }
            *current = state;
        }
    }
}

/// The primary's recent WAL positions, oldest first.
#[derive(Debug, Default)]
struct History(VecDeque<(Instant, u64)>);

impl History {
    fn record(&mut self, at: Instant, position: u64, keep: Duration) {
        self.0.push_back((at, position));
        while self.0.front().is_some_and(|(t, _)| at.duration_since(*t) > keep) {
            self.0.pop_front();
        }
    }

    /// The instant up to which a replica that replayed up to `replayed` has everything: the
    /// last sample when it has reached it; otherwise the newest remembered position it has
    /// reached (everything it lacks was written after that). `None` when it is behind every
    /// remembered position.
    fn caught_up_to(&self, replayed: u64) -> Option<Instant> {
        self.0
            .iter()
            .rev()
            .find(|(_, position)| *position <= replayed)
            .map(|(at, _)| *at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replica_has_what_the_primary_had_at_the_newest_position_it_reached() {
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        let mut history = History::default();
        let keep = Duration::from_secs(10);
        history.record(at(0), 100, keep);
        history.record(at(250), 200, keep);
        history.record(at(500), 300, keep);
        assert_eq!(
            history.caught_up_to(300),
            Some(at(500)),
            "caught up with the last sample"
        );
        assert_eq!(history.caught_up_to(350), Some(at(500)), "ahead of the last sample");
        assert_eq!(history.caught_up_to(250), Some(at(250)));
        assert_eq!(history.caught_up_to(100), Some(at(0)));
        assert_eq!(history.caught_up_to(99), None, "behind everything remembered");
    }

    #[test]
    fn old_positions_are_forgotten() {
        let start = Instant::now();
        let mut history = History::default();
        let keep = Duration::from_secs(1);
        history.record(start, 1, keep);
        history.record(start + Duration::from_secs(2), 2, keep);
        assert_eq!(history.0.len(), 1);
        assert_eq!(history.caught_up_to(1), None);
    }
}
