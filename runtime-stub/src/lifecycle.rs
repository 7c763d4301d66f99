//! The life of one worker process of a service, as data: starting → ready → (crash) backing off
//! → starting … → failed after too many crashes in a row; stopping when the stub asks it to go.
//! No processes and no clocks of its own: the supervisor feeds it events and instants and does
//! what the answers say, so every rule here is unit-tested without spawning anything.

use std::time::{Duration, Instant};

/// When and how often a crashed worker comes back (Watt's `restartOnError`, with backoff).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RestartPolicy {
    /// First delay after a crash; `None` never restarts (`restartOnError: false` or `0`).
    pub first_delay: Option<Duration>,
    /// The delay doubles on every crash in a row, up to this.
    pub max_delay: Duration,
    /// Ready this long, a worker's crash count starts again from zero.
    pub healthy_after: Duration,
    /// Crashes in a row (without a healthy stretch between them) after which it is failed.
    pub max_crashes: u32,
}

impl RestartPolicy {
    pub fn from_ms(restart_on_error_ms: u64) -> RestartPolicy {
        RestartPolicy {
            first_delay: (restart_on_error_ms > 0)
                .then(|| Duration::from_millis(restart_on_error_ms)),
            max_delay: Duration::from_secs(10),
            healthy_after: Duration::from_secs(30),
            // Watt's MAX_BOOTSTRAP_ATTEMPTS.
            max_crashes: 5,
        }
    }

    /// The delay before restart number `crashes` (1-based) of a crash loop.
    fn delay(&self, first: Duration, crashes: u32) -> Duration {
        let doubled = first.saturating_mul(1u32 << crashes.saturating_sub(1).min(20));
        doubled.min(self.max_delay.max(first))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Spawned, not ready yet.
    Starting {
        since: Instant,
    },
    Ready {
        since: Instant,
    },
    /// Crashed; to be started again at `until`.
    BackingOff {
        until: Instant,
    },
    /// Crashed too often, or must not restart: stays down.
    Failed,
    /// Asked to stop (shutdown, or replaced in a rolling restart): its exit is no crash.
    Stopping,
    /// Exited after it was asked to.
    Stopped,
}

/// What the supervisor must do after an exit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterExit {
    /// Start the worker again at this instant.
    RestartAt(Instant),
    /// It stays down for good.
    Failed,
    /// It was asked to stop: nothing.
    Stopped,
}

#[derive(Clone, Debug)]
pub struct Lifecycle {
    pub phase: Phase,
    policy: RestartPolicy,
    /// Crashes since the last healthy stretch.
    crashes: u32,
    /// Every restart after a crash, for `/metrics`.
    pub restarts: u64,
    /// How long the last start took, for `/metrics`.
    pub start_duration: Option<Duration>,
}

impl Lifecycle {
    pub fn new(policy: RestartPolicy, now: Instant) -> Lifecycle {
        Lifecycle {
            phase: Phase::Starting { since: now },
            policy,
            crashes: 0,
            restarts: 0,
            start_duration: None,
        }
    }

    /// A (re)started process.
    pub fn started(&mut self, now: Instant) {
        if matches!(self.phase, Phase::BackingOff { .. }) {
            self.restarts += 1;
        }
        self.phase = Phase::Starting { since: now };
    }

    pub fn ready(&mut self, now: Instant) {
        if let Phase::Starting { since } = self.phase {
            self.start_duration = Some(now.saturating_duration_since(since));
            self.phase = Phase::Ready { since: now };
        }
    }

    pub fn stopping(&mut self) {
        self.phase = match self.phase {
            Phase::Starting { .. } | Phase::Ready { .. } | Phase::Stopping => Phase::Stopping,
            // No process to wait for.
            Phase::BackingOff { .. } | Phase::Stopped => Phase::Stopped,
            Phase::Failed => Phase::Failed,
        };
    }

