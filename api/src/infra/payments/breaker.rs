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
//!
//! Probes are numbered, and once the breaker has opened only the current probe's report
//! counts: a replaced probe that reports late, or a call let through before the breaker
//! opened, can neither close nor reopen it while another probe is in flight.

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
    /// Numbers the probes, so that a late report (success, failure or abandonment) of a
    /// replaced probe is told apart and ignored.
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
    pub fn success(self) {
        self.report(true, Instant::now());
    }

    pub fn failure(self) {
        self.report(false, Instant::now());
    }

    fn report(mut self, succeeded: bool, now: Instant) {
        self.reported = true;
        self.breaker.record(self.probe, succeeded, now);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if let (false, Some(probe)) = (self.reported, self.probe) {
            self.breaker.abandon(probe, Instant::now());
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
        self.allow_at(Instant::now())
    }

    fn allow_at(&self, now: Instant) -> Option<Permit<'_>> {
        let mut state = self.lock();
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
        self.is_open_at(Instant::now())
    }

    fn is_open_at(&self, now: Instant) -> bool {
        match *self.lock() {
            State::Closed { .. } => false,
            State::Open { until } => now < until,
            State::HalfOpen { since, .. } => now.duration_since(since) < self.probe_deadline,
        }
    }

    /// Applies a call's outcome. `probe` is the probe number the call was let through as
    /// (`None`: while closed). Once the breaker has opened, only the current probe decides:
    /// any other report is stale (a probe that overstayed and was replaced, or a call that
    /// went out before the breaker opened) and is ignored, so that it cannot close or reopen
    /// the breaker under the probe in flight.
    fn record(&self, probe: Option<u64>, succeeded: bool, now: Instant) {
        let mut state = self.lock();
        let current = match (*state, probe) {
            (State::HalfOpen { probe: current, .. }, Some(probe)) if probe == current => true,
            (State::Closed { .. }, None) => false,
            _ => {
                tracing::debug!(
                    probe,
                    succeeded,
                    "a stale report to the payment provider circuit ignored"
                );
                return;
            }
        };
        if succeeded {
            if current {
                tracing::info!("payment provider circuit closed");
            }
            *state = State::Closed { failures: 0 };
            return;
        }
        let failures = match *state {
            State::Closed { failures } if !current => failures + 1,
            _ => self.threshold,
        };
        *state = if failures >= self.threshold {
            tracing::warn!(
                seconds = self.open_for.as_secs_f64(),
                "payment provider circuit open: refusing payment calls"
            );
            State::Open {
                until: now + self.open_for,
            }
        } else {
            State::Closed { failures }
        };
    }

    /// The probe's caller went away before it reported: the provider's health is as unknown
    /// as before, so the next caller may probe at once.
    fn abandon(&self, probe: u64, now: Instant) {
        let mut state = self.lock();
        if matches!(*state, State::HalfOpen { probe: current, .. } if current == probe) {
            tracing::info!("the payment provider probe was abandoned; the next call probes");
            *state = State::Open { until: now };
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

    // Time is injected (`allow_at`, `report`): nothing here depends on how fast the machine
    // runs the test.
    const LONG: Duration = Duration::from_secs(60);
    const OPEN_FOR: Duration = Duration::from_secs(10);

    fn at(start: Instant, millis: u64) -> Instant {
        start + Duration::from_millis(millis)
    }

    /// A breaker opened at `start` by `threshold` failures.
    fn opened(start: Instant, threshold: u32, probe_deadline: Duration) -> CircuitBreaker {
        let breaker = CircuitBreaker::new(threshold, OPEN_FOR, probe_deadline);
        for _ in 0..threshold {
            breaker.allow_at(start).expect("closed").report(false, start);
        }
        breaker
    }

    #[test]
    fn opens_after_repeated_failures_and_closes_after_a_good_probe() {
        let t = Instant::now();
        let breaker = CircuitBreaker::new(2, OPEN_FOR, LONG);
        breaker.allow_at(t).expect("closed").report(false, t);
        let permit = breaker.allow_at(t);
        assert!(permit.is_some(), "one failure is not enough");
        permit.expect("closed").report(false, t);
        assert!(breaker.allow_at(at(t, 9_999)).is_none(), "open after the threshold");
        let later = at(t, 10_000);
        let probe = breaker
            .allow_at(later)
            .expect("the first caller after the pause probes");
        assert!(breaker.allow_at(later).is_none(), "only one probe at a time");
        assert!(breaker.is_open_at(later));
        probe.report(true, later);
        assert!(!breaker.is_open_at(later));
        assert!(
            breaker.allow_at(later).is_some() && breaker.allow_at(later).is_some(),
            "closed again"
        );
    }

    #[test]
    fn a_failed_probe_opens_it_again() {
        let t = Instant::now();
        let breaker = opened(t, 1, LONG);
        breaker
            .allow_at(at(t, 10_000))
            .expect("probe")
            .report(false, at(t, 10_000));
        assert!(breaker.allow_at(at(t, 19_999)).is_none());
        assert!(breaker.allow_at(at(t, 20_000)).is_some(), "for another open period");
    }

    #[test]
    fn a_probe_whose_caller_went_away_lets_the_next_caller_probe() {
        let t = Instant::now();
        let breaker = opened(t, 1, LONG);
        let later = at(t, 10_000);
        let probe = breaker.allow_at(later).expect("probe");
        assert!(breaker.allow_at(later).is_none(), "one probe at a time");
        // The client disconnected: its future, and the permit in it, are dropped.
        drop(probe);
        assert!(!breaker.is_open(), "payments are not refused for good");
        let next = breaker.allow().expect("the next caller probes at once");
        next.success();
        assert!(breaker.allow().is_some(), "and its success closes the breaker");
    }

    #[test]
    fn a_dropped_future_holding_the_probe_gives_it_back() {
        let t = Instant::now();
        let breaker = opened(t, 1, LONG);
        let later = at(t, 10_000);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let call = async {
                let _permit = breaker.allow_at(later).expect("probe");
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
        let t = Instant::now();
        let deadline = Duration::from_secs(30);
        let breaker = opened(t, 1, deadline);
        let stuck = breaker.allow_at(at(t, 10_000)).expect("probe");
        assert!(breaker.allow_at(at(t, 39_999)).is_none());
        let second = breaker.allow_at(at(t, 40_000)).expect("a new probe past the deadline");
        // The first probe's caller finally goes away: that must not disturb the second.
        drop(stuck);
        assert!(
            breaker.allow_at(at(t, 40_001)).is_none(),
            "the second probe is still the only one"
        );
        second.report(true, at(t, 40_001));
        assert!(breaker.allow_at(at(t, 40_001)).is_some());
    }

    #[test]
    fn a_replaced_probe_that_reports_late_is_ignored() {
        let t = Instant::now();
        let deadline = Duration::from_secs(30);
        for late_success in [true, false] {
            let breaker = opened(t, 1, deadline);
            let stuck = breaker.allow_at(at(t, 10_000)).expect("probe");
            let second = breaker.allow_at(at(t, 40_000)).expect("a new probe past the deadline");
            // The first probe's answer finally comes, either way: the second probe decides.
            stuck.report(late_success, at(t, 40_001));
            assert!(
                breaker.is_open_at(at(t, 40_001)),
                "still half-open under the second probe (late success: {late_success})"
            );
            assert!(
                breaker.allow_at(at(t, 40_001)).is_none(),
                "the second probe is still the only one (late success: {late_success})"
            );
            second.report(true, at(t, 40_002));
            assert!(breaker.allow_at(at(t, 40_002)).is_some(), "closed by the second probe");
        }
    }

    #[test]
    fn a_call_from_before_the_breaker_opened_does_not_decide_for_the_probe() {
        let t = Instant::now();
        let breaker = CircuitBreaker::new(1, OPEN_FOR, LONG);
        let slow = breaker.allow_at(t).expect("closed");
        breaker.allow_at(t).expect("closed").report(false, t);
        let probe = breaker.allow_at(at(t, 10_000)).expect("probe");
        slow.report(true, at(t, 10_001));
        assert!(breaker.allow_at(at(t, 10_001)).is_none(), "the probe still decides");
        probe.report(false, at(t, 10_002));
        assert!(
            breaker.allow_at(at(t, 10_003)).is_none(),
            "open again after the probe failed"
        );
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
