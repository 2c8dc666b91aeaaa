//! Bounding the provider calls that Toss's public webhook can trigger. Anyone can post to
//! the webhook, and each post that names one of our orders makes us ask Toss about it, so:
//!
//! - at most `payments.webhook_concurrency` orders are settled at once per instance; a post
//!   beyond that is answered at once with "retry later" (Toss retries webhooks that get a
//!   non-2xx answer, so no news is lost);
//! - posts about an order already being settled are coalesced: they trigger one more read
//!   of the order after the current one (the news they bring may postdate it), however many
//!   arrive, and all wait for that read's outcome;
//! - the settling runs in its own task, so a caller that disconnects never cancels a
//!   provider call half-way (which would also leave the circuit breaker's probe unreported).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::{Semaphore, watch};

use crate::error::{ApiError, ApiResult};

/// How settling an order for a webhook went, as the webhook answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// Applied (or about no order of ours); `changed` says whether anything changed.
    Applied { changed: bool },
    /// Too many orders are being settled on this instance: try again later.
    Busy,
    /// The provider cannot be asked now: try again later.
    Unavailable,
    /// Something else failed (logged).
    Failed,
}

impl From<ApiResult<bool>> for WebhookOutcome {
    fn from(result: ApiResult<bool>) -> Self {
        match result {
            Ok(changed) => Self::Applied { changed },
            Err(ApiError::PaymentUnavailable | ApiError::PaymentPending) => Self::Unavailable,
            Err(err) => {
                tracing::error!(error = ?err, "settling an order for a webhook failed");
                Self::Failed
            }
        }
    }
}

/// The settlements of one order: how many reads were asked for, and the outcome of the
/// latest read done (numbered as the requests it answers).
struct Flight {
    id: u64,
    wanted: u64,
    done: Arc<watch::Sender<(u64, Option<WebhookOutcome>)>>,
}

/// One per instance.
pub struct WebhookGate {
    slots: Arc<Semaphore>,
    flights: Mutex<HashMap<String, Flight>>,
    next_flight: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for WebhookGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookGate")
            .field("free_slots", &self.slots.available_permits())
            .finish_non_exhaustive()
    }
}

