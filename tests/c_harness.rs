//! Compile the C harness (`tests/c/harness.c`, C11) and a C++ header check with the system
//! compiler under `-Wall -Wextra -Werror -pedantic`, link them against the real `libgcdn.so`,
//! and run them against a live emulator.
//!
//! `GCDN_C_SANITIZE=address,undefined` builds the harness with those sanitizers;
//! `GCDN_C_WRAPPER="valgrind --leak-check=full ..."` runs it under a tool (see the Makefile).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// Where `libgcdn.so` is: `GCDN_LIB_DIR`, else `target/<profile>` of this test run.
/// `cargo test` builds only the rlib, so the shared library comes from `cargo build`
/// (`make test` runs it first); a library older than the sources fails the test.
fn lib_dir() -> PathBuf {
    let dir = match std::env::var_os("GCDN_LIB_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            let exe = std::env::current_exe().unwrap();
            exe.parent().unwrap().parent().unwrap().to_path_buf()
        }
    };
    let lib = dir.join("libgcdn.so");
    let built = std::fs::metadata(&lib)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| {
            panic!(
                "{} is missing: run `cargo build` first (make test does)",
                lib.display()
            )
        });
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let newest_source = walk(&root.join("src")).into_iter().max().unwrap();
    assert!(
        built >= newest_source,
        "{} is older than src/: run `cargo build` first (make test does)",
        lib.display()
    );
    // The library's SONAME is libgcdn.so.0, which is what the programs linked here look for
    // at run time; in a build tree that is a link to libgcdn.so (`make build` makes it too).
    let soname = dir.join("libgcdn.so.0");
    match std::os::unix::fs::symlink("libgcdn.so", &soname) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => panic!("link {}: {e}", soname.display()),
    }
    dir
}

fn walk(dir: &Path) -> Vec<std::time::SystemTime> {
    std::fs::read_dir(dir)
        .unwrap()
        .flat_map(|e| {
            let path = e.unwrap().path();
            if path.is_dir() {
                walk(&path)
            } else {
                vec![std::fs::metadata(&path).unwrap().modified().unwrap()]
            }
        })
        .collect()
}

fn compiler(cpp: bool) -> cc::Tool {
    let target = std::env::var("TARGET").unwrap_or_else(|_| "x86_64-unknown-linux-gnu".into());
    cc::Build::new()
        .cpp(cpp)
        .target(&target)
        .host(&target)
        .opt_level(1)
        .cargo_metadata(false)
        .cargo_warnings(false)
        .get_compiler()
}

