//! The safe Rust core. It knows nothing of C: validation, retries, pacing and HTTP live here.

pub mod api_error;
pub mod cancel;
pub mod client;
pub mod config;
pub mod error;
pub mod http;
pub mod job;
pub mod limits;
pub mod retry;
pub mod validate;

pub use cancel::CancelToken;
pub use client::{Client, DeleteOptions, PATTERNS_PER_REQUEST, URLS_PER_REQUEST};
pub use config::Options;
pub use error::{Error, Result, Status};
