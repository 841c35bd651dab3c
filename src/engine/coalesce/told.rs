//! What the in-process coalescer tells its callers: the failures of a shared request as each
//! caller it carried is told them, of one that left, of one whose items went back.

use crate::engine::call::CallCtx;
use crate::engine::error::{Error, Status};
use crate::engine::request::Failed;

pub(super) fn internal() -> Failed {
    Failed {
        error: Error::new(
            Status::Panic,
            "the caller sending the shared request stopped before it ended (a bug): its \
             items are not known to be purged",
        ),
        earlier_attempt_uncertain: true,
        attempts: 0,
        http_status: None,
        rate_limited: 0,
    }
}

/// Whether `f`, the failure of a request that `ctx`'s caller sent for other callers too, may
/// be that caller's own stop, which says nothing of the request's items: its cancel (only
/// the sender's own context says Cancelled), its deadline (a timeout of a caller that has
/// one: an attempt's timeout is cut to the time left, and a wait past the deadline is
/// refused), or its wait budget (RateLimited: a wait refused as longer than the budget
/// allows). The callers it carried then go again under their own limits: a purge sent twice
/// is harmless, and the pacer, which saw the 429s, makes a hopeless wait fail at once.
pub(crate) fn stopped_by_sender(f: &Failed, ctx: &CallCtx) -> bool {
    match f.error.status {
        Status::Cancelled | Status::RateLimited => true,
        Status::Timeout => ctx.deadline().is_some(),
        _ => false,
    }
}

/// `outcome` as told to a caller whose items had already gone in a shared request whose
/// sender stopped before the answer: a failure leaves them not known to be purged.
pub(super) fn after_requeue<T>(outcome: Result<T, Failed>) -> Result<T, Failed> {
    outcome.map_err(|mut f| {
        f.earlier_attempt_uncertain = true;
        f.error.message.push_str(
            "; its items had gone before in a shared request whose sender stopped before the \
             answer came: not known to be purged",
        );
        f
    })
}

/// A caller that leaves before a request carried its items: nothing of it was sent, unless
/// its items had gone in a request whose sender stopped before the answer (`requeued`).
pub(super) fn left(mut error: Error, requeued: bool) -> Failed {
    if !requeued {
        return unsent(error);
    }
    let told = error.message.as_str();
    let told = told
        .strip_suffix("; nothing of it was sent")
        .or_else(|| told.strip_suffix("; nothing was sent"))
        .unwrap_or(told);
    error.message = format!(
        "{told}; its items went earlier in a shared request whose sender stopped (cancelled or \
         out of time) before the answer came: not known to be purged"
    );
    Failed {
        error,
        earlier_attempt_uncertain: true,
        attempts: 0,
        http_status: None,
        rate_limited: 0,
    }
}

/// A failure before anything of the caller's was sent.
pub(super) fn unsent(error: Error) -> Failed {
    Failed {
        error,
        earlier_attempt_uncertain: false,
        attempts: 0,
        http_status: None,
        rate_limited: 0,
    }
}

/// `f` as each caller of a request shared by `callers` (carrying `total` items) is told it.
pub(super) fn shared_failure(f: &Failed, callers: usize, total: usize) -> Failed {
    let mut f = f.clone();
    if callers > 1 {
        let purged = if f.earlier_attempt_uncertain {
            "whether it purged this caller's items is not known"
        } else {
            "none of this caller's items were purged by it"
        };
        f.error.message = format!(
            "{} (the request was shared by {callers} callers and carried {total} items; \
             {purged})",
            f.error.message
        );
    }
    f
}

/// The first few of `items`, for a message.
pub(super) fn named(items: &[String]) -> String {
    const SHOWN: usize = 10;
    let mut s = items
        .iter()
        .take(SHOWN)
        .map(|i| crate::engine::error::quote(i, 200))
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > SHOWN {
        s.push_str(&format!(" and {} more", items.len() - SHOWN));
    }
    s
}
