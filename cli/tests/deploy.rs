//! The built `gcdn` binary against the in-process emulator, for deploy pipelines: files mode
//! (`--map`, index pages, unmapped files, percent-encoding; a real `git diff`), `--resume`
//! (of a complete run, of one killed with SIGKILL mid-way, of files that are not gcdn's),
//! shell completions and the manual page, the countdown of a rate-limit wait on a terminal
//! (a pseudo-terminal), and the summary's last line.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gcdn_emulator::{Config, Emulator, Fault, Limits, Resource};
use serde_json::{json, Value};

const KEY: &str = "deployTest/Key+9";

/// 2 URL purges and 1 pattern purge or purge-all per 300 ms and resource; `max_urls` per
/// request.
fn emulator(max_urls: usize) -> Emulator {
    let w = Duration::from_millis(300);
    let emu = Emulator::start(Config {
        api_key: KEY.into(),
        limits: Limits {
            url_requests: 2,
            url_window: w,
            pattern_requests: 1,
            pattern_window: w,
            all_requests: 1,
            all_window: w,
            max_urls,
            ..Limits::default()
        },
        ..Config::default()
    })
    .expect("emulator starts");
    // cdn1.example.com, cdn2.example.com (also docs.example.com), cdn3.example.com.
    for id in 1..=3 {
        let mut r = Resource::new(id);
        if id == 2 {
            r.secondary_hostnames = vec!["docs.example.com".into()];
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
    fn of_type(&self, kind: &str) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
            .filter(|v| v["type"] == kind)
            .collect()
    }

    fn summary(&self) -> Value {
        let last = self.stdout.lines().last().expect("a summary line");
        let v: Value = serde_json::from_str(last).unwrap();
        assert_eq!(v["type"], "summary", "the last line is the summary");
        v
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

fn run(mut c: Command, stdin: Option<&str>) -> Run {
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("gcdn starts");
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        let _ = input.write_all(text.as_bytes());
    }
    drop(input);
    let out = child.wait_with_output().unwrap();
    let r = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    };
    for text in [&r.stdout, &r.stderr] {
        assert!(!text.contains("Key+9"), "the key was printed: {text}");
    }
    r
}

/// `gcdn purge --purge-intervals 0.2 args...` (one request per 200 ms per resource and kind,
/// inside the emulator's windows).
fn purge(emu: &Emulator, args: &[&str], stdin: Option<&str>) -> Run {
    let mut all = vec!["purge", "--purge-intervals", "0.2"];
    all.extend_from_slice(args);
    run(command(emu, &all), stdin)
}

/// The purges the emulator accepted, each as (resource id, body).
fn accepted(emu: &Emulator) -> Vec<(i64, Value)> {
    emu.requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/purge"))
        .filter(|r| (200..300).contains(&r.status))
        .map(|r| {
            let id = r.path.split('/').nth(3).unwrap().parse().unwrap();
            (id, r.json().unwrap())
        })
        .collect()
}

/// The items the emulator accepted purges of: (resource, "urls"/"paths"/"all", item) and how
/// many times each.
fn accepted_items(emu: &Emulator) -> HashMap<(i64, String, String), usize> {
    let mut seen = HashMap::new();
    for (id, body) in accepted(emu) {
        let (kind, items) = match (&body["urls"], &body["paths"]) {
            (Value::Array(u), _) => ("urls", u.clone()),
            (_, Value::Array(p)) if p.is_empty() => ("all", vec![json!("")]),
            (_, Value::Array(p)) => ("paths", p.clone()),
            _ => panic!("a purge body of neither kind: {body}"),
        };
        for item in items {
            let key = (id, kind.to_owned(), item.as_str().unwrap().to_owned());
            *seen.entry(key).or_insert(0) += 1;
        }
    }
    seen
}

fn sent_to(emu: &Emulator, id: i64) -> Vec<Value> {
    accepted(emu)
        .into_iter()
        .filter(|(r, _)| *r == id)
        .map(|(_, b)| b)
        .collect()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gcdn-deploy-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

// ---- files mode --------------------------------------------------------------------------

#[test]
fn files_map_to_urls_with_index_pages_encoding_and_unmapped_files_skipped() {
    let emu = emulator(100);
    let files = "public/img/a b.png\npublic/docs/index.html\nsrc/main.rs\npublic/café.html\n\
                 public/docs/guide/intro.html\nREADME.md\n";
    let r = purge(
        &emu,
        &[
            "--from",
            "-",
            "--json",
            "--map",
            "public/=https://cdn1.example.com/",
            // The longer prefix wins for the docs, on another host.
            "--map",
            "public/docs/=https://docs.example.com/v2/",
        ],
        Some(files),
    );
    assert_eq!(r.code, 0, "unmapped files are no failure: {}", r.stderr);
    assert_eq!(
        sent_to(&emu, 1),
        [json!({"urls": ["/img/a%20b.png", "/caf%C3%A9.html"]})]
    );
    assert_eq!(
        sent_to(&emu, 2),
        [json!({"urls": ["/v2/index.html", "/v2/", "/v2", "/v2/guide/intro.html"]})]
    );
    let skipped = r.of_type("skipped");
    assert_eq!(
        skipped,
        [
            json!({"type": "skipped", "item": "src/main.rs", "resource_id": null,
                   "reason": "unmapped", "given": "file"}),
            json!({"type": "skipped", "item": "README.md", "resource_id": null,
                   "reason": "unmapped", "given": "file"}),
        ]
    );
    let s = r.summary();
    assert_eq!(
        (s["skipped"].as_u64(), s["exit_code"].as_u64()),
        (Some(2), Some(0))
    );
    assert_eq!(s["items_purged"], 6);
    assert!(
        r.stderr
            .contains("skipped src/main.rs: under no --map prefix"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains(", 2 skipped;"), "{}", r.stderr);

    // --index names other pages; --no-index-aliases none.
    emu.clear_requests();
    let map = ["--map", "public/=https://cdn3.example.com/"];
    let r = purge(
        &emu,
        &[
            &map[..],
            &[
                "--index",
                "default.htm",
                "public/a/index.html",
                "public/b/default.htm",
            ],
        ]
        .concat(),
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        sent_to(&emu, 3),
        [json!({"urls": ["/a/index.html", "/b/default.htm", "/b/", "/b"]})]
    );
    emu.clear_requests();
    let r = purge(
        &emu,
        &[&map[..], &["--no-index-aliases", "public/index.html"]].concat(),
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(sent_to(&emu, 3), [json!({"urls": ["/index.html"]})]);
}

#[test]
fn only_unmapped_files_send_nothing_and_succeed() {
    let emu = emulator(100);
    let r = purge(
        &emu,
        &[
            "--json",
            "--map",
            "public/=https://cdn1.example.com/",
            "src/lib.rs",
            "tests/a.rs",
        ],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(emu.requests().is_empty(), "nothing to purge, nothing asked");
    assert_eq!(r.of_type("skipped").len(), 2);
    let s = r.summary();
    assert_eq!(
        (s["skipped"].as_u64(), s["requests"].as_u64()),
        (Some(2), Some(0))
    );
    assert_eq!(s["exit_code"], 0);
    assert!(r.stderr.contains("nothing to purge"), "{}", r.stderr);
}

#[test]
fn bad_maps_are_usage_errors_that_send_nothing() {
    let emu = emulator(100);
    for (args, says) in [
        (vec!["--map", "public/", "public/a"], "takes PREFIX=URL"),
        (
            vec!["--map", "=https://cdn1.example.com/", "a"],
            "PREFIX is empty",
        ),
        (
            vec!["--map", "public/=http://cdn1.example.com/", "public/a"],
            "https://",
        ),
        (vec!["--map", "public/=https:///", "public/a"], "no host"),
        (
            vec!["--map", "public/=https://cdn1.example.com/?x", "public/a"],
            "query",
        ),
        (
            vec![
                "--map",
                "public/=https://me:Pass1@cdn1.example.com/",
                "public/a",
            ],
            "user info",
        ),
        (
            vec![
                "--map",
                "p/=https://cdn1.example.com/",
                "--resource",
                "1",
                "p/a",
            ],
            "cannot be used",
        ),
        (
            vec!["--index", "x.html", "https://cdn1.example.com/a"],
            "--map",
        ),
    ] {
        let r = purge(&emu, &args, None);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(says), "{args:?}: {}", r.stderr);
        assert!(
            !r.stderr.contains("Pass1"),
            "a password is never echoed: {}",
            r.stderr
        );
    }
    assert!(emu.requests().is_empty(), "nothing was sent");
}

/// The README's quick start, on a real repository: `git diff --name-only HEAD~1 | gcdn purge
/// --from - --map public/=https://cdn.../ --wait`, with a name git quotes (non-ASCII).
#[test]
fn the_readme_quick_start_on_a_real_git_diff() {
    let emu = emulator(100);
    emu.set_purge_status_delay(Duration::from_millis(200));
    let repo = temp_dir("git");
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .current_dir(&repo)
            .output()
            .expect("git runs");
        assert!(out.status.success(), "git {args:?}: {out:?}");
    };
    let write = |path: &str, text: &str| {
        let p = repo.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    git(&["init", "-q"]);
    write("public/docs/index.html", "v1");
    write("public/menü.html", "v1");
    write("src/build.rs", "v1");
    git(&["add", "."]);
    git(&["commit", "-qm", "one"]);
    write("public/docs/index.html", "v2");
    write("public/menü.html", "v2");
    write("src/build.rs", "v2");
    git(&["commit", "-qam", "two"]);
    let mut c = Command::new("bash");
    c.arg("-c")
        .arg(format!(
            "set -o pipefail; git -c core.quotePath=true diff --name-only HEAD~1 | {} purge \
             --from - --map public/=https://cdn1.example.com/ --wait --json",
            env!("CARGO_BIN_EXE_gcdn")
        ))
        .current_dir(&repo)
        .env("GCORE_API_KEY", KEY)
        .env("GCORE_BASE_URL", emu.base_url())
        .env_remove("GCDN_LOG")
        .env_remove("GCDN_RATE_STORE");
    let r = run(c, None);
    std::fs::remove_dir_all(&repo).unwrap();
    assert_eq!(r.code, 0, "{}", r.stderr);
    let items = accepted_items(&emu);
    let mut urls: Vec<&str> = items.keys().map(|(_, _, i)| i.as_str()).collect();
    urls.sort();
    assert_eq!(
        urls,
        ["/docs", "/docs/", "/docs/index.html", "/men%C3%BC.html"]
    );
    assert_eq!(r.of_type("skipped")[0]["item"], "src/build.rs");
    assert_eq!(r.summary()["confirmed"], 1);
}

// ---- --resume ----------------------------------------------------------------------------

fn write_file(name: &str, text: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("gcdn-deploy-{}-{name}", std::process::id()));
    std::fs::write(&p, text).unwrap();
    p
}

/// A first run in which resource 2 fails (503 to every attempt), its `--json` output, then
/// the same items again with `--resume`: only resource 2's are sent; the count left out is
/// said, on stderr and in the summary.
fn resume_after_a_failure(args: &[&str], stdin: Option<&str>, left_out: u64) {
    let emu = emulator(1);
    emu.push_fault(
        Fault::respond(503, r#"{"message":"down"}"#)
            .on("POST", "/cdn/resources/2/purge")
            .times(100),
    );
    let first = purge(&emu, &[args, &["--json"]].concat(), stdin);
    assert_eq!(first.code, 3, "{args:?}: {}", first.stderr);
    let before = accepted_items(&emu);
    assert!(before.keys().all(|(id, _, _)| *id != 2));
    emu.clear_faults();
    emu.clear_requests();
    let file = write_file(&format!("resume-{}", args.join("_").len()), &first.stdout);
    let again = purge(
        &emu,
        &[args, &["--json", "--resume", file.to_str().unwrap()]].concat(),
        stdin,
    );
    std::fs::remove_file(&file).unwrap();
    assert_eq!(again.code, 0, "{args:?}: {}", again.stderr);
    let after = accepted_items(&emu);
    assert!(!after.is_empty(), "{args:?}: the failed ones were sent");
    assert!(
        after.keys().all(|(id, _, _)| *id == 2),
        "{args:?}: only resource 2's items were sent again: {after:?}"
    );
    assert_eq!(again.summary()["already_purged"], left_out, "{args:?}");
    assert!(
        again
            .stderr
            .contains(&format!("--resume: left out {left_out} item")),
        "{args:?}: {}",
        again.stderr
    );
}

#[test]
fn resume_leaves_out_what_was_purged_in_every_mode() {
    resume_after_a_failure(
        &[
            "https://cdn1.example.com/a",
            "https://CDN3.example.com/b?v=1",
            "https://cdn2.example.com/a",
            "https://cdn3.example.com/c",
        ],
        None,
        3,
    );
    resume_after_a_failure(
        &[
            "--patterns",
            "https://cdn1.example.com/img/*",
            "https://docs.example.com/img/*",
        ],
        None,
        1,
    );
    resume_after_a_failure(
        &[
            "--map",
            "public/=https://cdn1.example.com/",
            "--map",
            "docs/=https://cdn2.example.com/",
            "--from",
            "-",
        ],
        Some("public/a b.html\ndocs/x.html\npublic/index.html\nsrc/x.rs\n"),
        3,
    );
    resume_after_a_failure(
        &[
            "--all",
            "https://cdn1.example.com/",
            "https://cdn2.example.com/",
        ],
        None,
        1,
    );
}

#[test]
fn resume_by_resource_paths_patterns_and_purge_all() {
    let emu = emulator(1);
    // An earlier run of a shorter list: /a purged.
    let first = purge(&emu, &["--json", "--resource", "1", "/a"], None);
    assert_eq!(first.code, 0, "{}", first.stderr);
    emu.clear_requests();
    let file = write_file("resume-resource", &first.stdout);
    let f = file.to_str().unwrap();
    let r = purge(
        &emu,
        &["--json", "--resource", "1", "/a", "/b", "--resume", f],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(sent_to(&emu, 1), [json!({"urls": ["/b"]})]);
    // The same paths as patterns, or on another resource, were not purged.
    emu.clear_requests();
    let r = purge(&emu, &["--resource", "3", "/a", "--resume", f], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(sent_to(&emu, 3), [json!({"urls": ["/a"]})]);
    let r = purge(
        &emu,
        &["--resource", "1", "--patterns", "/a", "--resume", f],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(sent_to(&emu, 1), [json!({"paths": ["/a"]})]);
    std::fs::remove_file(&file).unwrap();

    // A purge of everything, done: nothing left to send.
    emu.clear_requests();
    let first = purge(&emu, &["--json", "--all", "--resource", "2"], None);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let file = write_file("resume-all", &first.stdout);
    emu.clear_requests();
    let r = purge(
        &emu,
        &[
            "--json",
            "--all",
            "--resource",
            "2",
            "--resume",
            file.to_str().unwrap(),
        ],
        None,
    );
    std::fs::remove_file(&file).unwrap();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(emu.requests().is_empty(), "nothing sent, nothing listed");
    assert_eq!(r.summary()["already_purged"], 1);
    assert!(r.stderr.contains("nothing to purge"), "{}", r.stderr);
}

#[test]
fn resume_takes_a_cut_last_line_and_refuses_what_is_not_gcdn_output() {
    let emu = emulator(1);
    let first = purge(&emu, &["--json", "--resource", "1", "/a", "/b", "/c"], None);
    assert_eq!(first.code, 0, "{}", first.stderr);
    // Cut inside the second request line: /a stays purged, /b is sent again.
    let lines: Vec<&str> = first.stdout.lines().collect();
    assert!(lines[1].contains("\"/b\""), "{}", first.stdout);
    let cut = format!("{}\n{}", lines[0], &lines[1][..lines[1].len() / 2]);
    let file = write_file("resume-cut", &cut);
    emu.clear_requests();
    let r = purge(
        &emu,
        &[
            "--resource",
            "1",
            "/a",
            "/b",
            "/c",
            "--resume",
            file.to_str().unwrap(),
        ],
        None,
    );
    std::fs::remove_file(&file).unwrap();
    assert_eq!(r.code, 0, "{}", r.stderr);
    let sent: Vec<String> = accepted_items(&emu).into_keys().map(|k| k.2).collect();
    let mut sent = sent;
    sent.sort();
    assert_eq!(sent, ["/b", "/c"]);

    // Not gcdn's output, or no file at all: exit 2, nothing sent.
    emu.clear_requests();
    let resources = run(command(&emu, &["resources", "--json"]), None);
    assert_eq!(resources.code, 0, "{}", resources.stderr);
    emu.clear_requests();
    let dir = temp_dir("resume-bad");
    let garbage = dir.join("garbage");
    std::fs::write(&garbage, "hello\n{\"type\":\"summary\"}\n").unwrap();
    let listing = dir.join("listing");
    std::fs::write(&listing, &resources.stdout).unwrap();
    let missing = dir.join("missing.jsonl");
    for (file, says) in [
        (&garbage, "line 1: not JSON"),
        (&listing, "line 1: no \"type\" of gcdn's"),
        (&missing, "cannot read it"),
        (&dir, "cannot read it"),
    ] {
        let r = purge(
            &emu,
            &[
                "https://cdn1.example.com/a",
                "--resume",
                file.to_str().unwrap(),
            ],
            None,
        );
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(r.stderr.contains(says), "{says}: {}", r.stderr);
        assert!(r.stderr.contains("nothing was sent"), "{}", r.stderr);
    }
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(emu.requests().is_empty(), "nothing was sent");
}

/// The issue's case: a long run killed with SIGKILL mid-way (its output cut wherever it
/// was), then the same list with `--resume` of that output. No item the output shows purged
/// is sent again, and every item ends up purged.
#[test]
fn a_run_killed_with_sigkill_is_resumed_without_sending_a_purged_item_twice() {
    // One URL per request, one request per 400 ms on each of two resources: 16 items take
    // about 3 s.
    let emu = emulator(1);
    let items: Vec<String> = (0..8)
        .flat_map(|i| {
            [
                format!("https://cdn1.example.com/f{i}.js"),
                format!("https://cdn3.example.com/g{i}.css"),
            ]
        })
        .collect();
    let list = items.join("\n") + "\n";
    let dir = temp_dir("sigkill");
    let out_path = dir.join("run1.jsonl");
    let mut c = command(
        &emu,
        &["purge", "--purge-intervals", "0.4", "--from", "-", "--json"],
    );
    c.stdin(Stdio::piped())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(list.as_bytes())
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while accepted(&emu).len() < 5 {
        assert!(Instant::now() < deadline, "the purges never came");
        std::thread::sleep(Duration::from_millis(10));
    }
    // SAFETY: a plain kill(2) of our own child.
    assert_eq!(
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGKILL) },
        0
    );
    let status = child.wait().unwrap();
    assert_eq!(status.code(), None, "killed, no exit code");
    let first = accepted_items(&emu);
    assert!(first.len() < items.len(), "killed mid-way: {first:?}");
    let output = std::fs::read_to_string(&out_path).unwrap();
    // What the output shows purged (the last request may have been answered after its
    // line could be written: it is not in the output, so it may be sent again).
    let shown: Vec<(i64, String)> = output
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["type"] == "request" && v["outcome"] == "purged")
        .flat_map(|v| {
            let id = v["resource_id"].as_i64().unwrap();
            v["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| (id, i.as_str().unwrap().to_owned()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(shown.len() >= 3, "{output}");
    assert!(
        !output.contains("\"summary\""),
        "no summary: the run was killed"
    );

    let r = run(
        command(
            &emu,
            &[
                "purge",
                "--purge-intervals",
                "0.2",
                "--from",
                "-",
                "--json",
                "--resume",
                out_path.to_str().unwrap(),
            ],
        ),
        Some(&list),
    );
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.summary()["already_purged"], shown.len());
    let all = accepted_items(&emu);
    for (id, item) in &shown {
        assert_eq!(
            all[&(*id, "urls".to_owned(), item.clone())],
            1,
            "{id} {item} was shown purged and sent again"
        );
    }
    assert_eq!(all.len(), items.len(), "every item purged: {all:?}");
    let twice = all.values().filter(|&&n| n > 1).count();
    assert!(
        twice <= 2,
        "at most the requests in flight at the kill: {all:?}"
    );
}

// ---- completions, manual page, summary, countdown ----------------------------------------

#[test]
fn completions_for_each_shell_and_the_manual_page() {
    let gcdn = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_gcdn"))
            .args(args)
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8(out.stdout).unwrap())
    };
    let dir = temp_dir("completions");
    let (code, bash) = gcdn(&["completions", "bash"]);
    assert_eq!(code, Some(0));
    let script = dir.join("gcdn.bash");
    std::fs::write(&script, &bash).unwrap();
    let check = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(check.status.success(), "bash -n: {check:?}");
    // Loaded into bash, it completes purge's flags.
    let complete = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {}; COMP_WORDS=(gcdn purge --ma); COMP_CWORD=2; COMP_LINE='gcdn purge --ma'; \
             COMP_POINT=${{#COMP_LINE}}; _gcdn gcdn --ma purge; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display()
        ))
        .output()
        .unwrap();
    let words = String::from_utf8_lossy(&complete.stdout).into_owned();
    assert!(
        words.lines().any(|w| w == "--map"),
        "{words:?} {complete:?}"
    );
    for (shell, first_or_mark) in [
        ("zsh", "#compdef gcdn"),
        ("fish", "complete -c gcdn"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let (code, text) = gcdn(&["completions", shell]);
        assert_eq!(code, Some(0), "{shell}");
        assert!(text.contains(first_or_mark), "{shell}: {text}");
        assert!(text.contains("resume"), "{shell}: the flags are in it");
        for (tool, ext) in [("zsh", "zsh"), ("fish", "fish")] {
            if tool == shell && Command::new(tool).arg("--version").output().is_ok() {
                let f = dir.join(format!("gcdn.{ext}"));
                std::fs::write(&f, &text).unwrap();
                let check = Command::new(tool).arg("-n").arg(&f).output().unwrap();
                assert!(check.status.success(), "{tool} -n: {check:?}");
            }
        }
    }
    let (code, _) = gcdn(&["completions", "tcsh"]);
    assert_eq!(code, Some(2));

    let (code, page) = gcdn(&["man"]);
    assert_eq!(code, Some(0));
    let th = page.lines().find(|l| l.starts_with(".TH")).unwrap_or("");
    assert!(th.starts_with(".TH gcdn 1 "), "{page}");
    assert!(page.contains("purge"), "the commands are listed");
    let pages = dir.join("man1");
    let (code, _) = gcdn(&["man", "--dir", pages.to_str().unwrap()]);
    assert_eq!(code, Some(0));
    let mut names: Vec<String> = std::fs::read_dir(&pages)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    // The Makefile's MANPAGES (install and uninstall) lists the same.
    assert_eq!(
        names,
        [
            "gcdn-completions.1",
            "gcdn-delete.1",
            "gcdn-limits.1",
            "gcdn-man.1",
            "gcdn-purge.1",
            "gcdn-resources.1",
            "gcdn.1"
        ]
    );
    let purge_page = std::fs::read_to_string(pages.join("gcdn-purge.1")).unwrap();
    assert!(purge_page.contains("PREFIX=URL"), "{purge_page}");
    // groff reads every page without a warning (-ww), where it is installed.
    if Command::new("groff").arg("--version").output().is_ok() {
        for name in &names {
            let out = Command::new("groff")
                .args(["-man", "-Tutf8", "-ww", "-z"])
                .arg(pages.join(name))
                .output()
                .unwrap();
            assert!(
                out.status.success() && out.stderr.is_empty(),
                "{name}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_last_line_names_the_reason_once() {
    let emu = emulator(100);
    let r = purge(
        &emu,
        &[
            "https://cdn1.example.com/a",
            "https://nowhere.example.org/b",
        ],
        None,
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    let last = r.stderr.lines().last().unwrap();
    assert!(last.contains("1 item left out (1 no_resource)"), "{last}");
    assert_eq!(r.stderr.matches("no_resource").count(), 1, "{}", r.stderr);
}

/// Open a pseudo-terminal: (master, slave) descriptors, 30 rows of 120 columns.
fn pty() -> (std::fs::File, std::fs::File) {
    use std::os::fd::FromRawFd;
    let (mut master, mut slave) = (0, 0);
    let size = libc::winsize {
        ws_row: 30,
        ws_col: 120,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes two descriptors we then own.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(rc, 0, "openpty");
    // SAFETY: fresh descriptors, owned from here on.
    unsafe {
        (
            std::fs::File::from_raw_fd(master),
            std::fs::File::from_raw_fd(slave),
        )
    }
}

#[test]
fn the_bar_counts_a_rate_limit_wait_down_and_names_the_resource() {
    // One URL per request, one request per 4 s on resource 3: the second waits about 4 s.
    let emu = emulator(1);
    let (mut master, slave) = pty();
    let mut c = command(
        &emu,
        &[
            "purge",
            "--purge-intervals",
            "4",
            "--resource",
            "3",
            "/a",
            "/b",
        ],
    );
    c.env("TERM", "xterm")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(slave);
    let mut child = c.spawn().unwrap();
    drop(c);
    let reader = std::thread::spawn(move || {
        let mut screen = Vec::new();
        let mut buf = [0u8; 4096];
        // EIO once the child (the last holder of the slave) is gone.
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 {
                break;
            }
            screen.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&screen).into_owned()
    });
    let status = child.wait().unwrap();
    let screen = reader.join().unwrap();
    assert!(status.success(), "{screen}");
    assert_eq!(sent_to(&emu, 3).len(), 2);
    // The countdown: several whole seconds, each naming resource 3, going down.
    let shown: Vec<u64> = screen
        .split("(resource 3 waits ")
        .skip(1)
        .filter_map(|rest| rest.split(' ').next()?.parse().ok())
        .collect();
    let mut distinct = shown.clone();
    distinct.dedup();
    assert!(
        distinct.len() >= 3,
        "the wait counts down: {distinct:?} in {screen:?}"
    );
    assert!(distinct.windows(2).all(|w| w[0] > w[1]), "{distinct:?}");
    assert!(screen.contains("s for a rate-limit slot)"), "{screen:?}");
}
