//! The tests of `plan.rs`.

use super::super::Job;
use super::*;

fn info(id: i64, cname: &str) -> ResourceInfo {
    ResourceInfo {
        id,
        cname: cname.into(),
        secondary_hostnames: vec![],
        active: true,
        deleted: false,
        can_purge_by_urls: true,
        ..Default::default()
    }
}

fn texts(job: &Job, r: &PlannedRequest) -> Vec<String> {
    r.items
        .iter()
        .map(|s| job.data().str(*s).to_owned())
        .collect()
}

fn reasons(job: &Job, p: &Plan) -> Vec<(String, Option<i64>, Reason, Option<String>)> {
    let d = job.data();
    p.skipped
        .iter()
        .map(|s| {
            (
                d.given_text(&d.entries()[s.entry as usize]).to_owned(),
                s.resource_id,
                s.reason,
                s.by.map(|b| match b {
                    By::All => "all".to_owned(),
                    By::Pattern(sp) => d.str(sp).to_owned(),
                }),
            )
        })
        .collect()
}

#[test]
fn full_patterns_and_purge_all_by_host_map_to_their_resources() {
    let mut no_urls = info(8, "nourls.a.com");
    no_urls.can_purge_by_urls = false;
    let index = ResourceIndex::new(vec![info(5, "cdn.a.com"), info(6, "cdn.b.com"), no_urls]);
    let mut job = Job::new();
    job.add_full_patterns(&[
        "https://cdn.a.com/img/*",
        "https://NOURLS.a.com/css/*",
        "https://nowhere.a.com/x/*",
    ])
    .unwrap();
    job.add_full_urls(&["https://cdn.a.com/img/a.png?v=2", "https://cdn.a.com/b.png"])
        .unwrap();
    job.add_all_hosts(&[
        "https://cdn.b.com/",
        "https://CDN.B.com",
        "https://nowhere.b.com/",
    ])
    .unwrap();
    job.add_full_urls(&["https://cdn.b.com/c.png"]).unwrap();
    let p = plan(job.data(), &index, PlanLimits::default());
    let sent: Vec<(i64, PurgeKind, Vec<String>)> = p
        .requests
        .iter()
        .map(|r| (r.resource_id, r.kind, texts(&job, r)))
        .collect();
    assert_eq!(
        sent,
        [
            (5, PurgeKind::Patterns, vec!["/img/*".to_owned()]),
            (5, PurgeKind::Urls, vec!["/b.png".to_owned()]),
            // A resource that cannot purge by URL still takes patterns.
            (8, PurgeKind::Patterns, vec!["/css/*".to_owned()]),
            (6, PurgeKind::All, vec![]),
        ]
    );
    assert_eq!(
        reasons(&job, &p),
        [
            (
                "https://nowhere.a.com/x/*".into(),
                None,
                Reason::NoResource,
                None
            ),
            (
                "https://cdn.a.com/img/a.png?v=2".into(),
                Some(5),
                Reason::Covered,
                Some("/img/*".into())
            ),
            ("https://CDN.B.com".into(), Some(6), Reason::Duplicate, None),
            (
                "https://nowhere.b.com/".into(),
                None,
                Reason::NoResource,
                None
            ),
            (
                "https://cdn.b.com/c.png".into(),
                Some(6),
                Reason::Covered,
                Some("all".into())
            ),
        ]
    );
}

#[test]
fn items_by_host_are_checked_when_added() {
    let mut job = Job::new();
    for bad in ["https://cdn.a.com/a*b", "/img/*", "https://cdn.a.com"] {
        let e = job.add_full_patterns(&[bad]).unwrap_err();
        assert!(e.message.starts_with("full pattern 0"), "{}", e.message);
    }
    for bad in [
        "https://cdn.a.com/a.png",
        "https://cdn.a.com/?x=1",
        "cdn.a.com",
        "http://cdn.a.com/",
    ] {
        let e = job.add_all_hosts(&[bad]).unwrap_err();
        assert!(e.message.starts_with("host 0"), "{}", e.message);
    }
    assert!(job.add_all_hosts::<&str>(&[]).is_err());
    assert!(job.is_empty());
}

