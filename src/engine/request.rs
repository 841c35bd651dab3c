//! One API request through the retry loop: attempts, the classification of answers, the
//! pacing of purges (a slot from the client's pacer before the first attempt and after each
//! 429, the key deferred on a 429) and the account's limits the pacer keeps to. Every wait
//! goes through the call's [`Waits`].

use std::time::{Duration, Instant, SystemTime};

use ureq::http::Method;

use super::account::{Account, AccountLimits, Intervals, ReadOutcome};
use super::api_error;
use super::call::CallCtx;
use super::config::BaseUrl;
use super::error::{quote, redact, redact_url_password, Error, Status};
use super::format;
use super::http::{Fault, Reply, Transport, BODY_CAP};
use super::note::{Note, WaitReason};
use super::pacer::{Fallback, Go, PaceKey, PaceKind, PaceTicket, Pacer, Slot, Window};
use super::retry::{self, Decision, FailureClass, Policy, RetryState};
use super::wait::{Refused, Waits};

/// The longest one read of the account's limits may take.
const LIMITS_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// What every call of a client shares: the connection pool, the settings, what it knows of
/// the account, and the pacer.
pub(crate) struct Api {
    pub transport: Transport,
    pub base: BaseUrl,
    pub max_retries: u32,
    pub wait_budget: Duration,
    /// Set by the caller, if at all: pacing by these, and the account's limits not read for it.
    pub purge_intervals: Option<Intervals>,
    pub account: Account,
    pub pacer: Pacer,
    /// To redact from any message, however it got there. Wiped on drop.
    pub api_key: zeroize::Zeroizing<String>,
    /// Told every note of every call (`Options::set_log` / `GCDN_LOG`).
    pub logger: Option<std::sync::Arc<super::log::Logger>>,
    /// For edge probes (which never use the transport): the CA file and the user agent.
    pub ca_file: Option<std::path::PathBuf>,
    pub user_agent: String,
}

/// One API request.
pub(crate) struct Request<'a> {
    pub method: Method,
    /// The whole URL (base included).
    pub url: &'a str,
    pub body: Option<&'a [u8]>,
    /// How much of the answer's body to read.
    pub cap: usize,
    /// For purges: the key whose pacing the request keeps to.
    pub pace: Option<PaceKey>,
    /// The caller already waited for the first attempt's slot ([`Api::wait_slot`]): a slot
    /// is taken only after a 429.
    pub slotted: Option<Slotted>,
}

/// A slot waited for before its request was composed ([`Api::wait_slot`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Slotted {
    /// The limit it was taken under.
    pub window: Window,
    /// The reserved slot (`None` from a store without tickets).
    pub ticket: Option<PaceTicket>,
}

/// A slot that could not be waited for: why, and the slot if it stays reserved (its wait was
/// refused after it was taken).
pub(crate) struct SlotLost {
    pub error: Error,
    pub kept: Option<Slotted>,
}

/// The slot a request holds: released if its request never started.
struct Held<'a> {
    pacer: &'a Pacer,
    ticket: Option<PaceTicket>,
    started: bool,
}

impl Held<'_> {
    fn hold(&mut self, ticket: Option<PaceTicket>) {
        self.release();
        self.ticket = ticket;
        self.started = false;
    }

    fn release(&mut self) {
        if let (Some(t), false) = (self.ticket.take(), self.started) {
            self.pacer.release(&t);
        }
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.release();
    }
}

/// A request that succeeded.
#[derive(Debug)]
pub(crate) struct Sent {
    pub info: SentInfo,
    pub body: Vec<u8>,
}

/// What a successful request went through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SentInfo {
    /// Attempts made, the successful one included.
    pub attempts: u32,
    /// The HTTP status of the answer (a 2xx).
    pub http_status: u16,
    /// 429 answers met on the way.
    pub rate_limited: u32,
}

