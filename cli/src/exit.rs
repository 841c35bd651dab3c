//! The exit codes scripts rely on.

/// Everything purged (and confirmed with --wait); every resource deleted.
pub const OK: u8 = 0;
/// Failed, nothing done.
pub const FAILED: u8 = 1;
/// Usage or invalid input: nothing was sent.
pub const USAGE: u8 = 2;
/// Partly done: some purged, some not.
pub const PARTIAL: u8 = 3;
/// Not confirmed within --wait.
pub const NOT_CONFIRMED: u8 = 4;
/// Interrupted (Ctrl-C).
pub const INTERRUPTED: u8 = 130;
