//! The call context and the ONE place every wait of a call goes through.
//!
//! A [`CallCtx`] is made when a call (or a job run) begins: its deadline, its cancel token,
//! the wait budget and the observer. Each API request of the call draws a fresh [`Waits`]
//! from it (the budget, `max_rate_limit_wait`, is per request, as the header documents).
//! Every wait (pacer slot, the interval after a bare 429, `Retry-After`, backoff) is made by
//! [`Waits::wait`], which charges it to the deadline (every wait) and to the budget (waits on
//! rate limits: all but backoff, which `max_retries` bounds), refuses at once a wait it cannot
//! afford, sleeps cancellably otherwise, and tells the observer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::cancel::CancelToken;
use super::error::Status;
use super::format::secs;
use super::pacer::{PaceKey, PaceKind};

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

/// The farthest ahead any moment of the library lies: 100 years. A longer span (a hostile
/// `Retry-After: 18446744073709551615`, a timeout of `u64::MAX` ms) is taken as this long:
/// it is never reached, and every budget or deadline refuses a wait to it as it would the
/// longer one.
pub const FOREVER: Duration = Duration::from_secs(100 * 365 * 86_400);

/// `from + span`, with `span` capped at [`FOREVER`] (and shortened further on a platform
/// whose clock cannot hold that): never an overflow panic. Every moment the library computes
/// from a span (a deadline, the end of a wait, a pacer slot, a deferral) is made by this.
pub fn instant_after(from: Instant, span: Duration) -> Instant {
    let mut span = span.min(FOREVER);
    loop {
        if let Some(at) = from.checked_add(span) {
            return at;
        }
        span /= 2;
    }
}

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

/// Why a call waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WaitReason {
    /// For the pacer's next slot on the key.
    Pacer,
    /// After a 429 without `Retry-After`: until the window can have reopened.
    RateLimited,
    /// As the server's `Retry-After` asked.
    RetryAfter,
    /// Backing off before retrying a transient failure (or a 429 of an unpaced endpoint).
    Backoff,
}

impl WaitReason {
    /// Whether the wait counts against the rate-limit wait budget.
    pub fn charges_budget(self) -> bool {
        self != WaitReason::Backoff
    }

    pub fn as_str(self) -> &'static str {
        match self {
            WaitReason::Pacer => "pacer",
            WaitReason::RateLimited => "429",
            WaitReason::RetryAfter => "retry-after",
            WaitReason::Backoff => "backoff",
        }
    }
}

/// What a call tells its observer, as it happens.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Note<'a> {
    /// An attempt ended: `status` is the HTTP status, `None` when no answer came (network
    /// failure, timeout). `elapsed`: since the attempt began.
    Attempt {
        method: &'a str,
        /// Path and query, below the base URL.
        path: &'a str,
        attempt: u32,
        status: Option<u16>,
        elapsed: Duration,
    },
    /// Attempt `attempt` failed and will be tried again; `error` says how it failed.
    Retry {
        method: &'a str,
        path: &'a str,
        attempt: u32,
        error: &'a str,
    },
    /// The call is about to wait `wait`.
    Wait {
        resource_id: Option<i64>,
        kind: Option<PaceKind>,
        wait: Duration,
        why: WaitReason,
    },
    /// The API answered 429.
    RateLimited {
        resource_id: Option<i64>,
        kind: Option<PaceKind>,
        retry_after: Option<Duration>,
    },
    /// The account's limits were asked for. `from_account`: they are known now; `message`
    /// says what was read or replaced, or why the read failed.
    LimitsRead {
        from_account: bool,
        message: &'a str,
    },
    /// Part of the account's limits is not believed: a value of the limits answer was out of
    /// bounds or unreadable (`resource_id`, `kind`: `None`), or the API answered 429 on
    /// `resource_id`/`kind` while it was paced faster than the documented rate. The documented
    /// value is used instead; `message` says which and why.
    LimitsReplaced {
        resource_id: Option<i64>,
        kind: Option<PaceKind>,
        message: &'a str,
    },
    /// The shared rate store failed; the in-process pacing history was used instead.
    StoreFallback { store: &'a str, message: &'a str },
    /// The pacer decided on a slot for `resource_id`/`kind`: `reserved`, to be used after
    /// `wait` (ZERO: now; a non-zero wait is also a [`Note::Wait`]), or not reserved since it
    /// opens only `wait` from now, past what the request may still wait. `store_failed`: the
    /// shared store failed and the in-process history decided (a [`Note::StoreFallback`]
    /// came first).
    Slot {
        resource_id: i64,
        kind: PaceKind,
        wait: Duration,
        reserved: bool,
        store_failed: bool,
    },
    /// A purge request about to go carries `items` unique items of `callers` callers (the
    /// coalescer's; `callers` > 1: items of other calls share it). Told to the sender only.
    Shared {
        resource_id: i64,
        kind: PaceKind,
        items: usize,
        callers: usize,
    },
}

