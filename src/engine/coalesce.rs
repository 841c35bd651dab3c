//! # Coalescing purges (issue 21): the in-process coalescer, and the seam for Redis
//!
//! ## Where it sits
//! `Client::deliver(ctx, resource_id, kind, items)` is the one purge path (single calls go
//! through `Client::send_call`, which splits a call into requests of the API's size and calls
//! `deliver` for each; job workers call `deliver` for each planned request). With coalescing
//! on it hands the items to the client's [`Coalescer`] (shared by its clones), else to
//! `purge::send_alone` (0.2: this caller's items, its own request: slot, body, retries).
//! A sender that composes when its slot opens uses `Api::wait_slot` (refused at once past the
//! budget or deadline, "; nothing was sent"; a slot whose wait was refused is kept) and then
//! `purge::send_in_slot` (its first attempt starts that slot; after a 429 it takes slots as
//! usual). `purge::per_request(api, kind)` is the limit. Coalescers get the request layer's
//! `Api`, never the `Client`: the client depends on them. [`Coalescer::deliver`] is Ok only
//! when a 2xx request carried all of the caller's items; [`Delivered`] says what that request
//! did. `InProcess` (here) implements it; the Redis one (src/engine/ratestore/coalesce/)
//! wraps an `InProcess` for its fallback (fail-open) and sends with `purge::send_alone`.
//!
//! ## Rules of the in-process coalescer
//! - Queue per (resource_id, PurgeKind) — URLs, patterns and purge-all are three queues. Patterns
//!   and purge-all share the pacer key (one window) but never a request (the API has one kind per
//!   body); a purge-all does not absorb pending patterns. Purge-all callers share one `{"paths": []}`.
//! - A caller's items go in ONE request, whole (a `send` is at most the per-request limit): so a
//!   job's request entry is exactly one HTTP request, and a caller's outcome is that request's.
//!   Items are de-duplicated across the callers of a request at composition time. Items are NOT
//!   merged with a request already in flight (it may have been sent before the caller's change).
//! - Leader: a lane has at most one caller holding "the next slot". A caller that finds no
//!   leader becomes it, takes a slot from the pacer with its own budget/deadline (`Api` slot wait,
//!   refused at once when too far), and when the slot opens composes the request: its own items
//!   first, then waiting callers in arrival order whose items fit (up to the account's per-request
//!   limit, never below the leader's own count), marks them in flight, gives up leadership (the
//!   next waiting caller becomes leader and takes the next slot: with N per window several
//!   requests can be in flight), and sends on its own thread. The first caller in a free window
//!   thus goes at once, alone.
//! - Followers wait on the lane's condvar (cancel and the tick seen every <= 50 ms) for: their
//!   request's outcome, or leadership. A follower leaves at once when cancelled, at its deadline,
//!   or when its items cannot be sent within its wait budget (counted from joining): when it
//!   joins, and whenever the lane changes (a request composed without it, a new slot, a caller
//!   gone), it works out the earliest slot its items could go in ([`earliest_slot`]: the
//!   requests the callers before it fill, in the composition's order and up to the per-request
//!   limit, and the window rule from the leader's slot on: the k-th request after the leader's
//!   no sooner than `floor(k / N)` windows (plus margin) after it) and leaves at once, nothing of
//!   it sent, when that is past its budget or deadline ("... opens X after it began").
//! - A leader that leaves (cancel, deadline, budget) before composing withdraws its items and
//!   hands leadership over. The slot it reserved in the pacer is handed over too (the lane's
//!   spare): the next leader waits for it instead of taking a new one (no interval lost), when
//!   it has not passed yet; a spare no caller can use is dropped (never sent late, so never a
//!   429).
//! - Outcome: the sender records the request's result (`Result<SentInfo, Failed>`, items,
//!   callers) in a shared `Arc<Outcome>` that each carried caller holds; each caller returns it.
//!   Failed + callers > 1: message `"<error> (a request shared by N callers carrying M items;
//!   none of this caller's items were purged by it)"`. Client::send_call adds which earlier items
//!   were purged ("K URLs were purged by the request(s) before it").
//! - The sender's budget/deadline bound the send; each follower's deadline bounds its own wait
//!   for the outcome (it then leaves with Timeout naming its in-flight items). A sender that
//!   stops the request itself (its cancel, its deadline) before the answer fails alone: the
//!   followers it carried wait again, first in line, for a sender of their own (a purge sent
//!   twice is harmless); one that then leaves is told its items are not known to be purged.
//! - Seen: `Note::Shared { resource_id, kind, items, callers }` before a shared request goes
//!   (log records it); job report request entries get `carried_for_others`, totals too.
//! - Off: `Options::coalesce = false` (`gcdn_options_set_coalesce`, Python `coalesce=False`,
//!   Go `WithCoalesce(false)`, CLI `--no-coalesce`): `Api::coalescer` is None -> 0.2 behaviour.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::call::{CallCtx, TICK};
use super::clock::instant_after;
use super::error::{Error, Status};
use super::note::Note;
use super::note::WaitReason;
use super::pacer::{margin, PaceKey, Slot};
use super::purge::{self, PurgeKind};
use super::request::{Api, Failed, SentInfo, SlotLost, Slotted};
use super::wait::Refused;

