//! This instance's live notifications: one task reads notification events off the bus,
//! decodes each once, and hands it to the sockets of its account alone. Without it, every
//! `notificationReceived` would read and skip every event the bus carries.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::broadcast::{self, error::RecvError};

use crate::domain::notify::Pushed;
use crate::infra::bus::SharedBus;
use crate::outbox::{Event, topic};

/// Notifications buffered per account; pushes are best effort (the list has them all).
const BUFFER: usize = 16;

/// Accounts kept before the first sweep of those nobody watches any more.
const FIRST_SWEEP: usize = 1_024;

pub struct NotificationHub {
    accounts: Mutex<Accounts>,
}

struct Accounts {
    watched: HashMap<i64, broadcast::Sender<Arc<Pushed>>>,
    /// When the map reaches this size, accounts without subscribers are dropped (the bound
    /// then doubles past what is left, so sweeping costs O(1) per watch).
    sweep_at: usize,
}

impl Default for NotificationHub {
    fn default() -> Self {
        Self {
            accounts: Mutex::new(Accounts {
                watched: HashMap::new(),
                sweep_at: FIRST_SWEEP,
            }),
        }
    }
}

impl NotificationHub {
    pub fn new() -> Self {
        Self::default()
    }

    /// A receiver of the account's notifications from now on.
    pub fn watch(&self, user_id: i64) -> broadcast::Receiver<Arc<Pushed>> {
        let mut accounts = self.accounts.lock().unwrap_or_else(PoisonError::into_inner);
        if accounts.watched.len() >= accounts.sweep_at {
            accounts.watched.retain(|_, sender| sender.receiver_count() > 0);
            accounts.sweep_at = (accounts.watched.len() * 2).max(FIRST_SWEEP);
        }
        accounts
            .watched
            .entry(user_id)
            .or_insert_with(|| broadcast::channel(BUFFER).0)
            .subscribe()
    }

    /// Hears notifications on the bus until it closes; run once per instance. Listens from
    /// the call on, before the future is first polled.
    pub fn run(self: Arc<Self>, bus: SharedBus) -> impl Future<Output = ()> + Send + 'static {
        let mut events = bus.subscribe();
        async move {
            loop {
                match events.recv().await {
                    Ok(event) => self.deliver(&event),
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(
                            missed,
                            "the notification hub fell behind the bus; those pushes are lost"
                        );
                    }
                    Err(RecvError::Closed) => return,
                }
            }
        }
    }

    fn deliver(&self, event: &Event) {
        if event.topic != topic::NOTIFICATION {
            return;
        }
        let mut accounts = self.accounts.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(sender) = accounts.watched.get(&event.aggregate_id) else {
            return;
        };
        if sender.receiver_count() == 0 {
            accounts.watched.remove(&event.aggregate_id);
            return;
        }
        match serde_json::from_value::<Pushed>(event.payload.clone()) {
            Ok(pushed) => {
                let _ = sender.send(Arc::new(pushed));
            }
            Err(err) => tracing::warn!(error = %err, "a notification event could not be read"),
        }
    }
}
