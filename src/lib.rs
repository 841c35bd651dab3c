//! gcdn: delete Gcore CDN resources and purge Gcore CDN caches, from C, C++, Python and Go.
//!
//! [`core`] is a safe, synchronous Rust client; [`ffi`] is the C ABI over it, declared in
//! `include/gcdn.h`.

pub mod core;
pub mod ffi;

pub use crate::core::{Client, DeleteOptions, Error, Options, Status};