/// The observer hook: told of every [`Note`] of a call, on the calling thread.
pub type Observer = Arc<dyn Fn(&Note<'_>) + Send + Sync>;

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
    fn sleep(&self, wait: Duration) -> bool {
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
    /// [`Waits::wait`]'s (the coalescer's condvar), at least every [`TICK`].
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

    /// The waits of one request: a fresh budget.
    pub fn waits(&self) -> Waits<'_> {
        Waits {
            ctx: self,
            waited: Duration::ZERO,
        }
    }
}

/// What stops a wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// Longer than what is left of the request's rate-limit wait budget.
    Budget {
        wanted: Duration,
        budget: Duration,
        waited: Duration,
    },
    /// Would end past the call's deadline.
    Deadline { wanted: Duration, left: Duration },
    /// The call was cancelled (before or during the wait).
    Cancelled,
}

impl Refused {
    /// `RateLimited` for the budget, `Timeout` for the deadline, `Cancelled`.
    pub fn status(self) -> Status {
        match self {
            Refused::Budget { .. } => Status::RateLimited,
            Refused::Deadline { .. } => Status::Timeout,
            Refused::Cancelled => Status::Cancelled,
        }
    }

    /// What the wait ran into, to follow "the next try could come only after 3 s more, ":
    /// `past the rate-limit wait budget of 1 s (0 ms already waited); raise
    /// max_rate_limit_wait to wait longer`, or `after the call timeout ends (in 2 s)`.
    pub fn explain(self) -> String {
        match self {
            Refused::Budget { budget, waited, .. } => format!(
                "past the rate-limit wait budget of {} ({} already waited); raise \
                 max_rate_limit_wait to wait longer",
                secs(budget),
                secs(waited)
            ),
            Refused::Deadline { left, .. } => {
                format!("after the call timeout ends (in {})", secs(left))
            }
            Refused::Cancelled => "the call was cancelled".to_owned(),
        }
    }

    /// How long the refused wait would have been.
    pub fn wanted(self) -> Option<Duration> {
        match self {
            Refused::Budget { wanted, .. } | Refused::Deadline { wanted, .. } => Some(wanted),
            Refused::Cancelled => None,
        }
    }
}

/// One request's waits: what it has spent of the budget so far.
#[derive(Debug)]
pub struct Waits<'c> {
    ctx: &'c CallCtx,
    waited: Duration,
}

