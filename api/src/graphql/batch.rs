//! The request's batcher: every key a level of the query asks for, of one key type, goes to
//! the database in one statement, however long the list the level walks.
//!
//! A field asks for its key ([`Batcher::load_one`]); the first ask of a key type queues a
//! batch task; [`drive`] starts the queued tasks only once the execution can go no further
//! without data, that is, when it is waiting and did not merely yield. No timer is involved:
//! a timer shorter than the time it takes to walk a page of results splits batches (on a busy
//! machine, or when a long list's executor yields to the runtime half-way through the list),
//! and a longer one adds its length to every level of every query.
//!
//! "Merely yielded" is a wake of the execution by itself while it is being polled: that is how
//! the executor's `join_all` over a long list hands control back half-way through it. A wake
//! the runtime defers to after the poll (`tokio::task::yield_now`, tokio's cooperative budget)
//! is not told apart; the executor does not use them, and one would only split a batch in two
//! (one statement more), never lose a key.
//!
//! Loads must be made from within the future `drive` polls (the execution): the batch tasks
//! are started from there, so a load from a task of its own would wait for ever.
//!
//! Loaders are [`async_graphql::dataloader::Loader`] implementations; nothing is cached
//! beyond the request.

use std::any::{Any, TypeId};
use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use async_graphql::dataloader::Loader;
use futures::channel::oneshot;
use futures::future::{BoxFuture, Shared};
use futures::stream::FuturesUnordered;
use futures::task::AtomicWaker;
use futures::{FutureExt, Stream, StreamExt};
use tokio::sync::mpsc;

/// Batch tasks queued by a request's loads, waiting for [`drive`] to start them.
pub struct BatchTasks(mpsc::UnboundedReceiver<BoxFuture<'static, ()>>);

/// Batches the loads of one request for the loader `L`.
pub struct Batcher<L>(Arc<Inner<L>>);

struct Inner<L> {
    loader: L,
    /// The batch being gathered for each key type: a `Gathering<K, L>`.
    gathering: Mutex<HashMap<TypeId, Box<dyn Any + Send>>>,
    queue: mpsc::UnboundedSender<BoxFuture<'static, ()>>,
}

type Outcome<K, V, E> = Result<Arc<HashMap<K, V>>, E>;

struct Gathering<K, V, E> {
    keys: HashSet<K>,
    answer: oneshot::Sender<Outcome<K, V, E>>,
    answered: Shared<oneshot::Receiver<Outcome<K, V, E>>>,
}

/// What a load returns when its batch was dropped unanswered (the request ended first).
pub trait Abandoned {
    fn abandoned() -> Self;
}

impl<L: Send + Sync + 'static> Batcher<L> {
    /// A batcher for one request, and the tasks [`drive`] must run beside its execution.
    pub fn new(loader: L) -> (Self, BatchTasks) {
        let (queue, tasks) = mpsc::unbounded_channel();
        let inner = Inner {
            loader,
            gathering: Mutex::new(HashMap::new()),
            queue,
        };
        (Self(Arc::new(inner)), BatchTasks(tasks))
    }

    pub fn loader(&self) -> &L {
        &self.0.loader
    }

    /// The value for `key`, loaded with every other key of its type asked for meanwhile.
    pub async fn load_one<K>(&self, key: K) -> Result<Option<L::Value>, L::Error>
    where
        K: Send + Sync + Hash + Eq + Clone + 'static,
        L: Loader<K>,
        L::Error: Abandoned + Sync,
    {
        let values = self.answer(std::slice::from_ref(&key)).await?;
        Ok(values.get(&key).cloned())
    }

    /// The values found for `keys` (a key with no value is left out).
    pub async fn load_many<K>(&self, keys: impl IntoIterator<Item = K>) -> Result<HashMap<K, L::Value>, L::Error>
    where
        K: Send + Sync + Hash + Eq + Clone + 'static,
        L: Loader<K>,
        L::Error: Abandoned + Sync,
    {
        let keys: Vec<K> = keys.into_iter().collect();
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let values = self.answer(&keys).await?;
        Ok(keys
            .into_iter()
            .filter_map(|key| values.get(&key).cloned().map(|value| (key, value)))
            .collect())
    }

    async fn answer<K>(&self, keys: &[K]) -> Outcome<K, L::Value, L::Error>
    where
        K: Send + Sync + Hash + Eq + Clone + 'static,
        L: Loader<K>,
        L::Error: Abandoned + Sync,
    {
        let answered = {
            let mut gathering = self.0.gathering.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let batch = gathering.entry(TypeId::of::<K>()).or_insert_with(|| {
                let (answer, answered) = oneshot::channel();
                let inner = self.0.clone();
                // The receiver lives as long as the request; a send can only fail once it is over.
                let _ = self.0.queue.send(Box::pin(inner.run::<K>()));
                Box::new(Gathering::<K, L::Value, L::Error> {
                    keys: HashSet::new(),
                    answer,
                    answered: answered.shared(),
                })
            });
            let batch = batch
                .downcast_mut::<Gathering<K, L::Value, L::Error>>()
                .expect("a key type has one loader");
            batch.keys.extend(keys.iter().cloned());
            batch.answered.clone()
        };
        answered.await.unwrap_or_else(|_| Err(L::Error::abandoned()))
    }
}

