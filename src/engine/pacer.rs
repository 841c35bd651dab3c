//! The client-wide pacer: when the next purge request on a (resource, kind) may go out.
//!
//! One [`Pacer`] lives with each client (clones and clients derived with `with_call_timeout` /
//! `with_cancel` share it), so every call and thread of the client paces against the same
//! history. A limit is N requests per window W ([`Window`]): up to N sends at once, then the
//! next slot is when the oldest of the last N leaves the window, plus [`margin`]. The history
//! is kept by a [`SlotStore`]: [`InProcessStore`] here, a shared (Redis) store elsewhere; when
//! a store fails, the pacer falls back to its own in-process store for that request.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::clock::instant_after;

/// The two rate limits of purges.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PaceKind {
    /// Purges by URL.
    Urls,
    /// Purges by pattern AND purge-all: documented as separate one-a-minute limits, paced as
    /// one key (the account's limits have one field for both), so that a wrong guess costs
    /// time, not 429s.
    Patterns,
    /// Prefetch requests (`POST /cdn/resources/{id}/prefetch`): 1 a minute per resource, a
    /// limit of their own.
    Prefetch,
}

impl PaceKind {
    /// `URL` / `pattern`, for messages.
    pub fn noun(self) -> &'static str {
        match self {
            PaceKind::Urls => "URL",
            PaceKind::Patterns => "pattern",
            PaceKind::Prefetch => "prefetch",
        }
    }
}

/// What the pacer keeps a history for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PaceKey {
    pub resource_id: i64,
    pub kind: PaceKind,
}

/// A rate limit: `requests` per `per`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub requests: u32,
    pub per: Duration,
}

impl Window {
    /// One request per `interval` (`gcdn_options_set_purge_intervals_ms`).
    pub fn one_per(interval: Duration) -> Window {
        Window {
            requests: 1,
            per: interval,
        }
    }

    /// The documented limit: 2 URL purges a minute; 1 pattern purge or purge-all a minute; 1
    /// prefetch a minute.
    pub fn documented(kind: PaceKind) -> Window {
        match kind {
            PaceKind::Urls => Window {
                requests: 2,
                per: Duration::from_secs(60),
            },
            PaceKind::Patterns | PaceKind::Prefetch => Window {
                requests: 1,
                per: Duration::from_secs(60),
            },
        }
    }

    /// `W / N`: the average spacing of requests at this rate.
    pub fn interval(self) -> Duration {
        self.per / self.requests.max(1)
    }

    /// `2/60 s`, for messages.
    pub fn describe(self) -> String {
        format!("{}/{}", self.requests, super::format::secs(self.per))
    }
}

/// When the request may go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// Reserved: go after this long (ZERO = now).
    At(Duration),
    /// NOT reserved: the slot opens only this far from now.
    TooFar(Duration),
}

/// A store that could not answer. Its message never contains a password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreError {
    pub message: String,
}

/// Where the send history lives.
pub trait SlotStore: Send + Sync {
    /// Reserve the earliest slot for `key` under `window` (plus [`margin`]`(window)`),
    /// unless it is further than `max_wait` from now.
    fn take(&self, key: PaceKey, window: Window, max_wait: Duration) -> Result<Slot, StoreError>;
    /// The API answered 429 on `key`: no slot for anyone before `after` from now.
    fn defer(&self, key: PaceKey, window: Window, after: Duration) -> Result<(), StoreError>;
    /// For messages/logs: "in-process" or "redis://host:port/db" (never a password).
    fn describe(&self) -> String;
}

/// The smallest safety margin: above the scheduling and loopback jitter between reserving a
/// slot and the request's arrival, even with 8 threads on a loaded machine.
pub const MIN_MARGIN: Duration = Duration::from_millis(50);

/// The safety margin added to every window: 2 % of it (1.2 s of the documented minute), at
/// least [`MIN_MARGIN`], and never more than the window itself. The pacer measures from the
/// moment a slot is reserved, the API from the request's arrival: a pacer exactly at the
/// limit meets 429s from that jitter alone.
pub fn margin(window: Window) -> Duration {
    (window.per / 50).max(MIN_MARGIN).min(window.per)
}

