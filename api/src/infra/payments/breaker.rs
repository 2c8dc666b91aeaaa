//! A circuit breaker for calls to the payment provider: after `threshold` failures in a row
//! it opens and refuses calls at once for `open_for`, so that a provider outage does not
//! pile up requests each waiting for a timeout; then one probe at a time is let through
//! (half-open), and the first success closes it again.
//!
//! Every call that goes out holds a [`Permit`] and reports through it. A probe whose caller
//! goes away before it reports (its future dropped: a client that disconnected) gives the
//! probe back when the permit is dropped, so the next caller probes at once; and a probe
//! that neither reports nor goes away is replaced after `probe_deadline`. Either way the
//! breaker can never stay half-open for good.

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// Probe number `probe` is in flight since `since`; everyone else is refused until it
    /// reports, is abandoned, or overstays `probe_deadline`.
    HalfOpen {
        probe: u64,
        since: Instant,
    },
}

#[derive(Debug)]
pub struct CircuitBreaker {
    state: Mutex<State>,
    threshold: u32,
    open_for: Duration,
    /// How long one probe may stay in flight before another is let through.
    probe_deadline: Duration,
    /// Numbers the probes, so that a late report of a replaced probe is told apart.
    probes: std::sync::atomic::AtomicU64,
}

/// Leave to make one call. Report its outcome with [`Permit::success`] or
/// [`Permit::failure`]; dropping it unreported says the call was abandoned (its outcome
/// tells nothing about the provider).
#[derive(Debug)]
#[must_use = "report the call's outcome through the permit"]
pub struct Permit<'a> {
    breaker: &'a CircuitBreaker,
    /// The probe number when this call is the half-open probe.
    probe: Option<u64>,
    reported: bool,
}

impl Permit<'_> {
    pub fn success(mut self) {
        self.reported = true;
        self.breaker.record_success();
    }

    pub fn failure(mut self) {
        self.reported = true;
        self.breaker.record_failure();
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if let (false, Some(probe)) = (self.reported, self.probe) {
            self.breaker.abandon(probe);
        }
    }
}