/// A request that failed for good.
#[derive(Clone, Debug)]
pub struct Failed {
    pub error: Error,
    /// An earlier attempt may have reached the server and been carried out: it failed in
    /// transit, after the request could have been sent.
    pub earlier_attempt_uncertain: bool,
    /// Attempts made (0: nothing was sent).
    pub attempts: u32,
    /// The HTTP status of the last answer, if any came.
    pub http_status: Option<u16>,
    /// 429 answers met.
    pub rate_limited: u32,
}

/// What a request has been through so far.
#[derive(Default)]
struct Tally {
    uncertain: bool,
    rate_limited: u32,
    http_status: Option<u16>,
}

/// A slot refused: it opens `wanted` from now, past what `refused` allows.
fn slot_refused(key: PaceKey, wanted: Duration, refused: Refused) -> Error {
    match refused {
        Refused::Cancelled => Error::new(
            Status::Cancelled,
            format!(
                "the call was cancelled while waiting for the next {} purge slot",
                key.kind.noun()
            ),
        ),
        other => Error::new(
            other.status(),
            format!(
                "the next {} purge slot opens in {}, {}",
                key.kind.noun(),
                format::secs(wanted),
                other.explain()
            ),
        ),
    }
}

impl Api {
    /// Wrap a final error, redacting the key from it whatever path it came by.
    fn failed(&self, mut error: Error, state: &RetryState, tally: &Tally) -> Failed {
        error.http_status = error.http_status.or(tally.http_status);
        Failed {
            error: error.redacted(&self.api_key),
            earlier_attempt_uncertain: tally.uncertain,
            attempts: state.attempts,
            http_status: tally.http_status,
            rate_limited: tally.rate_limited,
        }
    }

    /// `text` without the key (in any form) or a URL password, for the observer.
    fn clean(&self, text: &str) -> String {
        redact_url_password(&redact(text, &self.api_key)).into_owned()
    }

