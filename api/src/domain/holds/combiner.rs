//! Group commit for holds: one task per busy session takes the hold requests waiting for it
//! and applies them together ([`super::batch`]), in arrival order, in one transaction.
//!
//! While a batch is being committed, the requests that arrive queue up and form the next
//! one, so the batch size follows the load by itself: one request alone is applied at once;
//! under a rush, one commit (and one pass of the session lock) serves many buyers. A task
//! that has had nothing to do for a while ends, and the next request starts another.
//!
//! The batches run on a thread of their own, with a runtime and a small pool of their own
//! ([`Writer`]): a batch is a dozen round trips in series under the session lock, and on
//! sale day each of them would otherwise wait for a pooled connection behind hundreds of
//! requests, and for a worker thread busy serving them.
//!
//! The combiner is per instance and only an optimisation: across instances the database
//! still serialises the batches (the session row's lock), and nothing here is needed for
//! correctness.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use entity::reservation;
use sea_orm::DatabaseConnection;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{mpsc, oneshot};

use super::pricing::Sale;
use super::{HoldPolicy, ReadyHold};
use crate::error::{ApiError, ApiResult};
use crate::metrics::Metrics;

/// How long a session's task waits for more work before it ends.
const IDLE: Duration = Duration::from_secs(5);

/// Connections of the writer's own pool: one per hot session at a time.
const WRITER_CONNECTIONS: u32 = 4;

/// Where batches run: a thread with a single-threaded runtime and its own pool.
struct Writer {
    runtime: tokio::runtime::Handle,
    db: DatabaseConnection,
    /// Dropped with the combiner, which ends the thread.
    _stop: oneshot::Sender<()>,
}

impl Writer {
    /// Starts the thread and opens its pool on it (so that the pool's sockets are driven by
    /// the writer's own runtime).
    async fn start(url: SecretString, metrics: Arc<Metrics>) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("curtain-holds".into())
            .spawn(move || {
                runtime.block_on(async {
                    let _ = stopped.await;
                })
            })?;
        let db = handle
            .spawn(async move { crate::db::connect(&url, WRITER_CONNECTIONS, Some(metrics)).await })
            .await??;
        Ok(Self {
            runtime: handle,
            db,
            _stop: stop,
        })
    }
}

type Answer = oneshot::Sender<ApiResult<reservation::Model>>;

/// The hold requests of this instance, queued per session.
pub struct HoldCombiner {
    /// The server's pool, for the checks made before queueing.
    db: DatabaseConnection,
    /// `None` on an in-memory SQLite database, which a second pool could not share: batches
    /// then run on the server's runtime and pool.
    writer: Option<Writer>,
    metrics: Arc<Metrics>,
    policy: HoldPolicy,
    max_batch: usize,
    /// The queue of each session that has a task running. A request is sent while this lock
    /// is held, and a task retires only under it after finding its queue empty, so no
    /// request is ever sent to a task that has gone.
    queues: Mutex<HashMap<i64, mpsc::UnboundedSender<(ReadyHold, Answer)>>>,
}

impl std::fmt::Debug for HoldCombiner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HoldCombiner")
            .field("policy", &self.policy)
            .field("max_batch", &self.max_batch)
            .finish_non_exhaustive()
    }
}

impl HoldCombiner {
    /// Starts the writer thread (with its own pool on `url`) beside the server's pool `db`.
    /// `max_batch` bounds how many requests one transaction applies (at least 1).
    pub async fn start(
        url: SecretString,
        db: DatabaseConnection,
        metrics: Arc<Metrics>,
        policy: HoldPolicy,
        max_batch: usize,
    ) -> anyhow::Result<Arc<Self>> {
        let in_memory = url.expose_secret().starts_with("sqlite") && url.expose_secret().contains(":memory:");
        let writer = if in_memory {
            None
        } else {
            Some(Writer::start(url, metrics.clone()).await?)
        };
        Ok(Arc::new(Self {
            db,
            writer,
            metrics,
            policy,
            max_batch: max_batch.max(1),
            queues: Mutex::new(HashMap::new()),
        }))
    }

    /// The pool batches are written through.
    fn writer_db(&self) -> &DatabaseConnection {
        self.writer.as_ref().map_or(&self.db, |writer| &writer.db)
    }

