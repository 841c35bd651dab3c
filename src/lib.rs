//! gcdn: delete Gcore CDN resources and purge Gcore CDN caches, from C, C++, Python and Go.
//!
//! [`engine`] is a safe, synchronous Rust client; [`ffi`] is the C ABI over it, declared in
//! `include/gcdn.h`.

// Every unsafe step inside an `unsafe fn` (the C exports above all) is an `unsafe {}` block
// of its own, so that it can be seen and its reason given.
#![deny(unsafe_op_in_unsafe_fn)]

pub mod engine;
pub mod ffi;

pub use crate::engine::{Client, DeleteOptions, Error, Options, Status};
