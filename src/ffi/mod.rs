//! The C ABI. Thin by design: it turns pointers into Rust values, calls [`crate::engine`], and
//! turns the result into a status code and an owned message. `include/gcdn.h` is generated
//! from this module's files by cbindgen (`make header`).
//!
//! # Files
//!
//! One file per concern or handle, as hyper's `src/ffi/` and rustls-ffi do:
//!
//! - `boundary.rs`: the panic boundary (`boundary!`), `error_out` and out-parameters;
//! - `status.rs`: the status codes (`GCDN_OK`, `GCDN_ERR_*`: the engine's [`Status`] numbers);
//! - `strings.rs`: C strings in (arguments, arrays) and out (the NUL policy), and the
//!   library's strings: `gcdn_string_free`, `gcdn_status_str`, `gcdn_version`;
//! - `options.rs` (`gcdn_options`), `log.rs` (log records), `client.rs` (`gcdn_client`),
//!   `cancel.rs` (`gcdn_cancel`), `calls.rs` (the single calls) and `calls_with.rs` (their
//!   `_with` forms);
//! - `job.rs` (`gcdn_job`, and the numbers reports and events speak in), `run.rs`
//!   (`gcdn_run`, `gcdn_job_run`), `report.rs` (`gcdn_report`), `event.rs` (`gcdn_event`).
//!
//! cbindgen reads this file, then each module in the order declared below: the header's
//! constants and functions come out in that order, so the order is the header's.
//!
//! # The panic boundary
//!
//! No panic may unwind into C. The body of every export is exactly one `boundary!` call,
//! whose first argument is the value the caller gets when the body panics (GCDN_ERR_PANIC
//! with a message, NULL, or nothing), so the fallback is written at the top of each
//! export, as in hyper's C API.
//!
//! hyper goes one step further: its `ffi_fn!` macro wraps the whole `extern "C" fn`, so an
//! export cannot be written without it. cbindgen does not expand macros, though (hyper
//! makes its header from `cargo expand` output, and cbindgen's own `parse.expand` runs
//! `rustc -Zunpretty=expanded`: nightly only). With the pinned cbindgen on stable, a
//! signature inside a macro would vanish from the header. So the signatures stay plain
//! `#[no_mangle] pub extern "C" fn` items that cbindgen reads, the macro wraps the body
//! (rustls-ffi's `ffi_panic_boundary!` shape), and what hyper's shape gets from the
//! compiler, a test enforces: `tests/header.rs` reads every file of this module and fails
//! unless every `extern "C" fn` body is one `boundary!(..)` call and nothing else.
//!
//! # Unsafe steps
//!
//! The crate denies `unsafe_op_in_unsafe_fn`: inside an `unsafe extern "C" fn`, each step
//! that relies on the caller's contract (reading a pointer, taking back a box) is its own
//! `unsafe {}` block, so that a reader sees where the contract is used.
//!
//! # Contracts in C words
//!
//! The exports are `unsafe extern "C"`, but their doc comments are the header's: they state
//! each pointer's contract for a C reader ("must be a client from gcdn_client_new not yet
//! freed; NULL gives GCDN_ERR_INVALID_ARGUMENT") instead of a Rust `# Safety` heading,
//! hence `clippy::missing_safety_doc` is allowed in this module.
//!
//! [`Status`]: crate::engine::Status

#![allow(non_camel_case_types)]
#![allow(clippy::missing_safety_doc)]

// The macro first: the modules after it use `boundary!`.
#[macro_use]
mod boundary;

// The rest in the header's order: cbindgen reads them in this order (rustfmt would sort a
// run of `mod` lines, hence one a paragraph).
mod status; // GCDN_OK, GCDN_ERR_*

mod options; // gcdn_options_*, gcdn_options_set_log

mod client; // gcdn_client_new, _with_call_timeout_ms, _free

mod cancel; // gcdn_cancel_*, gcdn_client_with_cancel

mod calls; // GCDN_DELETE_*, gcdn_delete_resource .. gcdn_purge_all

mod strings; // GCDN_MAX_ITEMS, gcdn_string_free, gcdn_status_str, gcdn_version

mod log; // GCDN_LOG_*, gcdn_log_record, gcdn_log_fn

mod job; // GCDN_KIND_* .. GCDN_TOTAL_*, gcdn_job_*

mod run; // gcdn_progress_fn, gcdn_run_*, gcdn_job_run

mod report; // gcdn_report_*

mod report_extra; // gcdn_report_verified_*, _prefetched_*, _rewritten_*, _warning_*

mod event; // gcdn_event_*

mod calls_with; // gcdn_purge_urls_with .. gcdn_delete_resource_with

pub use self::boundary::gcdn_debug_panic;
pub use self::calls::*;
pub use self::calls_with::*;
pub use self::cancel::*;
pub use self::client::*;
pub use self::event::*;
pub use self::job::*;
pub use self::log::*;
pub use self::options::*;
pub use self::report::*;
pub use self::report_extra::*;
pub use self::run::*;
pub use self::status::*;
pub use self::strings::*;