    pub(super) fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    pub(super) fn policy(&self) -> HoldPolicy {
        self.policy
    }

    /// Queues `hold` for its session and waits for its batch to commit. A caller that stops
    /// waiting does not take the request back: it is applied anyway, and a retry with the
    /// same idempotency key finds the reservation it made.
    pub(super) async fn submit(self: &Arc<Self>, hold: ReadyHold) -> ApiResult<reservation::Model> {
        let (answer, answered) = oneshot::channel();
        self.enqueue(hold, answer);
        answered
            .await
            .map_err(|_| ApiError::internal(anyhow::anyhow!("the hold combiner dropped a request")))?
    }

    fn enqueue(self: &Arc<Self>, hold: ReadyHold, answer: Answer) {
        let session_id = hold.session_id();
        let mut queues = self.queues.lock().expect("hold queues poisoned");
        let mut item = (hold, answer);
        if let Some(queue) = queues.get(&session_id) {
            match queue.send(item) {
                Ok(()) => return,
                // The task ended without retiring (it panicked): start another.
                Err(mpsc::error::SendError(back)) => item = back,
            }
        }
        let (queue, waiting) = mpsc::unbounded_channel();
        queue.send(item).expect("the receiver is right here");
        queues.insert(session_id, queue);
        let task = self.clone().run(session_id, waiting);
        match &self.writer {
            Some(writer) => drop(writer.runtime.spawn(task)),
            None => drop(tokio::spawn(task)),
        }
    }

    /// The session's task: takes everything waiting (up to `max_batch`) and applies it,
    /// until the queue has been empty for [`IDLE`].
    async fn run(self: Arc<Self>, session_id: i64, mut waiting: mpsc::UnboundedReceiver<(ReadyHold, Answer)>) {
        loop {
            let first = match tokio::time::timeout(IDLE, waiting.recv()).await {
                Ok(Some(first)) => first,
                Ok(None) => return,
                Err(_) => {
                    let mut queues = self.queues.lock().expect("hold queues poisoned");
                    if waiting.is_empty() {
                        queues.remove(&session_id);
                        return;
                    }
                    continue;
                }
            };
            let mut batch = vec![first];
            while batch.len() < self.max_batch {
                match waiting.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            self.apply(session_id, batch).await;
        }
    }

    async fn apply(&self, session_id: i64, batch: Vec<(ReadyHold, Answer)>) {
        let (holds, answers): (Vec<ReadyHold>, Vec<Answer>) = batch.into_iter().unzip();
        self.metrics.hold_batch_size.observe(holds.len() as f64);
        match self.apply_together(session_id, &holds).await {
            Ok(results) => {
                for (answer, result) in answers.into_iter().zip(results) {
                    let _ = answer.send(result);
                }
            }
            Err(err) => {
                self.metrics.hold_batch_fallbacks.inc();
                tracing::warn!(session_id, requests = holds.len(), error = ?err, "a hold batch failed; applying its requests one by one");
                // Each alone: a batch of one gets exactly the answer its request would have.
                for (hold, answer) in holds.iter().zip(answers) {
                    let alone = self
                        .apply_together(session_id, std::slice::from_ref(hold))
                        .await
                        .and_then(|mut results| results.pop().expect("one answer for one request"));
                    let _ = answer.send(alone);
                }
            }
        }
    }

    async fn apply_together(
        &self,
        session_id: i64,
        holds: &[ReadyHold],
    ) -> ApiResult<Vec<ApiResult<reservation::Model>>> {
        let started = std::time::Instant::now();
        // Read before the transaction: none of it needs the locks.
        let pricing = match super::pricing::read(self.writer_db(), session_id, holds).await? {
            Sale::Open(pricing) => pricing,
            Sale::Closed(refusal) => return Ok(holds.iter().map(|_| Err(refusal())).collect()),
        };
        let txn = crate::db::write(self.writer_db()).await?;
        let results = super::batch::apply(&txn, self.policy, session_id, holds, &pricing, Utc::now()).await?;
        crate::db::commit(txn).await?;
        self.metrics
            .hold_batch_duration
            .observe(started.elapsed().as_secs_f64());
        Ok(results)
    }
}
