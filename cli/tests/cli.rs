//! The built `gcdn` binary against the in-process emulator (windows shortened): every command
//! and flag, the exit-code contract, JSON Lines, Ctrl-C, and the key absent from every output.

use std::borrow::Cow;
use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gcdn::engine::error::redact;

#[path = "../../tests/common/redis_server.rs"]
mod redis_server;
use gcdn_emulator::{Config, Emulator, Fault, Limits, PurgeState, Resource};
use serde_json::Value;

/// A key with characters that get encoded (`/`, `+`, `=`), so that every encoded form of it
/// can be looked for.
const KEY: &str = "cliTest/Key+Secret=42";

/// Short windows: 2 URL purges and 1 pattern purge or purge-all per 300 ms and resource.
fn limits() -> Limits {
    let w = Duration::from_millis(300);
    Limits {
        url_requests: 2,
        url_window: w,
        pattern_requests: 1,
        pattern_window: w,
        all_requests: 1,
        all_window: w,
        ..Limits::default()
    }
}

/// An emulator with resources 1, 2, 3 (`cdn{id}.example.com`; 2 also `img.example.com`).
fn emulator() -> Emulator {
    emulator_with(limits())
}

fn emulator_with(limits: Limits) -> Emulator {
    let emu = Emulator::start(Config {
        api_key: KEY.into(),
        limits,
        ..Config::default()
    })
    .expect("emulator starts");
    for id in 1..=3 {
        let mut r = Resource::new(id);
        if id == 2 {
            r.secondary_hostnames = vec!["img.example.com".into()];
        }
        emu.add_resource(r);
    }
    emu
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
            .collect()
    }

    fn of_type(&self, kind: &str) -> Vec<Value> {
        self.json()
            .into_iter()
            .filter(|v| v["type"] == kind)
            .collect()
    }

    fn summary(&self) -> Value {
        let lines = self.json();
        let last = lines.last().expect("a summary line").clone();
        assert_eq!(last["type"], "summary", "the last line is the summary");
        last
    }
}

fn command(emu: &Emulator, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gcdn"));
    c.args(args)
        .env("GCORE_API_KEY", KEY)
        .env("GCORE_BASE_URL", emu.base_url())
        .env_remove("GCDN_LOG")
        .env_remove("GCDN_RATE_STORE");
    c
}

/// Run `gcdn args...` with `stdin` (none: an empty, closed standard input), and check that no
/// form of the key is in what it printed.
fn gcdn(emu: &Emulator, args: &[&str], stdin: Option<&str>) -> Run {
    run(command(emu, args), stdin)
}

fn run(mut c: Command, stdin: Option<&str>) -> Run {
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("gcdn starts");
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        // The CLI may not read it at all (stdin is read only with --from -).
        let _ = input.write_all(text.as_bytes());
    }
    drop(input);
    let out = child.wait_with_output().unwrap();
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    };
    assert_no_key(&run);
    run
}

/// The key in no form: as written, percent-encoded (either case), JSON-escaped, `\u00XX`, as
/// the library's redaction knows them, nor base64 (`Basic`-style).
fn assert_no_key(run: &Run) {
    for (name, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        assert!(
            matches!(redact(text, KEY), Cow::Borrowed(_)),
            "the key is in {name}: {text}"
        );
        for form in [
            KEY.to_owned(),
            KEY.replace('/', "%2F")
                .replace('+', "%2B")
                .replace('=', "%3D"),
            KEY.replace('/', "%2f")
                .replace('+', "%2b")
                .replace('=', "%3d"),
            KEY.replace('/', "\\/"),
            base64(KEY),
            "Key+Secret".to_owned(),
        ] {
            assert!(!text.contains(&form), "{form:?} is in {name}: {text}");
        }
    }
}