    /// The path and query of `url`, below the base URL.
    fn path_of<'u>(&self, url: &'u str) -> &'u str {
        url.strip_prefix(self.base.as_str()).unwrap_or(url)
    }

    /// Send one API request, retrying as the policy allows (and, for a purge, in a slot of the
    /// pacer taken before the first attempt and after each 429); a 2xx reply, or why not.
    pub fn request(&self, ctx: &CallCtx, req: &Request<'_>) -> Result<Sent, Failed> {
        let mut waits = ctx.waits();
        let mut state = RetryState::new();
        let mut tally = Tally::default();
        let method = req.method.as_str();
        let path = self.path_of(req.url);
        // The error of the last failed attempt, and why the next slot is waited for.
        let mut last: Option<Error> = None;
        let mut slot_reason = WaitReason::Pacer;
        // A purge takes a slot before its first attempt and after each 429. A retry after
        // any other failure keeps its slot: the API did not count that attempt (or, if a
        // dropped connection had been carried out, the retry meets a 429 and waits then),
        // and waiting a whole window for it would cost more than that 429.
        let mut need_slot = req.slotted.is_none();
        // The limit the last slot was taken under.
        let mut paced_by = req.slotted.map(|s| s.window);
        // The slot held: each attempt starts in it (after the window is checked again at the
        // moment of sending) and finishes it when its answer came.
        let mut held = Held {
            pacer: &self.pacer,
            ticket: req.slotted.and_then(|s| s.ticket),
            started: false,
        };
        loop {
            if ctx.cancelled() {
                let error = Error::new(Status::Cancelled, "the call was cancelled");
                return Err(self.failed(error, &state, &tally));
            }
            if let Some(key) = req.pace.filter(|_| need_slot) {
                need_slot = false;
                let window = self.slot_window(ctx, key);
                paced_by = Some(window);
                let taken = self
                    .take_slot(ctx, &mut waits, key, window, slot_reason, &|_| {})
                    .map_err(|lost| {
                        // Never sent: the slot is free again.
                        if let Some(kept) = lost.kept {
                            self.release_slot(kept);
                        }
                        lost.error
                    })
                    .and_then(|ticket| {
                        held.hold(ticket);
                        match ticket {
                            Some(t) => self.start_slot(ctx, &mut waits, &t, &mut held),
                            None => Ok(()),
                        }
                    });
                if let Err(error) = taken {
                    let error = match (last.take(), error.status) {
                        (_, Status::Cancelled) => error,
                        (Some(before), status) => {
                            Error::new(status, format!("{} ({})", before.message, error.message))
                        }
                        (None, _) if state.attempts == 0 => {
                            Error::new(error.status, format!("{}; nothing was sent", error.message))
                        }
                        (None, _) => error,
                    };
                    return Err(self.failed(error, &state, &tally));
                }
            } else if let Some(t) = held.ticket {
                // The slot waited for by the caller, or a retry's: checked again now.
                if let Err(error) = self.start_slot(ctx, &mut waits, &t, &mut held) {
                    let error = match (last.take(), error.status) {
                        (_, Status::Cancelled) => error,
                        (Some(before), status) => {
                            Error::new(status, format!("{} ({})", before.message, error.message))
                        }
                        (None, _) => {
                            Error::new(error.status, format!("{}; nothing was sent", error.message))
                        }
                    };
                    return Err(self.failed(error, &state, &tally));
                }
            }
            let timeout = match ctx.time_left() {
                None => self.transport.timeout(),
                Some(left) if left.is_zero() => {
                    let error = Error::new(
                        Status::Timeout,
                        "the call timeout ran out before the request could be sent",
                    );
                    return Err(self.failed(error, &state, &tally));
                }
                Some(left) => left.min(self.transport.timeout()),
            };
            state.attempts += 1;
            let began = Instant::now();
            let result =
                self.transport
                    .send_capped(req.method.clone(), req.url, req.body, timeout, req.cap);
            if let Some(fb) = held.ticket.as_ref().and_then(|t| self.pacer.finish(t)) {
                self.note_fallback(ctx, &fb);
            }
            ctx.note(&Note::Attempt {
                method,
                path,
                attempt: state.attempts,
                status: result.as_ref().ok().map(|r| r.status),
                elapsed: began.elapsed(),
            });
            let (error, class, retry_after) = match result {
                Ok(reply) if (200..300).contains(&reply.status) => {
                    return Ok(Sent {
                        info: SentInfo {
                            attempts: state.attempts,
                            http_status: reply.status,
                            rate_limited: tally.rate_limited,
                        },
                        body: reply.body,
                    });
                }
                Ok(reply) => {
                    tally.http_status = Some(reply.status);
                    // A gateway that timed out or failed upstream may have passed the
                    // request on: it may have been carried out.
                    tally.uncertain |= matches!(reply.status, 502 | 504);
                    self.classify_reply(&reply)
                }
                Err(fault) => {
                    let Fault {
                        status,
                        message,
                        transient,
                        maybe_sent,
                    } = fault;
                    tally.uncertain |= maybe_sent;
                    let class = if transient {
                        FailureClass::Transient
                    } else {
                        FailureClass::Final
                    };
                    (Error::new(status, message), class, None)
                }
            };
            if class == FailureClass::RateLimited {
                tally.rate_limited += 1;
                ctx.note(&Note::RateLimited {
                    resource_id: req.pace.map(|k| k.resource_id),
                    kind: req.pace.map(|k| k.kind),
                    retry_after,
                });
                if let Some(key) = req.pace {
                    // The window is full (another client shares the account, or the
                    // account's rate is not what its limits say): no slot on the key for
                    // anyone before `Retry-After`, else one interval. The next attempt's slot
                    // carries the wait.
                    let window = self.distrust_on_429(ctx, key, paced_by);
                    match state.rate_limited(retry_after.unwrap_or(window.interval())) {
                        Ok(after) => {
                            if let Some(fb) = self.pacer.defer(key, window, after) {
                                self.note_fallback(ctx, &fb);
                            }
                            slot_reason = if retry_after.is_some() {
                                WaitReason::RetryAfter
                            } else {
                                WaitReason::RateLimited
                            };
                            need_slot = true;
                            self.note_retry(ctx, method, path, state.attempts, &error);
                            last = Some(error);
                            continue;
                        }
                        Err(note) => {
                            let error =
                                Error::new(error.status, format!("{} ({note})", error.message));
                            return Err(self.failed(error, &state, &tally));
                        }
                    }
                }
            }
            // Unpaced endpoints have no documented limit: a 429 is backed off.
            let policy = Policy {
                max_retries: self.max_retries,
            };
            match state.decide(&policy, class, retry_after) {
                Decision::RetryAfter(wait, why) => {
                    self.note_retry(ctx, method, path, state.attempts, &error);
                    if let Err(refused) = waits.wait(wait, why, req.pace) {
                        let error = match refused {
                            Refused::Cancelled => Error::new(
                                Status::Cancelled,
                                format!(
                                    "the call was cancelled while waiting to retry after: {error}"
                                ),
                            ),
                            Refused::Deadline { .. } => error.context(format!(
                                "giving up: the call timeout ends before the next try (in {})",
                                format::secs(wait)
                            )),
                            Refused::Budget { .. } => Error::new(
                                error.status,
                                format!(
                                    "{} (the next try could come only after {} more, {})",
                                    error.message,
                                    format::secs(wait),
                                    refused.explain()
                                ),
                            ),
                        };
                        return Err(self.failed(error, &state, &tally));
                    }
                    last = Some(error);
                }
                Decision::GiveUp(note) => {
                    let error = if note.is_empty() {
                        error
                    } else {
                        Error::new(error.status, format!("{} ({note})", error.message))
                    };
                    return Err(self.failed(error, &state, &tally));
                }
            }
        }
    }

    fn note_retry(&self, ctx: &CallCtx, method: &str, path: &str, attempt: u32, error: &Error) {
        if ctx.observed() {
            let message = self.clean(&error.message);
            ctx.note(&Note::Retry {
                method,
                path,
                attempt,
                error: &message,
            });
        }
    }

    fn note_fallback(&self, ctx: &CallCtx, fb: &Fallback) {
        ctx.note(&Note::StoreFallback {
            store: &fb.store,
            message: &self.clean(&fb.error.message),
        });
    }

    /// Reserve the next slot on `key` and wait for it (charged as `why`): refused at once,
    /// with nothing reserved, when it opens past what the request may still wait. The slot,
    /// for [`Api::start_slot`] (`None` from a store without tickets). A slot whose wait was
    /// refused (cancelled) stays reserved: the error says which ([`SlotLost::kept`]).
    fn take_slot(
        &self,
        ctx: &CallCtx,
        waits: &mut Waits<'_>,
        key: PaceKey,
        window: Window,
        why: WaitReason,
        on_slot: &dyn Fn(Slot),
    ) -> Result<Option<PaceTicket>, SlotLost> {
        let allowed = waits.rate_allowance();
        let (slot, ticket, fallback) = self
            .pacer
            .take_ticket_or_refuse(key, window, allowed)
            .map_err(|fb| SlotLost {
                error: self.fail_closed(&fb),
                kept: None,
            })?;
        let store_failed = fallback.is_some();
        if let Some(fb) = fallback {
            self.note_fallback(ctx, &fb);
        }
        let (wait, reserved) = match slot {
            Slot::At(w) => (w, true),
            Slot::TooFar(w) => (w, false),
        };
        ctx.note(&Note::Slot {
            resource_id: key.resource_id,
            kind: key.kind,
            wait,
            reserved,
            store_failed,
        });
        on_slot(slot);
        let (refused, kept) = match slot {
            Slot::At(wait) => match waits.wait(wait, why, Some(key)) {
                Ok(()) => return Ok(ticket),
                Err(refused) => (refused, Some(Slotted { window, ticket })),
            },
            Slot::TooFar(wait) => (waits.refusal_of(wait), None),
        };
        Err(SlotLost {
            error: slot_refused(key, wait, refused),
            kept,
        })
    }

    /// The request of `ticket`'s slot goes now: the slot is checked again against the
    /// requests that went out since it was reserved, at the moments they really went (a
    /// thread descheduled between its slot and its send, a retry, an answer that came late),
    /// and waited for again while the window is full (within the budget and deadline, else
    /// refused at once and the slot released). Then it counts as in flight until its answer.
    fn start_slot(
        &self,
        ctx: &CallCtx,
        waits: &mut Waits<'_>,
        ticket: &PaceTicket,
        held: &mut Held<'_>,
    ) -> Result<(), Error> {
        // The attempt's answer comes within the transport's timeout; the lease outlasts it.
        let lease = self
            .transport
            .timeout()
            .saturating_add(Duration::from_secs(1));
        loop {
            let (go, fallback) = self
                .pacer
                .start(ticket, waits.rate_allowance(), lease)
                .map_err(|fb| self.fail_closed(&fb))?;
            if let Some(fb) = fallback {
                self.note_fallback(ctx, &fb);
            }
            let refused = match go {
                Go::Now => {
                    held.started = true;
                    return Ok(());
                }
                Go::Later(wait) => match waits.wait(wait, WaitReason::Pacer, Some(ticket.key)) {
                    Ok(()) => continue,
                    Err(refused) => {
                        held.release();
                        (wait, refused)
                    }
                },
                Go::TooFar(wait) => {
                    // Released by the store.
                    held.ticket = None;
                    (wait, waits.refusal_of(wait))
                }
            };
            return Err(slot_refused(ticket.key, refused.0, refused.1));
        }
    }

    /// A fail-closed rate store failed: no purge without it.
    fn fail_closed(&self, fb: &Fallback) -> Error {
        Error::new(
            Status::Network,
            format!(
                "{} (fail-closed: no purge is sent while the rate store cannot be used)",
                redact(&fb.error.message, &self.api_key)
            ),
        )
    }

    /// Reserve the next slot on `key` and wait for it, for a request sent right after with
    /// `slotted` set (the coalescer composes the request when its slot opens). `on_slot` is
    /// told the slot before the wait. Refused as a request's slot is ("...; nothing was sent");
    /// a slot whose wait was refused stays reserved, for another caller to wait for
    /// ([`SlotLost::kept`]; the coalescer's spare slot), or to [`Api::release_slot`].
    pub fn wait_slot(
        &self,
        ctx: &CallCtx,
        key: PaceKey,
        on_slot: &dyn Fn(Slot),
    ) -> Result<Slotted, SlotLost> {
        if ctx.cancelled() {
            return Err(SlotLost {
                error: Error::new(Status::Cancelled, "the call was cancelled"),
                kept: None,
            });
        }
        let mut waits = ctx.waits();
        let window = self.slot_window(ctx, key);
        self.take_slot(ctx, &mut waits, key, window, WaitReason::Pacer, on_slot)
            .map(|ticket| Slotted { window, ticket })
            .map_err(|lost| SlotLost {
                error: match lost.error.status {
                    Status::Cancelled => lost.error,
                    status => {
                        Error::new(status, format!("{}; nothing was sent", lost.error.message))
                    }
                }
                .redacted(&self.api_key),
                kept: lost.kept,
            })
    }

    /// A slot from [`Api::wait_slot`] that no request will be sent in: free again.
    pub fn release_slot(&self, slot: Slotted) {
        if let Some(t) = &slot.ticket {
            self.pacer.release(t);
        }
    }

    /// The limit a slot on `key` is taken under: [`Api::window`], except that the account's
    /// limits are not read for the first request on a key of an in-process pacer, which goes
    /// at once under any limit (they are read for the second, before any 429 can come).
    fn slot_window(&self, ctx: &CallCtx, key: PaceKey) -> Window {
        if self.purge_intervals.is_none()
            && self.account.known().is_none()
            && self.pacer.first_use(key)
        {
            return Window::documented(key.kind);
        }
        self.key_window(ctx, key)
    }

    /// The limit the pacer keeps to on `key`: [`Api::window`] of its kind, or the documented
    /// one once a 429 came on the key while it was paced faster ([`Account::distrust`]).
    fn key_window(&self, ctx: &CallCtx, key: PaceKey) -> Window {
        let window = self.window(ctx, key.kind);
        match self.purge_intervals {
            Some(_) => window,
            None => self.account.rate_for(key, window),
        }
    }

    /// A 429 came on `key`, whose slot was taken under `paced_by`: when that was the account's
    /// limits and faster than the documented rate, the key falls back to the documented rate
    /// (told once, as a warning). (A key's first request, which goes at once under the
    /// documented limit, does not make it fall back: its 429 is another client's doing.)
    /// The limit the key keeps to from now on.
    fn distrust_on_429(&self, ctx: &CallCtx, key: PaceKey, paced_by: Option<Window>) -> Window {
        let window = self.key_window(ctx, key);
        let Some(paced_by) = paced_by.filter(|_| self.purge_intervals.is_none()) else {
            return window;
        };
        if !self.account.distrust(key, paced_by) {
            return window;
        }
        let documented = Window::documented(key.kind);
        if ctx.observed() {
            let message = format!(
                "the API answered 429 on resource {} while its {} purges were paced at the \
                 account's {}, faster than the documented {}: pacing them at the documented \
                 rate from now on",
                key.resource_id,
                key.kind.noun(),
                paced_by.describe(),
                documented.describe()
            );
            ctx.note(&Note::LimitsReplaced {
                resource_id: Some(key.resource_id),
                kind: Some(key.kind),
                message: &message,
            });
        }
        documented
    }

    /// The limit the pacer keeps to for `kind`: the caller's intervals, else the account's
    /// limits (read when first needed), else the documented ones.
    pub fn window(&self, ctx: &CallCtx, kind: PaceKind) -> Window {
        match self.purge_intervals {
            Some(set) => set.window(kind),
            None => match self.read_limits(ctx) {
                Some(limits) => limits.window(kind),
                None => Window::documented(kind),
            },
        }
    }

    /// The account's limits, read if not known yet; the documented ones when they cannot be.
    pub fn limits(&self, ctx: &CallCtx) -> AccountLimits {
        self.read_limits(ctx)
            .cloned()
            .unwrap_or_else(AccountLimits::documented)
    }

    /// `GET /cdn/clients/me/limits` once per client, without retries, within half of what is
    /// left of the call's deadline (so the call itself keeps time), never while the call is
    /// cancelled; while another thread reads them this one waits for its answer (as long).
    fn read_limits(&self, ctx: &CallCtx) -> Option<&AccountLimits> {
        if let Some(known) = self.account.known() {
            return Some(known);
        }
        if !self.account.worth_asking() || ctx.cancelled() {
            return None;
        }
        let mut timeout = self.transport.timeout().min(LIMITS_READ_TIMEOUT);
        if let Some(left) = ctx.time_left() {
            timeout = timeout.min(left / 2);
        }
        let url = format!("{}/cdn/clients/me/limits", self.base.as_str());
        let key = self.api_key.as_str();
        let (outcome, notes) = self.account.read(timeout, |timeout| {
            match self.transport.send(Method::GET, &url, None, timeout) {
                Ok(reply) if reply.status == 200 => Ok(reply.body),
                Ok(reply) => Err(format!("HTTP {}", reply.status)),
                Err(fault) => Err(redact(&fault.message, key).into_owned()),
            }
        });
        match outcome {
            ReadOutcome::Known(limits) => {
                if ctx.observed() {
                    let read = format!(
                        "read the account's limits: URL purges {}, pattern purges and purge-all \
                         {}, {} URLs and {} patterns per request",
                        limits.urls.describe(),
                        limits.patterns.describe(),
                        limits.max_urls,
                        limits.max_patterns
                    );
                    ctx.note(&Note::LimitsRead {
                        from_account: true,
                        message: &self.clean(&read),
                    });
                    for message in notes {
                        ctx.note(&Note::LimitsReplaced {
                            resource_id: None,
                            kind: None,
                            message: &self.clean(&message),
                        });
                    }
                }
                Some(limits)
            }
            ReadOutcome::NotNow(why) => {
                if let Some(why) = why {
                    ctx.note(&Note::LimitsRead {
                        from_account: false,
                        message: &self.clean(&why),
                    });
                }
                None
            }
        }
    }

    /// A GET of `path_and_query` (below the base URL), retried like any GET, not paced; its
    /// body, refused with [`Status::Protocol`] when it is over `cap` bytes.
    pub fn get(&self, ctx: &CallCtx, path_and_query: &str, cap: usize) -> Result<Vec<u8>, Failed> {
        let url = format!("{}{path_and_query}", self.base.as_str());
        let sent = self.request(
            ctx,
            &Request {
                method: Method::GET,
                url: &url,
                body: None,
                cap: cap.saturating_add(1),
                pace: None,
                slotted: None,
            },
        )?;
        if sent.body.len() > cap {
            let error = Error::new(
                Status::Protocol,
                format!(
                    "the answer to GET {} is longer than {cap} bytes",
                    quote(path_and_query, 200)
                ),
            );
            return Err(Failed {
                error,
                earlier_attempt_uncertain: false,
                attempts: sent.info.attempts,
                http_status: Some(sent.info.http_status),
                rate_limited: sent.info.rate_limited,
            });
        }
        Ok(sent.body)
    }

    /// A paced purge request of `body` on `resource_id` (`slotted`: its first slot was
    /// waited for already, by [`Api::wait_slot`]).
    pub fn purge(
        &self,
        ctx: &CallCtx,
        url: &str,
        resource_id: i64,
        kind: PaceKind,
        body: &[u8],
        slotted: Option<Slotted>,
    ) -> Result<SentInfo, Failed> {
        self.request(
            ctx,
            &Request {
                method: Method::POST,
                url,
                body: Some(body),
                cap: BODY_CAP,
                pace: Some(PaceKey { resource_id, kind }),
                slotted,
            },
        )
        .map(|sent| sent.info)
    }

    fn classify_reply(&self, reply: &Reply) -> (Error, FailureClass, Option<Duration>) {
        let status = reply.status;
        let retry_after = reply
            .retry_after
            .as_deref()
            .and_then(|v| retry::parse_retry_after(v, SystemTime::now()));
        let class = match status {
            429 => FailureClass::RateLimited,
            408 | 500..=599 => FailureClass::Transient,
            _ => FailureClass::Final,
        };
        let key = self.api_key.as_str();
        let message = if (300..400).contains(&status) {
            let to = reply
                .location
                .as_deref()
                .map(|l| format!(" to {}", quote(&redact(l, key), 200)))
                .unwrap_or_default();
            format!(
                "HTTP {status}: the API answered with a redirect{to}, which gcdn does not follow \
                 (the API key would go with it); set the base URL to the address that answers"
            )
        } else {
            api_error::describe(status, &reply.body, key)
        };
        (
            Error::new(api_error::status_for(status), message),
            class,
            retry_after,
        )
    }
}