impl<L: Send + Sync + 'static> Inner<L> {
    /// Takes the batch gathered for `K` (later asks start a new one) and answers it.
    async fn run<K>(self: Arc<Self>)
    where
        K: Send + Sync + Hash + Eq + Clone + 'static,
        L: Loader<K>,
    {
        let batch = self
            .gathering
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(&TypeId::of::<K>());
        let Some(batch) = batch else { return };
        let batch = batch
            .downcast::<Gathering<K, L::Value, L::Error>>()
            .expect("a key type has one loader");
        let keys: Vec<K> = batch.keys.into_iter().collect();
        let outcome = self.loader.load(&keys).await.map(Arc::new);
        let _ = batch.answer.send(outcome);
    }
}

/// Tells whether the future it wakes woke itself while being polled (it yielded), passing
/// every wake on to the task.
#[derive(Default)]
struct YieldWatch {
    woken: AtomicBool,
    task: AtomicWaker,
}

impl Wake for YieldWatch {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake();
    }
}

/// Polls a GraphQL execution and the batch tasks its loads queue, on the request's own task.
struct Driver {
    tasks: BatchTasks,
    running: FuturesUnordered<BoxFuture<'static, ()>>,
    watch: Arc<YieldWatch>,
    waker: Waker,
}

impl Driver {
    fn new(tasks: BatchTasks) -> Self {
        let watch = Arc::new(YieldWatch::default());
        Self {
            tasks,
            running: FuturesUnordered::new(),
            waker: Waker::from(watch.clone()),
            watch,
        }
    }

    /// Polls the work once; when it is waiting (not merely yielding), starts the batches it
    /// asked for; then moves the running batches on.
    fn poll<T>(&mut self, cx: &mut Context<'_>, work: impl FnOnce(&mut Context<'_>) -> Poll<T>) -> Poll<T> {
        self.watch.task.register(cx.waker());
        self.watch.woken.store(false, Ordering::Release);
        if let Poll::Ready(output) = work(&mut Context::from_waker(&self.waker)) {
            return Poll::Ready(output);
        }
        if !self.watch.woken.load(Ordering::Acquire) {
            while let Ok(task) = self.tasks.0.try_recv() {
                self.running.push(task);
            }
        }
        while let Poll::Ready(Some(())) = self.running.poll_next_unpin(cx) {}
        Poll::Pending
    }
}

/// Runs `work` (a GraphQL execution) together with the batch tasks its loads queue.
pub async fn drive<T>(work: impl Future<Output = T>, tasks: BatchTasks) -> T {
    let mut work = std::pin::pin!(work);
    let mut driver = Driver::new(tasks);
    std::future::poll_fn(|cx| driver.poll(cx, |cx| work.as_mut().poll(cx))).await
}

