//! A run's workers: the (resource, rate window) lanes, which lane sends next, and the
//! worker loop that sends each planned request through the one purge path.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

use super::contain::{contained, debug};
use super::event::{Event, EventKind};
use super::msg::{ConfirmView, Msg};
use super::{JobData, PurgeKind, Span};
use crate::engine::call::{CallCtx, CallSettings};
use crate::engine::cancel::CancelToken;
use crate::engine::clock::instant_after;
use crate::engine::coalesce::ItemsDigest;
use crate::engine::error::Status;
use crate::engine::note::{Note, Observer};
use crate::engine::pacer::{self, Window};
use crate::engine::purge;
use crate::engine::request::Failed;
use crate::engine::Client;

/// How often the calling thread looks at the caller's cancel token while it waits for
/// events: the longest a cancel goes unnoticed.
pub(super) const TICK: Duration = Duration::from_millis(20);

/// One (resource, rate window): its requests in order, and when its window allows the next.
pub(super) struct Lane {
    pub(super) window: Window,
    pub(super) queue: VecDeque<usize>,
    /// When this run's own requests on the lane went out, the last `window.requests`.
    pub(super) sent: VecDeque<Instant>,
    pub(super) busy: bool,
}

impl Lane {
    /// When the window lets this lane send next, by this run's own sends (the pacer's rule;
    /// the pacer, which also knows other calls' sends, has the last word).
    fn ready_at(&self, now: Instant) -> Instant {
        pacer::window_opens(self.window, &self.sent, now)
    }
}

pub(super) struct Sched {
    pub(super) lanes: Vec<Lane>,
    /// Resources an answer said are gone (404): their other requests are not sent.
    pub(super) gone: HashSet<i64>,
    /// A 401/403: nothing more is sent.
    pub(super) unauthorized: bool,
}

pub(super) struct Shared<'a> {
    pub(super) sched: Mutex<Sched>,
    pub(super) wake: Condvar,
    /// Fired by the calling thread on cancel or stop; every wait of the run watches it.
    pub(super) cancel: Arc<CancelToken>,
    /// The run's context: the caller's (or the client's) cancel token, seen at once.
    pub(super) run_ctx: &'a CallCtx,
    pub(super) deadline: Option<Instant>,
    pub(super) items: &'a [Vec<Span>],
    pub(super) data: &'a JobData,
    pub(super) kinds: Vec<(i64, PurgeKind)>,
    pub(super) sent_at: Mutex<Vec<Option<SystemTime>>>,
    /// The items of a request that carried other callers' items too, by request.
    pub(super) sent_items: Mutex<Vec<Option<ItemsDigest>>>,
    pub(super) done_sending: AtomicBool,
}

pub(super) fn shared_view<'a>(shared: &'a Shared<'a>) -> ConfirmView<'a> {
    ConfirmView {
        cancel: &shared.cancel,
        cancel_token: &shared.cancel,
        deadline: shared.deadline,
        items: shared.items,
        data: shared.data,
        kinds: &shared.kinds,
        sent_at: shared
            .sent_at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone(),
        sent_items: shared
            .sent_items
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone(),
    }
}

/// What a worker does next.
enum Pick {
    /// Send request `.1` of lane `.0`, which the lane's window lets go at `.2` (now, or
    /// later: the pacer's wait for that slot is the request's own, charged to its budget).
    Send(usize, usize, Instant),
    /// Every lane with requests left is busy: until one is free.
    Sleep(Instant),
    Done,
}

/// The lane that can send soonest, taken (marked busy) with its next request, even when its
/// window opens only later: the worker then waits for that slot in the pacer, through the
/// request's waits (charged to its rate-limit wait budget and the run's deadline, refused at
/// once when it cannot be afforded). Since no lane that is free could send sooner, waiting
/// on this one holds up no other.
fn pick(sched: &mut Sched, now: Instant) -> Pick {
    let mut soonest: Option<(Instant, usize)> = None;
    let mut any_pending = false;
    for (i, lane) in sched.lanes.iter().enumerate() {
        if lane.queue.is_empty() {
            continue;
        }
        any_pending = true;
        if lane.busy {
            continue;
        }
        let at = lane.ready_at(now);
        if soonest.is_none_or(|(t, _)| at < t) {
            soonest = Some((at, i));
        }
    }
    match soonest {
        Some((at, i)) => {
            let lane = &mut sched.lanes[i];
            lane.busy = true;
            Pick::Send(i, lane.queue.pop_front().expect("not empty"), at)
        }
        // Every pending lane is busy: wait for one to finish.
        None if any_pending => Pick::Sleep(instant_after(now, Duration::from_secs(3600))),
        None => Pick::Done,
    }
}

