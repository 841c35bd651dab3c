//! A call's settings and context. [`CallSettings`] are what a caller asks of one call (a
//! timeout, a cancel token, a tick); a [`CallCtx`] is made from them when a call (or a job
//! run) begins: its deadline, its cancel token, the wait budget and the observer. Every wait
//! of the call goes through it ([`wait`](super::wait)).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::cancel::CancelToken;
use super::clock::instant_after;
use super::note::{Note, Observer};

/// Per-call settings: a call timeout and a cancel token. A field left `None` keeps the
/// client's own (from `Client::with_call_timeout` / `Client::with_cancel`).
#[derive(Clone, Default)]
pub struct CallSettings {
    /// Limit on the whole call (attempts, backoff and waits).
    pub timeout: Option<Duration>,
    /// Fired from another thread to stop the call at its next wait or attempt.
    pub cancel: Option<Arc<CancelToken>>,
    /// Called on the waiting thread at least every [`TICK`] while a wait of the call lasts
    /// (never during an HTTP attempt); `true` stops the call as a cancel does. This is how a
    /// binding runs its own signal handlers (Python's Ctrl-C) during a long wait.
    pub tick: Option<Tick>,
}

/// See [`CallSettings::tick`].
pub type Tick = Arc<dyn Fn() -> bool + Send + Sync>;

/// The longest a wait goes without calling its [`CallSettings::tick`].
pub const TICK: Duration = Duration::from_millis(50);

impl std::fmt::Debug for CallSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallSettings")
            .field("timeout", &self.timeout)
            .field("cancel", &self.cancel)
            .field("tick", &self.tick.is_some())
            .finish()
    }
}

impl CallSettings {
    /// `self`, with the fields it leaves `None` taken from `defaults`.
    pub fn or(&self, defaults: &CallSettings) -> CallSettings {
        CallSettings {
            timeout: self.timeout.or(defaults.timeout),
            cancel: self.cancel.clone().or_else(|| defaults.cancel.clone()),
            tick: self.tick.clone().or_else(|| defaults.tick.clone()),
        }
    }
}

/// One call's (or job run's) context.
#[derive(Clone)]
pub struct CallCtx {
    started: Instant,
    deadline: Option<Instant>,
    timeout: Option<Duration>,
    cancel: Option<Arc<CancelToken>>,
    wait_budget: Duration,
    observer: Option<Observer>,
    /// The tick, and whether it has stopped the call.
    tick: Option<(Tick, Arc<AtomicBool>)>,
}

impl std::fmt::Debug for CallCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallCtx")
            .field("timeout", &self.timeout)
            .field("cancellable", &self.cancel.is_some())
            .field("wait_budget", &self.wait_budget)
            .field("observed", &self.observer.is_some())
            .finish()
    }
}

impl CallCtx {
    /// A context beginning now: the deadline is `settings.timeout` from now.
    pub fn new(
        settings: &CallSettings,
        wait_budget: Duration,
        observer: Option<Observer>,
    ) -> CallCtx {
        let started = Instant::now();
        CallCtx {
            started,
            deadline: settings.timeout.map(|t| instant_after(started, t)),
            timeout: settings.timeout,
            cancel: settings.cancel.clone(),
            wait_budget,
            observer,
            tick: settings
                .tick
                .clone()
                .map(|t| (t, Arc::new(AtomicBool::new(false)))),
        }
    }

    pub fn started(&self) -> Instant {
        self.started
    }

    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Time left before the deadline (`None`: no deadline).
    pub fn time_left(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    pub fn wait_budget(&self) -> Duration {
        self.wait_budget
    }

    pub fn cancelled(&self) -> bool {
        self.cancel
            .as_deref()
            .is_some_and(CancelToken::is_cancelled)
            || self
                .tick
                .as_ref()
                .is_some_and(|(_, stopped)| stopped.load(Ordering::Relaxed))
    }

    /// Sleep `wait`, waking at once on cancel and calling the tick (if any) every [`TICK`];
    /// `true` when cancelled or stopped by the tick.
    pub(crate) fn sleep(&self, wait: Duration) -> bool {
        let Some((tick, stopped)) = &self.tick else {
            return match &self.cancel {
                Some(token) => token.sleep(wait),
                None => {
                    std::thread::sleep(wait);
                    false
                }
            };
        };
        let end = instant_after(Instant::now(), wait);
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let slice = left.min(TICK);
            let cancelled = match &self.cancel {
                Some(token) => token.sleep(slice),
                None => {
                    std::thread::sleep(slice);
                    false
                }
            };
            if cancelled {
                return true;
            }
            if tick() {
                stopped.store(true, Ordering::Relaxed);
                return true;
            }
            if left <= TICK {
                return false;
            }
        }
    }

    /// The same call with `budget` as its rate-limit wait budget (what is left of it after
    /// the coalescer's wait).
    pub(crate) fn with_wait_budget(&self, budget: Duration) -> CallCtx {
        CallCtx {
            wait_budget: budget,
            ..self.clone()
        }
    }

    /// Cancelled, or stopped now by the tick (called here, if any): for waits that are not
    /// the wait module's (the coalescer's condvar), at least every [`TICK`].
    pub(crate) fn poll_stop(&self) -> bool {
        if self.cancelled() {
            return true;
        }
        if let Some((tick, stopped)) = &self.tick {
            if tick() {
                stopped.store(true, Ordering::Relaxed);
                return true;
            }
        }
        false
    }

    /// Tell the observer, if any.
    pub fn note(&self, note: &Note<'_>) {
        if let Some(observer) = &self.observer {
            observer(note);
        }
    }

    pub fn observed(&self) -> bool {
        self.observer.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn settings_fall_back_field_by_field() {
        let token = Arc::new(CancelToken::new());
        let defaults = CallSettings {
            timeout: Some(MS),
            cancel: Some(Arc::clone(&token)),
            ..Default::default()
        };
        let merged = CallSettings {
            timeout: Some(2 * MS),
            cancel: None,
            ..Default::default()
        }
        .or(&defaults);
        assert_eq!(merged.timeout, Some(2 * MS));
        assert!(merged.cancel.is_some());
    }
}
