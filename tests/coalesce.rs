//! Coalescing (issue 21), against the emulator with one-second windows: many callers of one
//! client share few requests; each caller is told OK only when a 2xx request that arrived at
//! the emulator carried its items; a shared failure reaches every caller it carried; a caller
//! that leaves (cancel, budget) withdraws its items; with coalescing off each call has its own.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use common::*;
use gcdn::engine::job::{Job, RunOptions};
use gcdn::engine::log::{Level, Record};
use gcdn::engine::{CallSettings, CancelToken, Client, Options, Status};

/// The emulator's window, one purge of each kind per resource per window; the client paces
/// by the same interval.
const WINDOW: Duration = Duration::from_millis(1000);

fn paced_emulator() -> Emulator {
    emulator_with(Config {
        seed_resources: (1..=4).collect(),
        limits: Limits {
            url_requests: 1,
            url_window: WINDOW,
            pattern_requests: 1,
            pattern_window: WINDOW,
            all_requests: 1,
            all_window: WINDOW,
            ..Limits::default()
        },
        ..Config::default()
    })
}

fn options(emu: &Emulator, interval: Duration, budget: Duration) -> Options {
    let mut o = Options::default();
    o.set_base_url(&emu.base_url()).unwrap();
    o.set_purge_intervals(interval, interval).unwrap();
    o.max_rate_limit_wait = budget;
    o.max_retries = 0;
    o
}

fn client(emu: &Emulator) -> Client {
    Client::new(
        Some(emu.api_key()),
        &options(emu, WINDOW, Duration::from_secs(60)),
    )
    .unwrap()
}

/// The items of each purge request the emulator received, with its status.
fn received(emu: &Emulator) -> Vec<(u16, Vec<String>)> {
    purges(emu)
        .iter()
        .map(|r| {
            let v = r.json().expect("a JSON body");
            let items = v
                .get("urls")
                .or_else(|| v.get("paths"))
                .and_then(|a| a.as_array())
                .map(|a| a.iter().map(|i| i.as_str().unwrap().to_owned()).collect())
                .unwrap_or_default();
            (r.status, items)
        })
        .collect()
}

/// Items that arrived in a 2xx request.
fn purged_at_emulator(emu: &Emulator) -> HashSet<String> {
    received(emu)
        .into_iter()
        .filter(|(s, _)| (200..300).contains(s))
        .flat_map(|(_, items)| items)
        .collect()
}

