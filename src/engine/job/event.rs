//! A run's progress events: what the progress callback is told ([`Event`]) and what it
//! answers ([`Flow`]).

use std::time::Duration;

use super::report::{Completion, Totals};
use super::PurgeKind;
use crate::engine::error::Status;
use crate::engine::note::WaitReason;

/// What the progress callback says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// Stop the run as a cancel does: nothing new is sent; the report is still written.
    Stop,
}

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A request begins: it goes out now, or after the waits that follow.
    Sent,
    /// The API accepted a request.
    Answered,
    /// A request failed for good (or was given up before it could be sent).
    Failed,
    /// A wait: `wait` long, on `resource_id`, `why`.
    Wait,
    /// An attempt failed and will be tried again; `message` says how it failed.
    Retry,
    /// A poll of `GET /cdn/purge_statuses` was read; `totals.confirmed` counts what is done.
    ConfirmPoll,
    /// A request's purge status is final (`completion`).
    Confirmed,
    /// Nothing else for [`TICK_EVENT`](super::TICK_EVENT): lets the callback look at
    /// what it must (a binding: its signal handlers) and stop the run. Carries only the
    /// totals.
    Tick,
}

/// One progress event, with the run's totals as of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    /// The request's index in the report's `requests`.
    pub request: Option<usize>,
    pub resource_id: Option<i64>,
    pub purge_kind: Option<PurgeKind>,
    /// Items of the request.
    pub items: usize,
    pub attempt: u32,
    pub http_status: Option<u16>,
    pub status: Option<Status>,
    pub wait: Duration,
    pub why: Option<WaitReason>,
    pub completion: Option<Completion>,
    pub message: Option<String>,
    pub totals: Totals,
    /// `Answered`, `Failed` and `Confirmed`: the request as the report has it after this
    /// event (its items as sent, outcome, status, completion, ...), in its object of the
    /// report's JSON form, for callers that print each request as it finishes. (Its items
    /// are not spans of the caller's job: a run may send URL items in their cache-key form.)
    pub finished: Option<Box<serde_json::Value>>,
}

impl Event {
    /// An event with nothing but its kind (and zero totals).
    pub fn new(kind: EventKind) -> Event {
        Event {
            kind,
            request: None,
            resource_id: None,
            purge_kind: None,
            items: 0,
            attempt: 0,
            http_status: None,
            status: None,
            wait: Duration::ZERO,
            why: None,
            completion: None,
            message: None,
            totals: Totals::default(),
            finished: None,
        }
    }
}