impl CircuitBreaker {
    /// `probe_deadline` should be at least the longest a call can take (connect + read
    /// timeouts), so that a slow probe is not doubled.
    pub fn new(threshold: u32, open_for: Duration, probe_deadline: Duration) -> Self {
        Self {
            state: Mutex::new(State::Closed { failures: 0 }),
            threshold: threshold.max(1),
            open_for,
            probe_deadline,
            probes: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Leave for a call to go out now, or `None` while the breaker refuses calls. Past the
    /// open period (or a probe's deadline), the first caller becomes the half-open probe.
    pub fn allow(&self) -> Option<Permit<'_>> {
        let mut state = self.lock();
        let now = Instant::now();
        let probe = match *state {
            State::Closed { .. } => None,
            State::Open { until } if now >= until => Some(self.start_probe(&mut state, now)),
            State::HalfOpen { since, .. } if now.duration_since(since) >= self.probe_deadline => {
                tracing::warn!("the payment provider probe overstayed its deadline; sending another");
                Some(self.start_probe(&mut state, now))
            }
            State::Open { .. } | State::HalfOpen { .. } => return None,
        };
        Some(Permit {
            breaker: self,
            probe,
            reported: false,
        })
    }

    fn start_probe(&self, state: &mut State, now: Instant) -> u64 {
        let probe = self.probes.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        *state = State::HalfOpen { probe, since: now };
        tracing::info!("payment provider circuit half-open: sending a probe");
        probe
    }

    /// Whether calls would be refused now, without claiming the probe.
    pub fn is_open(&self) -> bool {
        let now = Instant::now();
        match *self.lock() {
            State::Closed { .. } => false,
            State::Open { until } => now < until,
            State::HalfOpen { since, .. } => now.duration_since(since) < self.probe_deadline,
        }
    }

    fn record_success(&self) {
        let mut state = self.lock();
        if !matches!(*state, State::Closed { .. }) {
            tracing::info!("payment provider circuit closed");
        }
        *state = State::Closed { failures: 0 };
    }

    fn record_failure(&self) {
        let mut state = self.lock();
        let failures = match *state {
            State::Closed { failures } => failures + 1,
            State::Open { .. } | State::HalfOpen { .. } => self.threshold,
        };
        *state = if failures >= self.threshold {
            tracing::warn!(
                seconds = self.open_for.as_secs_f64(),
                "payment provider circuit open: refusing payment calls"
            );
            State::Open {
                until: Instant::now() + self.open_for,
            }
        } else {
            State::Closed { failures }
        };
    }

    /// The probe's caller went away before it reported: the provider's health is as unknown
    /// as before, so the next caller may probe at once.
    fn abandon(&self, probe: u64) {
        let mut state = self.lock();
        if matches!(*state, State::HalfOpen { probe: current, .. } if current == probe) {
            tracing::info!("the payment provider probe was abandoned; the next call probes");
            *state = State::Open { until: Instant::now() };
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the state half-written: recover it.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(60);

    fn opened(threshold: u32, open_for: Duration, probe_deadline: Duration) -> CircuitBreaker {
        let breaker = CircuitBreaker::new(threshold, open_for, probe_deadline);
        for _ in 0..threshold {
            breaker.allow().expect("closed").failure();
        }
        breaker
    }

    #[test]
    fn opens_after_repeated_failures_and_closes_after_a_good_probe() {
        let breaker = CircuitBreaker::new(2, Duration::from_millis(20), LONG);
        breaker.allow().expect("closed").failure();
        let permit = breaker.allow();
        assert!(permit.is_some(), "one failure is not enough");
        permit.expect("closed").failure();
        assert!(breaker.allow().is_none(), "open after the threshold");
        std::thread::sleep(Duration::from_millis(30));
        let probe = breaker.allow().expect("the first caller after the pause probes");
        assert!(breaker.allow().is_none(), "only one probe at a time");
        assert!(breaker.is_open());
        probe.success();
        assert!(!breaker.is_open());
        assert!(breaker.allow().is_some() && breaker.allow().is_some(), "closed again");
    }

    #[test]
    fn a_failed_probe_opens_it_again() {
        let breaker = opened(1, Duration::from_millis(20), LONG);
        std::thread::sleep(Duration::from_millis(30));
        breaker.allow().expect("probe").failure();
        assert!(breaker.allow().is_none());
    }

    #[test]
    fn a_probe_whose_caller_went_away_lets_the_next_caller_probe() {
        let breaker = opened(1, Duration::from_millis(20), LONG);
        std::thread::sleep(Duration::from_millis(30));
        let probe = breaker.allow().expect("probe");
        assert!(breaker.allow().is_none(), "one probe at a time");
        // The client disconnected: its future, and the permit in it, are dropped.
        drop(probe);
        assert!(!breaker.is_open(), "payments are not refused for good");
        let next = breaker.allow().expect("the next caller probes at once");
        next.success();
        assert!(breaker.allow().is_some(), "and its success closes the breaker");
    }

    #[test]
    fn a_dropped_future_holding_the_probe_gives_it_back() {
        let breaker = opened(1, Duration::from_millis(20), LONG);
        std::thread::sleep(Duration::from_millis(30));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let call = async {
                let _permit = breaker.allow().expect("probe");
                // A provider that never answers.
                std::future::pending::<()>().await;
            };
            let abandoned = tokio::time::timeout(Duration::from_millis(10), call).await;
            assert!(abandoned.is_err(), "the caller gave up");
        });
        breaker.allow().expect("probing again").success();
    }

    #[test]
    fn a_probe_that_overstays_its_deadline_is_replaced() {
        let breaker = opened(1, Duration::from_millis(10), Duration::from_millis(30));
        std::thread::sleep(Duration::from_millis(15));
        let stuck = breaker.allow().expect("probe");
        assert!(breaker.allow().is_none());
        std::thread::sleep(Duration::from_millis(40));
        let second = breaker.allow().expect("a new probe past the deadline");
        // The first probe's caller finally goes away: that must not disturb the second.
        drop(stuck);
        assert!(breaker.allow().is_none(), "the second probe is still the only one");
        second.success();
        assert!(breaker.allow().is_some());
    }

    #[test]
    fn calls_while_closed_need_no_report() {
        let breaker = CircuitBreaker::new(1, LONG, LONG);
        drop(breaker.allow().expect("closed"));
        assert!(
            breaker.allow().is_some(),
            "an abandoned call while closed changes nothing"
        );
    }
}