/// The window rule: given the send times of a key (oldest first; at least the last
/// `window.requests` of them), when the next one may go: now while fewer than N went out,
/// else when the N-th newest leaves the window, plus [`margin`].
pub fn window_opens(window: Window, sent: &VecDeque<Instant>, now: Instant) -> Instant {
    let n = window.requests.max(1) as usize;
    if sent.len() < n {
        return now;
    }
    instant_after(
        sent[sent.len() - n],
        window.per.saturating_add(margin(window)),
    )
    .max(now)
}

/// At most this many keys are remembered before stale ones (no send inside their window, no
/// deferral pending) are forgotten.
const PRUNE_ABOVE: usize = 4096;

#[derive(Debug, Default)]
struct KeyState {
    /// Reserved send times, oldest first; only those that still constrain a slot.
    sent: VecDeque<Instant>,
    /// No slot before this (a 429 was met).
    not_before: Option<Instant>,
    /// The window and margin of the last slot taken.
    span: Duration,
}

impl KeyState {
    fn stale(&self, now: Instant) -> bool {
        self.not_before.is_none_or(|t| t <= now)
            && self
                .sent
                .back()
                .is_none_or(|&t| instant_after(t, self.span) <= now)
    }
}

/// The send history of one process, keyed by [`PaceKey`].
#[derive(Debug, Default)]
pub struct InProcessStore {
    keys: Mutex<HashMap<PaceKey, KeyState>>,
}

impl InProcessStore {
    pub fn new() -> InProcessStore {
        InProcessStore::default()
    }

    /// [`SlotStore::take`], at `now` (tests pass their own clock).
    pub fn take_at(&self, key: PaceKey, window: Window, max_wait: Duration, now: Instant) -> Slot {
        let n = window.requests.max(1) as usize;
        let span = window.per.saturating_add(margin(window));
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if keys.len() > PRUNE_ABOVE {
            keys.retain(|_, s| !s.stale(now));
        }
        let state = keys.entry(key).or_default();
        state.span = span;
        // Sends a whole window (and margin) before now constrain nothing.
        while state.sent.len() > n
            || state
                .sent
                .front()
                .is_some_and(|&t| instant_after(t, span) <= now)
        {
            state.sent.pop_front();
        }
        let mut at = window_opens(window, &state.sent, now);
        if let Some(t) = state.not_before {
            at = at.max(t);
        }
        let wait = at - now;
        if wait > max_wait {
            return Slot::TooFar(wait);
        }
        // Kept in order, so that the N-th newest is always at `len - n`.
        let i = state.sent.partition_point(|&t| t <= at);
        state.sent.insert(i, at);
        while state.sent.len() > n {
            state.sent.pop_front();
        }
        Slot::At(wait)
    }

    /// [`SlotStore::defer`], at `now`.
    pub fn defer_at(&self, key: PaceKey, after: Duration, now: Instant) {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        let state = keys.entry(key).or_default();
        let until = instant_after(now, after);
        state.not_before = Some(state.not_before.map_or(until, |t| t.max(until)));
    }
}

impl SlotStore for InProcessStore {
    fn take(&self, key: PaceKey, window: Window, max_wait: Duration) -> Result<Slot, StoreError> {
        Ok(self.take_at(key, window, max_wait, Instant::now()))
    }

    fn defer(&self, key: PaceKey, _window: Window, after: Duration) -> Result<(), StoreError> {
        self.defer_at(key, after, Instant::now());
        Ok(())
    }

    fn describe(&self) -> String {
        "in-process".to_owned()
    }
}

/// A store failed; the pacer used its in-process history instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fallback {
    /// The failed store's [`SlotStore::describe`].
    pub store: String,
    pub error: StoreError,
}

