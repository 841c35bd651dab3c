//! Behind the client's coalescer seam: [`Shared`], the queue in Redis for a library caller.

use std::time::Duration;

use super::part::{lease_for, purge, Caller, Ended, Part, SendFailed, Stop};
use super::{valid_item, Outcome};
use crate::engine::call::CallCtx;
use crate::engine::coalesce::{stopped_by_sender, Coalescer, Delivered, InProcess};
use crate::engine::error::{Error, Status};
use crate::engine::note::{Note, WaitReason};
use crate::engine::pacer::{PaceKey, SlotStore};
use crate::engine::purge::{self, PurgeKind};
use crate::engine::ratestore::RedisStore;
use crate::engine::request::{Api, Failed, SentInfo};
use crate::engine::wait::{Refused, Waits};

/// The client's coalescer when a rate store is set: a caller's items through the queue in
/// Redis ([`purge`]), shared with every process of the account. Purge-all, a caller with
/// more than a request's worth or an item longer than [`MAX_ITEM_BYTES`](super::MAX_ITEM_BYTES), and a full queue
/// go through the in-process coalescer; so does a caller whose store fails (fail-open, told
/// to the observer as `Note::StoreFallback`), with its items no 2xx is known to have covered,
/// unless the store is fail-closed (`Status::Network`).
pub struct Shared {
    store: std::sync::Arc<RedisStore>,
    local: InProcess,
    fail_closed: bool,
}

impl Shared {
    pub fn new(store: std::sync::Arc<RedisStore>, fail_closed: bool) -> Shared {
        Shared {
            store,
            local: InProcess::new(),
            fail_closed,
        }
    }
}

/// The keys' lifetime for a caller: its wait budget and two leases, within 30 s and 15 min
/// (renewed while it waits).
fn ttl_for(budget: Duration, lease: Duration) -> Duration {
    budget
        .saturating_add(lease * 2)
        .clamp(Duration::from_secs(30), Duration::from_secs(900))
}

/// A library caller: waits through its call's [`Waits`], sends through the one purge path.
struct Through<'a> {
    api: &'a Api,
    ctx: &'a CallCtx,
    waits: Waits<'a>,
    resource_id: i64,
    kind: PurgeKind,
    pace: PaceKey,
}

impl Caller for Through<'_> {
    fn allowance(&self) -> Duration {
        self.waits.rate_allowance()
    }

    fn wait(&mut self, d: Duration) -> Result<(), Stop> {
        self.waits
            .wait(d, WaitReason::Pacer, Some(self.pace))
            .map_err(|refused| Stop {
                status: refused.status().code(),
                message: match refused {
                    Refused::Cancelled => "the call was cancelled".to_owned(),
                    r => format!(
                        "waiting for the shared {} purge request: {}",
                        self.pace.kind.noun(),
                        r.explain()
                    ),
                },
            })
    }

    fn send(&mut self, items: &[&str]) -> Result<(u16, u32, u32), SendFailed> {
        purge::send_alone(self.api, self.ctx, self.resource_id, self.kind, items)
            .map(|i| (i.http_status, i.attempts, i.rate_limited))
            .map_err(|f| SendFailed {
                sender_stopped: stopped_by_sender(&f, self.ctx),
                status: f.error.status.code(),
                message: f.error.message,
                nothing_sent: f.attempts == 0,
            })
    }
}

impl Coalescer for Shared {
    fn deliver(
        &self,
        api: &Api,
        ctx: &CallCtx,
        resource_id: i64,
        kind: PurgeKind,
        items: &[&str],
    ) -> Result<Delivered, Failed> {
        let max_items = purge::per_request(api, kind);
        if kind == PurgeKind::All
            || items.is_empty()
            || items.len() > max_items
            || !items.iter().all(|i| valid_item(i))
        {
            return self.local.deliver(api, ctx, resource_id, kind, items);
        }
        let pace = PaceKey {
            resource_id,
            kind: purge::pace_kind(kind),
        };
        let lease = lease_for(api.transport.timeout());
        let part = Part {
            window: api.window(ctx, pace.kind),
            max_items,
            lease,
            ttl: ttl_for(ctx.wait_budget(), lease),
        };
        let mut caller = Through {
            api,
            ctx,
            waits: ctx.waits(),
            resource_id,
            kind,
            pace,
        };
        let failed = |status: Status, message: String, uncertain: bool| Failed {
            error: Error::new(status, message),
            earlier_attempt_uncertain: uncertain,
            attempts: 0,
            http_status: None,
            rate_limited: 0,
        };
        let ended = purge(&self.store, pace, items, part, &mut caller);
        // What the caller waited in the queue counts against its budget in the fallback.
        let rest = ctx.with_wait_budget(ctx.wait_budget().saturating_sub(caller.waits.waited()));
        match ended {
            Ended::Purged { all, requests, .. } => {
                let Outcome::Ok {
                    http_status,
                    attempts,
                    rate_limited,
                    items: carried,
                } = all.outcome
                else {
                    return Err(failed(Status::Protocol, "no outcome".into(), false));
                };
                if all.callers > 1 {
                    ctx.note(&Note::Shared {
                        resource_id,
                        kind: pace.kind,
                        items: carried,
                        callers: all.callers,
                    });
                }
                Ok(Delivered {
                    info: SentInfo {
                        attempts,
                        http_status,
                        rate_limited,
                    },
                    items: carried,
                    callers: all.callers,
                    for_others: carried.saturating_sub(all.items.len()),
                    // One request carried them all: the job confirms it by all of its items.
                    shared: all.digest.filter(|_| requests == 1),
                })
            }
            Ended::Failed {
                status,
                message,
                callers,
                purged,
                in_flight,
            } => {
                let noun = pace.kind.noun();
                let mut message = message;
                if callers > 1 {
                    message.push_str(&format!(
                        " (a request shared by {callers} callers through the rate store; {} of \
                         this caller's {noun}s were purged before it)",
                        purged.len()
                    ));
                }
                if !in_flight.is_empty() {
                    message.push_str(&format!(
                        "; {} {noun}(s) of this caller were in flight in a shared request, not \
                         known to be purged",
                        in_flight.len()
                    ));
                }
                let status = Status::from_code(status).unwrap_or(Status::Protocol);
                Err(failed(status, message, !in_flight.is_empty()))
            }
            Ended::Full => self.local.deliver(api, &rest, resource_id, kind, items),
            Ended::StoreFailed {
                error,
                purged,
                unsent,
            } => {
                let store = self.store.describe();
                ctx.note(&Note::StoreFallback {
                    store: &store,
                    message: &error.message,
                });
                if unsent.is_empty() {
                    // Every item of this caller went in a request that got its 2xx; only
                    // publishing that failed. The purge is done, fail-closed or not.
                    return Ok(Delivered::alone(
                        SentInfo {
                            attempts: 1,
                            http_status: 200,
                            rate_limited: 0,
                        },
                        items.len(),
                    ));
                }
                if self.fail_closed {
                    let noun = pace.kind.noun();
                    let mut message = format!(
                        "{} (fail-closed: {} {noun}(s) of this caller no purge is known to have \
                         covered are not sent while the rate store cannot be used",
                        error.message,
                        unsent.len()
                    );
                    if !purged.is_empty() {
                        message
                            .push_str(&format!("; {} were purged before it failed", purged.len()));
                    }
                    message.push(')');
                    return Err(failed(Status::Network, message, false));
                }
                let unsent: Vec<&str> = unsent.iter().map(String::as_str).collect();
                self.local.deliver(api, &rest, resource_id, kind, &unsent)
            }
        }
    }
}