/// `n` threads of one client, each purging one item (`item(i)`) at once; their outcomes.
fn one_item_callers(
    c: &Client,
    n: usize,
    item: impl Fn(usize) -> String + Sync,
    purge: impl Fn(&Client, &str) -> gcdn::engine::Result<()> + Sync,
) -> Vec<(String, gcdn::engine::Result<()>)> {
    let start = Barrier::new(n);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let c = c.clone();
                let (start, item, purge) = (&start, &item, &purge);
                s.spawn(move || {
                    let it = item(i);
                    start.wait();
                    let r = purge(&c, &it);
                    (it, r)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// Every caller OK, each of its items in a 2xx request at the emulator, no 429, and at most
/// `most` requests, none over `limit` items.
fn assert_shared(
    emu: &Emulator,
    outcomes: &[(String, gcdn::engine::Result<()>)],
    most: usize,
    limit: usize,
) {
    for (item, r) in outcomes {
        assert!(r.is_ok(), "{item}: {r:?}");
    }
    let got = received(emu);
    assert!(
        got.iter().all(|(s, _)| *s == 201),
        "statuses: {:?}",
        got.iter().map(|g| g.0).collect::<Vec<_>>()
    );
    let purged = purged_at_emulator(emu);
    for (item, _) in outcomes {
        assert!(purged.contains(item), "{item} told purged, never sent");
    }
    let sizes: Vec<usize> = got.iter().map(|(_, i)| i.len()).collect();
    assert!(got.len() <= most, "{} requests: {sizes:?}", got.len());
    assert!(sizes.iter().all(|&n| n <= limit), "{sizes:?}");
    assert_eq!(
        sizes.iter().sum::<usize>(),
        outcomes.len(),
        "each sent once"
    );
}

#[test]
fn forty_one_url_callers_share_few_requests() {
    let emu = paced_emulator();
    let c = client(&emu);
    let outcomes = one_item_callers(
        &c,
        40,
        |i| format!("/forty/{i}"),
        |c, u| c.purge_urls(1, &[u]),
    );
    // The first goes at once, alone (or with whoever joined by then); everyone else waits
    // for the next slot and shares it.
    assert_shared(&emu, &outcomes, 3, 100);
}

#[test]
fn two_hundred_fifty_one_url_callers_fill_full_requests() {
    let emu = paced_emulator();
    let c = client(&emu);
    let outcomes = one_item_callers(
        &c,
        250,
        |i| format!("/many/{i}"),
        |c, u| c.purge_urls(1, &[u]),
    );
    // ceil(250 / 100) full requests, the first one (alone) and one for stragglers.
    assert_shared(&emu, &outcomes, 5, 100);
}

#[test]
fn pattern_callers_share_requests_of_ten() {
    let emu = paced_emulator();
    let c = client(&emu);
    let outcomes = one_item_callers(
        &c,
        25,
        |i| format!("/pat/{i}/*"),
        |c, p| c.purge_patterns(2, &[p]),
    );
    assert_shared(&emu, &outcomes, 5, 10);
}

#[test]
fn purge_all_callers_share_one_purge_all() {
    let emu = paced_emulator();
    let c = client(&emu);
    let outcomes = one_item_callers(&c, 12, |i| format!("all-{i}"), |c, _| c.purge_all(3));
    for (who, r) in &outcomes {
        assert!(r.is_ok(), "{who}: {r:?}");
    }
    let got = received(&emu);
    assert!(got.len() <= 3, "{got:?}");
    assert!(got.iter().all(|(s, items)| *s == 201 && items.is_empty()));
}

#[test]
fn duplicates_across_callers_are_sent_once() {
    let emu = paced_emulator();
    let c = client(&emu);
    let outcomes = one_item_callers(
        &c,
        30,
        |i| format!("/dup/{}", i % 3),
        |c, u| c.purge_urls(1, &[u]),
    );
    for (item, r) in &outcomes {
        assert!(r.is_ok(), "{item}: {r:?}");
    }
    for (status, items) in received(&emu) {
        assert_eq!(status, 201);
        let unique: HashSet<&String> = items.iter().collect();
        assert_eq!(unique.len(), items.len(), "de-duplicated: {items:?}");
    }
    let purged = purged_at_emulator(&emu);
    assert_eq!(purged.len(), 3);
}

/// A shared request answered `status`: every caller it carried gets that error, saying the
/// request was shared and by how many; callers carried by successful requests are OK.
fn shared_failure(status: u16, body: &str, expected: Status) {
    let emu = paced_emulator();
    let c = client(&emu);
    // The window is now closed for a second: the callers below wait for the next slot.
    c.purge_urls(1, &["/warm"]).unwrap();
    emu.push_fault(
        Fault::respond(status, body)
            .on("POST", "/cdn/resources/1/purge")
            .times(1),
    );
    let outcomes = one_item_callers(
        &c,
        10,
        |i| format!("/fail/{i}"),
        |c, u| c.purge_urls(1, &[u]),
    );
    let got = received(&emu);
    let failed: Vec<&(u16, Vec<String>)> = got.iter().filter(|(s, _)| *s == status).collect();
    assert_eq!(failed.len(), 1, "{got:?}");
    let carried = &failed[0].1;
    assert!(
        carried.len() > 1,
        "the failed request was shared: {carried:?}"
    );
    let purged = purged_at_emulator(&emu);
    for (item, r) in &outcomes {
        if carried.contains(item) {
            let e = r.as_ref().unwrap_err();
            assert_eq!(e.status, expected, "{e}");
            let shared = format!("shared by {} callers", carried.len());
            assert!(e.message.contains(&shared), "{e}");
            assert!(!purged.contains(item));
        } else {
            assert!(r.is_ok(), "{item}: {r:?}");
            assert!(purged.contains(item), "{item}");
        }
    }
}

#[test]
fn a_shared_request_answered_503_fails_every_caller_it_carried() {
    shared_failure(503, r#"{"errors": ["unavailable"]}"#, Status::Server);
}

#[test]
fn a_shared_request_answered_400_fails_every_caller_it_carried() {
    shared_failure(400, r#"{"errors": ["refused"]}"#, Status::Rejected);
}

/// A log function that fires `on` when a record's message contains `needle`.
fn signal_on(needle: &'static str) -> (Options, Arc<(Mutex<bool>, std::sync::Condvar)>) {
    let seen = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
    let mut o = Options::default();
    let s = Arc::clone(&seen);
    o.set_log(
        Arc::new(move |r: &Record<'_>| {
            if r.message.contains(needle) {
                *s.0.lock().unwrap() = true;
                s.1.notify_all();
            }
        }),
        Level::Trace,
    );
    (o, seen)
}

fn wait_for(seen: &(Mutex<bool>, std::sync::Condvar)) {
    let g = seen.0.lock().unwrap();
    let (g, t) = seen
        .1
        .wait_timeout_while(g, Duration::from_secs(30), |s| !*s)
        .unwrap();
    assert!(*g && !t.timed_out(), "the event never came");
}

/// A client paced at `interval`, the emulator's URL window set to it, with a wait budget of
/// `budget`; and the signal of its "slot taken in" log record.
fn slow_client(
    emu: &Emulator,
    interval: Duration,
    budget: Duration,
) -> (Client, Arc<(Mutex<bool>, std::sync::Condvar)>) {
    emu.set_limits(Limits {
        url_window: interval,
        ..emu.limits()
    });
    let (mut o, slot_taken) = signal_on("slot taken in");
    let base = options(emu, interval, budget);
    o.base_url = base.base_url;
    o.purge_intervals = base.purge_intervals;
    o.max_rate_limit_wait = base.max_rate_limit_wait;
    (Client::new(Some(emu.api_key()), &o).unwrap(), slot_taken)
}

#[test]
fn a_cancelled_waiting_caller_withdraws_its_url_and_the_others_go_on() {
    let emu = paced_emulator();
    // A long window, so the cancel surely comes while everyone waits for the slot.
    let interval = Duration::from_secs(4);
    let (mut o, slot_taken) = signal_on("slot taken in");
    let base = options(&emu, interval, Duration::from_secs(60));
    o.base_url = base.base_url;
    o.purge_intervals = base.purge_intervals;
    o.max_rate_limit_wait = base.max_rate_limit_wait;
    let c = Client::new(Some(emu.api_key()), &o).unwrap();
    c.purge_urls(1, &["/warm"]).unwrap();
    std::thread::scope(|s| {
        // The leader: holds the next slot, 4 s away.
        let leader = s.spawn(|| c.purge_urls(1, &["/leader"]));
        wait_for(&slot_taken);
        let token = Arc::new(CancelToken::new());
        let settings = CallSettings {
            cancel: Some(Arc::clone(&token)),
            ..CallSettings::default()
        };
        let fc = c.clone();
        let follower = s.spawn(move || fc.purge_urls_with(1, &["/cancelled"], &settings));
        let other = s.spawn(|| c.purge_urls(1, &["/other"]));
        std::thread::sleep(Duration::from_millis(300));
        token.cancel();
        let cancelled_at = Instant::now();
        let e = follower.join().unwrap().unwrap_err();
        assert!(
            cancelled_at.elapsed() < Duration::from_secs(2),
            "left at once"
        );
        assert_eq!(e.status, Status::Cancelled, "{e}");
        leader.join().unwrap().unwrap();
        other.join().unwrap().unwrap();
    });
    let purged = purged_at_emulator(&emu);
    assert!(purged.contains("/leader") && purged.contains("/other"));
    let all: Vec<String> = received(&emu).into_iter().flat_map(|r| r.1).collect();
    assert!(!all.contains(&"/cancelled".to_owned()), "{all:?}");
}

#[test]
fn a_cancelled_leader_hands_the_slot_on() {
    let emu = paced_emulator();
    let interval = Duration::from_secs(3);
    let (mut o, slot_taken) = signal_on("slot taken in");
    let base = options(&emu, interval, Duration::from_secs(60));
    o.base_url = base.base_url;
    o.purge_intervals = base.purge_intervals;
    let c = Client::new(Some(emu.api_key()), &o).unwrap();
    c.purge_urls(1, &["/warm"]).unwrap();
    let token = Arc::new(CancelToken::new());
    std::thread::scope(|s| {
        let leader = s.spawn(|| {
            c.with_cancel(Arc::clone(&token))
                .purge_urls(1, &["/gone-leader"])
        });
        wait_for(&slot_taken);
        let followers: Vec<_> = (0..5)
            .map(|i| {
                let c = c.clone();
                s.spawn(move || c.purge_urls(1, &[format!("/f/{i}")]))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        token.cancel();
        let e = leader.join().unwrap().unwrap_err();
        assert_eq!(e.status, Status::Cancelled, "{e}");
        for f in followers {
            f.join().unwrap().unwrap();
        }
    });
    let all: Vec<String> = received(&emu).into_iter().flat_map(|r| r.1).collect();
    assert!(!all.contains(&"/gone-leader".to_owned()), "{all:?}");
    let purged = purged_at_emulator(&emu);
    for i in 0..5 {
        assert!(purged.contains(&format!("/f/{i}")), "{all:?}");
    }
    assert!(received(&emu).iter().all(|r| r.0 == 201));
}

#[test]
fn a_short_wait_budget_leaves_at_once_with_nothing_sent() {
    let emu = paced_emulator();
    let o = options(&emu, Duration::from_secs(5), Duration::from_millis(300));
    let c = Client::new(Some(emu.api_key()), &o).unwrap();
    c.purge_urls(1, &["/warm"]).unwrap();
    let began = Instant::now();
    let outcomes = one_item_callers(
        &c,
        8,
        |i| format!("/short/{i}"),
        |c, u| c.purge_urls(1, &[u]),
    );
    // The slot is 5 s away: every caller is refused long before it.
    assert!(
        began.elapsed() < Duration::from_secs(4),
        "{:?}",
        began.elapsed()
    );
    for (item, r) in &outcomes {
        let e = r.as_ref().unwrap_err();
        assert_eq!(e.status, Status::RateLimited, "{item}: {e}");
        assert!(e.message.contains("nothing"), "{e}");
    }
    assert_eq!(received(&emu).len(), 1, "only /warm");
}

/// Callers whose items cannot get a slot within their wait budget leave at once, nothing of
/// theirs sent, with a message that says when the slot would have opened; those that fit are
/// purged. Nine callers of 40 URLs each (two fit a request of 100) join at once after /warm,
/// at one request per 2 s and a budget of 4.5 s: the requests at 2 s and 4 s carry four of
/// them; the five others would go at 6 s or later and are refused when they join.
#[test]
fn callers_that_cannot_fit_their_budget_leave_at_once_and_the_others_are_purged() {
    let emu = paced_emulator();
    let interval = Duration::from_secs(2);
    let budget = Duration::from_millis(4500);
    let o = options(&emu, interval, budget);
    let c = Client::new(Some(emu.api_key()), &o).unwrap();
    // The emulator's window is the client's interval here.
    emu.set_limits(Limits {
        url_window: interval,
        ..emu.limits()
    });
    c.purge_urls(1, &["/warm"]).unwrap();
    let n = 9;
    let start = Barrier::new(n);
    let outcomes: Vec<(Vec<String>, Duration, gcdn::engine::Result<()>)> =
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..n)
                .map(|i| {
                    let (c, start) = (c.clone(), &start);
                    s.spawn(move || {
                        let urls: Vec<String> = (0..40).map(|u| format!("/fit/{i}/{u}")).collect();
                        start.wait();
                        let called = Instant::now();
                        let r = c.purge_urls(1, &urls);
                        (urls, called.elapsed(), r)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
    let sent: HashSet<String> = received(&emu).into_iter().flat_map(|r| r.1).collect();
    let purged = purged_at_emulator(&emu);
    let (mut ok, mut refused) = (0, 0);
    for (urls, took, r) in &outcomes {
        match r {
            Ok(()) => {
                ok += 1;
                assert!(
                    urls.iter().all(|u| purged.contains(u)),
                    "told OK, not purged"
                );
            }
            Err(e) => {
                refused += 1;
                assert_eq!(e.status, Status::RateLimited, "{e}");
                assert!(
                    e.message.contains("opens") && e.message.contains("nothing of it was sent"),
                    "{e}"
                );
                // At once: far below the budget it would otherwise have waited out.
                assert!(
                    *took < Duration::from_millis(1500),
                    "left after {took:?}: {e}"
                );
                assert!(
                    urls.iter().all(|u| !sent.contains(u)),
                    "a refused URL was sent"
                );
            }
        }
    }
    assert_eq!((ok, refused), (4, 5), "{outcomes:?}");
    let got = received(&emu);
    assert!(got.iter().all(|r| r.0 == 201), "no 429");
    assert_eq!(got.len(), 3, "/warm and two requests of two callers each");
}

/// A leader whose own deadline ends the shared request before its answer fails alone: the
/// followers it carried are not told its Timeout; they wait again, first in line, and each
/// is told OK only when a request of their own got its 2xx at the emulator. The ~3 s their
/// items spent in the held request is not charged to their 4.5 s wait budget (they waited
/// about 2 s for slots).
#[test]
fn a_leader_out_of_time_mid_send_fails_alone_and_its_followers_go_again() {
    let emu = paced_emulator();
    let interval = Duration::from_secs(2);
    let (c, slot_taken) = slow_client(&emu, interval, Duration::from_millis(4_500));
    c.purge_urls(1, &["/warm"]).unwrap();
    // The shared request is held at the emulator well past the leader's deadline.
    emu.push_fault(
        Fault::delay(Duration::from_secs(8))
            .on("POST", "/cdn/resources/1/purge")
            .times(1),
    );
    let followers = 3;
    std::thread::scope(|s| {
        let settings = CallSettings {
            timeout: Some(Duration::from_secs(5)),
            ..CallSettings::default()
        };
        let lc = c.clone();
        let leader = s.spawn(move || lc.purge_urls_with(1, &["/leader"], &settings));
        // The leader holds the next slot (about 2 s away): these callers join its request.
        wait_for(&slot_taken);
        let handles: Vec<_> = (0..followers)
            .map(|i| {
                let c = c.clone();
                s.spawn(move || c.purge_urls(1, &[format!("/f/{i}")]))
            })
            .collect();
        let e = leader.join().unwrap().unwrap_err();
        for (i, h) in handles.into_iter().enumerate() {
            let r = h.join().unwrap();
            assert!(r.is_ok(), "/f/{i}: {r:?}");
        }
        assert_eq!(e.status, Status::Timeout, "{e}");
        // It was sent: whether it purged the leader's URL is not known.
        assert!(e.message.contains("is not known"), "{e}");
    });
    let got = received(&emu);
    let follower_items: Vec<String> = (0..followers).map(|i| format!("/f/{i}")).collect();
    // The request the leader gave up on carried them (so they were truly carried) ...
    let held = got
        .iter()
        .find(|(_, items)| items.contains(&"/leader".to_owned()))
        .expect("the leader's request arrived");
    for item in &follower_items {
        assert!(held.1.contains(item), "not shared: {got:?}");
    }
    // ... and each went again in a request the emulator answered 2xx (the held one is
    // answered late, its status whatever its window said then).
    let again: HashSet<String> = got
        .iter()
        .filter(|(status, items)| {
            (200..300).contains(status) && !items.contains(&"/leader".to_owned())
        })
        .flat_map(|(_, items)| items.clone())
        .collect();
    for item in &follower_items {
        assert!(again.contains(item), "{item} was not sent again: {got:?}");
    }
}

/// A leader cancelled while it waits for its slot hands the slot it reserved to the next
/// leader: the next caller's request goes in that slot, one interval after /warm at the
/// emulator, not two.
#[test]
fn a_cancelled_leaders_slot_is_used_by_the_next_caller() {
    let emu = paced_emulator();
    let interval = Duration::from_secs(3);
    let (c, slot_taken) = slow_client(&emu, interval, Duration::from_secs(60));
    c.purge_urls(1, &["/warm"]).unwrap();
    let token = Arc::new(CancelToken::new());
    let leader = c.with_cancel(Arc::clone(&token));
    std::thread::scope(|s| {
        let gone = s.spawn(|| leader.purge_urls(1, &["/gone-leader"]));
        wait_for(&slot_taken);
        token.cancel();
        let e = gone.join().unwrap().unwrap_err();
        assert_eq!(e.status, Status::Cancelled, "{e}");
    });
    // The leader is gone; this caller comes after it and takes its slot.
    c.purge_urls(1, &["/next"]).unwrap();
    let got = purges(&emu);
    assert_eq!(got.len(), 2, "/warm and /next: {:?}", received(&emu));
    assert!(got.iter().all(|r| r.status == 201), "no 429");
    assert!(!got[1].body.contains("/gone-leader") && got[1].body.contains("/next"));
    let apart = got[1].received.duration_since(got[0].received);
    // The reserved slot: one interval (and the pacer's margin) after /warm; a fresh slot
    // would be a second interval later.
    assert!(
        apart >= interval && apart < interval + Duration::from_millis(1500),
        "/next came {apart:?} after /warm"
    );
}

#[test]
fn coalescing_off_sends_one_request_per_call() {
    let emu = paced_emulator();
    let mut o = options(&emu, Duration::from_millis(100), Duration::from_secs(60));
    o.coalesce = false;
    let c = Client::new(Some(emu.api_key()), &o).unwrap();
    // The emulator's window is 1 s: at 100 ms intervals the client meets 429s it waits out,
    // so widen the emulator's limit for this one.
    emu.set_limits(Limits {
        url_requests: 100,
        ..emu.limits()
    });
    let outcomes = one_item_callers(
        &c,
        10,
        |i| format!("/own/{i}"),
        |c, u| c.purge_urls(1, &[u]),
    );
    for (item, r) in &outcomes {
        assert!(r.is_ok(), "{item}: {r:?}");
    }
    let got = received(&emu);
    assert_eq!(got.len(), 10);
    assert!(got.iter().all(|(s, i)| *s == 201 && i.len() == 1));
}

/// Two runs and single calls on one resource fill requests together; each run's report lists
/// its own items and counts those carried for others.
#[test]
fn concurrent_jobs_and_single_calls_share_requests() {
    let emu = paced_emulator();
    let c = client(&emu);
    c.purge_urls(1, &["/warm"]).unwrap();
    let job_of = |tag: &str| {
        let mut j = Job::new();
        let urls: Vec<String> = (0..20).map(|i| format!("/{tag}/{i}")).collect();
        j.add_urls(1, &urls).unwrap();
        j
    };
    let (a, b) = (job_of("run-a"), job_of("run-b"));
    let (ra, rb, singles) = std::thread::scope(|s| {
        let ra = s.spawn(|| c.run_job(&a, &RunOptions::default(), None));
        let rb = s.spawn(|| c.run_job(&b, &RunOptions::default(), None));
        let singles: Vec<_> = (0..5)
            .map(|i| {
                let c = c.clone();
                s.spawn(move || c.purge_urls(1, &[format!("/single/{i}")]))
            })
            .collect();
        (
            ra.join().unwrap().unwrap(),
            rb.join().unwrap().unwrap(),
            singles
                .into_iter()
                .map(|h| h.join().unwrap())
                .collect::<Vec<_>>(),
        )
    });
    for r in singles {
        r.unwrap();
    }
    let purged = purged_at_emulator(&emu);
    let got = received(&emu);
    assert!(got.iter().all(|r| r.0 == 201), "no 429, no failure");
    // /warm, then everything waited for the next slot: one shared request of 45.
    assert!(got.len() <= 3, "{got:?}");
    for (report, tag) in [(&ra, "run-a"), (&rb, "run-b")] {
        assert_eq!(report.requests.len(), 1);
        let r = &report.requests[0];
        let items: Vec<&str> = report.items(0).collect();
        assert_eq!(items.len(), 20);
        assert!(items.iter().all(|i| i.starts_with(&format!("/{tag}/"))));
        assert!(items.iter().all(|i| purged.contains(*i)));
        // The request that carried the run's items, at the emulator: its size less the
        // run's own is what the report says it carried for others.
        let carrying = got
            .iter()
            .find(|(_, sent)| sent.contains(&items[0].to_owned()))
            .unwrap();
        assert_eq!(r.carried_for_others as usize, carrying.1.len() - 20);
        assert_eq!(report.totals.carried_for_others, r.carried_for_others);
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(
            json["requests"][0]["carried_for_others"].as_u64(),
            Some(r.carried_for_others)
        );
    }
    assert!(
        ra.requests[0].carried_for_others + rb.requests[0].carried_for_others > 0,
        "the runs shared a request"
    );
}

/// The log says how many items of how many callers a shared request carries.
#[test]
fn the_log_says_what_a_shared_request_carries() {
    let emu = paced_emulator();
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut o = options(&emu, WINDOW, Duration::from_secs(60));
    let l = Arc::clone(&lines);
    o.set_log(
        Arc::new(move |r: &Record<'_>| l.lock().unwrap().push(r.message.to_owned())),
        Level::Info,
    );
    let c = Client::new(Some(emu.api_key()), &o).unwrap();
    c.purge_urls(1, &["/warm"]).unwrap();
    let outcomes = one_item_callers(&c, 6, |i| format!("/log/{i}"), |c, u| c.purge_urls(1, &[u]));
    assert!(outcomes.iter().all(|(_, r)| r.is_ok()));
    let sizes: HashMap<usize, usize> = received(&emu)
        .iter()
        .skip(1)
        .map(|(_, i)| (i.len(), i.len()))
        .collect();
    let lines = lines.lock().unwrap();
    let shared: Vec<&String> = lines.iter().filter(|l| l.contains("coalesced")).collect();
    for n in sizes.keys().filter(|&&n| n > 1) {
        let want = format!("one request carries {n} item(s) of {n} caller(s) on resource 1");
        assert!(
            shared.iter().any(|l| l.contains(&want)),
            "{want}\n{lines:?}"
        );
    }
}

/// A waiting caller's tick (a binding's signal handlers, a C progress callback) runs without
/// the coalescer's lock: while it runs, another thread's purge on another resource of the
/// same client goes (it would block on the lock until the tick returned).
#[test]
fn a_waiting_callers_tick_runs_without_the_coalescers_lock() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc;
    let emu = paced_emulator();
    let interval = Duration::from_secs(3);
    let (mut o, slot_taken) = signal_on("slot taken in");
    let base = options(&emu, interval, Duration::from_secs(60));
    o.base_url = base.base_url;
    o.purge_intervals = base.purge_intervals;
    let c = Client::new(Some(emu.api_key()), &o).unwrap();
    c.purge_urls(1, &["/warm"]).unwrap();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel::<gcdn::engine::Result<()>>();
    let done_rx = Mutex::new(done_rx);
    let go_tx = Mutex::new(Some(go_tx));
    let other_done_during_tick = Arc::new(AtomicBool::new(false));
    std::thread::scope(|s| {
        let leader = s.spawn(|| c.purge_urls(1, &["/leader"]));
        wait_for(&slot_taken);
        let other = {
            let c = c.clone();
            s.spawn(move || {
                if go_rx.recv().is_ok() {
                    let _ = done_tx.send(c.purge_urls(2, &["/other-resource"]));
                }
            })
        };
        let seen = Arc::clone(&other_done_during_tick);
        let tick: gcdn::engine::Tick = Arc::new(move || {
            // Once: let the other thread purge, and wait (bounded) for it to finish.
            if let Some(tx) = go_tx.lock().unwrap().take() {
                tx.send(()).unwrap();
                let r = done_rx
                    .lock()
                    .unwrap()
                    .recv_timeout(Duration::from_secs(10));
                seen.store(matches!(r, Ok(Ok(()))), Ordering::SeqCst);
            }
            false
        });
        let settings = CallSettings {
            tick: Some(tick),
            ..CallSettings::default()
        };
        let follower = c.purge_urls_with(1, &["/follower"], &settings);
        follower.unwrap();
        leader.join().unwrap().unwrap();
        other.join().unwrap();
    });
    assert!(
        other_done_during_tick.load(Ordering::SeqCst),
        "a purge on another resource waited for a caller's tick to return"
    );
    let purged = purged_at_emulator(&emu);
    for item in ["/leader", "/follower", "/other-resource"] {
        assert!(purged.contains(item), "{item}");
    }
}