/// The pacer's slots against the emulator: the API counts a request when it arrives, so a
/// request sent late (its thread descheduled between its slot and its send, a retry in its
/// slot) must not shorten the next gap at the server.
#[cfg(test)]
mod late_send_tests {
    use std::sync::{Arc, Barrier, Mutex};
    use std::time::{Duration, Instant};

    use gcdn_emulator::{Config, Emulator, Fault, Limits};

    use super::super::call::CallSettings;
    use super::super::client::Client;
    use super::super::config::Options;
    use super::super::note::{Note, Observer};
    use super::super::pacer::PaceKind;

    /// The emulator's window and the client's interval: one URL purge per `W`.
    const W: Duration = Duration::from_millis(500);
    /// How long a "descheduled" thread sleeps between its slot and its send: far above the
    /// pacer's margin (50 ms of this window).
    const LATE: Duration = Duration::from_millis(300);

    fn setup() -> (Emulator, Client) {
        let emu = Emulator::start(Config {
            seed_resources: vec![5],
            limits: Limits {
                url_requests: 1,
                url_window: W,
                ..Limits::default()
            },
            ..Config::default()
        })
        .unwrap();
        emu.set_logging(false);
        let mut o = Options::default();
        o.set_base_url(&emu.base_url()).unwrap();
        o.set_purge_intervals(W, W).unwrap();
        o.coalesce = false;
        o.max_rate_limit_wait = Duration::from_secs(30);
        let c = Client::new(Some(emu.api_key()), &o).unwrap();
        (emu, c)
    }

