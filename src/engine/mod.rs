//! The safe Rust core. It knows nothing of C: validation, retries, pacing and HTTP live here.
//!
//! `client` holds the operations and the one purge path (`Client::deliver`, for single calls
//! and jobs alike: through `coalesce`, else alone); `purge` the purge request (its body built
//! and sent in its slot); `request` one request's retry loop; `call` the call
//! settings and context; `wait` the one place every wait goes through; `note` what a call
//! tells its observer; `clock` moments from spans; `pacer` the client-wide pacer; `coalesce`
//! the sharing of requests between a client's callers; `account` the account's limits;
//! `retry` the pure retry decisions; `http` the transport.

pub(crate) mod account;
pub mod api_error;
pub(crate) mod call;
pub(crate) mod cancel;
pub(crate) mod client;
pub(crate) mod clock;
pub(crate) mod coalesce;
pub mod config;
pub mod error;
pub(crate) mod format;
pub(crate) mod http;
pub(crate) mod inspect;
pub mod job;
pub mod log;
pub(crate) mod note;
pub mod pacer;
pub(crate) mod purge;
pub mod ratestore;
pub(crate) mod request;
pub(crate) mod resolve;
pub mod retry;
pub mod validate;
pub(crate) mod wait;

pub use account::{AccountLimits, Intervals};
pub use call::{CallCtx, CallSettings, Tick, TICK};
pub use cancel::CancelToken;
pub use client::{Client, DeleteOptions, Deleted};
pub use config::Options;
pub use error::{Error, Result, Status};
pub use inspect::{LimitsRead, Resources};
pub use note::{Note, Observer, WaitReason};
pub use pacer::{PaceKey, PaceKind, Slot, SlotStore, StoreError, Window};
pub use purge::{PATTERNS_PER_REQUEST, URLS_PER_REQUEST};
pub use request::{Failed, SentInfo};