#[test]
fn hosts_map_to_resources_case_insensitively() {
    let mut a = info(5, "cdn.a.com");
    a.secondary_hostnames = vec!["img.a.com".into()];
    let mut inactive = info(6, "old.a.com");
    inactive.active = false;
    let mut deleted = info(7, "gone.a.com");
    deleted.deleted = true;
    let mut no_urls = info(8, "nourls.a.com");
    no_urls.can_purge_by_urls = false;
    let index = ResourceIndex::new(vec![a, inactive, deleted, no_urls]);
    let mut job = Job::new();
    job.add_full_urls(&[
        "https://CDN.A.com/x.png?v=1",
        "https://img.a.com/y.png",
        "https://nope.a.com/z",
        "https://old.a.com/z",
        "https://gone.a.com/z",
        "https://nourls.a.com/z",
        "https://cdn.a.com.evil.com/z",
    ])
    .unwrap();
    job.add_patterns(8, &["/p/*"]).unwrap();
    let p = plan(job.data(), &index, PlanLimits::default());
    assert_eq!(p.requests.len(), 2);
    assert_eq!(p.requests[0].resource_id, 5);
    assert_eq!(texts(&job, &p.requests[0]), ["/x.png?v=1", "/y.png"]);
    assert_eq!(p.requests[1].resource_id, 8);
    assert_eq!(
        p.requests[1].kind,
        PurgeKind::Patterns,
        "patterns still go to a resource without URL purge"
    );
    let r = reasons(&job, &p);
    assert_eq!(
        r[0],
        (
            "https://nope.a.com/z".into(),
            None,
            Reason::NoResource,
            None
        )
    );
    assert_eq!(r[1].2, Reason::Inactive);
    assert_eq!(r[1].1, Some(6));
    assert_eq!(r[2].2, Reason::Inactive);
    assert_eq!(r[3].2, Reason::UrlPurgeDisabled);
    assert_eq!(r[4].2, Reason::NoResource);
    assert_eq!(r.len(), 5);
}

#[test]
fn duplicates_and_coverage() {
    let mut job = Job::new();
    job.add_urls(1, &["/img/a.png?v=2", "/b", "/b", "/img", "/imgx", "/c?q"])
        .unwrap();
    job.add_patterns(1, &["/img/*", "/img", "/img/sub/*", "/img/*", "/c?*"])
        .unwrap();
    job.add_full_urls(&["https://h.com/b"]).unwrap();
    job.add_urls(2, &["/a"]).unwrap();
    job.add_patterns(2, &["/z"]).unwrap();
    job.add_all(2).unwrap();
    job.add_all(2).unwrap();
    let index = ResourceIndex::new(vec![info(1, "h.com")]);
    let p = plan(job.data(), &index, PlanLimits::default());
    let summary: Vec<(i64, PurgeKind, Vec<String>)> = p
        .requests
        .iter()
        .map(|r| (r.resource_id, r.kind, texts(&job, r)))
        .collect();
    assert_eq!(
        summary,
        [
            (1, PurgeKind::Patterns, vec!["/img".into(), "/c?*".into()]),
            (1, PurgeKind::Urls, vec!["/b".into(), "/c?q".into()]),
            (2, PurgeKind::All, vec![]),
        ]
    );
    let r = reasons(&job, &p);
    let pat = |s: &str| Some(s.to_owned());
    // "/img" is "/img*": it covers "/imgx" and "/img/*" too.
    assert_eq!(
        r,
        [
            (
                "/img/a.png?v=2".into(),
                Some(1),
                Reason::Covered,
                pat("/img")
            ),
            ("/b".into(), Some(1), Reason::Duplicate, None),
            ("/img".into(), Some(1), Reason::Covered, pat("/img")),
            ("/imgx".into(), Some(1), Reason::Covered, pat("/img")),
            ("/img/*".into(), Some(1), Reason::Covered, pat("/img")),
            ("/img/sub/*".into(), Some(1), Reason::Covered, pat("/img")),
            ("/img/*".into(), Some(1), Reason::Duplicate, None),
            ("https://h.com/b".into(), Some(1), Reason::Duplicate, None),
            ("/a".into(), Some(2), Reason::Covered, pat("all")),
            ("/z".into(), Some(2), Reason::Covered, pat("all")),
            ("all".into(), Some(2), Reason::Duplicate, None),
        ]
    );
}

