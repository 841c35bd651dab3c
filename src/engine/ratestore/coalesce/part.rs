//! One caller's part in the queue ([`purge`]): enqueue, lead or wait, send, publish.

use std::time::Duration;

use super::{random_id, Batch, Lead, Outcome, Published, Queue, Ticket};
use crate::engine::pacer::{PaceKey, StoreError, Window};
use crate::engine::ratestore::RedisStore;

/// How a caller takes part (see [`purge`]).
#[derive(Clone, Copy, Debug)]
pub struct Part {
    /// The limit slots are taken under.
    pub window: Window,
    /// Items per request at most.
    pub max_items: usize,
    /// How long a claim (and a leader's hold past its slot) lasts unpublished.
    pub lease: Duration,
    /// The keys' lifetime, renewed while the caller waits.
    pub ttl: Duration,
}

/// The lease for a request timeout: the timeout, within 1 s and 30 s.
pub fn lease_for(request_timeout: Duration) -> Duration {
    request_timeout.clamp(Duration::from_secs(1), Duration::from_secs(30))
}

/// What the caller does for [`purge`]: wait (charged to its budget and deadline, cancellably)
/// and send a request of items.
pub trait Caller {
    /// The longest rate-limit wait the caller may still make.
    fn allowance(&self) -> Duration;
    /// Wait `d`; `Err` (the caller's error) when it cannot (budget, deadline, cancel).
    fn wait(&mut self, d: Duration) -> Result<(), Stop>;
    /// Send one request of `items` in the slot just waited for: its HTTP status, attempts
    /// and 429s met.
    fn send(&mut self, items: &[&str]) -> Result<(u16, u32, u32), SendFailed>;
}

/// Why a caller stopped waiting: its status (C number) and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stop {
    pub status: i32,
    pub message: String,
}

/// A request that failed: its status and message, and whether anything was sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendFailed {
    pub status: i32,
    pub message: String,
    pub nothing_sent: bool,
    /// The sender's own stop (its cancel, its deadline) ended the request, sent or not: that
    /// says nothing of the others' items, which go back for another caller.
    pub sender_stopped: bool,
}

/// How a caller's part ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// Every item was in a request that got a 2xx. `requests`: how many distinct requests
    /// carried them (one, unless callers chained by shared items outgrew a request, or a
    /// claim was put back); `led`: how many of those this caller sent; `all`: those requests
    /// summed (attempts, 429s and items carried added up, the most callers of one, the last
    /// HTTP status, this caller's items).
    Purged {
        requests: usize,
        led: usize,
        all: Published,
    },
    /// An item's request failed (the first failure published for this caller), or the
    /// caller stopped (`stop`): `purged` its items purged before, `in_flight` those claimed
    /// by a request whose outcome it did not wait for.
    Failed {
        status: i32,
        message: String,
        /// How many callers the failed request carried (0: the caller's own stop).
        callers: usize,
        purged: Vec<String>,
        in_flight: Vec<String>,
    },
    /// The queue was full: nothing of it queued; the caller sends on its own.
    Full,
    /// The store failed: `unsent` items of the caller no 2xx is known to have covered
    /// (withdrawn when the store still answered).
    StoreFailed {
        error: StoreError,
        purged: Vec<String>,
        unsent: Vec<String>,
    },
}

/// Poll spacing: from 10 ms, doubling to 200 ms.
const POLL_FIRST: Duration = Duration::from_millis(10);
const POLL_MOST: Duration = Duration::from_millis(200);