mod told;
pub(crate) use told::stopped_by_sender;
use told::{after_requeue, internal, left, named, shared_failure, unsent};

/// What the request that carried a caller's items did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivered {
    /// Attempts, HTTP status and 429s of that request.
    pub info: SentInfo,
    /// Unique items it carried, for every caller.
    pub items: usize,
    /// Callers whose items it carried, this one included.
    pub callers: usize,
    /// Items it carried that were not this caller's.
    pub for_others: usize,
    /// The identity of every item it carried (what its purge status lists), when that may
    /// differ from this caller's items (it carried other callers' too); `None`: this
    /// caller's items alone.
    pub shared: Option<ItemsDigest>,
}

/// The identity of a request's items, as its purge status lists them: how many (unique), and
/// a 128-bit FNV-1a hash of them sorted, one per line. The same in every process, host and
/// version (it is published through the rate store), so that a job whose items went in a
/// request shared with other callers matches that request's purge status
/// (job/confirm.rs). Not a cryptographic hash: a collision needs the same resource, kind and
/// count in the same minutes, and would mismatch a confirmation, never a purge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ItemsDigest {
    pub count: usize,
    pub hash: u128,
}

impl ItemsDigest {
    pub fn of<'a>(items: impl IntoIterator<Item = &'a str>) -> ItemsDigest {
        const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
        const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
        let mut sorted: Vec<&str> = items.into_iter().collect();
        sorted.sort_unstable();
        sorted.dedup();
        let mut hash = OFFSET;
        for (i, item) in sorted.iter().enumerate() {
            let sep: &[u8] = if i == 0 { b"" } else { b"\n" };
            for &b in sep.iter().chain(item.as_bytes()) {
                hash ^= u128::from(b);
                hash = hash.wrapping_mul(PRIME);
            }
        }
        ItemsDigest {
            count: sorted.len(),
            hash,
        }
    }

    /// `<count>:<32 hex digits>`, as the rate store publishes it.
    pub fn encode(&self) -> String {
        format!("{}:{:032x}", self.count, self.hash)
    }

    /// [`ItemsDigest::encode`]'s form back; `None` for anything else.
    pub fn decode(s: &str) -> Option<ItemsDigest> {
        let (count, hash) = s.split_once(':')?;
        if hash.len() != 32 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some(ItemsDigest {
            count: count.parse().ok()?,
            hash: u128::from_str_radix(hash, 16).ok()?,
        })
    }
}

impl Delivered {
    /// A request that carried `items` of one caller alone.
    pub fn alone(info: SentInfo, items: usize) -> Delivered {
        Delivered {
            info,
            items,
            callers: 1,
            for_others: 0,
            shared: None,
        }
    }
}

/// How one caller's items reach the API: alone or in a request shared with other callers of
/// the client (see the module's note). The in-process [`InProcess`] is one; a shared (Redis)
/// one is another.
pub(crate) trait Coalescer: Send + Sync {
    /// Deliver one caller's `items` of `kind` on `resource_id` (checked, unique, at most one
    /// request's worth: more go alone): `Ok` only when a 2xx request carried all of them.
    /// Every wait is bounded by `ctx` (cancel, deadline, wait budget).
    fn deliver(
        &self,
        api: &Api,
        ctx: &CallCtx,
        resource_id: i64,
        kind: PurgeKind,
        items: &[&str],
    ) -> Result<Delivered, Failed>;
}

