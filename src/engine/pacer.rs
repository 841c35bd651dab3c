//! The client-wide pacer: when the next purge request on a (resource, kind) may go out.
//!
//! One [`Pacer`] lives with each client (clones and clients derived with `with_call_timeout` /
//! `with_cancel` share it), so every call and thread of the client paces against the same
//! history. A limit is N requests per window W ([`Window`]): up to N sends at once, then the
//! next slot is when the oldest of the last N leaves the window, plus [`margin`]. The API counts
//! a request when it arrives, which may be well after its slot (its thread descheduled, a
//! retry in the slot, a slow connection): so each attempt starts its slot
//! ([`SlotStore::start`]: the window checked again, counting the other requests when their
//! answers came, one in flight as now, and waited for again if need be) and finishes it when
//! its answer comes ([`SlotStore::finish`]). Any N + 1 requests that start one after another
//! are then at least a window apart at the API, however late each went. The history is kept
//! by a [`SlotStore`]: [`InProcessStore`] here, a shared (Redis) store elsewhere; when a store
//! fails, the pacer falls back to its own in-process store for that request.

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
    /// [`SlotStore::take`], and the reserved slot's [`Ticket`] (`None`: the store keeps
    /// reservation times only, and [`SlotStore::start`] / [`SlotStore::finish`] do nothing).
    fn take_ticket(
        &self,
        key: PaceKey,
        window: Window,
        max_wait: Duration,
    ) -> Result<(Slot, Option<Ticket>), StoreError> {
        self.take(key, window, max_wait).map(|slot| (slot, None))
    }
    /// The request of `ticket`'s slot is about to be sent (again): [`Go::Now`] when the
    /// window, counted over the requests that went (or go) out at their real times, lets it
    /// go now; it then counts as in flight ("now") for at most `lease`, until
    /// [`SlotStore::finish`].
    fn start(
        &self,
        _key: PaceKey,
        _window: Window,
        _ticket: Ticket,
        _max_wait: Duration,
        _lease: Duration,
    ) -> Result<Go, StoreError> {
        Ok(Go::Now)
    }
    /// The answer to `ticket`'s request came (or the attempt failed): its time is now.
    fn finish(&self, _key: PaceKey, _window: Window, _ticket: Ticket) -> Result<(), StoreError> {
        Ok(())
    }
    /// `ticket`'s request will not be sent: its slot is free again.
    fn release(&self, _key: PaceKey, _window: Window, _ticket: Ticket) -> Result<(), StoreError> {
        Ok(())
    }
}

/// A reserved slot, for [`SlotStore::start`], [`SlotStore::finish`] and [`SlotStore::release`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ticket(pub u64);

/// Whether a slot's request may be sent now ([`SlotStore::start`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Go {
    /// Send it: it counts as in flight until [`SlotStore::finish`].
    Now,
    /// Not yet (a request went out later than its slot, or is still in flight): the slot
    /// moved this far from now, still reserved; wait, then start again.
    Later(Duration),
    /// Not within `max_wait`: the slot is released.
    TooFar(Duration),
}

/// The smallest safety margin: above the loopback jitter between sending a request and its
/// arrival.
pub const MIN_MARGIN: Duration = Duration::from_millis(50);

/// The safety margin added to every window: 2 % of it (1.2 s of the documented minute), at
/// least [`MIN_MARGIN`], and never more than the window itself. The API counts a request when
/// it arrives; the pacer from the moment its answer came (or, while it is in flight, from now):
/// the margin covers clocks and jitter, not a thread descheduled between its slot and its
/// send, which [`SlotStore::start`] checks.
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

/// Where a slot's request is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Not sent yet: counted at its slot time.
    Reserved,
    /// Being sent, until the answer comes: counted as now, up to this moment (a lease, so
    /// that a request whose end is never told stops counting).
    InFlight(Instant),
    /// Its answer came at its time: the API counted it before.
    Answered,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    ticket: u64,
    /// The slot time; once sent, when its last attempt began; once answered, when.
    at: Instant,
    phase: Phase,
}

impl Entry {
    /// The latest moment the API may count this request at, as far as known at `now`.
    fn counted_at(&self, now: Instant) -> Instant {
        match self.phase {
            Phase::Reserved | Phase::Answered => self.at,
            Phase::InFlight(lease) => self.at.max(now.min(lease)),
        }
    }
}

#[derive(Debug, Default)]
struct KeyState {
    /// The slots that still constrain one: reserved, in flight, or answered within a span.
    slots: Vec<Entry>,
    /// No slot before this (a 429 was met).
    not_before: Option<Instant>,
    /// The window and margin of the last slot taken.
    span: Duration,
}