/// One caller's items through the queue: queue them, then until every one has an outcome
/// (or the caller stops): read the outcomes published for it, lead when nobody does (wait
/// for the slot, claim, send, publish), else wait a little.
pub fn purge(
    store: &RedisStore,
    pace: PaceKey,
    items: &[&str],
    part: Part,
    caller: &mut dyn Caller,
) -> Ended {
    let queue = Queue::new(store, pace);
    let mut ticket = match queue.enqueue(items, part.ttl) {
        Ok(Some(t)) => t,
        Ok(None) => return Ended::Full,
        Err(error) => {
            return Ended::StoreFailed {
                error,
                purged: Vec::new(),
                unsent: items.iter().map(|s| (*s).to_owned()).collect(),
            }
        }
    };
    let mut left: Vec<&str> = items.to_vec();
    let mut purged: Vec<String> = Vec::new();
    let mut requests = 0;
    let mut led = 0;
    let mut all: Option<Published> = None;
    let mut pause = POLL_FIRST;
    let token = random_id();
    let store_failed = |error: StoreError, left: &[&str], purged: Vec<String>| Ended::StoreFailed {
        error,
        purged,
        unsent: left.iter().map(|s| (*s).to_owned()).collect(),
    };
    loop {
        let (alive, published) = match queue.poll(&ticket, part.ttl) {
            Ok(p) => p,
            Err(e) => return store_failed(e, &left, purged),
        };
        for p in published {
            let mine: Vec<String> = p
                .items
                .into_iter()
                .filter(|i| left.contains(&i.as_str()))
                .collect();
            if mine.is_empty() {
                continue;
            }
            match p.outcome {
                Outcome::Ok {
                    http_status,
                    attempts,
                    rate_limited,
                    items,
                } => {
                    requests += 1;
                    left.retain(|l| !mine.iter().any(|m| m == l));
                    purged.extend(mine.iter().cloned());
                    all = Some(match all.take() {
                        None => Published { items: mine, ..p },
                        Some(before) => {
                            before.and(p.callers, http_status, attempts, rate_limited, items, mine)
                        }
                    });
                }
                Outcome::Failed { status, message } => {
                    let in_flight = match queue.withdraw(&ticket, &left) {
                        Ok(withdrawn) => left
                            .iter()
                            .filter(|l| !mine.iter().any(|m| m == *l))
                            .filter(|l| !withdrawn.iter().any(|w| w == *l))
                            .map(|l| (*l).to_owned())
                            .collect(),
                        Err(_) => Vec::new(),
                    };
                    return Ended::Failed {
                        status,
                        message,
                        callers: p.callers,
                        purged,
                        in_flight,
                    };
                }
            }
        }
        if let (true, Some(all)) = (left.is_empty(), all.take()) {
            let _ = queue.withdraw(&ticket, &[]);
            return Ended::Purged { requests, led, all };
        }
        if !alive {
            // The server lost the ticket (restarted, flushed): queue what is left again.
            ticket = match queue.enqueue(&left, part.ttl) {
                Ok(Some(t)) => t,
                Ok(None) => return Ended::Full,
                Err(e) => return store_failed(e, &left, purged),
            };
            continue;
        }
        let lead = match queue.lead(
            &token,
            part.window,
            part.lease,
            part.ttl,
            caller.allowance(),
        ) {
            Ok(l) => l,
            Err(e) => return store_failed(e, &left, purged),
        };
        let stop = match lead {
            Lead::Go(delay) => match caller.wait(delay) {
                Err(stop) => {
                    let _ = queue.release(&token, None, part.ttl);
                    Some(stop)
                }
                Ok(()) => {
                    match queue.claim(&token, part.max_items, part.lease, part.ttl) {
                        Err(e) => return store_failed(e, &left, purged),
                        Ok(None) => {}
                        Ok(Some(batch)) if batch.items.is_empty() => {
                            let _ = queue.release(&token, None, part.ttl);
                        }
                        Ok(Some(batch)) => {
                            let its: Vec<&str> =
                                batch.items.iter().map(|(i, _)| i.as_str()).collect();
                            let sent = send_renewing(&queue, &token, &batch, part, caller, &its);
                            let outcome = match sent {
                                Ok((http_status, attempts, rate_limited)) => Outcome::Ok {
                                    http_status,
                                    attempts,
                                    rate_limited,
                                    items: its.len(),
                                },
                                Err(f) if f.nothing_sent || f.sender_stopped => {
                                    // Its own stop: the batch goes back for another caller.
                                    if let Err(e) = queue.release(&token, Some(&batch), part.ttl) {
                                        return store_failed(e, &left, purged);
                                    }
                                    let stop = Stop {
                                        status: f.status,
                                        message: f.message,
                                    };
                                    // Sent before it stopped: its own were in flight.
                                    let sent: Vec<&str> = if f.nothing_sent {
                                        Vec::new()
                                    } else {
                                        its.iter().copied().filter(|i| left.contains(i)).collect()
                                    };
                                    return stopped(&queue, &ticket, stop, &left, &sent, purged);
                                }
                                Err(f) => Outcome::Failed {
                                    status: f.status,
                                    message: f.message,
                                },
                            };
                            led += 1;
                            if let Err(e) = queue.publish(&token, &batch, &outcome, part.ttl) {
                                // Ours are known: a 2xx covered them, or the request failed.
                                let mine: Vec<String> = its
                                    .iter()
                                    .filter(|i| left.contains(i))
                                    .map(|i| (*i).to_owned())
                                    .collect();
                                if matches!(outcome, Outcome::Ok { .. }) {
                                    left.retain(|l| !mine.iter().any(|m| m == l));
                                    purged.extend(mine);
                                }
                                return store_failed(e, &left, purged);
                            }
                        }
                    }
                    pause = POLL_FIRST;
                    None
                }
            },
            Lead::TooFar(d) => Some(Stop {
                status: crate::engine::error::Status::RateLimited.code(),
                message: format!(
                    "the next {} purge slot opens in {}, past what the call may wait",
                    pace.kind.noun(),
                    crate::engine::format::secs(d)
                ),
            }),
            Lead::Held(held) => caller
                .wait(pause.min(held.max(Duration::from_millis(1))))
                .err(),
            Lead::Empty => caller.wait(pause).err(),
        };
        if let Some(stop) = stop {
            return stopped(&queue, &ticket, stop, &left, &[], purged);
        }
        if !matches!(lead, Lead::Go(_)) {
            pause = (pause * 2).min(POLL_MOST);
        }
    }
}

