//! The ONE place every wait of a call goes through.
//!
//! A [`CallCtx`] (in [`call`](super::call)) is made when a call (or a job run) begins: its
//! deadline, its cancel token, the wait budget and the observer. Each API request of the
//! call draws a fresh [`Waits`] from it ([`CallCtx::waits`]; the budget,
//! `max_rate_limit_wait`, is per request, as the header documents).
//! Every wait (pacer slot, the interval after a bare 429, `Retry-After`, backoff) is made by
//! [`Waits::wait`], which charges it to the deadline (every wait) and to the budget (waits on
//! rate limits: all but backoff, which `max_retries` bounds), refuses at once a wait it cannot
//! afford, sleeps cancellably otherwise, and tells the observer.

use std::time::Duration;

use super::call::CallCtx;
use super::error::Status;
use super::format::secs;
use super::note::{Note, WaitReason};
use super::pacer::PaceKey;

// Here, not in call.rs, so that the call context does not import its waits back.
impl CallCtx {
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
            budget: self.ctx.wait_budget(),
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
                .is_none_or(|total| total > self.ctx.wait_budget());
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
                budget: self.ctx.wait_budget(),
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
        self.ctx.wait_budget().saturating_sub(self.waited)
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
    use crate::engine::call::CallSettings;
    use crate::engine::cancel::CancelToken;
    use crate::engine::clock::{instant_after, FOREVER};
    use crate::engine::note::Observer;
    use crate::engine::pacer::PaceKind;
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

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
}