impl KeyState {
    fn stale(&self, now: Instant) -> bool {
        self.not_before.is_none_or(|t| t <= now)
            && self
                .slots
                .iter()
                .all(|e| instant_after(e.counted_at(now), self.span) <= now)
    }

    /// Forget the slots that constrain nothing any more (a reserved one whose request never
    /// started within a whole span included).
    fn prune(&mut self, now: Instant) {
        let span = self.span;
        self.slots
            .retain(|e| instant_after(e.counted_at(now), span) > now);
    }

    /// When a request may go, given these counted times (any order): now while fewer than
    /// N, else when the N-th newest leaves the window, plus the margin; never before a 429's
    /// deferral.
    fn opens(&self, window: Window, mut times: Vec<Instant>, now: Instant) -> Instant {
        let n = window.requests.max(1) as usize;
        let mut at = now;
        if times.len() >= n {
            times.sort_unstable();
            at = at.max(instant_after(times[times.len() - n], self.span));
        }
        if let Some(t) = self.not_before {
            at = at.max(t);
        }
        at
    }
}

/// The send history of one process, keyed by [`PaceKey`].
#[derive(Debug, Default)]
pub struct InProcessStore {
    keys: Mutex<HashMap<PaceKey, KeyState>>,
    tickets: std::sync::atomic::AtomicU64,
}

impl InProcessStore {
    pub fn new() -> InProcessStore {
        InProcessStore::default()
    }

    fn keys(&self) -> std::sync::MutexGuard<'_, HashMap<PaceKey, KeyState>> {
        self.keys.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// [`SlotStore::take`], at `now` (tests pass their own clock).
    pub fn take_at(&self, key: PaceKey, window: Window, max_wait: Duration, now: Instant) -> Slot {
        self.take_ticket_at(key, window, max_wait, now).0
    }

    /// [`SlotStore::take_ticket`], at `now`: the slot is counted at its time until its
    /// request starts.
    pub fn take_ticket_at(
        &self,
        key: PaceKey,
        window: Window,
        max_wait: Duration,
        now: Instant,
    ) -> (Slot, Option<Ticket>) {
        let span = window.per.saturating_add(margin(window));
        let mut keys = self.keys();
        if keys.len() > PRUNE_ABOVE {
            keys.retain(|_, s| !s.stale(now));
        }
        let state = keys.entry(key).or_default();
        state.span = span;
        state.prune(now);
        let times = state.slots.iter().map(|e| e.counted_at(now)).collect();
        let at = state.opens(window, times, now);
        let wait = at - now;
        if wait > max_wait {
            return (Slot::TooFar(wait), None);
        }
        let ticket = self
            .tickets
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        state.slots.push(Entry {
            ticket,
            at,
            phase: Phase::Reserved,
        });
        (Slot::At(wait), Some(Ticket(ticket)))
    }

    /// [`SlotStore::start`], at `now`: the window is counted over every other slot but those
    /// reserved after this one (they check this one when they start).
    pub fn start_at(
        &self,
        key: PaceKey,
        window: Window,
        ticket: Ticket,
        max_wait: Duration,
        lease: Duration,
        now: Instant,
    ) -> Go {
        let mut keys = self.keys();
        let state = keys.entry(key).or_default();
        state.span = window.per.saturating_add(margin(window));
        let i = match state.slots.iter().position(|e| e.ticket == ticket.0) {
            Some(i) => i,
            None => {
                // Forgotten (it waited longer than a whole span): a slot of now.
                state.slots.push(Entry {
                    ticket: ticket.0,
                    at: now,
                    phase: Phase::Reserved,
                });
                state.slots.len() - 1
            }
        };
        let mine = state.slots[i].at;
        let times = state
            .slots
            .iter()
            .enumerate()
            .filter(|&(j, e)| j != i && !(e.phase == Phase::Reserved && e.at > mine))
            .map(|(_, e)| e.counted_at(now))
            .collect();
        let at = state.opens(window, times, now);
        let entry = &mut state.slots[i];
        if at <= now {
            entry.at = entry.at.max(now);
            entry.phase = Phase::InFlight(instant_after(now, lease));
            return Go::Now;
        }
        let wait = at - now;
        if wait > max_wait {
            state.slots.remove(i);
            return Go::TooFar(wait);
        }
        entry.at = at;
        entry.phase = Phase::Reserved;
        Go::Later(wait)
    }

