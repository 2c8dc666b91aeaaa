//! Rate limits on the endpoints attackers hammer (log-in, sign-up, token refresh; holds, in
//! `graphql::booking`, through [`spend_budget`]) and the lock-out after repeated failed
//! log-ins. Counters live in the shared key-value store, so every instance counts together
//! when Redis is configured.

use std::net::IpAddr;
use std::time::Duration;

use crate::config::AuthSettings;
use crate::domain::email::Email;
use crate::error::{ApiError, ApiResult};
use crate::infra::kv::KeyValueStore;

/// An operation that is rate-limited per client address.
#[derive(Debug, Clone, Copy)]
pub enum Limited {
    LogIn,
    SignUp,
    RefreshToken,
}

impl Limited {
    fn name(self) -> &'static str {
        match self {
            Self::LogIn => "login",
            Self::SignUp => "signup",
            Self::RefreshToken => "refresh",
        }
    }
}

const WINDOW: Duration = Duration::from_secs(60);

pub use crate::infra::kv::limit_key;

/// Counts one call of `op` from `ip`; RATE_LIMITED once the per-minute budget is spent.
pub async fn check_rate(kv: &dyn KeyValueStore, settings: &AuthSettings, op: Limited, ip: IpAddr) -> ApiResult<()> {
    spend_budget(
        kv,
        &format!("rate:{}:{}", op.name(), limit_key(ip)),
        settings.rate_limit_per_minute,
        "too many requests from your address; try again shortly",
    )
    .await
}

/// Counts one call against the per-minute budget named `bucket` (e.g. an operation and
/// who makes it: `hold:account:42`); RATE_LIMITED with `message` and the rest of the minute
/// as `retryAfter` once more than `per_minute` calls were made. 0 means no limit.
pub async fn spend_budget(kv: &dyn KeyValueStore, bucket: &str, per_minute: u32, message: &str) -> ApiResult<()> {
    if per_minute == 0 {
        return Ok(());
    }
    let (count, remaining) = kv.increment(bucket, WINDOW).await.map_err(ApiError::unavailable)?;
    if count > u64::from(per_minute) {
        return Err(ApiError::RateLimited {
            message: message.into(),
            retry_after: remaining.max(Duration::from_secs(1)),
        });
    }
    Ok(())
}

fn account_key(email: &Email, ip: IpAddr) -> String {
    format!("lockout:account:{}:{}", email, limit_key(ip))
}

fn address_key(ip: IpAddr) -> String {
    format!("lockout:address:{}", limit_key(ip))
}

fn locked_error(remaining: Duration) -> ApiError {
    let minutes = remaining.as_secs().div_ceil(60).max(1);
    ApiError::RateLimited {
        message: format!("too many failed log-ins; try again in {minutes} minute(s)"),
        retry_after: remaining.max(Duration::from_secs(1)),
    }
}

/// Refuses a log-in while the account is locked for this address, or the address is locked
/// for having failed on many accounts. Says nothing about whether the account exists: an
/// unknown email locks the same way.
pub async fn check_lock(kv: &dyn KeyValueStore, email: &Email, ip: IpAddr) -> ApiResult<()> {
    for key in [
        format!("{}:locked", account_key(email, ip)),
        format!("{}:locked", address_key(ip)),
    ] {
        if let Some(until) = kv.get(&key).await.map_err(ApiError::unavailable)? {
            let until = until.parse::<i64>().unwrap_or(0);
            let remaining = (until - chrono::Utc::now().timestamp()).max(1) as u64;
            return Err(locked_error(Duration::from_secs(remaining)));
        }
    }
    Ok(())
}

/// Counts a failed log-in for the account (from this address) and for the address; locks
/// whichever reached its threshold within the window.
pub async fn record_failure(
    kv: &dyn KeyValueStore,
    settings: &AuthSettings,
    email: &Email,
    ip: IpAddr,
) -> ApiResult<()> {
    let window = Duration::from_secs(settings.lockout_window_seconds);
    let lock = Duration::from_secs(settings.lockout_seconds);
    let thresholds = [
        (account_key(email, ip), u64::from(settings.lockout_threshold)),
        // One address failing on many accounts is credential stuffing; allow more before
        // locking so that a shared address (an office, a mobile carrier) is not locked easily.
        (address_key(ip), u64::from(settings.lockout_threshold) * 4),
    ];
    for (key, threshold) in thresholds {
        let (failures, _) = kv
            .increment(&format!("{key}:failures"), window)
            .await
            .map_err(ApiError::unavailable)?;
        if failures >= threshold {
            let until = chrono::Utc::now().timestamp() + lock.as_secs() as i64;
            kv.set(&format!("{key}:locked"), &until.to_string(), lock)
                .await
                .map_err(ApiError::unavailable)?;
        }
    }
    Ok(())
}