/// The same for a stream of responses (a subscription or an operation over WebSocket).
pub fn drive_stream<S>(work: S, tasks: BatchTasks) -> impl Stream<Item = S::Item>
where
    S: Stream + Unpin,
{
    DrivenStream {
        work,
        driver: Driver::new(tasks),
    }
}

struct DrivenStream<S> {
    work: S,
    driver: Driver,
}

impl<S: Stream + Unpin> Stream for DrivenStream<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let this = self.get_mut();
        let work = &mut this.work;
        this.driver.poll(cx, |cx| work.poll_next_unpin(cx))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    #[derive(Clone, Debug, PartialEq)]
    struct Failed;

    impl Abandoned for Failed {
        fn abandoned() -> Self {
            Failed
        }
    }

    /// Doubles its keys, counting the batches it is asked for.
    #[derive(Default)]
    struct Doubler {
        batches: AtomicUsize,
        largest: AtomicUsize,
    }

    impl Loader<u32> for Doubler {
        type Value = u64;
        type Error = Failed;

        async fn load(&self, keys: &[u32]) -> Result<HashMap<u32, u64>, Failed> {
            self.batches.fetch_add(1, Ordering::SeqCst);
            self.largest.fetch_max(keys.len(), Ordering::SeqCst);
            Ok(keys.iter().map(|&k| (k, u64::from(k) * 2)).collect())
        }
    }

    /// Wakes itself and is pending, once: how a future hands control back to its task.
    async fn yield_once() {
        let mut yielded = false;
        std::future::poll_fn(|cx| {
            if yielded {
                return Poll::Ready(());
            }
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        })
        .await
    }

    /// A list walked by `join_all` over many items yields part of the way through (futures'
    /// fairness budget); the batch must still hold every key of the level.
    #[tokio::test]
    async fn a_level_of_any_length_is_one_batch_even_when_its_walk_yields() {
        for items in [5u32, 50, 100, 1_000] {
            let (batcher, tasks) = Batcher::new(Doubler::default());
            let work = futures::future::join_all((0..items).map(|i| {
                let batcher = &batcher;
                async move {
                    // Some fields yield before they ask for their key.
                    if i % 7 == 0 {
                        yield_once().await;
                    }
                    batcher.load_one(i).await
                }
            }));
            let values = drive(work, tasks).await;
            assert_eq!(values.len(), items as usize);
            assert!(values.iter().enumerate().all(|(i, v)| *v == Ok(Some(i as u64 * 2))));
            assert_eq!(batcher.loader().batches.load(Ordering::SeqCst), 1, "{items} items");
            assert_eq!(batcher.loader().largest.load(Ordering::SeqCst), items as usize);
        }
    }

    #[tokio::test]
    async fn each_level_is_a_batch_of_its_own() {
        let (batcher, tasks) = Batcher::new(Doubler::default());
        let work = futures::future::join_all((0..30u32).map(|i| {
            let batcher = &batcher;
            async move {
                let first = batcher.load_one(i).await.expect("loaded").expect("a value");
                batcher
                    .load_one(first as u32 + 1_000)
                    .await
                    .expect("loaded")
                    .expect("a value")
            }
        }));
        let values = drive(work, tasks).await;
        assert_eq!(values[3], (3 * 2 + 1_000) * 2);
        assert_eq!(batcher.loader().batches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn keys_without_values_are_left_out() {
        let (batcher, tasks) = Batcher::new(Doubler::default());
        let values = drive(batcher.load_many([1u32, 2, 2]), tasks).await.expect("loaded");
        assert_eq!(values, HashMap::from([(1, 2), (2, 4)]));
        let empty = batcher.load_many(std::iter::empty::<u32>()).await.expect("loaded");
        assert!(empty.is_empty());
    }
}
