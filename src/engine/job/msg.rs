//! What the threads of a run share with the calling thread and with confirmation: the
//! messages they send it ([`Msg`]) and what confirmation reads of the run ([`ConfirmView`]).

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use super::event::Event;
use super::report::Completion;
use super::{JobData, PurgeKind, Span};
use crate::engine::cancel::CancelToken;
use crate::engine::coalesce::ItemsDigest;
use crate::engine::error::{Error, Status};
use crate::engine::request::{Failed, SentInfo};

/// Messages from the driver and workers to the calling thread.
pub(crate) enum Msg {
    Started {
        req: usize,
    },
    Note {
        req: Option<usize>,
        event: Event,
        rate_limited: bool,
    },
    Done {
        req: usize,
        result: Result<SentInfo, Failed>,
        sent_at: SystemTime,
        /// Items the request carried for other callers of the client (coalescing).
        carried_for_others: usize,
    },
    /// Not sent because of an earlier answer (401/403 for all, 404 for the resource).
    Abandoned {
        req: usize,
        status: Status,
        message: String,
    },
    Poll {
        entries: usize,
        malformed: usize,
        outstanding: usize,
        message: Option<String>,
    },
    /// A poll met a listing that cannot be trusted: confirmation ended.
    PollFailed {
        error: Error,
    },
    Confirmed {
        req: usize,
        completion: Completion,
        purge_id: Option<i64>,
        /// The matched purge status's `created`.
        created: Option<SystemTime>,
    },
}

/// What confirmation needs of the run.
pub(crate) struct ConfirmView<'a> {
    pub cancel: &'a CancelToken,
    pub cancel_token: &'a Arc<CancelToken>,
    pub deadline: Option<Instant>,
    pub items: &'a [Vec<Span>],
    pub data: &'a JobData,
    pub kinds: &'a [(i64, PurgeKind)],
    pub sent_at: Vec<Option<SystemTime>>,
    /// The items of a request that carried other callers' items too (what its purge status
    /// lists), by request.
    pub sent_items: Vec<Option<ItemsDigest>>,
}