pub(super) fn worker(
    client: &Client,
    shared: &Shared<'_>,
    settings: &CallSettings,
    tx: Sender<Msg>,
) {
    loop {
        let now = Instant::now();
        let mut sched = shared.sched.lock().unwrap_or_else(|e| e.into_inner());
        if shared.cancel.is_cancelled()
            || shared.run_ctx.cancelled()
            || shared.deadline.is_some_and(|d| now >= d)
        {
            return;
        }
        if sched.unauthorized {
            abandon_all(&mut sched, &tx);
            shared.wake.notify_all();
            return;
        }
        let (lane, req, ready) = match pick(&mut sched, now) {
            Pick::Done => {
                shared.wake.notify_all();
                return;
            }
            Pick::Sleep(at) => {
                let mut until = at;
                if let Some(d) = shared.deadline {
                    until = until.min(d);
                }
                // Bounded, so that a cancel (which cannot ring this condvar) is seen soon.
                let nap = until.saturating_duration_since(now).min(TICK * 5);
                drop(
                    shared
                        .wake
                        .wait_timeout(sched, nap)
                        .unwrap_or_else(|e| e.into_inner()),
                );
                continue;
            }
            Pick::Send(lane, req, ready) => (lane, req, ready),
        };
        let (rid, kind) = shared.kinds[req];
        if sched.gone.contains(&rid) {
            sched.lanes[lane].busy = false;
            let _ = tx.send(Msg::Abandoned {
                req,
                status: Status::NotFound,
                message: format!("not sent: an earlier request found no resource {rid} (HTTP 404)"),
            });
            continue;
        }
        drop(sched);

        let _ = tx.send(Msg::Started { req });
        // When the pacer's last reserved slot for this request opens: when it went out.
        let slot: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
        // Attempts begun, for a request a panic ends.
        let attempts = Arc::new(AtomicU32::new(0));
        let observer: Observer = {
            let tx = Mutex::new(tx.clone());
            let slot = Arc::clone(&slot);
            let attempts = Arc::clone(&attempts);
            Arc::new(move |note: &Note<'_>| {
                if let Note::Attempt { attempt, .. } = note {
                    attempts.store(*attempt, Ordering::Relaxed);
                }
                if let Note::Slot {
                    wait,
                    reserved: true,
                    ..
                } = note
                {
                    *slot.lock().unwrap_or_else(|e| e.into_inner()) =
                        Some(instant_after(Instant::now(), *wait));
                }
                if let Some((event, rate_limited)) = note_event(note) {
                    let tx = tx.lock().unwrap_or_else(|e| e.into_inner());
                    let _ = tx.send(Msg::Note {
                        req: Some(req),
                        event,
                        rate_limited,
                    });
                }
            })
        };
        let mut call = settings.clone();
        call.timeout = shared
            .deadline
            .map(|d| d.saturating_duration_since(Instant::now()));
        let ctx = client.context(&call, Some(observer));
        let items: Vec<&str> = shared.items[req]
            .iter()
            .map(|s| shared.data.str(*s))
            .collect();
        // Every wait of the request, the one for its lane's window included, is the pacer's
        // (in `send`): charged to the request's budget and the run's deadline.
        // A panic (a bug) fails this request, and the run goes on.
        let result = contained("sending a purge request", || {
            debug::hit(debug::Site::Request, rid);
            purge::send(client, &ctx, rid, kind, &items)
        })
        .unwrap_or_else(|error| {
            let attempts = attempts.load(Ordering::Relaxed);
            Err(Failed {
                error,
                earlier_attempt_uncertain: attempts > 0,
                attempts,
                http_status: None,
                rate_limited: 0,
            })
        });
        drop(items);
        let (result, carried_for_others, shared_items) = match result {
            Ok(d) => (Ok(d.info), d.for_others, d.shared),
            Err(f) => (Err(f), 0, None),
        };
        let went_at = slot
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .unwrap_or(ready);
        let sent_at = system_time_of(went_at);

        let mut sched = shared.sched.lock().unwrap_or_else(|e| e.into_inner());
        let l = &mut sched.lanes[lane];
        l.busy = false;
        // The lane's window counts only requests that went out.
        let attempts = match &result {
            Ok(info) => info.attempts,
            Err(f) => f.attempts,
        };
        if attempts > 0 {
            let n = l.window.requests.max(1) as usize;
            l.sent.push_back(went_at);
            while l.sent.len() > n {
                l.sent.pop_front();
            }
        }
        if let Err(f) = &result {
            match f.error.status {
                Status::Unauthorized => sched.unauthorized = true,
                Status::NotFound => {
                    sched.gone.insert(rid);
                }
                _ => {}
            }
        } else {
            shared.sent_at.lock().unwrap_or_else(|e| e.into_inner())[req] = Some(sent_at);
            shared.sent_items.lock().unwrap_or_else(|e| e.into_inner())[req] = shared_items;
        }
        drop(sched);
        shared.wake.notify_all();
        let _ = tx.send(Msg::Done {
            req,
            result,
            sent_at,
            carried_for_others,
        });
    }
}

/// `at` by the wall clock.
fn system_time_of(at: Instant) -> SystemTime {
    let (now, wall) = (Instant::now(), SystemTime::now());
    match at.checked_duration_since(now) {
        Some(ahead) => wall.checked_add(ahead),
        None => wall.checked_sub(now.saturating_duration_since(at)),
    }
    .unwrap_or(wall)
}

/// After a 401/403: every request still queued is not sent.
fn abandon_all(sched: &mut Sched, tx: &Sender<Msg>) {
    for lane in &mut sched.lanes {
        while let Some(req) = lane.queue.pop_front() {
            let _ = tx.send(Msg::Abandoned {
                req,
                status: Status::Unauthorized,
                message: "not sent: an earlier request was refused as unauthorized".to_owned(),
            });
        }
    }
}

/// A core note as a progress event (`true`: only a 429 to count).
fn note_event(note: &Note<'_>) -> Option<(Event, bool)> {
    match note {
        Note::Wait { wait, why, .. } => {
            let mut e = Event::new(EventKind::Wait);
            e.wait = *wait;
            e.why = Some(*why);
            Some((e, false))
        }
        Note::Retry { attempt, error, .. } => {
            let mut e = Event::new(EventKind::Retry);
            e.attempt = *attempt;
            e.message = Some((*error).to_owned());
            Some((e, false))
        }
        Note::RateLimited { .. } => Some((Event::new(EventKind::Wait), true)),
        _ => None,
    }
}