/// One per client: its store, and the in-process history it falls back on.
pub struct Pacer {
    store: Arc<dyn SlotStore>,
    /// `None` when `store` is the in-process one already.
    local: Option<InProcessStore>,
    /// Keys this pacer has given a slot on (in-process store only; see [`Pacer::first_use`]).
    used: Mutex<std::collections::HashSet<PaceKey>>,
    /// A failing store fails the request instead (rate store option; see `take_or_refuse`).
    fail_closed: bool,
}

/// [`Pacer::first_use`] remembers at most this many keys, then starts again.
const USED_KEYS: usize = 65_536;

impl std::fmt::Debug for Pacer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pacer")
            .field("store", &self.store.describe())
            .finish()
    }
}

impl Default for Pacer {
    fn default() -> Self {
        Pacer::in_process()
    }
}

impl Pacer {
    /// A pacer whose history lives in this process only.
    pub fn in_process() -> Pacer {
        Pacer {
            store: Arc::new(InProcessStore::new()),
            local: None,
            used: Mutex::default(),
            fail_closed: false,
        }
    }

    /// A pacer over `store`, falling back on an in-process history when the store fails.
    pub fn with_store(store: Arc<dyn SlotStore>) -> Pacer {
        Pacer {
            store,
            local: Some(InProcessStore::new()),
            used: Mutex::default(),
            fail_closed: false,
        }
    }

    /// True exactly once per key, for the first request on it, and only when the history is
    /// this process's own: that request goes at once under any limit, so the limit need not
    /// be known yet (a client that purges once never reads the account's limits). A shared
    /// store may hold other processes' sends: always false.
    pub fn first_use(&self, key: PaceKey) -> bool {
        if self.local.is_some() {
            return false;
        }
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        if used.len() >= USED_KEYS {
            used.clear();
        }
        used.insert(key)
    }

    // ---- fail-closed (rate store task; src/engine/ratestore) ----

    /// A pacer over `store` that does not fall back: [`Pacer::take_or_refuse`] fails when
    /// the store does.
    pub fn with_store_fail_closed(store: Arc<dyn SlotStore>) -> Pacer {
        Pacer {
            fail_closed: true,
            ..Pacer::with_store(store)
        }
    }

    /// [`Pacer::take`]; but on a fail-closed pacer a failing store is `Err` (nothing
    /// reserved anywhere) instead of a fallback.
    pub fn take_or_refuse(
        &self,
        key: PaceKey,
        window: Window,
        max_wait: Duration,
    ) -> Result<(Slot, Option<Fallback>), Fallback> {
        if self.fail_closed {
            return match self.store.take(key, window, max_wait) {
                Ok(slot) => Ok((slot, None)),
                Err(e) => Err(self.fallback(e)),
            };
        }
        Ok(self.take(key, window, max_wait))
    }

    // ---- end of fail-closed ----

    /// The store's description, for messages.
    pub fn describe(&self) -> String {
        self.store.describe()
    }

    /// [`SlotStore::take`] on the store, else on the in-process fallback (and why).
    pub fn take(
        &self,
        key: PaceKey,
        window: Window,
        max_wait: Duration,
    ) -> (Slot, Option<Fallback>) {
        match self.store.take(key, window, max_wait) {
            Ok(slot) => (slot, None),
            Err(error) => {
                let local = self.local.as_ref().expect("only a foreign store fails");
                let slot = local.take_at(key, window, max_wait, Instant::now());
                (slot, Some(self.fallback(error)))
            }
        }
    }

    /// [`SlotStore::defer`] on the store and the fallback history.
    pub fn defer(&self, key: PaceKey, window: Window, after: Duration) -> Option<Fallback> {
        if let Some(local) = &self.local {
            local.defer_at(key, after, Instant::now());
        }
        self.store
            .defer(key, window, after)
            .err()
            .map(|e| self.fallback(e))
    }

