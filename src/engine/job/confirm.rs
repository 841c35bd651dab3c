//! Confirmation: poll `GET /cdn/purge_statuses` until every purged request of the run is
//! matched to its entry and that entry is `Successful` or `Failed`, or the wait ends.
//!
//! - Matching: same resource id, same purge type, the same set of items, and a `created` no
//!   earlier than [`CLOCK_SLACK`] before the request was sent. `created` is the server's
//!   clock, the send time this machine's: the slack absorbs a skew between them. Among
//!   several candidates the one created closest to the send wins; an entry matches one
//!   request at most.
//! - Polls: filtered by `from_created` (the earliest send less the slack) and, when every
//!   request still waiting is of one type, `purge_type`; paged and bounded like every listing
//!   (a hostile listing ends confirmation with `Protocol`); only entries that match a
//!   request are kept. The first poll comes 1 s after the last request, then every 1.5 times
//!   longer up to 5 s, and the last one at the end of the wait (not one interval before it),
//!   never past the run's deadline; a cancel ends it at once. A poll may take until the end
//!   of the wait, the last ones at least [`LAST_POLL_TIME`] (within the run's deadline).
//! - A poll that fails otherwise (network, 5xx, ...) is tried again at the next one.

use std::collections::HashMap;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::listing::{self, PurgeState, PurgeStatus, ReadLimits};
use super::msg::{ConfirmView, Msg};
use super::report::Completion;
use super::PurgeKind;
use crate::engine::call::CallSettings;
use crate::engine::clock::instant_after;
use crate::engine::coalesce::ItemsDigest;
use crate::engine::error::Status;
use crate::engine::format::plural;
use crate::engine::Client;

/// How much earlier than the send (by this machine's clock) a matching entry's `created` (by
/// the server's) may be.
pub const CLOCK_SLACK: Duration = Duration::from_secs(120);
/// The first poll's delay, and the longest between polls.
pub const FIRST_POLL: Duration = Duration::from_secs(1);
pub const MAX_POLL_INTERVAL: Duration = Duration::from_secs(5);
/// The time a poll has when little or nothing of the wait is left (the one at its end).
pub const LAST_POLL_TIME: Duration = Duration::from_secs(2);
/// The most of one page of `GET /cdn/purge_statuses` read.
pub const STATUS_PAGE_CAP: usize = 4 * 1024 * 1024;

/// The identity of a payload: resource, type, and its items' count and hash
/// ([`ItemsDigest`], the same in every process: a request shared through the rate store is
/// known by the digest its sender published).
type Fingerprint = (i64, PurgeKind, ItemsDigest);

fn fingerprint<'a>(rid: i64, kind: PurgeKind, items: impl Iterator<Item = &'a str>) -> Fingerprint {
    (rid, kind, ItemsDigest::of(items))
}

struct Waiting {
    req: usize,
    sent_at: SystemTime,
    /// The entry matched so far, and how far its `created` is from the send.
    matched: Option<(Option<i64>, Duration)>,
}

