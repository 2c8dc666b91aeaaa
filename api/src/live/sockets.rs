//! This instance's WebSockets: how many each client address and each account holds, and
//! word to an account's sockets when something about the account changed (a log-out, a
//! session revoked for refresh-token reuse, a new role, dormancy) on any instance.
//!
//! The auth flows [`announce`] such changes on the event bus under [`topic::ACCOUNT`]; one
//! task per instance ([`SocketRegistry::run`]) hears them and wakes the sockets of that
//! account, which then check their own token again. The event is only a hint: the deny-list
//! and the account's stored role are the truth, and sockets also re-check both on a timer
//! (`websocket.identity_check_ms`), so a lost message delays an ending socket by at most one
//! period, it never keeps one alive for good.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use entity::Role;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;

use crate::infra::bus::{EventBus, SharedBus};
use crate::outbox::{Event, topic};

/// What changed about an account, as its sockets are told.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountChange {
    /// The account's role now, when it was set; a socket acting with another role ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
}

/// Tells every instance's sockets of `user_id` to check their token again. Best effort: a
/// failure is logged, and the sockets' periodic check catches up.
pub async fn announce(bus: &dyn EventBus, user_id: i64, change: AccountChange) {
    let event = Event {
        // Not an outbox row: consumers of outbox ids ignore this topic.
        id: 0,
        topic: topic::ACCOUNT.into(),
        aggregate_id: user_id,
        version: None,
        payload: serde_json::to_value(&change).unwrap_or_default(),
        created_at: chrono::Utc::now(),
    };
    if let Err(err) = bus.publish(&[event]).await {
        tracing::warn!(user_id, error = ?err, "announcing an account change failed; sockets will notice at their next check");
    }
}

struct Account {
    sockets: usize,
    changes: watch::Sender<AccountChange>,
}

#[derive(Default)]
struct Counts {
    by_ip: HashMap<IpAddr, usize>,
    by_account: HashMap<i64, Account>,
}

pub struct SocketRegistry {
    per_ip: usize,
    per_account: usize,
    counts: Mutex<Counts>,
    /// Operations running over this instance's sockets, for the metrics.
    operations: Arc<AtomicUsize>,
}

/// One running operation, counted until dropped.
pub struct OperationCount(Arc<AtomicUsize>);

impl Drop for OperationCount {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A client address's claim on one socket; given back when dropped.
pub struct IpSlot {
    registry: Arc<SocketRegistry>,
    ip: IpAddr,
}

/// An account's claim on one socket, and the account's changes; given back when dropped.
pub struct AccountSlot {
    registry: Arc<SocketRegistry>,
    user_id: i64,
    /// Marked changed each time the account is announced.
    pub changes: watch::Receiver<AccountChange>,
}

impl SocketRegistry {
    /// `per_ip` and `per_account` sockets at most (0: no limit).
    pub fn new(per_ip: usize, per_account: usize) -> Self {
        Self {
            per_ip: if per_ip == 0 { usize::MAX } else { per_ip },
            per_account: if per_account == 0 { usize::MAX } else { per_account },
            counts: Mutex::new(Counts::default()),
            operations: Arc::default(),
        }
    }

    /// Counts an operation until the returned value is dropped.
    pub fn operation_started(&self) -> OperationCount {
        self.operations.fetch_add(1, Ordering::Relaxed);
        OperationCount(self.operations.clone())
    }