    fn fallback(&self, error: StoreError) -> Fallback {
        Fallback {
            store: self.store.describe(),
            error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URLS: PaceKey = PaceKey {
        resource_id: 5,
        kind: PaceKind::Urls,
    };
    const MS: Duration = Duration::from_millis(1);

    fn w(n: u32, ms: u64) -> Window {
        Window {
            requests: n,
            per: Duration::from_millis(ms),
        }
    }

    #[test]
    fn the_margin_is_documented() {
        assert_eq!(
            margin(Window::documented(PaceKind::Urls)),
            Duration::from_millis(1200)
        );
        assert_eq!(margin(w(1, 1000)), MIN_MARGIN);
        assert_eq!(margin(w(1, 10_000)), Duration::from_millis(200));
        assert_eq!(margin(w(1, 3)), 3 * MS, "never more than the window");
    }

    #[test]
    fn n_at_once_then_when_the_oldest_leaves_the_window() {
        let s = InProcessStore::new();
        let t0 = Instant::now();
        let win = w(2, 1000);
        let span = 1000 * MS + margin(win);
        let big = Duration::from_secs(100);
        assert_eq!(s.take_at(URLS, win, big, t0), Slot::At(Duration::ZERO));
        assert_eq!(
            s.take_at(URLS, win, big, t0 + 10 * MS),
            Slot::At(Duration::ZERO)
        );
        // The third waits for the first to leave.
        assert_eq!(
            s.take_at(URLS, win, big, t0 + 20 * MS),
            Slot::At(span - 20 * MS)
        );
        // The fourth for the second.
        assert_eq!(
            s.take_at(URLS, win, big, t0 + 20 * MS),
            Slot::At(span + 10 * MS - 20 * MS)
        );
        // The fifth for the third, which goes at t0 + span.
        assert_eq!(
            s.take_at(URLS, win, big, t0 + 20 * MS),
            Slot::At(2 * span - 20 * MS)
        );
        // Other keys are independent.
        let other = PaceKey {
            kind: PaceKind::Patterns,
            ..URLS
        };
        assert_eq!(s.take_at(other, win, big, t0), Slot::At(Duration::ZERO));
    }

    #[test]
    fn a_slot_too_far_is_not_reserved() {
        let s = InProcessStore::new();
        let t0 = Instant::now();
        let win = w(1, 1000);
        let span = 1000 * MS + margin(win);
        assert_eq!(
            s.take_at(URLS, win, Duration::ZERO, t0),
            Slot::At(Duration::ZERO)
        );
        assert_eq!(s.take_at(URLS, win, 100 * MS, t0), Slot::TooFar(span));
        assert_eq!(s.take_at(URLS, win, 100 * MS, t0), Slot::TooFar(span));
        assert_eq!(s.take_at(URLS, win, span, t0), Slot::At(span));
        assert_eq!(s.take_at(URLS, win, span, t0), Slot::TooFar(2 * span));
    }

    #[test]
    fn a_deferral_moves_every_later_slot() {
        let s = InProcessStore::new();
        let t0 = Instant::now();
        let win = w(2, 1000);
        let big = Duration::from_secs(100);
        s.defer_at(URLS, 3000 * MS, t0);
        assert_eq!(s.take_at(URLS, win, big, t0), Slot::At(3000 * MS));
        assert_eq!(s.take_at(URLS, win, big, t0), Slot::At(3000 * MS));
        // A shorter deferral does not shorten a longer one.
        s.defer_at(URLS, 10 * MS, t0);
        let span = 1000 * MS + margin(win);
        assert_eq!(s.take_at(URLS, win, big, t0), Slot::At(3000 * MS + span));
    }

    /// A `Retry-After` of `u64::MAX` seconds (or a window as long) overflowed `Instant`.
    #[test]
    fn a_deferral_or_window_past_any_clock_is_refused_not_a_panic() {
        let s = InProcessStore::new();
        let t0 = Instant::now();
        s.defer_at(URLS, Duration::MAX, t0);
        s.defer_at(URLS, Duration::from_secs(u64::MAX), t0);
        let far = crate::engine::clock::FOREVER;
        assert_eq!(
            s.take_at(URLS, w(2, 1000), big_wait(), t0),
            Slot::TooFar(far)
        );
        let huge = Window {
            requests: 1,
            per: Duration::MAX,
        };
        let other = PaceKey {
            resource_id: 6,
            ..URLS
        };
        assert_eq!(
            s.take_at(other, huge, big_wait(), t0),
            Slot::At(Duration::ZERO)
        );
        assert_eq!(s.take_at(other, huge, big_wait(), t0), Slot::TooFar(far));
        // Pruning compares the same far moments.
        for id in 0..(PRUNE_ABOVE as i64 + 2) {
            let key = PaceKey {
                resource_id: id + 100,
                kind: PaceKind::Urls,
            };
            s.take_at(key, huge, MS, t0);
        }
        assert!(matches!(s.take_at(URLS, huge, MS, t0), Slot::TooFar(_)));
    }

    #[test]
    fn old_sends_are_forgotten() {
        let s = InProcessStore::new();
        let t0 = Instant::now();
        let win = w(1, 100);
        assert_eq!(s.take_at(URLS, win, MS, t0), Slot::At(Duration::ZERO));
        let later = t0 + Duration::from_secs(1);
        assert_eq!(s.take_at(URLS, win, MS, later), Slot::At(Duration::ZERO));
        for id in 0..(PRUNE_ABOVE as i64 + 10) {
            let key = PaceKey {
                resource_id: id + 100,
                kind: PaceKind::Urls,
            };
            s.take_at(key, win, MS, t0);
        }
        s.take_at(URLS, win, big_wait(), later + Duration::from_secs(5));
        assert!(s.keys.lock().unwrap().len() <= PRUNE_ABOVE + 11);
        s.take_at(URLS, win, big_wait(), later + Duration::from_secs(6));
        assert!(s.keys.lock().unwrap().len() < 10, "stale keys pruned");
    }

    fn big_wait() -> Duration {
        Duration::from_secs(1000)
    }

    #[test]
    fn threads_share_one_history() {
        let s = Arc::new(InProcessStore::new());
        let win = w(1, 10_000);
        let waits: Vec<Duration> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    let s = Arc::clone(&s);
                    scope.spawn(move || match s.take(URLS, win, big_wait()).unwrap() {
                        Slot::At(d) => d,
                        Slot::TooFar(_) => panic!("too far"),
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut waits = waits;
        waits.sort();
        let span = win.per + margin(win);
        for (i, pair) in waits.windows(2).enumerate() {
            // Each slot one span after the one before (less the time the threads took).
            assert!(
                pair[1] - pair[0] > span - Duration::from_secs(1),
                "{i}: {waits:?}"
            );
        }
    }

    struct Broken;
    impl SlotStore for Broken {
        fn take(&self, _: PaceKey, _: Window, _: Duration) -> Result<Slot, StoreError> {
            Err(StoreError {
                message: "connection refused".into(),
            })
        }
        fn defer(&self, _: PaceKey, _: Window, _: Duration) -> Result<(), StoreError> {
            Err(StoreError {
                message: "connection refused".into(),
            })
        }
        fn describe(&self) -> String {
            "redis://127.0.0.1:1/0".into()
        }
    }

    #[test]
    fn a_failing_store_falls_back_to_the_local_history() {
        let p = Pacer::with_store(Arc::new(Broken));
        let win = w(1, 10_000);
        let (slot, fb) = p.take(URLS, win, Duration::ZERO);
        assert_eq!(slot, Slot::At(Duration::ZERO));
        let fb = fb.unwrap();
        assert_eq!(fb.store, "redis://127.0.0.1:1/0");
        assert_eq!(fb.error.message, "connection refused");
        let (slot, _) = p.take(URLS, win, Duration::ZERO);
        assert!(matches!(slot, Slot::TooFar(_)), "{slot:?}");
        assert!(p.defer(URLS, win, MS).is_some());
        assert!(!p.first_use(URLS), "a shared store may have history");
        assert_eq!(Pacer::in_process().describe(), "in-process");
        let p = Pacer::in_process();
        assert!(p.first_use(URLS));
        assert!(!p.first_use(URLS));
    }
}