#[test]
fn chunks_by_the_limits() {
    let urls: Vec<String> = (0..250).map(|i| format!("/u{i}")).collect();
    let pats: Vec<String> = (0..25).map(|i| format!("/p{i}/")).collect();
    let mut job = Job::new();
    job.add_urls(3, &urls).unwrap();
    job.add_patterns(3, &pats).unwrap();
    let p = plan(job.data(), &ResourceIndex::default(), PlanLimits::default());
    let sizes: Vec<(PurgeKind, usize)> =
        p.requests.iter().map(|r| (r.kind, r.items.len())).collect();
    assert_eq!(
        sizes,
        [
            (PurgeKind::Patterns, 10),
            (PurgeKind::Patterns, 10),
            (PurgeKind::Patterns, 5),
            (PurgeKind::Urls, 100),
            (PurgeKind::Urls, 100),
            (PurgeKind::Urls, 50)
        ]
    );
    let p = plan(
        job.data(),
        &ResourceIndex::default(),
        PlanLimits {
            max_urls: 200,
            max_patterns: 30,
        },
    );
    assert_eq!(p.requests.len(), 3);
    assert_eq!(texts(&job, &p.requests[2])[0], "/u200");
}

#[test]
fn estimate_is_the_slowest_lane() {
    let urls: Vec<String> = (0..500).map(|i| format!("/u{i}")).collect();
    let mut job = Job::new();
    job.add_urls(1, &urls).unwrap(); // 5 requests
    job.add_urls(2, &urls[..150]).unwrap(); // 2 requests
    job.add_patterns(2, &["/a", "/b"]).unwrap();
    job.add_all(3).unwrap();
    let p = plan(job.data(), &ResourceIndex::default(), PlanLimits::default());
    let w = |_: i64, k: PurgeKind| match k {
        PurgeKind::Urls => (2, Duration::from_secs(60)),
        _ => (1, Duration::from_secs(60)),
    };
    // 5 URL requests at 2 a minute: sent at 0, 0, 60, 60, 120.
    assert_eq!(estimate(&p, w), Duration::from_secs(120));
    assert_eq!(estimate(&Plan::default(), w), Duration::ZERO);
}

#[test]
fn coverage_is_exact_at_the_edges() {
    let mut job = Job::new();
    job.add_patterns(1, &["/a/b", "/a/c*", "/"]).unwrap();
    job.add_urls(1, &["/x"]).unwrap();
    let p = plan(job.data(), &ResourceIndex::default(), PlanLimits::default());
    // "/" covers everything of the resource.
    assert_eq!(p.requests.len(), 1);
    assert_eq!(texts(&job, &p.requests[0]), ["/"]);
    let mut job = Job::new();
    job.add_patterns(1, &["/a/b", "/a/c*"]).unwrap();
    job.add_urls(1, &["/a/b", "/a/bc?x", "/a/a", "/a/c", "/a/", "/a/d"])
        .unwrap();
    let p = plan(job.data(), &ResourceIndex::default(), PlanLimits::default());
    assert_eq!(texts(&job, &p.requests[1]), ["/a/a", "/a/", "/a/d"]);
}