fn base64(s: &str) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..=c.len() {
            out.push(char::from(A[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

/// `gcdn purge args...`: paced by the emulator's limits endpoint, which reports the short
/// windows it keeps (2 URL purges, 1 pattern purge or purge-all per 300 ms).
fn purge(emu: &Emulator, args: &[&str], stdin: Option<&str>) -> Run {
    let mut all = vec!["purge"];
    all.extend_from_slice(args);
    gcdn(emu, &all, stdin)
}

/// The purges the emulator saw, answered or not: (resource id, HTTP status, body as JSON).
fn purges(emu: &Emulator) -> Vec<(i64, u16, Value)> {
    emu.requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/purge"))
        .map(|r| {
            let id = r.path.split('/').nth(3).unwrap().parse().unwrap();
            (id, r.status, r.json().unwrap())
        })
        .collect()
}

/// The bodies of the purges of resource `id` the emulator accepted. (A test's earlier process
/// may have used up a window, so a run can meet a 429 and retry: that is not a second purge.)
fn sent_to(emu: &Emulator, id: i64) -> Vec<Value> {
    purges(emu)
        .into_iter()
        .filter(|(r, status, _)| *r == id && (200..300).contains(status))
        .map(|(_, _, b)| b)
        .collect()
}

fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("gcdn-cli-{}-{name}", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

// ---- the basics --------------------------------------------------------------------------

#[test]
fn version_help_and_usage_errors() {
    let emu = emulator();
    let v = gcdn(&emu, &["--version"], None);
    assert_eq!(v.code, 0);
    assert!(v.stdout.starts_with("gcdn "), "{}", v.stdout);
    for args in [
        &["help"][..],
        &["help", "purge"],
        &["purge", "--help"],
        &["delete", "--help"],
    ] {
        let h = gcdn(&emu, args, None);
        assert_eq!(h.code, 0, "{args:?}: {}", h.stderr);
        assert!(h.stdout.contains("Usage: gcdn"), "{}", h.stdout);
    }
    for args in [
        &["purge", "--no-such-flag"][..],
        &["frobnicate"],
        &["purge", "--patterns", "--all", "--resource", "1"],
        &["purge", "--wait", "30", "https://cdn1.example.com/a"],
        &["purge", "--wait=-1", "https://cdn1.example.com/a"],
        &["purge", "--timeout", "soon", "https://cdn1.example.com/a"],
        &["delete"],
        &["delete", "0"],
    ] {
        let r = gcdn(&emu, args, None);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
    }
    assert!(emu.requests().is_empty(), "a usage error sends nothing");
}

#[test]
fn the_key_comes_from_the_environment_only() {
    let emu = emulator();
    let mut c = command(&emu, &["purge", "https://cdn1.example.com/a.png"]);
    c.env_remove("GCORE_API_KEY");
    let r = run(c, None);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("GCORE_API_KEY"), "{}", r.stderr);
    // A wrong key: refused by the API, nothing purged, and the key is in no output (checked
    // by `run` for KEY; here the wrong one too).
    let mut c = command(&emu, &["purge", "https://cdn1.example.com/a.png"]);
    c.env("GCORE_API_KEY", "wrong/Key+X=1");
    let r = run(c, None);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(!r.stderr.contains("wrong/Key+X=1"));
    assert!(purges(&emu).is_empty());
}

// ---- input -------------------------------------------------------------------------------

#[test]
fn an_empty_list_is_an_error_that_sends_nothing() {
    let emu = emulator();
    let empty = temp_file("empty", "# nothing changed\n\n   \n");
    let cases: Vec<(Vec<&str>, Option<&str>)> = vec![
        (vec![], None),
        (vec!["--from", "-"], Some("")),
        (vec!["--from", "-"], Some("\n# only comments\n\n")),
        (vec!["--from", empty.to_str().unwrap()], None),
        // Standard input is read only with --from -: these URLs are not items.
        (vec![], Some("https://cdn1.example.com/a.png\n")),
        (vec!["--resource", "1"], None),
        (vec!["--patterns"], None),
        (vec!["--all"], None),
    ];
    for (args, stdin) in cases {
        let r = purge(&emu, &args, stdin);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("nothing was sent"), "{}", r.stderr);
        assert!(r.stdout.is_empty());
    }
    std::fs::remove_file(empty).unwrap();
    assert!(emu.requests().is_empty(), "not even the listing was read");
}

#[test]
fn a_bad_item_names_its_line_and_sends_nothing() {
    let emu = emulator();
    let list = temp_file(
        "bad",
        "https://cdn1.example.com/a.png\n\nhttp://cdn1.example.com/b\n",
    );
    let r = purge(&emu, &["--from", list.to_str().unwrap()], None);
    std::fs::remove_file(&list).unwrap();
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("line 3"), "{}", r.stderr);
    assert!(r.stderr.contains("https://"), "{}", r.stderr);
    let r = purge(&emu, &["/a.png"], None);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--resource"), "{}", r.stderr);
    let r = purge(
        &emu,
        &["--resource", "1", "https://cdn1.example.com/a.png"],
        None,
    );
    assert_eq!(r.code, 2);
    let r = purge(&emu, &["--resource", "1", "--patterns", "/a*b"], None);
    assert_eq!(r.code, 2);
    let r = purge(&emu, &["--all", "--resource", "1", "/a.png"], None);
    assert_eq!(r.code, 2);
    let r = purge(&emu, &["--all", "https://cdn1.example.com/a.png"], None);
    assert_eq!(r.code, 2);
    assert!(emu.requests().is_empty());
}

#[test]
fn full_urls_over_several_hosts_from_stdin_and_a_file() {
    let emu = emulator();
    let stdin =
        "# changed\nhttps://cdn1.example.com/a.png?v=2\nhttps://IMG.example.com/logo.svg\n\n\
                 https://cdn3.example.com/c.css\nhttps://cdn1.example.com/a.png?v=2\n";
    let r = purge(&emu, &["--from", "-", "--json"], Some(stdin));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        sent_to(&emu, 1),
        [serde_json::json!({"urls": ["/a.png?v=2"]})]
    );
    assert_eq!(
        sent_to(&emu, 2),
        [serde_json::json!({"urls": ["/logo.svg"]})]
    );
    assert_eq!(sent_to(&emu, 3), [serde_json::json!({"urls": ["/c.css"]})]);
    let requests = r.of_type("request");
    assert_eq!(requests.len(), 3);
    for q in &requests {
        assert_eq!(q["outcome"], "purged");
        assert_eq!(q["status"], 0);
        assert_eq!(q["http_status"], 201);
        assert_eq!(q["kind"], "urls");
    }
    let skipped = r.of_type("skipped");
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0]["reason"], "duplicate");
    assert_eq!(skipped[0]["item"], "https://cdn1.example.com/a.png?v=2");
    let s = r.summary();
    assert_eq!(
        (s["purged"].as_u64(), s["items_purged"].as_u64()),
        (Some(3), Some(3))
    );
    assert_eq!(s["exit_code"], 0);
    // Human lines went to stderr, not stdout.
    assert!(r.stderr.contains("3 of 3 requests purged"), "{}", r.stderr);

    // The same from a file, with arguments before it.
    emu.clear_requests();
    let list = temp_file("list", "https://cdn2.example.com/x.js\n");
    let r = purge(
        &emu,
        &[
            "https://cdn1.example.com/y.js",
            "--from",
            list.to_str().unwrap(),
        ],
        None,
    );
    std::fs::remove_file(&list).unwrap();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.is_empty(), "no --json, nothing on stdout");
    assert_eq!(sent_to(&emu, 1), [serde_json::json!({"urls": ["/y.js"]})]);
    assert_eq!(sent_to(&emu, 2), [serde_json::json!({"urls": ["/x.js"]})]);
}