type LaneKey = (i64, PurgeKind);

enum Caller {
    /// Its items wait for a request.
    Waiting(Vec<String>),
    /// Its items are in a request being sent, which carries `total` items of `callers`.
    Carried {
        items: Vec<String>,
        callers: usize,
        total: usize,
    },
    /// The request that carried its items ended.
    Done(Result<Delivered, Failed>),
}

#[derive(Default)]
struct Lane {
    /// Callers whose items wait, in arrival order.
    waiting: VecDeque<u64>,
    /// The caller holding the next slot, if any.
    leader: Option<u64>,
    /// When the leader's slot opens (once the pacer gave it).
    next_slot: Option<Instant>,
    /// The pacer's limit on the lane's key, as last seen by a leader: requests per window,
    /// and the window with its margin (what one slot after another costs).
    pace: Option<(usize, Duration)>,
    /// A slot reserved in the pacer by a leader that left before it opened (when it opens,
    /// and the slot): the next leader takes it instead of a new one.
    spare: Option<(Instant, Slotted)>,
}

#[derive(Default)]
struct State {
    lanes: HashMap<LaneKey, Lane>,
    callers: HashMap<u64, Caller>,
    next_id: u64,
    /// Callers waiting on [`InProcess::wake`] (counted under this mutex): a change nobody
    /// waits for is not signalled, so a caller alone on the queue makes no system call for it.
    waiters: usize,
    /// Callers waiting again after their items went in a shared request whose sender stopped
    /// (its own cancel or deadline) before the answer: if they leave before another request
    /// carries them, their items are not known to be purged (not "nothing was sent").
    requeued: HashSet<u64>,
}

impl Lane {
    /// Nobody is on it, and no spare slot is left for a caller to come.
    fn idle(&self, now: Instant) -> bool {
        self.waiting.is_empty() && self.leader.is_none() && self.spare.is_none_or(|(t, _)| t < now)
    }
}

impl State {
    /// Forget `key`'s lane when nobody is on it (and lanes whose spare slot passed).
    fn tidy(&mut self, key: LaneKey) {
        let now = Instant::now();
        if self.lanes.get(&key).is_some_and(|l| l.idle(now)) {
            self.lanes.remove(&key);
        }
        if self.lanes.len() > TIDY_ALL_ABOVE {
            self.lanes.retain(|_, l| !l.idle(now));
        }
    }

    /// `id` leaves `key`'s lane, its waiting items withdrawn.
    fn withdraw(&mut self, key: LaneKey, id: u64) {
        self.callers.remove(&id);
        self.requeued.remove(&id);
        if let Some(lane) = self.lanes.get_mut(&key) {
            lane.waiting.retain(|&w| w != id);
            if lane.leader == Some(id) {
                lane.leader = None;
                lane.next_slot = None;
            }
        }
        self.tidy(key);
    }
}

/// Above this many lanes, [`State::tidy`] forgets every idle one (those kept for a spare slot
/// that passed with nobody to take it).
const TIDY_ALL_ABOVE: usize = 64;

/// The coalescer of one process: one per client (its clones and derived clients share it).
#[derive(Default)]
pub struct InProcess {
    state: Mutex<State>,
    wake: Condvar,
}