#[test]
fn cache_key_forms_are_planned_de_duplicated_and_reported() {
    use super::super::cachekey::{parse_options, rule_entry};
    use serde_json::json;
    let with = |id: i64, cname: &str, options: serde_json::Value| {
        let mut r = info(id, cname);
        r.options = parse_options(Some(&options)).0;
        r
    };
    let mut index = ResourceIndex::new(vec![
        with(
            1,
            "a.com",
            json!({"ignoreQueryString": {"enabled": true, "value": true},
                                "slice": {"enabled": true, "value": true}}),
        ),
        with(
            2,
            "b.com",
            json!({"proxy_cache_key": {"enabled": true, "value": "$uri"}}),
        ),
        info(3, "c.com"),
    ]);
    let rules = [
        json!({"id": 70, "rule": "^/i18n/", "weight": 1, "active": true,
               "options": {"query_params_whitelist": {"enabled": true, "value": ["lang"]}}}),
        json!({"id": 71, "rule": "(", "weight": 2, "active": true,
               "options": {"ignoreQueryString": {"enabled": false, "value": true}}}),
    ];
    index.set_rules(1, rules.iter().map(|r| rule_entry(r).unwrap().0).collect());
    let mut job = Job::new();
    job.add_full_urls(&[
        "https://a.com/app.js?v=2",
        "https://a.com/app.js?v=3",
        "https://a.com/i18n/m.js?v=1&lang=de",
        "https://a.com/plain.js",
    ])
    .unwrap();
    job.add_urls(3, &["/x?b=1&a=2", "/x?a=2&b=1"]).unwrap();
    job.add_patterns(2, &["/img/*"]).unwrap();
    let mut data = Arc::clone(job.data());
    let p = plan_cache_keys(&mut data, &index, PlanLimits::default());
    let sent: Vec<(i64, Vec<String>)> = p
        .requests
        .iter()
        .map(|r| {
            let items = r.items.iter().map(|s| data.str(*s).to_owned()).collect();
            (r.resource_id, items)
        })
        .collect();
    assert_eq!(
        sent,
        [
            (
                1,
                vec![
                    "/app.js".into(),
                    "/i18n/m.js?lang=de".into(),
                    "/plain.js".into()
                ]
            ),
            (3, vec!["/x?a=2&b=1".into()]),
            (2, vec!["/img/*".into()]),
        ]
    );
    let rw: Vec<(u32, &str, Option<&str>, Option<i64>)> = p
        .rewritten
        .iter()
        .map(|r| {
            (
                r.entry,
                data.str(r.sent),
                r.by.map(|b| b.as_str()),
                r.rule_id,
            )
        })
        .collect();
    assert_eq!(
        rw,
        [
            (0, "/app.js", Some("ignoreQueryString"), None),
            (1, "/app.js", Some("ignoreQueryString"), None),
            (
                2,
                "/i18n/m.js?lang=de",
                Some("query_params_whitelist"),
                Some(70)
            ),
            (4, "/x?a=2&b=1", None, None),
        ]
    );
    assert_eq!(
        reasons(&job, &p)
            .iter()
            .map(|r| (r.0.as_str(), r.2))
            .collect::<Vec<_>>(),
        [
            ("https://a.com/app.js?v=3", Reason::Duplicate),
            ("/x?a=2&b=1", Reason::Duplicate)
        ]
    );
    let codes: Vec<(Option<i64>, &str)> = p
        .warnings
        .iter()
        .map(|w| (w.resource_id, w.code.as_str()))
        .collect();
    assert_eq!(
        codes,
        [
            (Some(1), "slice"),
            (Some(1), "invalid_rule"),
            (Some(2), "custom_cache_key")
        ]
    );
    assert!(
        p.warnings[1].message.contains("rule 71"),
        "{}",
        p.warnings[1].message
    );
    // The caller's job is untouched; `plan` (as given) sends the items unchanged.
    assert!(!Arc::ptr_eq(&data, job.data()));
    let exact = plan(job.data(), &index, PlanLimits::default());
    assert!(exact.rewritten.is_empty());
    assert_eq!(exact.requests[0].items.len(), 4);
    assert_eq!(exact.warnings.len(), 3);
}