impl WebhookGate {
    /// Lets `concurrency` orders (at least one) be settled at once.
    pub fn new(concurrency: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(concurrency.max(1))),
            flights: Mutex::new(HashMap::new()),
            next_flight: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Settles `order_id` with `settle` (which asks the provider), under the bounds above.
    pub async fn settle<F, Fut>(self: &Arc<Self>, order_id: &str, settle: F) -> WebhookOutcome
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: Future<Output = ApiResult<bool>> + Send + 'static,
    {
        let (wanted, mut done) = {
            let mut flights = self.lock();
            match flights.get_mut(order_id) {
                Some(flight) => {
                    flight.wanted += 1;
                    (flight.wanted, flight.done.subscribe())
                }
                None => {
                    let Ok(slot) = self.slots.clone().try_acquire_owned() else {
                        return WebhookOutcome::Busy;
                    };
                    let id = self.next_flight.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let (sender, receiver) = watch::channel((0, None));
                    let sender = Arc::new(sender);
                    flights.insert(
                        order_id.to_string(),
                        Flight {
                            id,
                            wanted: 1,
                            done: sender.clone(),
                        },
                    );
                    let landing = Landing {
                        gate: self.clone(),
                        order_id: order_id.to_string(),
                        id,
                    };
                    tokio::spawn(async move {
                        let _slot = slot;
                        landing.fly(&sender, settle).await;
                    });
                    (1, receiver)
                }
            }
        };
        loop {
            if let (seen, Some(outcome)) = *done.borrow_and_update()
                && seen >= wanted
            {
                return outcome;
            }
            if done.changed().await.is_err() {
                // The settling task ended without answering this request (it panicked).
                return match *done.borrow() {
                    (seen, Some(outcome)) if seen >= wanted => outcome,
                    _ => WebhookOutcome::Failed,
                };
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Flight>> {
        self.flights.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The settling task's hold on its order's flight; removes the flight however the task
/// ends, so that a panic cannot leave the order blocked.
struct Landing {
    gate: Arc<WebhookGate>,
    order_id: String,
    id: u64,
}

impl Landing {
    async fn fly<F, Fut>(self, done: &watch::Sender<(u64, Option<WebhookOutcome>)>, settle: F)
    where
        F: Fn() -> Fut,
        Fut: Future<Output = ApiResult<bool>>,
    {
        loop {
            let Some(asked) = self.wanted() else { return };
            let outcome = WebhookOutcome::from(settle().await);
            done.send_replace((asked, Some(outcome)));
            let mut flights = self.gate.lock();
            match flights.get(&self.order_id) {
                // More posts arrived while reading: read once more for all of them.
                Some(flight) if flight.id == self.id && flight.wanted > asked => {}
                Some(flight) if flight.id == self.id => {
                    flights.remove(&self.order_id);
                    return;
                }
                _ => return,
            }
        }
    }

    fn wanted(&self) -> Option<u64> {
        let flights = self.gate.lock();
        flights
            .get(&self.order_id)
            .filter(|f| f.id == self.id)
            .map(|f| f.wanted)
    }
}

impl Drop for Landing {
    fn drop(&mut self) {
        let mut flights = self.gate.lock();
        if flights.get(&self.order_id).is_some_and(|f| f.id == self.id) {
            flights.remove(&self.order_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn posts_about_one_order_are_coalesced_into_one_more_read() {
        let gate = Arc::new(WebhookGate::new(4));
        let reads = Arc::new(AtomicUsize::new(0));
        let settle = {
            let reads = reads.clone();
            move || {
                let reads = reads.clone();
                async move {
                    reads.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Ok(true)
                }
            }
        };
        let post = || {
            let (gate, settle) = (gate.clone(), settle.clone());
            async move { gate.settle("order-1", settle).await }
        };
        let first = tokio::spawn(post());
        // The rest arrive while the first read is under way: its answer may predate their news.
        tokio::time::sleep(Duration::from_millis(10)).await;
        let mut outcomes = futures::future::join_all((0..49).map(|_| post())).await;
        outcomes.push(first.await.expect("the first post"));
        assert!(outcomes.iter().all(|o| *o == WebhookOutcome::Applied { changed: true }));
        assert_eq!(
            reads.load(Ordering::SeqCst),
            2,
            "the first read, and one more for all the rest"
        );
        assert!(gate.lock().is_empty(), "nothing left in flight");
    }

    #[tokio::test]
    async fn orders_beyond_the_concurrency_are_told_to_retry_later() {
        let gate = Arc::new(WebhookGate::new(2));
        let slow = || async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            Ok(false)
        };
        let posts = (0..5).map(|i| {
            let gate = gate.clone();
            async move { gate.settle(&format!("order-{i}"), slow).await }
        });
        let outcomes = futures::future::join_all(posts).await;
        let busy = outcomes.iter().filter(|o| **o == WebhookOutcome::Busy).count();
        assert_eq!(busy, 3, "{outcomes:?}");
        // The slots come back.
        assert_eq!(
            gate.settle("order-9", slow).await,
            WebhookOutcome::Applied { changed: false }
        );
    }

    #[tokio::test]
    async fn a_caller_that_goes_away_does_not_cancel_the_settling() {
        let gate = Arc::new(WebhookGate::new(1));
        let finished = Arc::new(AtomicUsize::new(0));
        let settle = {
            let finished = finished.clone();
            move || {
                let finished = finished.clone();
                async move {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    finished.fetch_add(1, Ordering::SeqCst);
                    Ok(true)
                }
            }
        };
        let gone = tokio::time::timeout(Duration::from_millis(5), gate.settle("order-1", settle)).await;
        assert!(gone.is_err());
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(finished.load(Ordering::SeqCst), 1, "the read ran to its end");
        assert!(gate.lock().is_empty());
    }
}