    /// The process is gone (crashed, or did not start in time).
    pub fn exited(&mut self, now: Instant) -> AfterExit {
        match self.phase {
            Phase::Stopping | Phase::Stopped => {
                self.phase = Phase::Stopped;
                return AfterExit::Stopped;
            }
            Phase::Failed => return AfterExit::Failed,
            Phase::Ready { since }
                if now.saturating_duration_since(since) >= self.policy.healthy_after =>
            {
                self.crashes = 0
            }
            _ => {}
        }
        self.crashes += 1;
        match self.policy.first_delay {
            Some(first) if self.crashes <= self.policy.max_crashes => {
                let until = now + self.policy.delay(first, self.crashes);
                self.phase = Phase::BackingOff { until };
                AfterExit::RestartAt(until)
            }
            _ => {
                self.phase = Phase::Failed;
                AfterExit::Failed
            }
        }
    }

    pub fn is_ready(&self) -> bool {
        matches!(self.phase, Phase::Ready { .. })
    }

    /// Whether a process of this worker exists (or is about to).
    pub fn has_process(&self) -> bool {
        matches!(
            self.phase,
            Phase::Starting { .. } | Phase::Ready { .. } | Phase::Stopping
        )
    }

    pub fn crashes(&self) -> u32 {
        self.crashes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn crashes_in_a_row_back_off_doubling_then_fail() {
        let t0 = Instant::now();
        let mut w = Lifecycle::new(RestartPolicy::from_ms(100), t0);
        let mut now = t0;
        let mut delays = Vec::new();
        loop {
            match w.exited(now) {
                AfterExit::RestartAt(at) => {
                    delays.push(at - now);
                    now = at;
                    w.started(now);
                }
                AfterExit::Failed => break,
                AfterExit::Stopped => unreachable!(),
            }
        }
        assert_eq!(delays, [ms(100), ms(200), ms(400), ms(800), ms(1600)]);
        assert_eq!(w.phase, Phase::Failed);
        assert_eq!(w.restarts, 5);
        assert_eq!(w.exited(now), AfterExit::Failed, "failed stays failed");
    }

    #[test]
    fn the_delay_is_capped() {
        let p = RestartPolicy {
            max_crashes: 100,
            ..RestartPolicy::from_ms(100)
        };
        assert_eq!(p.delay(ms(100), 8), ms(10_000));
        assert_eq!(p.delay(ms(100), 60), ms(10_000));
        // A first delay above the cap is still honoured.
        assert_eq!(p.delay(ms(20_000), 3), ms(20_000));
    }

    #[test]
    fn a_healthy_stretch_forgives_earlier_crashes() {
        let t0 = Instant::now();
        let mut w = Lifecycle::new(RestartPolicy::from_ms(100), t0);
        for _ in 0..4 {
            assert!(matches!(w.exited(t0), AfterExit::RestartAt(_)));
            w.started(t0);
        }
        w.ready(t0 + ms(50));
        assert_eq!(w.start_duration, Some(ms(50)));
        // Ready long enough: the next crash is the first of a new loop.
        let later = t0 + Duration::from_secs(31);
        assert_eq!(w.exited(later), AfterExit::RestartAt(later + ms(100)));
        assert_eq!(w.crashes(), 1);
    }

    #[test]
    fn a_short_ready_stretch_does_not() {
        let t0 = Instant::now();
        let mut w = Lifecycle::new(RestartPolicy::from_ms(100), t0);
        w.exited(t0);
        w.started(t0);
        w.ready(t0);
        assert_eq!(w.exited(t0 + ms(10)), AfterExit::RestartAt(t0 + ms(210)));
    }

    #[test]
    fn restart_on_error_zero_never_restarts() {
        let t0 = Instant::now();
        let mut w = Lifecycle::new(RestartPolicy::from_ms(0), t0);
        w.ready(t0);
        assert_eq!(w.exited(t0), AfterExit::Failed);
        assert_eq!(w.restarts, 0);
    }

    #[test]
    fn an_exit_after_stop_is_no_crash() {
        let t0 = Instant::now();
        let mut w = Lifecycle::new(RestartPolicy::from_ms(100), t0);
        w.ready(t0);
        w.stopping();
        assert!(w.has_process());
        assert_eq!(w.exited(t0), AfterExit::Stopped);
        assert_eq!((w.phase, w.crashes()), (Phase::Stopped, 0));
    }
}
