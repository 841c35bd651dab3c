//! The single `gcdn_*_with` calls and their `gcdn_run`, through the C ABI against a real
//! emulator: the HTTP status kept in the run, and the progress callback ticked on the calling
//! thread while a call waits, able to stop it with nothing more sent (how bindings get Ctrl-C).

mod common;

use std::ffi::{c_char, c_void};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use common::*;
use gcdn::ffi::*;

struct Run(*mut gcdn_run);

impl Drop for Run {
    fn drop(&mut self) {
        unsafe { gcdn_run_free(self.0) };
    }
}

fn run() -> Run {
    let r = gcdn_run_new();
    assert!(!r.is_null());
    Run(r)
}

fn purge_urls_with(c: &TestClient, r: *const gcdn_run, id: i64, url: &str) -> Outcome {
    let u = cstr(url);
    let p: [*const c_char; 1] = [u.as_ptr()];
    call(|e| unsafe { gcdn_purge_urls_with(c.ptr(), r, id, p.as_ptr(), 1, e) })
}

#[test]
fn the_run_keeps_the_last_calls_http_status() {
    let emu = emulator();
    let c = client(&emu);
    let r = run();
    assert_eq!(unsafe { gcdn_run_http_status(r.0) }, 0, "before any call");
    assert_eq!(
        purge_urls_with(&c, r.0, 999, "/a").status,
        GCDN_ERR_NOT_FOUND
    );
    assert_eq!(unsafe { gcdn_run_http_status(r.0) }, 404);
    assert!(purge_urls_with(&c, r.0, 1, "/a").ok());
    assert_eq!(
        unsafe { gcdn_run_http_status(r.0) },
        0,
        "a success leaves 0"
    );
    assert_eq!(
        purge_urls_with(&c, r.0, 1, "no-slash").status,
        GCDN_ERR_INVALID_ARGUMENT
    );
    assert_eq!(unsafe { gcdn_run_http_status(r.0) }, 0, "no answer: 0");
    let out = call(|e| unsafe { gcdn_delete_resource_with(c.ptr(), r.0, 998, 0, e) });
    assert_eq!(out.status, GCDN_ERR_NOT_FOUND);
    assert_eq!(unsafe { gcdn_run_http_status(r.0) }, 404);
    // NULL run: defaults, and nothing to keep.
    assert!(purge_urls_with(&c, std::ptr::null(), 2, "/b").ok());
    assert_eq!(unsafe { gcdn_run_http_status(std::ptr::null()) }, 0);
}

struct Ticks {
    thread: ThreadId,
    seen: Vec<(i32, Instant, ThreadId)>,
    stop_after: usize,
}

unsafe extern "C" fn on_event(event: *const gcdn_event, user_data: *mut c_void) -> i32 {
    let ticks = &mut *(user_data as *mut Ticks);
    ticks.seen.push((
        gcdn_event_kind(event),
        Instant::now(),
        std::thread::current().id(),
    ));
    i32::from(ticks.seen.len() >= ticks.stop_after)
}

#[test]
fn a_waiting_call_ticks_its_progress_callback_which_can_stop_it() {
    let emu = emulator();
    let mut setup = Setup::new(&emu);
    setup.wait_ms = Some(120_000);
    let c = setup.build().expect("client");
    // Two purges take the window's slots (2 a minute); the third waits ~60 s for one.
    assert!(c.purge_urls(1, &["/1"]).ok());
    assert!(c.purge_urls(1, &["/2"]).ok());
    let r = run();
    let mut ticks = Ticks {
        thread: std::thread::current().id(),
        seen: Vec::new(),
        stop_after: 6,
    };
    let set = call(|e| unsafe {
        gcdn_run_set_progress(
            r.0,
            Some(on_event),
            &mut ticks as *mut Ticks as *mut c_void,
            e,
        )
    });
    assert!(set.ok());
    let started = Instant::now();
    let out = purge_urls_with(&c, r.0, 1, "/3");
    let took = started.elapsed();
    assert_eq!(out.status, GCDN_ERR_CANCELLED, "{out:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(ticks.seen.len(), 6);
    assert!(ticks
        .seen
        .iter()
        .all(|&(kind, _, thread)| kind == GCDN_EVENT_TICK && thread == ticks.thread));
    // At least every 50 ms (with room for a loaded machine), never all at once.
    let gaps: Vec<Duration> = ticks.seen.windows(2).map(|w| w[1].1 - w[0].1).collect();
    assert!(
        gaps.iter().all(|g| *g < Duration::from_millis(500)),
        "{gaps:?}"
    );
    assert!(took >= Duration::from_millis(5 * 40), "{took:?}");
    // Nothing more was sent, and the client still works.
    assert_eq!(purges(&emu).len(), 2);
    assert!(c.purge_urls(2, &["/other"]).ok());
}