    /// Open sockets and the operations they run, for the metrics.
    pub fn usage(&self) -> (usize, usize) {
        let sockets = self.counts().by_ip.values().sum();
        (sockets, self.operations.load(Ordering::Relaxed))
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        // Counters stay meaningful whatever panicked while holding them.
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One more socket for `ip` (counted with its /64 for IPv6: see
    /// [`limit_key`](crate::infra::kv::limit_key)), or `None` when it holds its limit
    /// already.
    pub fn admit_ip(self: &Arc<Self>, ip: IpAddr) -> Option<IpSlot> {
        let ip = crate::infra::kv::limit_key(ip);
        let mut counts = self.counts();
        let held = counts.by_ip.entry(ip).or_default();
        if *held >= self.per_ip {
            return None;
        }
        *held += 1;
        Some(IpSlot {
            registry: self.clone(),
            ip,
        })
    }

    /// One more socket for the account, or `None` when it holds its limit already.
    pub fn admit_account(self: &Arc<Self>, user_id: i64) -> Option<AccountSlot> {
        let mut counts = self.counts();
        let account = counts.by_account.entry(user_id).or_insert_with(|| Account {
            sockets: 0,
            changes: watch::channel(AccountChange::default()).0,
        });
        if account.sockets >= self.per_account {
            return None;
        }
        account.sockets += 1;
        let mut changes = account.changes.subscribe();
        changes.mark_unchanged();
        Some(AccountSlot {
            registry: self.clone(),
            user_id,
            changes,
        })
    }

    fn changed(&self, user_id: i64, change: AccountChange) {
        if let Some(account) = self.counts().by_account.get(&user_id) {
            account.changes.send_replace(change);
        }
    }

    fn changed_all(&self) {
        for account in self.counts().by_account.values() {
            account.changes.send_modify(|_| {});
        }
    }

    /// Hears account changes on the bus until it closes; run once per instance. Listens
    /// from the call on, before the future is first polled.
    pub fn run(self: Arc<Self>, bus: SharedBus) -> impl Future<Output = ()> + Send + 'static {
        let mut events = bus.subscribe();
        async move { self.follow(&mut events).await }
    }

    async fn follow(&self, events: &mut broadcast::Receiver<Arc<Event>>) {
        loop {
            match events.recv().await {
                Ok(event) if event.topic == topic::ACCOUNT => {
                    let change = serde_json::from_value(event.payload.clone()).unwrap_or_default();
                    self.changed(event.aggregate_id, change);
                }
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => {
                    // Any account may have been among the missed: every socket checks.
                    tracing::warn!(
                        missed,
                        "the socket registry fell behind the bus; every socket re-checks its token"
                    );
                    self.changed_all();
                }
                Err(RecvError::Closed) => return,
            }
        }
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut counts = self.registry.counts();
        if let Some(held) = counts.by_ip.get_mut(&self.ip) {
            *held = held.saturating_sub(1);
            if *held == 0 {
                counts.by_ip.remove(&self.ip);
            }
        }
    }
}

impl Drop for AccountSlot {
    fn drop(&mut self) {
        let mut counts = self.registry.counts();
        if let Some(account) = counts.by_account.get_mut(&self.user_id) {
            account.sockets = account.sockets.saturating_sub(1);
            if account.sockets == 0 {
                counts.by_account.remove(&self.user_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_counted_and_given_back() {
        let registry = Arc::new(SocketRegistry::new(2, 1));
        let ip = IpAddr::from([10, 0, 0, 1]);
        let first = registry.admit_ip(ip).expect("first");
        let _second = registry.admit_ip(ip).expect("second");
        assert!(registry.admit_ip(ip).is_none());
        drop(first);
        assert!(registry.admit_ip(ip).is_some());
        // One /64 is one address.
        let (a, b): (IpAddr, IpAddr) = ("2001:db8::1".parse().expect("v6"), "2001:db8::2".parse().expect("v6"));
        let _a = registry.admit_ip(a).expect("first of the /64");
        let _b = registry.admit_ip(b).expect("second of the /64");
        assert!(registry.admit_ip("2001:db8::3".parse().expect("v6")).is_none());
        assert!(registry.admit_ip("2001:db8:0:1::3".parse().expect("v6")).is_some());

        let account = registry.admit_account(7).expect("first");
        assert!(registry.admit_account(7).is_none());
        assert!(registry.admit_account(8).is_some());
        drop(account);
        assert!(registry.admit_account(7).is_some());
    }

    #[tokio::test]
    async fn an_announced_change_wakes_the_accounts_sockets_only() {
        let registry = Arc::new(SocketRegistry::new(0, 0));
        let bus: SharedBus = Arc::new(crate::infra::bus::LocalBus::new());
        tokio::spawn(registry.clone().run(bus.clone()));
        let mut mine = registry.admit_account(1).expect("slot");
        let other = registry.admit_account(2).expect("slot");
        let change = AccountChange { role: Some(Role::User) };
        announce(bus.as_ref(), 1, change.clone()).await;
        tokio::time::timeout(std::time::Duration::from_secs(5), mine.changes.changed())
            .await
            .expect("woken in time")
            .expect("open");
        assert_eq!(*mine.changes.borrow_and_update(), change);
        assert!(!other.changes.has_changed().expect("open"));
    }
}