impl InProcess {
    pub fn new() -> InProcess {
        InProcess::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Releases `st` after a change to it, then wakes the callers waiting for changes, if
    /// any waits: `Condvar::notify_all` is a system call even when nobody waits, and a caller
    /// alone in a free window would make several per call.
    fn wake_after(&self, st: MutexGuard<'_, State>) {
        let waiting = st.waiters > 0;
        drop(st);
        if waiting {
            self.wake.notify_all();
        }
    }

    /// `id` holds the next slot of `key`: wait for it, compose the request, send it.
    fn lead(
        &self,
        api: &Api,
        ctx: &CallCtx,
        key: LaneKey,
        id: u64,
        waited: Duration,
        limit: usize,
    ) -> Result<Delivered, Failed> {
        let (resource_id, kind) = key;
        // Whatever happens (a panic too), the lane gets a leader again and nobody carried
        // waits for an answer that will not come.
        let mut guard = Leading {
            co: self,
            key,
            id,
            carried: Vec::new(),
        };
        // What the caller waited as a follower counts against its budget.
        let lctx = if waited.is_zero() {
            ctx.clone()
        } else {
            ctx.with_wait_budget(ctx.wait_budget().saturating_sub(waited))
        };
        let pace_kind = purge::pace_kind(kind);
        // The slot a leader that left reserved, if it has not passed: this leader's.
        let spare = {
            let mut st = self.lock();
            let lane = st.lanes.get_mut(&key).expect("the leader's lane lives");
            let spare = lane.spare.take().filter(|&(t, _)| t >= Instant::now());
            if let Some((at, _)) = spare {
                lane.next_slot = Some(at);
                self.wake_after(st);
            }
            spare
        };
        let slot = match spare {
            Some((at, kept)) => self.wait_spare(&lctx, key, at, kept),
            None => api.wait_slot(
                &lctx,
                PaceKey {
                    resource_id,
                    kind: pace_kind,
                },
                &|slot| {
                    if let Slot::At(wait) = slot {
                        // The limit, for the followers' reckoning: known by now (a slot that is
                        // not the key's first), so reading it costs nothing.
                        let pace = (!wait.is_zero()).then(|| {
                            let w = api.window(&lctx, pace_kind);
                            (w.requests.max(1) as usize, w.per.saturating_add(margin(w)))
                        });
                        let mut st = self.lock();
                        if let Some(lane) = st.lanes.get_mut(&key) {
                            lane.next_slot = Some(instant_after(Instant::now(), wait));
                            lane.pace = pace.or(lane.pace);
                        }
                        self.wake_after(st);
                    }
                },
            ),
        };
        let window = match slot {
            Ok(window) => window,
            Err(SlotLost { error, kept }) => {
                // Leaving: the next waiting caller takes over (the guard hands leadership
                // on), and the slot reserved for this one, if any, with it.
                let mut st = self.lock();
                if let Some(lane) = st.lanes.get_mut(&key) {
                    lane.spare = lane.next_slot.filter(|&t| t > Instant::now()).zip(kept);
                }
                let requeued = st.requeued.contains(&id);
                drop(st);
                return Err(left(error, requeued));
            }
        };
        let mut st = self.lock();
        // The slot is open: compose. Own items first, then waiting callers in arrival order
        // whose new items still fit.
        let State { lanes, callers, .. } = &mut *st;
        let lane = lanes.get_mut(&key).expect("the leader's lane lives");
        let own = match callers.get(&id) {
            Some(Caller::Waiting(items)) => items.clone(),
            _ => Vec::new(),
        };
        let mut seen: HashSet<String> = own.iter().cloned().collect();
        let mut batch = own.clone();
        let mut carried = vec![(id, own.len())];
        lane.waiting.retain(|&other| {
            if other == id {
                return false;
            }
            let Some(Caller::Waiting(items)) = callers.get(&other) else {
                return true;
            };
            let new: Vec<&String> = items.iter().filter(|i| !seen.contains(*i)).collect();
            if kind != PurgeKind::All && batch.len() + new.len() > limit {
                return true;
            }
            for item in new {
                seen.insert(item.clone());
                batch.push(item.clone());
            }
            carried.push((other, items.len()));
            false
        });
        lane.leader = None;
        lane.next_slot = None;
        let n = carried.len();
        for (c, _) in &carried {
            if let Some(caller) = callers.get_mut(c) {
                let items = match std::mem::replace(caller, Caller::Done(Err(internal()))) {
                    Caller::Waiting(items) => items,
                    _ => Vec::new(),
                };
                *caller = Caller::Carried {
                    items,
                    callers: n,
                    total: batch.len(),
                };
            }
        }
        guard.carried = carried.clone();
        // The next waiting caller takes the next slot while this request goes.
        self.wake_after(st);
        if n > 1 {
            lctx.note(&Note::Shared {
                resource_id,
                kind: purge::pace_kind(kind),
                items: batch.len(),
                callers: n,
            });
        }
        let refs: Vec<&str> = batch.iter().map(String::as_str).collect();
        let result = purge::send_in_slot(api, &lctx, resource_id, kind, &refs, window);
        let total = batch.len();
        // This caller stopped the request (its cancel, its deadline) before its answer: that
        // says nothing of the others' items, which wait again for a sender of their own (a
        // purge sent twice is harmless).
        let sender_stopped = result.as_ref().is_err_and(|f| stopped_by_sender(f, &lctx));
        let mut st = self.lock();
        let mut again = Vec::new();
        let mut own_outcome = Err(internal());
        let shared = (n > 1).then(|| ItemsDigest::of(batch.iter().map(String::as_str)));
        for &(c, mine) in &carried {
            let outcome = match &result {
                Ok(info) => Ok(Delivered {
                    info: *info,
                    items: total,
                    callers: n,
                    for_others: total - mine,
                    shared,
                }),
                Err(f) => Err(shared_failure(f, n, total)),
            };
            if c == id {
                st.callers.remove(&id);
                own_outcome = if st.requeued.remove(&id) {
                    after_requeue(outcome)
                } else {
                    outcome
                };
            } else if let Some(caller) = st.callers.get_mut(&c) {
                *caller = match std::mem::replace(caller, Caller::Done(Err(internal()))) {
                    Caller::Carried { items, .. } if sender_stopped => {
                        again.push(c);
                        Caller::Waiting(items)
                    }
                    _ => Caller::Done(outcome),
                };
            }
        }
        if !again.is_empty() {
            // First in line again, in their order.
            let lane = st.lanes.entry(key).or_default();
            for &c in again.iter().rev() {
                lane.waiting.push_front(c);
            }
            // Sent (its answer unknown): if they leave now, not "nothing was sent".
            if result.as_ref().is_err_and(|f| f.attempts > 0) {
                st.requeued.extend(again);
            }
        }
        st.tidy(key);
        guard.carried.clear();
        self.wake_after(st);
        own_outcome
    }
}

impl InProcess {
    /// Wait for `at`, when `kept`, a slot reserved in the pacer by a leader that left, opens,
    /// as a slot of the pacer is waited for (charged to the budget, cancellable): refused at
    /// once when it opens past what the caller may wait (the slot still reserved).
    fn wait_spare(
        &self,
        ctx: &CallCtx,
        key: LaneKey,
        at: Instant,
        kept: Slotted,
    ) -> Result<Slotted, SlotLost> {
        let pace_kind = purge::pace_kind(key.1);
        let wait = at.saturating_duration_since(Instant::now());
        let pace = PaceKey {
            resource_id: key.0,
            kind: pace_kind,
        };
        let refused = match ctx.waits().wait(wait, WaitReason::Pacer, Some(pace)) {
            Ok(()) => return Ok(kept),
            Err(refused) => refused,
        };
        let error = match refused {
            Refused::Cancelled => Error::new(
                Status::Cancelled,
                format!(
                    "the call was cancelled while waiting for the next {} purge slot",
                    pace_kind.noun()
                ),
            ),
            other => Error::new(
                other.status(),
                format!(
                    "the next {} purge slot opens in {}, {}; nothing was sent",
                    pace_kind.noun(),
                    super::format::secs(wait),
                    other.explain()
                ),
            ),
        };
        Err(SlotLost {
            error,
            kept: Some(kept),
        })
    }
}

/// The earliest moment the request that would carry `id`'s items (a waiting caller of `lane`)
/// can go: the callers before it (the leader first, then in arrival order) fill requests as
/// the leaders compose them (each leader's own items first, then whoever fits, up to `limit`
/// unique items), and the k-th request after the leader's opens no sooner than `floor(k / N)`
/// windows (plus margin) after the leader's slot, N per window (the pacer's window rule; the
/// pacer may give later slots still, never sooner). `None` while the leader's slot is not
/// known. Past [`RECKONED`] requests the reckoning stops (a bound that is still a bound).
fn earliest_slot(
    lane: &Lane,
    callers: &HashMap<u64, Caller>,
    id: u64,
    kind: PurgeKind,
    limit: usize,
) -> Option<Instant> {
    let (first, (n, span)) = (lane.next_slot?, lane.pace?);
    let slot = |k: usize| {
        let windows = u32::try_from(k / n.max(1)).unwrap_or(u32::MAX);
        instant_after(first, span.saturating_mul(windows))
    };
    let mut order: Vec<u64> = lane
        .leader
        .into_iter()
        .chain(
            lane.waiting
                .iter()
                .copied()
                .filter(|&w| Some(w) != lane.leader),
        )
        .collect();
    for k in 0..RECKONED {
        let mut seen: HashSet<&str> = HashSet::new();
        let mut rest = Vec::new();
        for c in order {
            let Some(Caller::Waiting(items)) = callers.get(&c) else {
                continue;
            };
            let new = items.iter().filter(|i| !seen.contains(i.as_str())).count();
            if !seen.is_empty() && kind != PurgeKind::All && seen.len() + new > limit {
                rest.push(c);
                continue;
            }
            if c == id {
                return Some(slot(k));
            }
            seen.extend(items.iter().map(String::as_str));
            if items.is_empty() {
                // A purge-all caller: its request is composed, whatever it carries.
                seen.insert("");
            }
        }
        if rest.is_empty() {
            return None;
        }
        order = rest;
    }
    Some(slot(RECKONED))
}

/// Requests [`earliest_slot`] reckons at most.
const RECKONED: usize = 64;

/// Hands leadership on and ends the carried callers' waits if the leader stops without
/// finishing (a panic in a job's request, contained by the job).
struct Leading<'a> {
    co: &'a InProcess,
    key: LaneKey,
    id: u64,
    carried: Vec<(u64, usize)>,
}

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        let mut st = self.co.lock();
        for &(c, _) in &self.carried {
            if c != self.id {
                if let Some(caller) = st.callers.get_mut(&c) {
                    *caller = Caller::Done(Err(internal()));
                }
            }
        }
        st.withdraw(self.key, self.id);
        self.co.wake_after(st);
    }
}

