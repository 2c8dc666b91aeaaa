//! The work a running instance does besides answering requests: relaying the outbox,
//! feeding live seat maps, keeping the search index fresh, sweeping lapsed holds, sending
//! notifications, running jobs.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::domain::notify::ReservationNotifier;
use crate::domain::notify::delivery::{self, Channel, Email, Slack};
use crate::outbox::relay::{self, Consumers, RelaySettings};
use crate::state::AppState;

/// Handles of the background tasks, aborted together at shutdown.
pub struct Background {
    tasks: Vec<JoinHandle<()>>,
}

impl Background {
    pub fn start(state: &AppState) -> anyhow::Result<Self> {
        let settings = &state.settings;
        let events = &settings.events;
        let consumers: Consumers = Arc::new(vec![Box::new(ReservationNotifier {
            channels: state.channels,
        })]);
        let mut tasks = vec![
            relay::spawn(
                state.db.clone(),
                state.bus.clone(),
                consumers,
                state.relay.clone(),
                RelaySettings {
                    poll_every: Duration::from_millis(events.relay_poll_ms.max(10)),
                    retention: chrono::Duration::hours(events.outbox_retention_hours.max(1)),
                },
            ),
            crate::metrics::spawn_background(state.seat_maps.clone().run(
                state.bus.clone(),
                Duration::from_millis(events.seat_map_check_ms.max(50)),
            )),
            crate::metrics::spawn_background(state.search.clone().run(state.bus.clone())),
            crate::metrics::spawn_background(state.sockets.clone().run(state.bus.clone())),
            crate::metrics::spawn_background(state.waiting_rooms.clone().run(state.bus.clone())),
            crate::metrics::spawn_background(state.notifications.clone().run(state.bus.clone())),
        ];
        tasks.extend(state.replicas.spawn_monitor());
        tasks.extend(spawn_hold_sweeper(state));
        tasks.extend(spawn_admission(state));
        tasks.extend(spawn_delivery_workers(state)?);
        tasks.extend(crate::jobs::scheduler::spawn(state.job_env(), state.relay.clone())?);
        Ok(Self { tasks })
    }

    pub fn stop(self) {
        for task in self.tasks {
            task.abort();
        }
    }
}

/// Frees lapsed holds every few seconds. Several instances may sweep at once: the domain
/// function frees each seat exactly once.
fn spawn_hold_sweeper(state: &AppState) -> Option<JoinHandle<()>> {
    let every = state.settings.booking.sweep_interval_seconds;
    if every == 0 {
        return None;
    }
    let db = state.db.clone();
    let relay = state.relay.clone();
    Some(crate::metrics::spawn_background(async move {
        let mut ticks = tokio::time::interval(Duration::from_secs(every));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match crate::domain::holds::expire_holds(&db).await {
                Ok(0) => {}
                Ok(freed) => {
                    relay.wake();
                    tracing::info!(freed, "lapsed holds released");
                }
                Err(err) => tracing::warn!(error = ?err.into_anyhow(), "sweeping lapsed holds failed; will retry"),
            }
        }
    }))
}

/// Runs the waiting rooms' admission tick (see [`crate::domain::waiting_room::admission`]).
/// Every instance runs it; the room row's lock makes their ticks take turns, so an
/// instance dying costs nothing but its turn.
fn spawn_admission(state: &AppState) -> Option<JoinHandle<()>> {
    let every = state.settings.booking.waiting_room_tick_ms;
    if every == 0 {
        return None;
    }
    let db = state.db.clone();
    let bus = state.bus.clone();
    let seats_per_buyer = state.settings.booking.max_seats_per_buyer;
    Some(crate::metrics::spawn_background(async move {
        let mut ticks = tokio::time::interval(Duration::from_millis(every));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(err) = crate::domain::waiting_room::admission::admit_all(&db, &bus, seats_per_buyer).await {
                tracing::warn!(error = ?err.into_anyhow(), "a waiting-room admission tick failed; will retry");
            }
        }
    }))
}

/// One sender per configured channel; unconfigured ones are said to be off.
fn spawn_delivery_workers(state: &AppState) -> anyhow::Result<Vec<JoinHandle<()>>> {
    let settings = &state.settings.notifications;
    let policy = delivery::Policy {
        max_attempts: settings.max_attempts.max(1),
        retry_base: Duration::from_millis(settings.retry_base_ms.max(1)),
        poll_every: Duration::from_millis(settings.poll_ms.max(10)),
    };
    let mut channels: Vec<Arc<dyn Channel>> = Vec::new();
    match Email::from_settings(settings)? {
        Some(email) => channels.push(Arc::new(email)),
        None => tracing::info!("email notifications are off: set notifications.smtp_host to send them"),
    }
    match Slack::from_settings(settings)? {
        Some(slack) => channels.push(Arc::new(slack)),
        None => tracing::info!("Slack notifications are off: set notifications.slack_webhook_url to send them"),
    }
    Ok(channels
        .into_iter()
        .map(|channel| delivery::spawn(state.db.clone(), channel, policy))
        .collect())
}
