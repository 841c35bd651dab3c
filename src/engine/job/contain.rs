//! A panic (a bug) in a thread of a job run stays in the run: it fails the request it struck
//! (or ends confirmation) with [`Status::Panic`], and the run ends with that error and its
//! report, never by unwinding into the host or the CLI.
//!
//! [`debug`] (testing only, debug builds) makes a run panic on purpose where the tests
//! check that this holds.

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::engine::error::{Error, Status};

/// `f()`, or its panic as a [`Status::Panic`] error saying `what` was under way.
pub(crate) fn contained<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, Error> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        let why = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("no message");
        Error::new(
            Status::Panic,
            format!("internal error (panic) while {what}: {why}"),
        )
    })
}

/// TESTING ONLY, and only in debug builds (`debug_assertions`; a release build has none of
/// it): make a job run panic on purpose, to check that the panic is contained.
///
/// A fault is armed for one resource id, so that tests running at once on other resources
/// are not touched: [`debug::panic_at`] from Rust, or, for a program such as the `gcdn`
/// command, the environment variable `GCDN_DEBUG_PANIC` (read once, at the first check), a
/// comma-separated list of `request:ID` and `confirm:ID`.
#[cfg(debug_assertions)]
#[doc(hidden)]
pub mod debug {
    use std::sync::{LazyLock, Mutex};

    /// Where the run panics.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Site {
        /// In a worker, sending a purge request of the resource.
        Request,
        /// In confirmation, at each poll while a purge of the resource waits for its status.
        Confirm,
    }

    static FAULTS: LazyLock<Mutex<Vec<(Site, i64)>>> = LazyLock::new(|| {
        let from_env = std::env::var("GCDN_DEBUG_PANIC").unwrap_or_default();
        let faults = from_env
            .split(',')
            .filter_map(|f| {
                let (site, id) = f.trim().split_once(':')?;
                let site = match site {
                    "request" => Site::Request,
                    "confirm" => Site::Confirm,
                    _ => return None,
                };
                Some((site, id.parse().ok()?))
            })
            .collect();
        Mutex::new(faults)
    });

    fn faults() -> std::sync::MutexGuard<'static, Vec<(Site, i64)>> {
        FAULTS.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// From now on, every run panics at `site` for resource `resource_id`. Testing only.
    pub fn panic_at(site: Site, resource_id: i64) {
        faults().push((site, resource_id));
    }

    /// Disarm every fault on `resource_id`. Testing only.
    pub fn clear(resource_id: i64) {
        faults().retain(|&(_, id)| id != resource_id);
    }

    /// Panic if a fault is armed at `site` for `resource_id`.
    pub(crate) fn hit(site: Site, resource_id: i64) {
        let armed = faults().contains(&(site, resource_id));
        if armed {
            panic!("GCDN_DEBUG_PANIC fault: {site:?} on resource {resource_id}");
        }
    }
}

/// A release build has no faults to hit.
#[cfg(not(debug_assertions))]
pub(crate) mod debug {
    #[derive(Clone, Copy)]
    pub enum Site {
        Request,
        Confirm,
    }

    #[inline(always)]
    pub(crate) fn hit(_site: Site, _resource_id: i64) {}
}