impl Coalescer for InProcess {
    fn deliver(
        &self,
        api: &Api,
        ctx: &CallCtx,
        resource_id: i64,
        kind: PurgeKind,
        items: &[&str],
    ) -> Result<Delivered, Failed> {
        let limit = purge::per_request(api, kind);
        if kind != PurgeKind::All && items.len() > limit {
            // More than one request's worth: nothing can share it.
            return purge::send_alone(api, ctx, resource_id, kind, items)
                .map(|info| Delivered::alone(info, items.len()));
        }
        if ctx.cancelled() {
            return Err(unsent(Error::new(
                Status::Cancelled,
                "the call was cancelled",
            )));
        }
        let key = (resource_id, kind);
        let joined = Instant::now();
        // A waiting caller's items must be sent by then (its budget, or its deadline).
        let mut budget_end = instant_after(joined, ctx.wait_budget());
        let deadline = ctx.deadline();
        let mut st = self.lock();
        let id = st.next_id;
        st.next_id += 1;
        st.callers.insert(
            id,
            Caller::Waiting(items.iter().map(|s| (*s).to_owned()).collect()),
        );
        st.lanes.entry(key).or_default().waiting.push_back(id);
        // When this caller first waited for others (its wait counts against its budget).
        let mut napped_since: Option<Instant> = None;
        // Time its items spent in a request that then went back (not a wait on a limit): the
        // budget is moved by it. `carried_since`: since when, while carried.
        let mut carried_since: Option<Instant> = None;
        let mut carried_for = Duration::ZERO;
        loop {
            // The tick is the caller's code: never run it while holding the lock.
            drop(st);
            let stop = ctx.poll_stop();
            st = self.lock();
            let now = Instant::now();
            match st.callers.get(&id) {
                Some(Caller::Done(_)) => {
                    let Some(Caller::Done(outcome)) = st.callers.remove(&id) else {
                        unreachable!("just seen")
                    };
                    let requeued = st.requeued.remove(&id);
                    st.tidy(key);
                    return if requeued {
                        after_requeue(outcome)
                    } else {
                        outcome
                    };
                }
                Some(Caller::Carried {
                    items,
                    callers,
                    total,
                }) => {
                    carried_since.get_or_insert(now);
                    let past = deadline.is_some_and(|d| now >= d);
                    if stop || past {
                        let (status, what) = if stop {
                            (Status::Cancelled, "the call was cancelled")
                        } else {
                            (Status::Timeout, "the call timeout ran out")
                        };
                        let error = Error::new(
                            status,
                            format!(
                                "{what} while its {} item(s) were in flight in a purge request \
                                 shared by {callers} callers ({total} items), not known to be \
                                 purged: {}",
                                items.len(),
                                named(items)
                            ),
                        );
                        st.callers.remove(&id);
                        st.requeued.remove(&id);
                        return Err(Failed {
                            error,
                            earlier_attempt_uncertain: true,
                            attempts: 0,
                            http_status: None,
                            rate_limited: 0,
                        });
                    }
                }
                Some(Caller::Waiting(_)) => {
                    if let Some(since) = carried_since.take() {
                        // Back from a request whose sender stopped.
                        let away = now.saturating_duration_since(since);
                        carried_for = carried_for.saturating_add(away);
                        budget_end = instant_after(budget_end, away);
                    }
                    let requeued = st.requeued.contains(&id);
                    let lane = st
                        .lanes
                        .get_mut(&key)
                        .expect("a waiting caller's lane lives");
                    if stop {
                        st.withdraw(key, id);
                        self.wake_after(st);
                        let error = Error::new(
                            Status::Cancelled,
                            format!(
                                "the call was cancelled while waiting for the next {} purge slot",
                                purge::pace_kind(kind).noun()
                            ),
                        );
                        return Err(left(error, requeued));
                    }
                    if lane.leader.is_none() && lane.waiting.front() == Some(&id) {
                        lane.leader = Some(id);
                        drop(st);
                        let waited = napped_since
                            .map_or(Duration::ZERO, |t| t.elapsed())
                            .saturating_sub(carried_for);
                        return self.lead(api, ctx, key, id, waited, limit);
                    }
                    // The earliest slot with room for this caller's items opens past what
                    // it may wait, or the wait is over: leave at once.
                    let end = deadline.map_or(budget_end, |d| d.min(budget_end));
                    let lane = &st.lanes[&key];
                    let opens =
                        earliest_slot(lane, &st.callers, id, kind, limit).filter(|&t| t > end);
                    if opens.is_some() || now >= end {
                        let wanted = opens
                            .unwrap_or(now)
                            .saturating_duration_since(joined)
                            .saturating_sub(carried_for);
                        let waited = now
                            .saturating_duration_since(joined)
                            .saturating_sub(carried_for);
                        let refused = if deadline.is_some_and(|d| d < budget_end) {
                            Refused::Deadline {
                                wanted,
                                left: deadline
                                    .map(|d| d.saturating_duration_since(now))
                                    .unwrap_or_default(),
                            }
                        } else {
                            Refused::Budget {
                                wanted,
                                budget: ctx.wait_budget(),
                                waited,
                            }
                        };
                        st.withdraw(key, id);
                        self.wake_after(st);
                        let error = Error::new(
                            refused.status(),
                            format!(
                                "the next {} purge slot with room for this call's items opens \
                                 {} after it began, {}; nothing of it was sent",
                                purge::pace_kind(kind).noun(),
                                super::format::secs(wanted),
                                refused.explain()
                            ),
                        );
                        return Err(left(error, requeued));
                    }
                }
                None => return Err(internal()),
            }
            let mut nap = TICK;
            if let Some(d) = deadline {
                nap = nap.min(d.saturating_duration_since(now));
            }
            if matches!(st.callers.get(&id), Some(Caller::Waiting(_))) {
                nap = nap.min(budget_end.saturating_duration_since(now));
            }
            let nap = nap.max(Duration::from_millis(1));
            napped_since.get_or_insert(now);
            // Counted under the lock it waits with: a caller that changes the state under
            // the lock and then finds no waiter counted has nobody to wake (a waiter counted
            // later sees the change before it waits), so none is lost.
            st.waiters += 1;
            st = self
                .wake
                .wait_timeout(st, nap)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            st.waiters -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ItemsDigest;

    /// The digest is published for other processes (other hosts, other versions): its value
    /// is pinned, and it depends on the set of items alone.
    #[test]
    fn the_items_digest_is_fixed_and_of_the_set() {
        let d = ItemsDigest::of(["/b", "/a", "/b"]);
        assert_eq!(d.count, 2);
        assert_eq!(d.encode(), "2:e41e750fce83d94f7080745d0f020a6c");
        assert_eq!(ItemsDigest::decode(&d.encode()), Some(d));
        // Items never hold a line break (checked before they join); one that did would
        // still differ by the count.
        assert_ne!(ItemsDigest::of(["/a\n/b"]), d);
        assert_ne!(ItemsDigest::of(["/a", "/c"]), d);
        assert_eq!(
            ItemsDigest::of([]).encode(),
            "0:6c62272e07bb014262b821756295c58d"
        );
        for bad in [
            "",
            "2",
            "x:00",
            "2:0123",
            "-1:6c62272e07bb014262b821756295c58d",
        ] {
            assert_eq!(ItemsDigest::decode(bad), None, "{bad}");
        }
    }
}
