//! Short-lived shared state with expiry: the access-token deny-list, rate-limit and lock-out
//! counters, and single-use OAuth states.
//!
//! In-process (moka) by default; Redis when configured, so that every instance behind a load
//! balancer sees the same deny-list and counters. Nothing here is a source of truth that
//! outlives its TTL.

use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use async_trait::async_trait;
use moka::Expiry;
use moka::future::Cache;
use redis::aio::ConnectionManager;

/// Keys and values are plain strings; every operation honours the key's expiry.
#[async_trait]
pub trait KeyValueStore: Send + Sync {
    async fn set(&self, key: &str, value: &str, ttl: Duration) -> anyhow::Result<()>;
    async fn get(&self, key: &str) -> anyhow::Result<Option<String>>;
    /// Reads and deletes in one step, so that a single-use value is used once.
    async fn take(&self, key: &str) -> anyhow::Result<Option<String>>;
    async fn delete(&self, key: &str) -> anyhow::Result<()>;
    /// Adds one to a counter that expires `window` after its first increment; returns the
    /// new count and how long the window still runs.
    async fn increment(&self, key: &str, window: Duration) -> anyhow::Result<(u64, Duration)>;
    /// Which backend this is, for logs.
    fn backend(&self) -> &'static str;
}

pub type SharedStore = Arc<dyn KeyValueStore>;

/// Revoked sessions the in-process deny-list keeps before it would evict one: far more than
/// log-outs and revocations within an access token's lifetime.
pub const DENY_LIST_CAPACITY: u64 = 1_000_000;

/// Connects to Redis when a URL is given, else keeps state in this process.
pub async fn connect(redis_url: Option<&str>, key_prefix: &str) -> anyhow::Result<SharedStore> {
    match redis_url {
        Some(url) => Ok(Arc::new(RedisStore::connect(url, key_prefix).await?)),
        None => Ok(Arc::new(MemoryStore::new(100_000))),
    }
}

#[derive(Clone)]
struct Entry {
    value: String,
    expires_at: Instant,
}

struct ExpireAtDeadline;

impl Expiry<String, Entry> for ExpireAtDeadline {
    fn expire_after_create(&self, _key: &String, entry: &Entry, now: Instant) -> Option<Duration> {
        Some(entry.expires_at.saturating_duration_since(now))
    }

    fn expire_after_update(
        &self,
        _key: &String,
        entry: &Entry,
        now: Instant,
        _left: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.expires_at.saturating_duration_since(now))
    }
}

/// State kept in this process: right for one instance, wrong for several.
pub struct MemoryStore {
    cache: Cache<String, Entry>,
}

impl MemoryStore {
    pub fn new(capacity: u64) -> Self {
        Self {
            cache: Cache::builder()
                .max_capacity(capacity)
                .expire_after(ExpireAtDeadline)
                .build(),
        }
    }

    fn live(entry: Option<Entry>) -> Option<String> {
        entry.filter(|e| e.expires_at > Instant::now()).map(|e| e.value)
    }
}

#[async_trait]
impl KeyValueStore for MemoryStore {
    async fn set(&self, key: &str, value: &str, ttl: Duration) -> anyhow::Result<()> {
        let entry = Entry {
            value: value.to_string(),
            expires_at: Instant::now() + ttl,
        };
        self.cache.insert(key.to_string(), entry).await;
        Ok(())
    }

    async fn get(&self, key: &str) -> anyhow::Result<Option<String>> {
        Ok(Self::live(self.cache.get(key).await))
    }

    async fn take(&self, key: &str) -> anyhow::Result<Option<String>> {
        Ok(Self::live(self.cache.remove(key).await))
    }

    async fn delete(&self, key: &str) -> anyhow::Result<()> {
        self.cache.invalidate(key).await;
        Ok(())
    }

    async fn increment(&self, key: &str, window: Duration) -> anyhow::Result<(u64, Duration)> {
        let now = Instant::now();
        // `and_upsert_with` runs atomically per key, so concurrent increments never collide.
        let entry = self
            .cache
            .entry(key.to_string())
            .and_upsert_with(|current| {
                let fresh = Entry {
                    value: "1".into(),
                    expires_at: now + window,
                };
                let next = match current.map(|e| e.into_value()) {
                    Some(e) if e.expires_at > now => {
                        let count = e.value.parse::<u64>().unwrap_or(0) + 1;
                        Entry {
                            value: count.to_string(),
                            expires_at: e.expires_at,
                        }
                    }
                    _ => fresh,
                };
                std::future::ready(next)
            })
            .await
            .into_value();
        Ok((
            entry.value.parse().unwrap_or(1),
            entry.expires_at.saturating_duration_since(now),
        ))
    }

    fn backend(&self) -> &'static str {
        "in-process"
    }
}

/// A connection to Redis that fails fast while Redis is away: one reconnection attempt of at
/// most half a second per command (the client's default retries six times with backoff, so a
/// command would wait some six seconds), and an answer within a second. Callers answer
/// UNAVAILABLE or fall back at once, and the next command tries again.
pub(crate) async fn connection_manager(client: redis::Client) -> redis::RedisResult<ConnectionManager> {
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_number_of_retries(1)
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_millis(200))
        .set_connection_timeout(Some(Duration::from_millis(500)))
        .set_response_timeout(Some(Duration::from_secs(1)));
    ConnectionManager::new_with_config(client, config).await
}

/// State in Redis, shared by every instance. Keys are namespaced under a prefix.
pub struct RedisStore {
    connection: ConnectionManager,
    increment: redis::Script,
    prefix: String,
}

