//! A circuit breaker for calls to the payment provider: after `threshold` failures in a row
//! it opens and refuses calls at once for `open_for`, so that a provider outage does not
//! pile up requests each waiting for a timeout; then one probe at a time is let through
//! (half-open), and the first success closes it again.

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
    /// One probe is in flight; everyone else is refused until it reports.
    HalfOpen,
}

#[derive(Debug)]
pub struct CircuitBreaker {
    state: Mutex<State>,
    threshold: u32,
    open_for: Duration,
}

impl CircuitBreaker {
    pub fn new(threshold: u32, open_for: Duration) -> Self {
        Self {
            state: Mutex::new(State::Closed { failures: 0 }),
            threshold: threshold.max(1),
            open_for,
        }
    }

    /// Whether a call may go out now. Past the open period, the first caller becomes the
    /// half-open probe.
    pub fn allow(&self) -> bool {
        let mut state = self.lock();
        match *state {
            State::Closed { .. } => true,
            State::Open { until } if Instant::now() >= until => {
                *state = State::HalfOpen;
                tracing::info!("payment provider circuit half-open: sending a probe");
                true
            }
            State::Open { .. } | State::HalfOpen => false,
        }
    }

    /// Whether calls would be refused now, without claiming the probe.
    pub fn is_open(&self) -> bool {
        match *self.lock() {
            State::Closed { .. } => false,
            State::Open { until } => Instant::now() < until,
            State::HalfOpen => true,
        }
    }

    pub fn record_success(&self) {
        let mut state = self.lock();
        if !matches!(*state, State::Closed { .. }) {
            tracing::info!("payment provider circuit closed");
        }
        *state = State::Closed { failures: 0 };
    }

    pub fn record_failure(&self) {
        let mut state = self.lock();
        let failures = match *state {
            State::Closed { failures } => failures + 1,
            State::Open { .. } | State::HalfOpen => self.threshold,
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

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the state half-written: recover it.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_repeated_failures_and_closes_after_a_good_probe() {
        let breaker = CircuitBreaker::new(2, Duration::from_millis(20));
        breaker.record_failure();
        assert!(breaker.allow(), "one failure is not enough");
        breaker.record_failure();
        assert!(!breaker.allow(), "open after the threshold");
        std::thread::sleep(Duration::from_millis(30));
        assert!(breaker.allow(), "the first caller after the pause probes");
        assert!(!breaker.allow(), "only one probe at a time");
        breaker.record_success();
        assert!(breaker.allow() && breaker.allow(), "closed again");
    }

    #[test]
    fn a_failed_probe_opens_it_again() {
        let breaker = CircuitBreaker::new(1, Duration::from_millis(20));
        breaker.record_failure();
        std::thread::sleep(Duration::from_millis(30));
        assert!(breaker.allow());
        breaker.record_failure();
        assert!(!breaker.allow());
    }
}