pub(crate) fn confirm(client: &Client, view: ConfirmView<'_>, wait: Duration, tx: &Sender<Msg>) {
    let mut waiting: HashMap<Fingerprint, Vec<Waiting>> = HashMap::new();
    let mut earliest: Option<SystemTime> = None;
    let mut outstanding = 0usize;
    for (req, sent) in view.sent_at.iter().enumerate() {
        let Some(sent_at) = *sent else { continue };
        let (rid, kind) = view.kinds[req];
        // A request shared with other callers lists all of its items in its purge status.
        let print = match view.sent_items.get(req).copied().flatten() {
            Some(all) => (rid, kind, all),
            None => fingerprint(rid, kind, view.items[req].iter().map(|s| view.data.str(*s))),
        };
        waiting.entry(print).or_default().push(Waiting {
            req,
            sent_at,
            matched: None,
        });
        earliest = Some(earliest.map_or(sent_at, |e| e.min(sent_at)));
        outstanding += 1;
    }
    let Some(earliest) = earliest else { return };
    let wait_end = instant_after(Instant::now(), wait);
    // The run's deadline, when it comes first, ends the polls: none can be made at it.
    let (end, at_deadline) = match view.deadline {
        Some(d) if d <= wait_end => (d, true),
        _ => (wait_end, false),
    };
    let from = listing::format_time(earliest.checked_sub(CLOCK_SLACK).unwrap_or(earliest));
    let mut interval = FIRST_POLL;
    let mut last_error: Option<String> = None;
    loop {
        // The next poll comes one interval on, or at the end of the wait when that is
        // sooner: the last poll is at the end of the wait.
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero()
            || (at_deadline && left <= interval)
            || view.cancel.sleep(interval.min(left))
        {
            break;
        }
        interval = (interval * 3 / 2).min(MAX_POLL_INTERVAL);
        for f in waiting.keys() {
            super::contain::debug::hit(super::contain::debug::Site::Confirm, f.0);
        }
        let kinds: Vec<PurgeKind> = {
            let mut k: Vec<PurgeKind> = waiting.keys().map(|f| f.1).collect();
            k.sort_unstable();
            k.dedup();
            k
        };
        let mut base = format!("/cdn/purge_statuses?from_created={from}");
        if let [only] = kinds.as_slice() {
            base.push_str("&purge_type=");
            base.push_str(only.purge_type());
        }
        let mut timeout = end
            .saturating_duration_since(Instant::now())
            .max(LAST_POLL_TIME);
        if let Some(d) = view.deadline {
            timeout = timeout.min(d.saturating_duration_since(Instant::now()));
        }
        let settings = CallSettings {
            timeout: Some(timeout),
            cancel: Some(Arc::clone(view.cancel_token)),
            tick: None,
        };
        let ctx = client.context(&settings, None);
        let cancel = view.cancel;
        let read = listing::read_paged(
            "confirming purges (GET /cdn/purge_statuses)",
            &base,
            ReadLimits::PURGE_STATUSES,
            |path| {
                if cancel.is_cancelled() {
                    return Err(crate::engine::error::Error::new(
                        Status::Cancelled,
                        "the run was cancelled",
                    ));
                }
                client.get(&ctx, path, STATUS_PAGE_CAP)
            },
            listing::purge_status_entry,
            |s: &PurgeStatus| {
                let items = s.items.iter().map(String::as_str);
                waiting.contains_key(&fingerprint(s.resource_id, s.kind, items))
            },
        );
        let paged = match read {
            Ok(paged) => paged,
            Err(e) if e.status == Status::Protocol => {
                // A listing that cannot be trusted: confirmation ends here.
                let _ = tx.send(Msg::PollFailed { error: e });
                break;
            }
            Err(e) if e.status == Status::Cancelled => break,
            Err(e) => {
                last_error = Some(e.message.clone());
                let _ = tx.send(Msg::Poll {
                    entries: 0,
                    malformed: 0,
                    outstanding,
                    message: Some(format!("a poll failed, trying again: {}", e.message)),
                });
                continue;
            }
        };
        last_error = None;
        let mut finished: Vec<(usize, Completion, Option<i64>, SystemTime)> = Vec::new();
        for entry in &paged.kept {
            let items = entry.items.iter().map(String::as_str);
            let Some(list) = waiting.get_mut(&fingerprint(entry.resource_id, entry.kind, items))
            else {
                continue;
            };
            // The request this entry is closest to, sent no later than slack after it.
            let best = list
                .iter_mut()
                .filter_map(|w| {
                    let earliest_ok = w.sent_at.checked_sub(CLOCK_SLACK)?;
                    let created = entry.created;
                    if created < earliest_ok {
                        return None;
                    }
                    let distance = created
                        .duration_since(w.sent_at)
                        .or_else(|e| Ok::<_, ()>(e.duration()))
                        .unwrap_or_default();
                    match w.matched {
                        Some((_, d)) if d < distance => None,
                        _ => Some((distance, w)),
                    }
                })
                .min_by_key(|(d, _)| *d);
            let Some((distance, w)) = best else { continue };
            w.matched = Some((entry.purge_id, distance));
            let completion = match entry.state {
                PurgeState::Successful => Completion::Successful,
                PurgeState::Failed => Completion::Failed,
                PurgeState::InProgress | PurgeState::Other => continue,
            };
            finished.push((w.req, completion, entry.purge_id, entry.created));
        }
        for list in waiting.values_mut() {
            list.retain(|w| !finished.iter().any(|(req, ..)| *req == w.req));
        }
        waiting.retain(|_, list| !list.is_empty());
        outstanding -= finished.len();
        for (req, completion, purge_id, created) in finished {
            let _ = tx.send(Msg::Confirmed {
                req,
                completion,
                purge_id,
                created: Some(created),
            });
        }
        let _ = tx.send(Msg::Poll {
            entries: paged.seen,
            malformed: paged.malformed,
            outstanding,
            message: None,
        });
        if outstanding == 0 {
            return;
        }
    }
    // The wait ended (or was cancelled) first.
    let mut left: Vec<(usize, Option<i64>)> = waiting
        .values()
        .flatten()
        .map(|w| (w.req, w.matched.and_then(|m| m.0)))
        .collect();
    left.sort_unstable();
    if let Some(why) = last_error {
        let _ = tx.send(Msg::Poll {
            entries: 0,
            malformed: 0,
            outstanding: left.len(),
            message: Some(format!(
                "the wait ended with {} unconfirmed; the last poll failed: {why}",
                plural(left.len(), "request")
            )),
        });
    }
    for (req, purge_id) in left {
        let _ = tx.send(Msg::Confirmed {
            req,
            completion: Completion::InProgress,
            purge_id,
            created: None,
        });
    }
}