    /// [`SlotStore::finish`], at `now`.
    pub fn finish_at(&self, key: PaceKey, ticket: Ticket, now: Instant) {
        let mut keys = self.keys();
        if let Some(e) = keys
            .get_mut(&key)
            .and_then(|s| s.slots.iter_mut().find(|e| e.ticket == ticket.0))
        {
            e.at = e.at.max(now);
            e.phase = Phase::Answered;
        }
    }

    /// [`SlotStore::release`]: only a slot whose request never started.
    pub fn release_ticket(&self, key: PaceKey, ticket: Ticket) {
        let mut keys = self.keys();
        if let Some(state) = keys.get_mut(&key) {
            state
                .slots
                .retain(|e| e.ticket != ticket.0 || e.phase != Phase::Reserved);
        }
    }

    /// [`SlotStore::defer`], at `now`.
    pub fn defer_at(&self, key: PaceKey, after: Duration, now: Instant) {
        let mut keys = self.keys();
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

    fn take_ticket(
        &self,
        key: PaceKey,
        window: Window,
        max_wait: Duration,
    ) -> Result<(Slot, Option<Ticket>), StoreError> {
        Ok(self.take_ticket_at(key, window, max_wait, Instant::now()))
    }

    fn start(
        &self,
        key: PaceKey,
        window: Window,
        ticket: Ticket,
        max_wait: Duration,
        lease: Duration,
    ) -> Result<Go, StoreError> {
        Ok(self.start_at(key, window, ticket, max_wait, lease, Instant::now()))
    }

    fn finish(&self, key: PaceKey, _: Window, ticket: Ticket) -> Result<(), StoreError> {
        self.finish_at(key, ticket, Instant::now());
        Ok(())
    }

    fn release(&self, key: PaceKey, _: Window, ticket: Ticket) -> Result<(), StoreError> {
        self.release_ticket(key, ticket);
        Ok(())
    }
}

/// A slot reserved by a [`Pacer`]: the key, the limit it was taken under, and where.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PaceTicket {
    pub key: PaceKey,
    pub window: Window,
    ticket: Ticket,
    /// Taken on the in-process fallback history.
    local: bool,
}

impl PaceTicket {
    fn new(key: PaceKey, window: Window, ticket: Ticket, local: bool) -> PaceTicket {
        PaceTicket {
            key,
            window,
            ticket,
            local,
        }
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
        self.take_ticket_or_refuse(key, window, max_wait)
            .map(|(slot, _, fallback)| (slot, fallback))
    }

    /// [`Pacer::take_or_refuse`], and the slot's ticket (`None` from a store without).
    pub fn take_ticket_or_refuse(
        &self,
        key: PaceKey,
        window: Window,
        max_wait: Duration,
    ) -> Result<(Slot, Option<PaceTicket>, Option<Fallback>), Fallback> {
        let local = self.local.as_ref();
        match self.store.take_ticket(key, window, max_wait) {
            Ok((slot, ticket)) => Ok((
                slot,
                ticket.map(|t| PaceTicket::new(key, window, t, false)),
                None,
            )),
            Err(e) if self.fail_closed => Err(self.fallback(e)),
            Err(error) => {
                let local = local.expect("only a foreign store fails");
                let (slot, ticket) = local.take_ticket_at(key, window, max_wait, Instant::now());
                let ticket = ticket.map(|t| PaceTicket::new(key, window, t, true));
                Ok((slot, ticket, Some(self.fallback(error))))
            }
        }
    }

    /// The store that gave `ticket`.
    fn store_of(&self, ticket: &PaceTicket) -> &dyn SlotStore {
        match (&self.local, ticket.local) {
            (Some(local), true) => local,
            _ => &*self.store,
        }
    }

    /// [`SlotStore::start`] on the store that gave `ticket`. A store that fails lets the
    /// request go (it paced the slot already), unless the pacer is fail-closed.
    pub fn start(
        &self,
        ticket: &PaceTicket,
        max_wait: Duration,
        lease: Duration,
    ) -> Result<(Go, Option<Fallback>), Fallback> {
        match self
            .store_of(ticket)
            .start(ticket.key, ticket.window, ticket.ticket, max_wait, lease)
        {
            Ok(go) => Ok((go, None)),
            Err(e) if self.fail_closed => Err(self.fallback(e)),
            Err(e) => Ok((Go::Now, Some(self.fallback(e)))),
        }
    }

    /// [`SlotStore::finish`] on the store that gave `ticket`.
    pub fn finish(&self, ticket: &PaceTicket) -> Option<Fallback> {
        self.store_of(ticket)
            .finish(ticket.key, ticket.window, ticket.ticket)
            .err()
            .map(|e| self.fallback(e))
    }