/// How often a sender renews its claim: three times a lease.
fn heartbeat_every(lease: Duration) -> Duration {
    (lease / 3).max(Duration::from_millis(10))
}

/// The longest a sender keeps its claim by renewing it. Its send is bounded by its own
/// timeouts and deadline, far below this; a sender stuck past it loses the claim (its items
/// go back to the queue) rather than holding them without bound.
pub const HOLD_MOST: Duration = Duration::from_secs(600);

/// `caller.send(items)` of `batch`, its claim renewed meanwhile (every third of a lease, on
/// a thread of its own) until the send returns: a request slower than the lease (retries,
/// backoff, a slow answer) is not taken for a dead sender's and sent again.
fn send_renewing(
    queue: &Queue<'_>,
    token: &str,
    batch: &Batch,
    part: Part,
    caller: &mut dyn Caller,
    items: &[&str],
) -> Result<(u16, u32, u32), SendFailed> {
    let (done, beat) = std::sync::mpsc::channel::<()>();
    std::thread::scope(|s| {
        s.spawn(move || {
            let began = std::time::Instant::now();
            let every = heartbeat_every(part.lease);
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = beat.recv_timeout(every) {
                if began.elapsed() >= HOLD_MOST {
                    break;
                }
                // Lost (the lease ended while this process was stalled): stop; the publish
                // tells whether the claim was still held. A store error: try again next beat.
                if let Ok(false) = queue.renew(token, batch, part.lease, part.ttl) {
                    break;
                }
            }
        });
        let sent = caller.send(items);
        drop(done);
        sent
    })
}

/// The caller stops: withdraw what is still pending; the rest, and what it `sent` itself
/// before it stopped, is in flight.
fn stopped(
    queue: &Queue<'_>,
    ticket: &Ticket,
    stop: Stop,
    left: &[&str],
    sent: &[&str],
    purged: Vec<String>,
) -> Ended {
    let in_flight = match queue.withdraw(ticket, left) {
        Ok(withdrawn) => left
            .iter()
            .filter(|l| sent.contains(l) || !withdrawn.iter().any(|w| w == *l))
            .map(|l| (*l).to_owned())
            .collect(),
        Err(_) => left.iter().map(|l| (*l).to_owned()).collect(),
    };
    Ended::Failed {
        status: stop.status,
        message: stop.message,
        callers: 0,
        purged,
        in_flight,
    }
}
