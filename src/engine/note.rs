//! What a call tells its observer as it happens ([`Note`], to an [`Observer`]), and why it
//! waits ([`WaitReason`], also the `why` of a job's wait events).

use std::sync::Arc;
use std::time::Duration;

use super::pacer::PaceKind;

/// Why a call or a job run waits.
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
    /// Between a job's polls of the purge statuses (only a job's progress events: a
    /// request never waits for this).
    Confirm,
}

impl WaitReason {
    /// Whether the wait counts against the rate-limit wait budget.
    pub fn charges_budget(self) -> bool {
        matches!(
            self,
            WaitReason::Pacer | WaitReason::RateLimited | WaitReason::RetryAfter
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            WaitReason::Pacer => "pacer",
            WaitReason::RateLimited => "429",
            WaitReason::RetryAfter => "retry-after",
            WaitReason::Backoff => "backoff",
            WaitReason::Confirm => "confirm",
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