/// A successful log-in clears the account's failures from this address.
pub async fn clear_failures(kv: &dyn KeyValueStore, email: &Email, ip: IpAddr) -> ApiResult<()> {
    kv.delete(&format!("{}:failures", account_key(email, ip)))
        .await
        .map_err(ApiError::unavailable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infra::kv::MemoryStore;

    #[tokio::test]
    async fn five_failures_lock_the_account_for_that_address() -> ApiResult<()> {
        let kv = MemoryStore::new(100);
        let settings = AuthSettings::default();
        let ip: IpAddr = [10, 0, 0, 1].into();
        for _ in 0..4 {
            record_failure(&kv, &settings, &Email::lookup("A@x.kr"), ip).await?;
            check_lock(&kv, &Email::lookup("a@x.kr"), ip).await?;
        }
        record_failure(&kv, &settings, &Email::lookup("a@x.kr"), ip).await?;
        assert!(matches!(
            check_lock(&kv, &Email::lookup("a@x.kr"), ip).await,
            Err(ApiError::RateLimited { .. })
        ));
        assert!(
            check_lock(&kv, &Email::lookup("a@x.kr"), [10, 0, 0, 2].into())
                .await
                .is_ok(),
            "another address is not locked out"
        );
        assert!(
            check_lock(&kv, &Email::lookup("b@x.kr"), ip).await.is_ok(),
            "another account is not locked"
        );
        Ok(())
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or_else(|_| panic!("{text} is an address"))
    }

    #[test]
    fn an_ipv6_address_is_limited_as_its_64() {
        assert_eq!(limit_key(ip("203.0.113.7")), ip("203.0.113.7"));
        assert_eq!(limit_key(ip("::ffff:203.0.113.7")), ip("203.0.113.7"));
        assert_eq!(limit_key(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")), ip("2001:db8:1:2::"));
        assert_eq!(limit_key(ip("2001:db8:1:2::1")), limit_key(ip("2001:db8:1:2:ffff::9")));
        assert_ne!(limit_key(ip("2001:db8:1:2::1")), limit_key(ip("2001:db8:1:3::1")));
        assert_eq!(limit_key(ip("::1")), ip("::"));
    }

    #[tokio::test]
    async fn one_64_shares_one_budget() -> ApiResult<()> {
        let kv = MemoryStore::new(100);
        let settings = AuthSettings {
            rate_limit_per_minute: 2,
            ..AuthSettings::default()
        };
        check_rate(&kv, &settings, Limited::LogIn, ip("2001:db8::1")).await?;
        check_rate(&kv, &settings, Limited::LogIn, ip("2001:db8::2")).await?;
        assert!(matches!(
            check_rate(&kv, &settings, Limited::LogIn, ip("2001:db8::3")).await,
            Err(ApiError::RateLimited { .. })
        ));
        check_rate(&kv, &settings, Limited::LogIn, ip("2001:db8:0:1::1")).await?;
        for _ in 0..20 {
            record_failure(
                &kv,
                &AuthSettings::default(),
                &Email::lookup("a@x.kr"),
                ip("2001:db8::7"),
            )
            .await?;
        }
        assert!(
            matches!(
                check_lock(&kv, &Email::lookup("b@x.kr"), ip("2001:db8::8")).await,
                Err(ApiError::RateLimited { .. })
            ),
            "the lock-out of an address covers its /64"
        );
        Ok(())
    }

    #[tokio::test]
    async fn rates_are_limited_per_address() -> ApiResult<()> {
        let kv = MemoryStore::new(100);
        let settings = AuthSettings {
            rate_limit_per_minute: 3,
            ..AuthSettings::default()
        };
        let ip: IpAddr = [10, 0, 0, 1].into();
        for _ in 0..3 {
            check_rate(&kv, &settings, Limited::LogIn, ip).await?;
        }
        assert!(matches!(
            check_rate(&kv, &settings, Limited::LogIn, ip).await,
            Err(ApiError::RateLimited { .. })
        ));
        check_rate(&kv, &settings, Limited::SignUp, ip).await?;
        Ok(())
    }
}