impl RedisStore {
    pub async fn connect(url: &str, prefix: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url).context("the Redis URL is malformed")?;
        let connection = connection_manager(client)
            .await
            .context("cannot connect to Redis; check REDIS_URL and that the server is running")?;
        // INCR and the first PEXPIRE must happen together, or a crash between them would
        // leave a counter that never expires.
        let increment = redis::Script::new(
            r"local n = redis.call('INCR', KEYS[1])
              if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
              return {n, redis.call('PTTL', KEYS[1])}",
        );
        Ok(Self {
            connection,
            increment,
            prefix: prefix.to_string(),
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

#[async_trait]
impl KeyValueStore for RedisStore {
    async fn set(&self, key: &str, value: &str, ttl: Duration) -> anyhow::Result<()> {
        let mut conn = self.connection.clone();
        let millis = ttl.as_millis().max(1) as u64;
        redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("PX")
            .arg(millis)
            .query_async::<()>(&mut conn)
            .await?;
        Ok(())
    }

    async fn get(&self, key: &str) -> anyhow::Result<Option<String>> {
        let mut conn = self.connection.clone();
        Ok(redis::cmd("GET").arg(self.key(key)).query_async(&mut conn).await?)
    }

    async fn take(&self, key: &str) -> anyhow::Result<Option<String>> {
        let mut conn = self.connection.clone();
        Ok(redis::cmd("GETDEL").arg(self.key(key)).query_async(&mut conn).await?)
    }

    async fn delete(&self, key: &str) -> anyhow::Result<()> {
        let mut conn = self.connection.clone();
        redis::cmd("DEL")
            .arg(self.key(key))
            .query_async::<()>(&mut conn)
            .await?;
        Ok(())
    }

    async fn increment(&self, key: &str, window: Duration) -> anyhow::Result<(u64, Duration)> {
        let mut conn = self.connection.clone();
        let millis = window.as_millis().max(1) as u64;
        let (count, ttl): (u64, i64) = self
            .increment
            .key(self.key(key))
            .arg(millis)
            .invoke_async(&mut conn)
            .await?;
        Ok((count, Duration::from_millis(ttl.max(0) as u64)))
    }

    fn backend(&self) -> &'static str {
        "redis"
    }
}

/// The key an address is limited under: an IPv4 address as is (an IPv4-mapped IPv6 address
/// as its IPv4), any other IPv6 address as its /64. A single IPv6 subscriber is routinely
/// given a whole /64, so keying on the full address would hand one client 2^64 budgets.
/// Every per-address limit (rate limits, lock-outs, hold budgets, sockets per address)
/// keys on this.
pub fn limit_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The contract every store keeps; run against each implementation.
    async fn behaves_like_a_store(store: &dyn KeyValueStore) -> anyhow::Result<()> {
        let key = format!("test:{}", uuid::Uuid::new_v4());
        assert_eq!(store.get(&key).await?, None);
        store.set(&key, "v", Duration::from_secs(5)).await?;
        assert_eq!(store.get(&key).await?, Some("v".into()));
        assert_eq!(store.take(&key).await?, Some("v".into()));
        assert_eq!(store.take(&key).await?, None, "a taken value is gone");

        store.set(&key, "short", Duration::from_millis(50)).await?;
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert_eq!(store.get(&key).await?, None, "values expire");

        let counter = format!("{key}:count");
        let (first, ttl) = store.increment(&counter, Duration::from_millis(300)).await?;
        assert_eq!(first, 1);
        assert!(ttl <= Duration::from_millis(300) && ttl > Duration::ZERO);
        let (second, _) = store.increment(&counter, Duration::from_millis(300)).await?;
        assert_eq!(second, 2);
        tokio::time::sleep(Duration::from_millis(400)).await;
        let (after_window, _) = store.increment(&counter, Duration::from_millis(300)).await?;
        assert_eq!(after_window, 1, "a new window starts after the old one expires");

        let race = format!("{key}:race");
        let tasks: Vec<_> = (0..50)
            .map(|_| store.increment(&race, Duration::from_secs(5)))
            .collect();
        let counts: Vec<u64> = futures::future::join_all(tasks)
            .await
            .into_iter()
            .map(|r| r.map(|(n, _)| n))
            .collect::<Result<_, _>>()?;
        let mut sorted = counts.clone();
        sorted.sort_unstable();
        assert_eq!(
            sorted,
            (1..=50).collect::<Vec<_>>(),
            "concurrent increments never collide"
        );
        store.delete(&format!("{key}:race")).await?;
        assert_eq!(store.get(&format!("{key}:race")).await?, None);
        Ok(())
    }

    #[tokio::test]
    async fn the_in_process_store_keeps_the_contract() -> anyhow::Result<()> {
        behaves_like_a_store(&MemoryStore::new(1_000)).await
    }

    #[tokio::test]
    async fn the_redis_store_keeps_the_contract() -> anyhow::Result<()> {
        let Ok(url) = std::env::var("CURTAIN_TEST_REDIS_URL") else {
            let message = "CURTAIN_TEST_REDIS_URL is not set: the Redis store test did NOT run";
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{message} (CI=true requires it)"
            );
            eprintln!("\n!!! {message} !!!\n");
            return Ok(());
        };
        let prefix = format!("curtain-test-{}:", uuid::Uuid::new_v4().simple());
        behaves_like_a_store(&RedisStore::connect(&url, &prefix).await?).await
    }
}