    /// An observer that, on the call's first slot, runs `then` and sleeps `late` on the
    /// calling thread: as if the thread were descheduled right after its slot was reserved.
    fn late_after_slot(late: Duration, then: impl Fn() + Send + Sync + 'static) -> Observer {
        let first = Mutex::new(true);
        Arc::new(move |n: &Note<'_>| {
            if matches!(n, Note::Slot { .. }) && std::mem::take(&mut *first.lock().unwrap()) {
                then();
                std::thread::sleep(late);
            }
        })
    }

    fn purge(c: &Client, observer: Option<Observer>, item: &str) {
        let ctx = c.context(&CallSettings::default(), observer);
        let body = format!(r#"{{"urls":["{item}"]}}"#);
        c.send_purge(&ctx, 5, PaceKind::Urls, body.as_bytes())
            .unwrap();
    }

    /// The purges the emulator received, in arrival order: none answered 429, each at least
    /// `W` after the one before.
    fn assert_spaced_at_the_server(emu: &Emulator, count: usize) {
        let mut got: Vec<(Instant, u16)> = emu
            .requests()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("/purge"))
            .map(|r| (r.received, r.status))
            .collect();
        got.sort_by_key(|&(t, _)| t);
        let statuses: Vec<u16> = got.iter().map(|&(_, s)| s).collect();
        assert!(
            !statuses.contains(&429),
            "the emulator answered 429: {statuses:?}"
        );
        assert_eq!(statuses.iter().filter(|&&s| s == 201).count(), count);
        let ok: Vec<Instant> = got
            .iter()
            .filter(|&&(_, s)| s == 201)
            .map(|&(t, _)| t)
            .collect();
        for pair in ok.windows(2) {
            let gap = pair[1] - pair[0];
            assert!(
                gap >= W,
                "two purges {gap:?} apart at the server (window {W:?})"
            );
        }
    }

    #[test]
    fn a_caller_descheduled_after_its_slot_does_not_shorten_the_next_gap() {
        let (emu, c) = setup();
        purge(&c, Some(late_after_slot(LATE, || {})), "/a");
        purge(&c, None, "/b");
        purge(&c, None, "/c");
        assert_spaced_at_the_server(&emu, 3);
    }

    #[test]
    fn a_slot_reserved_while_another_caller_is_descheduled_waits_for_its_real_send() {
        let (emu, c) = setup();
        let barrier = Arc::new(Barrier::new(2));
        std::thread::scope(|s| {
            let late = {
                let barrier = Arc::clone(&barrier);
                late_after_slot(LATE, move || {
                    barrier.wait();
                })
            };
            let c1 = c.clone();
            s.spawn(move || purge(&c1, Some(late), "/late"));
            // The second takes its slot (one window after the first's) while the first sleeps.
            barrier.wait();
            purge(&c, None, "/next");
        });
        assert_spaced_at_the_server(&emu, 2);
    }

    #[test]
    fn a_caller_descheduled_past_the_next_slot_waits_for_the_one_that_went() {
        let (emu, c) = setup();
        let barrier = Arc::new(Barrier::new(2));
        std::thread::scope(|s| {
            let late = {
                let barrier = Arc::clone(&barrier);
                // Longer than the window and margin: the second slot's caller goes first.
                late_after_slot(W * 2, move || {
                    barrier.wait();
                })
            };
            let c1 = c.clone();
            s.spawn(move || purge(&c1, Some(late), "/late"));
            barrier.wait();
            purge(&c, None, "/next");
        });
        assert_spaced_at_the_server(&emu, 2);
    }

    #[test]
    fn a_retry_in_its_slot_counts_when_it_went() {
        let (emu, c) = setup();
        // The first attempt fails (not counted by the API); the retry goes after a backoff
        // of at least half a second, in the same slot.
        emu.push_fault(Fault::respond(503, "{}").on("POST", "/cdn/resources/5/purge"));
        purge(&c, None, "/a");
        purge(&c, None, "/b");
        assert_spaced_at_the_server(&emu, 2);
    }
}