    /// [`SlotStore::release`] on the store that gave `ticket` (a failure only costs the slot).
    pub fn release(&self, ticket: &PaceTicket) {
        let _ = self
            .store_of(ticket)
            .release(ticket.key, ticket.window, ticket.ticket);
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

    fn ticket(slot: (Slot, Option<Ticket>)) -> (Duration, Ticket) {
        match slot {
            (Slot::At(wait), Some(t)) => (wait, t),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_slot_sent_late_counts_when_its_answer_came() {
        let s = InProcessStore::new();
        let t0 = Instant::now();
        let win = w(1, 1000);
        let span = 1000 * MS + margin(win);
        let big = big_wait();
        let (_, a) = ticket(s.take_ticket_at(URLS, win, big, t0));
        let (wait, b) = ticket(s.take_ticket_at(URLS, win, big, t0));
        assert_eq!(wait, span);
        // `a` goes 300 ms late; its answer comes 10 ms later.
        assert_eq!(s.start_at(URLS, win, a, big, big, t0 + 300 * MS), Go::Now);
        s.finish_at(URLS, a, t0 + 310 * MS);
        // `b`'s slot is one span after `a`'s answer, not its reservation.
        assert_eq!(
            s.start_at(URLS, win, b, big, big, t0 + span),
            Go::Later(310 * MS)
        );
        assert_eq!(
            s.start_at(URLS, win, b, big, big, t0 + span + 310 * MS),
            Go::Now
        );
        // A new slot counts `b` as now while it is in flight.
        assert_eq!(s.take_at(URLS, win, big, t0 + 2 * span), Slot::At(span));
    }

    #[test]
    fn a_slot_started_past_the_next_one_waits_for_it() {
        let s = InProcessStore::new();
        let t0 = Instant::now();
        let win = w(1, 1000);
        let span = 1000 * MS + margin(win);
        let big = big_wait();
        let (_, a) = ticket(s.take_ticket_at(URLS, win, big, t0));
        let (_, b) = ticket(s.take_ticket_at(URLS, win, big, t0));
        // `a` has not started at `b`'s slot: `b` goes, and `a` waits a span after `b`.
        assert_eq!(s.start_at(URLS, win, b, big, big, t0 + span), Go::Now);
        s.finish_at(URLS, b, t0 + span + 5 * MS);
        let late = t0 + span + 100 * MS;
        assert_eq!(
            s.start_at(URLS, win, a, big, big, late),
            Go::Later(span + 5 * MS - 100 * MS)
        );
        // Past the budget: refused, and the slot released.
        assert_eq!(
            s.start_at(URLS, win, a, 10 * MS, big, late),
            Go::TooFar(span + 5 * MS - 100 * MS)
        );
        assert_eq!(s.keys.lock().unwrap()[&URLS].slots.len(), 1);
    }

    #[test]
    fn an_unfinished_slot_counts_as_now_until_its_lease_ends() {
        let s = InProcessStore::new();
        let t0 = Instant::now();
        let win = w(1, 1000);
        let span = 1000 * MS + margin(win);
        let big = big_wait();
        let (_, a) = ticket(s.take_ticket_at(URLS, win, big, t0));
        assert_eq!(s.start_at(URLS, win, a, big, 2000 * MS, t0), Go::Now);
        // Never finished (its thread died): counted as now until t0 + 2 s, then at that.
        let zero = Duration::ZERO;
        assert_eq!(
            s.take_at(URLS, win, zero, t0 + 1500 * MS),
            Slot::TooFar(span)
        );
        assert_eq!(
            s.take_at(URLS, win, zero, t0 + 2500 * MS),
            Slot::TooFar(span - 500 * MS)
        );
        assert_eq!(
            s.take_at(URLS, win, zero, t0 + 2000 * MS + span),
            Slot::At(zero)
        );
    }

    #[test]
    fn a_released_slot_is_free_again() {
        let s = InProcessStore::new();
        let t0 = Instant::now();
        let win = w(1, 1000);
        let big = big_wait();
        let (_, a) = ticket(s.take_ticket_at(URLS, win, big, t0));
        s.release_ticket(URLS, a);
        assert_eq!(s.take_at(URLS, win, big, t0), Slot::At(Duration::ZERO));
        // A started one is not released.
        let (_, b) = ticket(s.take_ticket_at(URLS, win, big, t0 + 3000 * MS));
        assert_eq!(s.start_at(URLS, win, b, big, big, t0 + 3000 * MS), Go::Now);
        s.release_ticket(URLS, b);
        assert!(matches!(
            s.take_at(URLS, win, Duration::ZERO, t0 + 3000 * MS),
            Slot::TooFar(_)
        ));
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