#[test]
fn paths_patterns_and_purge_all() {
    let emu = emulator();
    let r = purge(
        &emu,
        &["--resource", "2", "/a.png", "/b.png?v=1", "--quiet"],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.is_empty(), "--quiet: {}", r.stderr);
    assert_eq!(
        sent_to(&emu, 2),
        [serde_json::json!({"urls": ["/a.png", "/b.png?v=1"]})]
    );

    emu.clear_requests();
    let r = purge(
        &emu,
        &["--resource", "2", "--patterns", "/img/*", "/css/*"],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        sent_to(&emu, 2),
        [serde_json::json!({"paths": ["/img/*", "/css/*"]})]
    );

    emu.clear_requests();
    let r = purge(
        &emu,
        &[
            "--patterns",
            "https://cdn1.example.com/img/*",
            "https://img.example.com/x/*",
            "--json",
        ],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(sent_to(&emu, 1), [serde_json::json!({"paths": ["/img/*"]})]);
    assert_eq!(sent_to(&emu, 2), [serde_json::json!({"paths": ["/x/*"]})]);
    assert!(r.of_type("request").iter().all(|q| q["kind"] == "patterns"));

    emu.clear_requests();
    let r = purge(&emu, &["--all", "--resource", "3"], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(sent_to(&emu, 3), [serde_json::json!({"paths": []})]);

    emu.clear_requests();
    let r = purge(
        &emu,
        &[
            "--all",
            "https://cdn1.example.com/",
            "https://img.example.com",
            "--json",
        ],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(sent_to(&emu, 1), [serde_json::json!({"paths": []})]);
    assert_eq!(sent_to(&emu, 2), [serde_json::json!({"paths": []})]);
    assert!(r.of_type("request").iter().all(|q| q["kind"] == "all"));
}

// ---- partial outcomes --------------------------------------------------------------------

#[test]
fn an_unmatched_host_next_to_purged_ones_is_3() {
    let emu = emulator();
    let r = purge(
        &emu,
        &[
            "https://cdn1.example.com/a",
            "https://nowhere.example.org/b",
            "--json",
        ],
        None,
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(sent_to(&emu, 1).len(), 1);
    let skipped = r.of_type("skipped");
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0]["reason"], "no_resource");
    assert_eq!(skipped[0]["item"], "https://nowhere.example.org/b");
    assert!(skipped[0]["resource_id"].is_null());
    assert!(r.stderr.contains("nowhere.example.org"), "{}", r.stderr);
    // Only unmatched hosts: nothing purged.
    let r = purge(&emu, &["https://nowhere.example.org/b"], None);
    assert_eq!(r.code, 1, "{}", r.stderr);
}

#[test]
fn a_5xx_mid_run_is_3_and_the_json_says_which_items() {
    let emu = emulator();
    // Resource 2 answers 503 to every attempt (the first and the retries).
    emu.push_fault(
        Fault::respond(503, r#"{"message":"down"}"#)
            .on("POST", "/cdn/resources/2/purge")
            .times(10),
    );
    let r = purge(
        &emu,
        &[
            "https://cdn1.example.com/1.png",
            "https://cdn2.example.com/2.png",
            "https://cdn3.example.com/3.png",
            "--json",
        ],
        None,
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    let requests = r.of_type("request");
    assert_eq!(requests.len(), 3);
    let by_resource = |id: i64| {
        requests
            .iter()
            .find(|q| q["resource_id"] == id)
            .unwrap()
            .clone()
    };
    for id in [1, 3] {
        assert_eq!(by_resource(id)["outcome"], "purged");
    }
    let failed = by_resource(2);
    assert_eq!(failed["outcome"], "failed");
    assert_eq!(failed["items"], serde_json::json!(["/2.png"]));
    assert_eq!(failed["http_status"], 503);
    assert_ne!(failed["status"], 0);
    assert!(
        failed["message"].as_str().unwrap().contains("503"),
        "{failed}"
    );
    let s = r.summary();
    assert_eq!(
        (s["purged"].as_u64(), s["failed"].as_u64()),
        (Some(2), Some(1))
    );
    assert!(r.stderr.contains("failed"), "{}", r.stderr);
}

#[test]
fn a_dry_run_sends_no_purge() {
    let emu = emulator();
    let r = purge(
        &emu,
        &[
            "--dry-run",
            "--json",
            "https://cdn1.example.com/a",
            "https://cdn1.example.com/b",
            "https://nowhere.example.org/c",
        ],
        None,
    );
    assert!(purges(&emu).is_empty(), "a dry run purges nothing");
    assert_eq!(r.code, 3, "one item would be left out: {}", r.stderr);
    let requests = r.of_type("request");
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0]["outcome"], "planned");
    assert_eq!(requests[0]["items"], serde_json::json!(["/a", "/b"]));
    assert_eq!(r.summary()["dry_run"], true);
    assert!(
        r.stderr.contains("plan (dry run, nothing sent)"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("resource 1: 1 request, 2 items"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("estimated time"), "{}", r.stderr);
    let r = purge(&emu, &["--dry-run", "--resource", "1", "/a"], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(purges(&emu).is_empty());
}

#[test]
fn timeout_stops_the_run_and_reports_what_was_done() {
    let emu = emulator_with(Limits {
        max_urls: 1,
        ..limits()
    });
    let started = Instant::now();
    let r = gcdn(
        &emu,
        &[
            "purge",
            "--purge-intervals",
            "5",
            "--timeout",
            "1",
            "--json",
            "--resource",
            "1",
            "/1",
            "/2",
        ],
        None,
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "stopped by --timeout"
    );
    assert_eq!(r.code, 3, "one purged, one not sent: {}", r.stderr);
    let requests = r.of_type("request");
    assert_eq!(requests[0]["outcome"], "purged");
    assert_eq!(requests[1]["outcome"], "not_sent");
    assert_eq!(purges(&emu).len(), 1);
}

#[test]
fn base_url_flag_wins_over_the_environment() {
    let emu = emulator();
    let mut c = command(
        &emu,
        &[
            "--base-url",
            &emu.base_url(),
            "purge",
            "--resource",
            "1",
            "/a",
        ],
    );
    c.env("GCORE_BASE_URL", "http://127.0.0.1:9");
    let r = run(c, None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(sent_to(&emu, 1).len(), 1);
    let r = gcdn(
        &emu,
        &["purge", "--base-url", "ftp://x", "--resource", "1", "/a"],
        None,
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
}

// ---- --wait ------------------------------------------------------------------------------

#[test]
fn wait_confirms_success() {
    let emu = emulator();
    emu.set_purge_status_delay(Duration::from_millis(300));
    let r = purge(
        &emu,
        &[
            "--wait=30",
            "--json",
            "https://cdn1.example.com/a",
            "https://cdn2.example.com/b",
        ],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    for q in r.of_type("request") {
        assert_eq!(q["completion"], "successful", "{q}");
    }
    assert_eq!(r.summary()["confirmed"], 2);
}

#[test]
fn wait_with_every_purge_failed_is_1() {
    let emu = emulator();
    emu.set_resource_purge_state(1, Some(PurgeState::Failed));
    let r = purge(
        &emu,
        &["--wait=30", "--json", "https://cdn1.example.com/a"],
        None,
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.of_type("request")[0]["completion"], "failed");
    assert!(r.stderr.contains("Failed"), "{}", r.stderr);
}

#[test]
fn wait_with_failed_next_to_successful_is_3() {
    let emu = emulator();
    emu.set_resource_purge_state(2, Some(PurgeState::Failed));
    let r = purge(
        &emu,
        &[
            "--wait=30",
            "--json",
            "https://cdn1.example.com/a",
            "https://cdn2.example.com/b",
        ],
        None,
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    let requests = r.of_type("request");
    let completion =
        |id: i64| requests.iter().find(|q| q["resource_id"] == id).unwrap()["completion"].clone();
    assert_eq!(completion(1), "successful");
    assert_eq!(completion(2), "failed");
}

#[test]
fn wait_that_ends_first_is_4() {
    let emu = emulator();
    emu.set_resource_purge_state(1, Some(PurgeState::InProgress));
    let started = Instant::now();
    let r = purge(
        &emu,
        &["--wait=2", "--json", "https://cdn1.example.com/a"],
        None,
    );
    let took = started.elapsed();
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert_eq!(r.of_type("request")[0]["completion"], "in_progress");
    // The 2 s run from a moment after `started`: the run ends by their end (it may end
    // sooner, when the next poll would come after it), the process's start in the slack.
    let deadline = Duration::from_secs(2);
    assert!(
        took < deadline + Duration::from_millis(1_500),
        "ended {took:?} after the start, past the 2 s wait"
    );
}

#[test]
fn json_request_lines_come_as_requests_finish() {
    // One URL per request, one request per 2 s: the first line must come before the second
    // request is even sent.
    let emu = emulator_with(Limits {
        max_urls: 1,
        ..limits()
    });
    let mut c = command(
        &emu,
        &[
            "purge",
            "--purge-intervals",
            "2",
            "--json",
            "--resource",
            "1",
            "/1",
            "/2",
        ],
    );
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut first).unwrap();
    assert!(child.try_wait().unwrap().is_none(), "still running");
    assert_eq!(purges(&emu).len(), 1, "the second request is not sent yet");
    let line: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(line["type"], "request");
    assert_eq!(line["outcome"], "purged");
    assert_eq!(line["items"], serde_json::json!(["/1"]));
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert!(child.wait().unwrap().success());
    let r = Run {
        code: 0,
        stdout: first + &rest,
        stderr: String::new(),
    };
    assert_no_key(&r);
    let requests = r.of_type("request");
    assert_eq!(requests.len(), 2, "each request once: {}", r.stdout);
    assert_eq!(requests[1]["items"], serde_json::json!(["/2"]));
    assert_eq!(r.summary()["purged"], 2);
}

// ---- Ctrl-C ------------------------------------------------------------------------------

fn spawn(mut c: Command) -> Child {
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c.spawn().expect("gcdn starts")
}

/// Start `gcdn args...`, wait for its first purge at the emulator and 300 ms more, send it
/// SIGINT (the real signal, with kill(2)): it must end with 130 within half a second, having
/// sent nothing more. Returns its output.
fn interrupted_after_first_purge(emu: &Emulator, args: &[&str]) -> Run {
    let mut child = spawn(command(emu, args));
    let deadline = Instant::now() + Duration::from_secs(20);
    while purges(emu).is_empty() {
        assert!(Instant::now() < deadline, "the first purge never came");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let signalled = Instant::now();
    // SAFETY: a plain kill(2) of our own child.
    assert_eq!(
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) },
        0
    );
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(5),
            "gcdn did not stop after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    let took = signalled.elapsed();
    let mut stdout = String::new();
    let mut stderr = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let r = Run {
        code: status.code().unwrap_or(-1),
        stdout,
        stderr,
    };
    assert_no_key(&r);
    assert_eq!(r.code, 130, "{}", r.stderr);
    assert!(took < Duration::from_millis(500), "took {took:?} to stop");
    assert_eq!(purges(emu).len(), 1, "nothing more was sent");
    let s = r.summary();
    assert_eq!(s["interrupted"], true);
    assert_eq!(s["exit_code"], 130);
    assert!(r.stderr.contains("interrupted"), "{}", r.stderr);
    r
}

#[test]
fn sigint_during_a_rate_limit_wait_exits_130_at_once_and_sends_nothing_more() {
    // One URL per request, one request per 5 s: the second request waits for its slot.
    let emu = emulator_with(Limits {
        max_urls: 1,
        ..limits()
    });
    let r = interrupted_after_first_purge(
        &emu,
        &[
            "purge",
            "--purge-intervals",
            "5",
            "--json",
            "--resource",
            "1",
            "/1",
            "/2",
            "/3",
        ],
    );
    // What was done is printed.
    let requests = r.of_type("request");
    assert_eq!(requests.len(), 3, "{}", r.stdout);
    assert_eq!(requests[0]["outcome"], "purged");
    assert!(requests[1..].iter().all(|q| q["outcome"] == "not_sent"));
}

#[test]
fn sigint_while_waiting_for_confirmation_exits_130_at_once() {
    let emu = emulator();
    emu.set_resource_purge_state(1, Some(PurgeState::InProgress));
    let r = interrupted_after_first_purge(
        &emu,
        &["purge", "--wait=60", "--json", "--resource", "1", "/1"],
    );
    let requests = r.of_type("request");
    assert_eq!(requests.len(), 1, "{}", r.stdout);
    assert_eq!(requests[0]["outcome"], "purged");
}

#[test]
fn sigint_while_reading_stdin_exits_130_having_sent_nothing() {
    let emu = emulator();
    let mut c = command(&emu, &["purge", "--from", "-"]);
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"https://cdn1.example.com/a\n").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: as above.
    assert_eq!(
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) },
        0
    );
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    assert_eq!(out.status.code(), Some(130));
    assert!(emu.requests().is_empty());
}

// ---- logs --------------------------------------------------------------------------------

#[test]
fn verbose_logs_each_request_without_the_key() {
    let emu = emulator();
    let r = purge(&emu, &["-v", "https://cdn1.example.com/a"], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("GET /cdn/resources"), "{}", r.stderr);
    assert!(
        r.stderr.contains("POST /cdn/resources/1/purge"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("201"), "{}", r.stderr);
    // GCDN_LOG=debug does the same without -v.
    let mut c = command(&emu, &["purge", "https://cdn2.example.com/a"]);
    c.env("GCDN_LOG", "debug");
    let r = run(c, None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("POST /cdn/resources/2/purge"),
        "{}",
        r.stderr
    );
    // Without either: no request lines.
    let r = purge(&emu, &["https://cdn3.example.com/a"], None);
    assert!(!r.stderr.contains("POST /cdn/"), "{}", r.stderr);
    // Warnings (a 429 met) are shown without -v, and not with --quiet.
    for quiet in [false, true] {
        emu.push_fault(
            Fault::respond(429, r#"{"message":"slow down"}"#)
                .on("POST", "/cdn/resources/3/purge")
                .with_header("Retry-After", "1"),
        );
        let mut args = vec!["https://cdn3.example.com/w"];
        if quiet {
            args.push("--quiet");
        }
        let r = purge(&emu, &args, None);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(r.stderr.contains("warn"), !quiet, "{}", r.stderr);
    }
    let mut c = command(&emu, &["purge", "https://cdn3.example.com/a"]);
    c.env("GCDN_LOG", "loud");
    let r = run(c, None);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("GCDN_LOG"), "{}", r.stderr);
}

// ---- delete, resources, limits -----------------------------------------------------------

#[test]
fn delete_reports_each_id() {
    let emu = emulator();
    let r = gcdn(
        &emu,
        &["delete", "1", "2", "--deactivate-first", "--json"],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines = r.of_type("delete");
    assert_eq!(lines.len(), 2);
    for (line, id) in lines.iter().zip([1, 2]) {
        assert_eq!(line["resource_id"], id);
        assert_eq!(line["outcome"], "deleted");
        assert_eq!(line["status"], 0);
        assert_eq!(line["http_status"], 204);
        assert!(line["message"].is_null());
    }
    assert!(emu.resource(1).is_none() && emu.resource(2).is_none());

    let r = gcdn(&emu, &["delete", "1", "--missing-ok", "--json"], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.of_type("delete")[0]["outcome"], "missing");
    assert_eq!(r.of_type("delete")[0]["http_status"], 404);

    let r = gcdn(&emu, &["delete", "1", "--json"], None);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let line = &r.of_type("delete")[0];
    assert_eq!(line["outcome"], "failed");
    assert_eq!(line["http_status"], 404);
    assert_ne!(line["status"], 0);
    assert!(line["message"].as_str().unwrap().contains("resource 1"));

    // 3 is active: without --deactivate-first the API refuses; next to a missing-ok: partly.
    let r = gcdn(&emu, &["delete", "3", "2", "--missing-ok", "--json"], None);
    assert_eq!(r.code, 3, "{}", r.stderr);
    let lines = r.of_type("delete");
    assert_eq!(lines[0]["outcome"], "failed");
    assert_eq!(lines[1]["outcome"], "missing");
    assert!(emu.resource(3).is_some());
    let r = gcdn(&emu, &["delete", "3"], None);
    assert_eq!(r.code, 1);
    assert!(r.stdout.is_empty());
}

#[test]
fn resources_and_limits() {
    let emu = emulator();
    let mut no_urls = Resource::new(4);
    no_urls.can_purge_by_urls = false;
    no_urls.active = false;
    emu.add_resource(no_urls);
    let r = gcdn(&emu, &["resources", "--json"], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines = r.json();
    assert_eq!(lines.len(), 4);
    let two = lines.iter().find(|l| l["id"] == 2).unwrap();
    assert_eq!(two["cname"], "cdn2.example.com");
    assert_eq!(
        two["secondaryHostnames"],
        serde_json::json!(["img.example.com"])
    );
    assert_eq!(two["active"], true);
    assert_eq!(two["deleted"], false);
    assert_eq!(two["can_purge_by_urls"], true);
    let four = lines.iter().find(|l| l["id"] == 4).unwrap();
    assert_eq!(
        (
            four["active"].as_bool(),
            four["can_purge_by_urls"].as_bool()
        ),
        (Some(false), Some(false))
    );
    let r = gcdn(&emu, &["resources"], None);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("img.example.com"), "{}", r.stdout);
    assert_eq!(r.stdout.lines().count(), 5, "a header and 4 rows");

    // Believable limits: read as they are.
    emu.set_limits(Limits {
        url_requests: 4,
        url_window: Duration::from_secs(60),
        max_urls: 50,
        ..Limits::default()
    });
    let r = gcdn(&emu, &["limits", "--json"], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines = r.json();
    assert_eq!(lines.len(), 1);
    let l = &lines[0];
    assert_eq!(
        l["purge_max_urls_limit"], 50,
        "the API's object as read: {l}"
    );
    assert!(l["purge_by_urls_request_limit"].is_string());
    assert_eq!(
        l["gcdn"]["url_purges"],
        serde_json::json!({"requests": 4, "per_ms": 60000})
    );
    assert_eq!(l["gcdn"]["max_urls_per_request"], 50);
    assert_eq!(l["gcdn"]["notes"], serde_json::json!([]));
    let r = gcdn(&emu, &["limits"], None);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("URL purges"), "{}", r.stdout);
    // The test's short windows are believed (at most 100 requests a second are).
    emu.set_limits(limits());
    let r = gcdn(&emu, &["limits", "--json"], None);
    assert_eq!(
        r.json()[0]["gcdn"]["url_purges"],
        serde_json::json!({"requests": 2, "per_ms": 300})
    );
    assert_eq!(r.json()[0]["gcdn"]["notes"], serde_json::json!([]));
    // 1000 a second is not: replaced by the documented rate, and said.
    emu.set_limits(Limits {
        url_requests: 1000,
        url_window: Duration::from_secs(1),
        ..limits()
    });
    let r = gcdn(&emu, &["limits", "--json"], None);
    assert_eq!(r.json()[0]["gcdn"]["url_purges"]["per_ms"], 60000);
    assert!(r.stderr.contains("documented"), "{}", r.stderr);
}

#[test]
fn a_purge_keeps_to_the_accounts_short_windows_without_purge_intervals() {
    // One URL per request, one request per 200 ms: the account's own rate (300 times the
    // documented one), read from its limits endpoint. 0.2 paced this at the documented 2 a
    // minute: the third request a minute away.
    let window = Duration::from_millis(200);
    let emu = emulator_with(Limits {
        url_requests: 1,
        url_window: window,
        max_urls: 1,
        ..limits()
    });
    let started = Instant::now();
    let r = gcdn(
        &emu,
        &[
            "purge",
            "--json",
            "--resource",
            "1",
            "/1",
            "/2",
            "/3",
            "/4",
            "/5",
            "/6",
        ],
        None,
    );
    let took = started.elapsed();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(took < Duration::from_secs(15), "{took:?}");
    let requests = r.of_type("request");
    assert_eq!(requests.len(), 6, "{}", r.stdout);
    assert!(
        requests.iter().all(|q| q["outcome"] == "purged"),
        "{}",
        r.stdout
    );
    // At the emulator: no 429, one purge per window, none held back far past it.
    assert!(purges(&emu).iter().all(|(_, status, _)| *status == 201));
    let accepted = emu.purge_statuses();
    assert_eq!(accepted.len(), 6);
    for pair in accepted.windows(2) {
        let gap = pair[1].created.duration_since(pair[0].created).unwrap();
        assert!(gap >= window && gap < Duration::from_secs(2), "{gap:?}");
    }
    assert!(!r.stderr.contains("documented"), "{}", r.stderr);
}

#[test]
fn an_unreachable_api_is_1_with_nothing_done() {
    let emu = emulator();
    let mut c = command(&emu, &["purge", "https://cdn1.example.com/a", "--json"]);
    c.env("GCORE_BASE_URL", "http://127.0.0.1:9");
    let r = run(c, None);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.summary()["exit_code"], 1);
    let mut c = command(&emu, &["resources"]);
    c.env("GCORE_BASE_URL", "http://127.0.0.1:9");
    assert_eq!(run(c, None).code, 1);
}

// ---- --rate-store ------------------------------------------------------------------------

const REDIS_PASSWORD: &str = "pw-Secret-77";

/// `gcdn purge --purge-intervals 1.6 --resource 1 ITEM` with `store` as `--rate-store` (or,
/// `by_env`, as GCDN_RATE_STORE); the password is in no output.
fn paced_purge(emu: &Emulator, item: &str, store: Option<&str>, by_env: bool) -> Run {
    let mut args = vec!["purge", "--purge-intervals", "1.6", "--resource", "1", item];
    if let (Some(url), false) = (store, by_env) {
        args.extend_from_slice(&["--rate-store", url]);
    }
    let mut c = command(emu, &args);
    if let (Some(url), true) = (store, by_env) {
        c.env("GCDN_RATE_STORE", url);
    }
    let r = run(c, None);
    for text in [&r.stdout, &r.stderr] {
        assert!(
            !text.contains(REDIS_PASSWORD),
            "the store's password shown: {text}"
        );
    }
    r
}

fn rate_limited(emu: &Emulator) -> usize {
    purges(emu)
        .iter()
        .filter(|(_, status, _)| *status == 429)
        .count()
}

#[test]
fn rate_store_shares_the_schedule_between_processes() {
    let redis = redis_server::RedisServer::with_password(REDIS_PASSWORD);
    let url = redis.url(0);
    // 1 URL purge per 1.5 s and resource; the processes pace to 1 per 1.6 s.
    let emu = emulator_with(Limits {
        url_requests: 1,
        url_window: Duration::from_millis(1500),
        ..limits()
    });
    // Two processes one after the other, through one store (by flag, then by environment):
    // the second waits for the slot the first took, and the emulator meets no 429.
    for (n, by_env) in [false, true].into_iter().enumerate() {
        emu.reset();
        for id in 1..=3 {
            emu.add_resource(Resource::new(id));
        }
        let a = paced_purge(&emu, &format!("/a{n}"), Some(&url), by_env);
        assert_eq!(a.code, 0, "{}", a.stderr);
        let started = Instant::now();
        let b = paced_purge(&emu, &format!("/b{n}"), Some(&url), by_env);
        assert_eq!(b.code, 0, "{}", b.stderr);
        assert!(
            started.elapsed() >= Duration::from_millis(800),
            "the second waited its slot"
        );
        assert_eq!(rate_limited(&emu), 0, "no 429 through the shared schedule");
        assert_eq!(sent_to(&emu, 1).len(), 2);
    }
    // The control: without the store the second process does not know, and meets a 429.
    emu.reset();
    emu.add_resource(Resource::new(1));
    assert_eq!(paced_purge(&emu, "/c", None, false).code, 0);
    assert_eq!(paced_purge(&emu, "/d", None, false).code, 0);
    assert!(
        rate_limited(&emu) >= 1,
        "alone, each process meets the other's window"
    );

    // A store that refuses the password: the purge goes on, paced in-process, and the warning
    // names the store but not the password. A malformed URL is a usage error.
    emu.reset();
    emu.add_resource(Resource::new(1));
    let wrong = url.replace(REDIS_PASSWORD, "pw-Wrong-Secret-1");
    let r = paced_purge(&emu, "/e", Some(&wrong), false);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("warn"), "{}", r.stderr);
    assert!(r.stderr.contains("redis://"), "{}", r.stderr);
    assert!(!r.stderr.contains("pw-Wrong-Secret-1"), "{}", r.stderr);
    let r = paced_purge(&emu, "/f", Some("http://127.0.0.1:1/0"), false);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--rate-store"), "{}", r.stderr);
}

#[test]
fn urls_go_in_their_cache_key_form_unless_exact() {
    let emu = emulator();
    emu.add_resource(
        gcdn_emulator::Resource::new(31)
            .cname("keys.example.com")
            .options(serde_json::json!({
                "ignoreQueryString": {"enabled": true, "value": true},
                "slice": {"enabled": true, "value": true}
            })),
    );
    let args = [
        "--json",
        "https://keys.example.com/app.js?v=2",
        "https://keys.example.com/app.js?v=3",
    ];
    let mut dry = vec!["--dry-run"];
    dry.extend(args);
    let r = purge(&emu, &dry, None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rw = r.of_type("rewritten");
    assert_eq!(rw.len(), 2, "{}", r.stdout);
    assert_eq!(
        rw[0],
        serde_json::json!({"type": "rewritten", "item": "https://keys.example.com/app.js?v=2",
            "as": "/app.js", "resource_id": 31, "by": "ignoreQueryString", "rule_id": null})
    );
    let w = r.of_type("warning");
    assert_eq!(w.len(), 1);
    assert_eq!(w[0]["code"], "slice");
    assert!(
        r.stderr
            .contains("cache key https://keys.example.com/app.js?v=2 -> /app.js"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("warning: resource 31"), "{}", r.stderr);
    assert!(purges(&emu).is_empty(), "a dry run purges nothing");

    let r = purge(&emu, &args, None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let sent = purges(&emu);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].2["urls"], serde_json::json!(["/app.js"]));

    emu.clear_requests();
    emu.clear_rate_limits();
    let mut exact = vec!["--exact"];
    exact.extend(args);
    let r = purge(&emu, &exact, None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.of_type("rewritten").is_empty());
    let sent = purges(&emu);
    assert_eq!(
        sent[0].2["urls"],
        serde_json::json!(["/app.js?v=2", "/app.js?v=3"])
    );
}

/// `--no-coalesce`: the run's items go in requests of their own (as 0.2), each as planned;
/// the report's requests say they carried nothing for others.
#[test]
fn no_coalesce_sends_the_runs_own_requests() {
    let emu = emulator();
    let urls: Vec<String> = (0..150).map(|i| format!("/nc/{i}")).collect();
    let mut args = vec!["--no-coalesce", "--json", "--resource", "1"];
    args.extend(urls.iter().map(String::as_str));
    let r = purge(&emu, &args, None);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let sizes: Vec<usize> = sent_to(&emu, 1)
        .iter()
        .map(|b| b["urls"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, [100, 50]);
    assert!(
        r.stdout.contains("\"carried_for_others\":0"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("\"carried_for_others\":1"));
}