fn build(source: &str, cpp: bool, extra: &[String]) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("c");
    std::fs::create_dir_all(&out_dir).unwrap();
    let stem = Path::new(source).file_stem().unwrap().to_str().unwrap();
    let exe = out_dir.join(stem);
    let lib = lib_dir();
    let mut cmd = compiler(cpp).to_command();
    cmd.args([
        if cpp { "-std=c++17" } else { "-std=c11" },
        "-Wall",
        "-Wextra",
        "-Werror",
        "-pedantic",
        "-g",
    ])
    .arg("-I")
    .arg(root.join("include"))
    .arg(root.join(source))
    .args(extra)
    .arg("-o")
    .arg(&exe)
    .arg(format!("-L{}", lib.display()))
    .arg(format!("-Wl,-rpath,{}", lib.display()))
    .args(["-lgcdn", "-lpthread"]);
    let out = cmd.output().expect("run the C compiler");
    assert!(
        out.status.success(),
        "compiling {source} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

/// The compiler flags of `GCDN_C_SANITIZE` (e.g. `address,undefined`, `make test-c-sanitizers`):
/// every C and C++ program here is built with them.
fn sanitize_flags() -> Vec<String> {
    match std::env::var("GCDN_C_SANITIZE") {
        Ok(s) if !s.is_empty() => vec![
            format!("-fsanitize={s}"),
            "-fno-omit-frame-pointer".into(),
            "-fno-sanitize-recover=all".into(),
        ],
        _ => Vec::new(),
    }
}

/// The command that runs a built program: under `GCDN_C_WRAPPER` when set (e.g. valgrind,
/// `make test-c-valgrind`), as every program here is run.
fn command(exe: &Path) -> Command {
    match std::env::var("GCDN_C_WRAPPER") {
        Ok(w) if !w.trim().is_empty() => {
            let mut parts = w.split_whitespace();
            let mut c = Command::new(parts.next().unwrap());
            c.args(parts).arg(exe);
            c
        }
        _ => Command::new(exe),
    }
}

/// Run a built C test program against `emu` (through [`command`]): it must exit 0 and report
/// ` passed, 0 failed`. Its standard output.
fn run_c(exe: &Path, emu: &Emulator, name: &str) -> String {
    let out = command(exe)
        .env("GCDN_TEST_BASE_URL", emu.base_url())
        .env("GCDN_TEST_API_KEY", emu.api_key())
        .output()
        .unwrap_or_else(|e| panic!("run {name}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(out.status.success(), "{name} failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
    stdout
}

#[test]
fn cpp_can_include_and_link_the_header() {
    let exe = build("tests/c/cpp_check.cpp", true, &sanitize_flags());
    let out = command(&exe).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("C++ ok: gcdn "));
}

#[test]
fn c_harness_against_the_emulator() {
    let exe = build("tests/c/harness.c", false, &sanitize_flags());
    let emu = emulator_with(Config {
        seed_resources: (1..=20).collect(),
        limits: Limits::unlimited_rate(),
        api_key: "c-harness-key-9d41".into(),
        ..Config::default()
    });
    run_c(&exe, &emu, "harness");

    // What the emulator saw matches what the harness was told succeeded.
    let seen = emu.requests();
    let thread_purges = seen
        .iter()
        .filter(|r| r.status == 201 && r.body.contains("/thread/"))
        .count();
    assert_eq!(thread_purges, 8 * 50);
    let chunked: Vec<usize> = seen
        .iter()
        .filter(|r| r.path == "/cdn/resources/2/purge")
        .map(|r| r.json().unwrap()["urls"].as_array().unwrap().len())
        .collect();
    assert_eq!(chunked, [100, 100, 30]);
    assert!(seen.iter().all(|r| r
        .header("user-agent")
        .unwrap_or("")
        .ends_with(" gcdn-c-harness/1")));
    assert!(emu.resource(10).is_none() && emu.resource(11).is_none());
}

/// The purge job from C (`tests/c/job_run.c`): one job over several hosts, progress on the
/// calling thread, the report through its accessors, resuming after a 503, confirmation, a
/// callback that stops the run.
#[test]
fn c_job_against_the_emulator() {
    let exe = build("tests/c/job_run.c", false, &sanitize_flags());
    let window = std::time::Duration::from_millis(100);
    let emu = emulator_with(Config {
        limits: Limits {
            url_requests: 1,
            url_window: window,
            pattern_requests: 1,
            pattern_window: window,
            all_requests: 1,
            all_window: window,
            ..Limits::default()
        },
        api_key: "c-harness-key-9d41".into(),
        ..Config::default()
    });
    for id in 1..=3 {
        let mut r = Resource::new(id);
        r.cname = format!("h{id}.example.com");
        if id == 2 {
            r.secondary_hostnames = vec!["www.h2.example.com".into()];
        }
        emu.add_resource(r);
    }
    emu.push_fault(
        Fault::respond(503, r#"{"errors":["upstream down"]}"#).on("POST", "/cdn/resources/3/purge"),
    );
    let stdout = run_c(&exe, &emu, "job_run");
    assert!(!stdout.contains(emu.api_key()), "{stdout}");
    // What the emulator accepted: resource 1 twice (the job, then one request of the stopped
    // run), 2 once, 3 once (after its 503), and the purge-all of resource 2.
    let accepted: Vec<String> = emu
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/purge") && r.status == 201)
        .map(|r| r.path)
        .collect();
    assert_eq!(accepted.len(), 5, "{accepted:?}");
    assert!(emu.requests().iter().all(|r| r.status != 429));
}
