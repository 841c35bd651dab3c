//! gcdn: delete Gcore CDN resources and purge Gcore CDN caches, from C, C++, Python and Go.
//!
//! [`engine`] is a safe, synchronous Rust client; [`ffi`] is the C ABI over it, declared in
//! `include/gcdn.h`.

pub mod engine;
pub mod ffi;

pub use crate::engine::{Client, DeleteOptions, Error, Options, Status};