impl Waits<'_> {
    /// What this request has waited on rate limits so far.
    pub fn waited(&self) -> Duration {
        self.waited
    }

    /// The longest rate-limit wait still affordable: the budget left, or the time left
    /// before the deadline when that comes first.
    pub fn rate_allowance(&self) -> Duration {
        match self.ctx.time_left() {
            Some(left) => self.budget_left().min(left),
            None => self.budget_left(),
        }
    }

    /// Why a rate-limit wait of `wanted` (beyond [`Waits::rate_allowance`]) is refused.
    pub fn refusal_of(&self, wanted: Duration) -> Refused {
        self.refusal(wanted, true).unwrap_or(Refused::Budget {
            wanted,
            budget: self.ctx.wait_budget,
            waited: self.waited,
        })
    }

    /// Why `wanted` cannot be waited now, if it cannot.
    fn refusal(&self, wanted: Duration, rate: bool) -> Option<Refused> {
        if self.ctx.cancelled() {
            return Some(Refused::Cancelled);
        }
        let over_budget = rate
            && self
                .waited
                .checked_add(wanted)
                .is_none_or(|total| total > self.ctx.wait_budget);
        let left = self.ctx.time_left();
        let past_deadline = left.is_some_and(|left| wanted >= left);
        match (over_budget, past_deadline) {
            // The tighter of the two is what the caller should hear about.
            (true, true) if left.unwrap_or_default() < self.budget_left() => {
                Some(Refused::Deadline {
                    wanted,
                    left: left.unwrap_or_default(),
                })
            }
            (true, _) => Some(Refused::Budget {
                wanted,
                budget: self.ctx.wait_budget,
                waited: self.waited,
            }),
            (false, true) => Some(Refused::Deadline {
                wanted,
                left: left.unwrap_or_default(),
            }),
            (false, false) => None,
        }
    }

    fn budget_left(&self) -> Duration {
        self.ctx.wait_budget.saturating_sub(self.waited)
    }

    /// Wait `wait` for `why`, on `key`'s behalf (for the observer): refused at once, without
    /// sleeping, if it does not fit the budget (rate-limit waits) or the deadline, or the call
    /// is cancelled; else charged, noted and slept, waking at once on cancel.
    pub fn wait(
        &mut self,
        wait: Duration,
        why: WaitReason,
        key: Option<PaceKey>,
    ) -> Result<(), Refused> {
        if let Some(refused) = self.refusal(wait, why.charges_budget()) {
            return Err(refused);
        }
        if wait.is_zero() {
            return Ok(());
        }
        if why.charges_budget() {
            self.waited = self.waited.saturating_add(wait);
        }
        self.ctx.note(&Note::Wait {
            resource_id: key.map(|k| k.resource_id),
            kind: key.map(|k| k.kind),
            wait,
            why,
        });
        if self.ctx.sleep(wait) {
            Err(Refused::Cancelled)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn spans_past_any_clock_are_far_moments_not_panics() {
        let now = Instant::now();
        assert_eq!(instant_after(now, Duration::MAX), now + FOREVER);
        assert_eq!(instant_after(now, 5 * MS), now + 5 * MS);
        // A call timeout of u64::MAX ms: a deadline that never comes.
        let settings = CallSettings {
            timeout: Some(Duration::from_millis(u64::MAX)),
            ..CallSettings::default()
        };
        let ctx = CallCtx::new(&settings, Duration::MAX, None);
        assert!(ctx.time_left().unwrap() > FOREVER - Duration::from_secs(60));
        let mut w = ctx.waits();
        w.wait(MS, WaitReason::Pacer, None).unwrap();
        // The budget of Duration::MAX is not overflowed by what was waited.
        let t = Instant::now();
        let r = w
            .wait(Duration::MAX, WaitReason::RetryAfter, None)
            .unwrap_err();
        assert!(t.elapsed() < 30 * MS, "refused without sleeping");
        assert!(
            matches!(r, Refused::Budget { .. } | Refused::Deadline { .. }),
            "{r:?}"
        );
        // A cancellable sleep as long.
        let token = Arc::new(CancelToken::new());
        token.cancel();
        assert!(token.sleep(Duration::MAX));
    }

    #[test]
    fn the_budget_is_charged_and_refuses_at_once() {
        let ctx = CallCtx::new(&CallSettings::default(), 100 * MS, None);
        let mut w = ctx.waits();
        w.wait(60 * MS, WaitReason::RateLimited, None).unwrap();
        let t = Instant::now();
        let r = w.wait(60 * MS, WaitReason::Pacer, None).unwrap_err();
        assert!(t.elapsed() < 30 * MS, "refused without sleeping");
        assert_eq!(
            r,
            Refused::Budget {
                wanted: 60 * MS,
                budget: 100 * MS,
                waited: 60 * MS
            }
        );
        assert_eq!(r.status(), Status::RateLimited);
        assert!(
            r.explain().contains("max_rate_limit_wait"),
            "{}",
            r.explain()
        );
        // Backoff is not a rate-limit wait.
        w.wait(60 * MS, WaitReason::Backoff, None).unwrap();
        assert_eq!(w.waited(), 60 * MS);
        // A new request has a fresh budget.
        assert_eq!(ctx.waits().rate_allowance(), 100 * MS);
    }

    #[test]
    fn the_deadline_bounds_every_wait() {
        let settings = CallSettings {
            timeout: Some(200 * MS),
            cancel: None,
            ..Default::default()
        };
        let ctx = CallCtx::new(&settings, Duration::from_secs(100), None);
        let mut w = ctx.waits();
        let r = w
            .wait(Duration::from_secs(1), WaitReason::Backoff, None)
            .unwrap_err();
        assert!(matches!(r, Refused::Deadline { .. }), "{r:?}");
        assert_eq!(r.status(), Status::Timeout);
        assert!(w.rate_allowance() <= 200 * MS);
        assert_eq!(
            w.refusal_of(Duration::from_secs(5)).status(),
            Status::Timeout
        );
        // The budget, when it is the tighter bound, is what refuses.
        let ctx = CallCtx::new(&settings, 10 * MS, None);
        let w = ctx.waits();
        assert_eq!(w.rate_allowance(), 10 * MS);
        assert_eq!(
            w.refusal_of(Duration::from_secs(5)).status(),
            Status::RateLimited
        );
    }

    #[test]
    fn cancel_stops_a_wait() {
        let token = Arc::new(CancelToken::new());
        let settings = CallSettings {
            timeout: None,
            cancel: Some(Arc::clone(&token)),
            ..Default::default()
        };
        let ctx = CallCtx::new(&settings, Duration::from_secs(100), None);
        let firer = {
            let token = Arc::clone(&token);
            std::thread::spawn(move || {
                std::thread::sleep(50 * MS);
                token.cancel();
            })
        };
        let t = Instant::now();
        let r = ctx
            .waits()
            .wait(Duration::from_secs(30), WaitReason::Pacer, None);
        firer.join().unwrap();
        assert_eq!(r, Err(Refused::Cancelled));
        assert!(t.elapsed() < Duration::from_secs(5));
        assert_eq!(
            ctx.waits().wait(MS, WaitReason::Backoff, None),
            Err(Refused::Cancelled)
        );
    }

    #[test]
    fn the_tick_is_called_during_a_wait_and_can_stop_it() {
        let calls = Arc::new(Mutex::new(0u32));
        let settings = CallSettings {
            tick: Some({
                let calls = Arc::clone(&calls);
                Arc::new(move || {
                    let mut n = calls.lock().unwrap();
                    *n += 1;
                    *n >= 3
                })
            }),
            ..CallSettings::default()
        };
        let ctx = CallCtx::new(&settings, Duration::from_secs(100), None);
        let t = Instant::now();
        let r = ctx
            .waits()
            .wait(Duration::from_secs(30), WaitReason::Pacer, None);
        assert_eq!(r, Err(Refused::Cancelled));
        assert_eq!(*calls.lock().unwrap(), 3);
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        // Stopped once, the call stays stopped.
        assert!(ctx.cancelled());
        assert_eq!(
            ctx.waits().wait(MS, WaitReason::Backoff, None),
            Err(Refused::Cancelled)
        );
        // A tick that never stops: the wait ends on time, ticked at least every TICK.
        let ticks = Arc::new(Mutex::new(Vec::new()));
        let settings = CallSettings {
            tick: Some({
                let ticks = Arc::clone(&ticks);
                Arc::new(move || {
                    ticks.lock().unwrap().push(Instant::now());
                    false
                })
            }),
            ..CallSettings::default()
        };
        let ctx = CallCtx::new(&settings, Duration::from_secs(100), None);
        let t = Instant::now();
        ctx.waits().wait(200 * MS, WaitReason::Pacer, None).unwrap();
        assert!(t.elapsed() >= 200 * MS);
        assert!(
            ticks.lock().unwrap().len() >= 4,
            "{:?}",
            ticks.lock().unwrap().len()
        );
    }

    #[test]
    fn waits_are_noted_with_their_key() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let observer: Observer = {
            let seen = Arc::clone(&seen);
            Arc::new(move |n: &Note<'_>| {
                if let Note::Wait {
                    resource_id,
                    kind,
                    wait,
                    why,
                } = n
                {
                    seen.lock()
                        .unwrap()
                        .push((*resource_id, *kind, *wait, *why));
                }
            })
        };
        let ctx = CallCtx::new(
            &CallSettings::default(),
            Duration::from_secs(1),
            Some(observer),
        );
        let key = PaceKey {
            resource_id: 5,
            kind: PaceKind::Urls,
        };
        ctx.waits()
            .wait(5 * MS, WaitReason::Pacer, Some(key))
            .unwrap();
        ctx.waits()
            .wait(Duration::ZERO, WaitReason::Pacer, Some(key))
            .unwrap();
        assert_eq!(
            *seen.lock().unwrap(),
            [(Some(5), Some(PaceKind::Urls), 5 * MS, WaitReason::Pacer)]
        );
    }

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
