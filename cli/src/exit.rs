//! The exit codes scripts rely on, and how a purge's report maps to them.

use gcdn::engine::job::{Completion, Outcome, Report};

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
/// --verify: everything purged and confirmed, but an edge still serves a URL from a copy
/// cached before its purge.
pub const STALE: u8 = 5;
/// Interrupted (Ctrl-C).
pub const INTERRUPTED: u8 = 130;

/// The exit code of a purge run that got as far as a report (an interrupted run is told apart
/// by the caller, before this):
/// - 0: every planned request purged (and, with `waited`, confirmed `Successful`), and no
///   item left out for a reason that is a failure (`duplicate` and `covered` are not);
/// - 4: nothing failed, but some purges were not confirmed before the wait ended;
/// - 5: everything purged and confirmed, but at least one URL is still `stale` at the edge
///   (`--verify`; probes that got no usable answer do not count);
/// - 1: nothing purged at all (every request failed, or every item was left out);
/// - 3: anything else: some purged, some not (failed or unsent requests, a `Failed`
///   confirmation, items whose host matches no resource, ...).
///
/// A dry run is judged by its plan the same way: 0 if everything would be sent, 1 if
/// nothing would, 3 if some items would be left out.
pub fn of_report(report: &Report, waited: bool) -> u8 {
    let mut done = 0usize;
    let mut unconfirmed = 0usize;
    let mut bad = report
        .skipped
        .iter()
        .filter(|s| s.reason.failure().is_some())
        .count();
    for r in &report.requests {
        match (r.outcome, r.completion) {
            (Outcome::Planned, _) => done += 1,
            (Outcome::Purged, Some(Completion::Failed)) => bad += 1,
            (Outcome::Purged, Some(Completion::Successful)) => done += 1,
            (Outcome::Purged, _) if waited => unconfirmed += 1,
            (Outcome::Purged, _) => done += 1,
            (Outcome::Failed | Outcome::NotSent, _) => bad += 1,
        }
    }
    match (bad, unconfirmed, done) {
        (0, 0, _) if report.totals.verified_stale > 0 => STALE,
        (0, 0, _) => OK,
        (0, _, _) => NOT_CONFIRMED,
        (_, 0, 0) => FAILED,
        _ => PARTIAL,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gcdn::engine::job::listing::ResourceInfo;
    use gcdn::engine::job::plan::{plan, PlanLimits, ResourceIndex};
    use gcdn::engine::job::Job;
    use gcdn::engine::Status;

    /// A report of 3 requests on resource 5 (URLs chunked by 1) and, with `unmatched`, one
    /// full URL whose host matches nothing.
    fn report(unmatched: bool) -> Report {
        let mut job = Job::new();
        job.add_full_urls(&[
            "https://cdn.a.com/1",
            "https://cdn.a.com/2",
            "https://cdn.a.com/3",
        ])
        .unwrap();
        if unmatched {
            job.add_full_urls(&["https://elsewhere.com/x"]).unwrap();
        }
        // A duplicate is never a failure.
        job.add_full_urls(&["https://cdn.a.com/1"]).unwrap();
        let index = ResourceIndex::new(vec![ResourceInfo {
            id: 5,
            cname: "cdn.a.com".into(),
            secondary_hostnames: vec![],
            active: true,
            deleted: false,
            can_purge_by_urls: true,
            ..Default::default()
        }]);
        let limits = PlanLimits {
            max_urls: 1,
            max_patterns: 1,
        };
        Report::new(job.data().clone(), plan(job.data(), &index, limits), false)
    }

    fn set(r: &mut Report, outcomes: &[(Outcome, Option<Completion>)]) {
        assert_eq!(r.requests.len(), outcomes.len());
        for (req, &(o, c)) in r.requests.iter_mut().zip(outcomes) {
            req.outcome = o;
            req.completion = c;
            if o == Outcome::Failed {
                req.status = Some(Status::Server);
            }
        }
    }

    use Completion::{Failed as CFailed, InProgress, Successful};
    use Outcome::{Failed, NotSent, Purged};

    #[test]
    fn all_purged_is_0_and_unconfirmed_only_counts_when_waiting() {
        let mut r = report(false);
        set(&mut r, &[(Purged, None), (Purged, None), (Purged, None)]);
        assert_eq!(of_report(&r, false), OK);
        assert_eq!(of_report(&r, true), NOT_CONFIRMED);
        set(
            &mut r,
            &[
                (Purged, Some(Successful)),
                (Purged, Some(Successful)),
                (Purged, Some(InProgress)),
            ],
        );
        assert_eq!(of_report(&r, true), NOT_CONFIRMED);
        set(
            &mut r,
            &[
                (Purged, Some(Successful)),
                (Purged, Some(Successful)),
                (Purged, Some(Successful)),
            ],
        );
        assert_eq!(of_report(&r, true), OK);
    }

    #[test]
    fn nothing_purged_is_1_and_some_is_3() {
        let mut r = report(false);
        set(&mut r, &[(Failed, None), (NotSent, None), (NotSent, None)]);
        assert_eq!(of_report(&r, false), FAILED);
        set(&mut r, &[(Purged, None), (Failed, None), (NotSent, None)]);
        assert_eq!(of_report(&r, false), PARTIAL);
        // Every confirmation Failed: nothing purged.
        set(
            &mut r,
            &[
                (Purged, Some(CFailed)),
                (Purged, Some(CFailed)),
                (Purged, Some(CFailed)),
            ],
        );
        assert_eq!(of_report(&r, true), FAILED);
        // Failed next to Successful ones: partly.
        set(
            &mut r,
            &[
                (Purged, Some(Successful)),
                (Purged, Some(CFailed)),
                (Purged, Some(Successful)),
            ],
        );
        assert_eq!(of_report(&r, true), PARTIAL);
        // Failed next to unconfirmed ones: partly (it is not just a matter of waiting).
        set(
            &mut r,
            &[
                (Purged, Some(InProgress)),
                (Purged, Some(CFailed)),
                (Failed, None),
            ],
        );
        assert_eq!(of_report(&r, true), PARTIAL);
    }

    #[test]
    fn an_unmatched_host_next_to_purged_items_is_3() {
        let mut r = report(true);
        assert_eq!(r.skipped.len(), 2);
        set(&mut r, &[(Purged, None), (Purged, None), (Purged, None)]);
        assert_eq!(of_report(&r, false), PARTIAL);
        set(&mut r, &[(Failed, None), (Failed, None), (Failed, None)]);
        assert_eq!(of_report(&r, false), FAILED);
    }

    #[test]
    fn a_dry_run_is_judged_by_its_plan() {
        let mut job = Job::new();
        job.add_urls(5, &["/a", "/a"]).unwrap();
        let p = plan(job.data(), &ResourceIndex::default(), PlanLimits::default());
        let r = Report::new(job.data().clone(), p, true);
        assert_eq!(of_report(&r, true), OK);
        let r = report(true);
        let mut dry = Report::new(r.data().clone(), Default::default(), true);
        dry.skipped = r.skipped.clone();
        assert_eq!(of_report(&dry, false), FAILED);
    }

    #[test]
    fn the_codes_are_the_contract() {
        assert_eq!(
            [OK, FAILED, USAGE, PARTIAL, NOT_CONFIRMED, INTERRUPTED],
            [0, 1, 2, 3, 4, 130]
        );
    }
}
