//! `include/gcdn.h` must be exactly what the pinned cbindgen makes of `src/ffi/` (plus the
//! version macros from Cargo.toml), compile as C89 to C17 and as C++, and say in C words
//! what it asks of its callers. `GCDN_UPDATE_HEADER=1 cargo test --test header` (or
//! `make header`) rewrites it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The compile-time version macros, from Cargo.toml's version: they sit at the top of
/// cbindgen.toml's `after_includes`, so they cannot drift from the crate.
fn version_macros() -> String {
    format!(
        "\n/* The version of this header; gcdn_version() gives the library's, at run time. */\n\
         #define GCDN_VERSION_MAJOR {}\n#define GCDN_VERSION_MINOR {}\n#define GCDN_VERSION_PATCH {}\n",
        env!("CARGO_PKG_VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MINOR"),
        env!("CARGO_PKG_VERSION_PATCH"),
    )
}

/// What the pinned cbindgen makes of src/ffi/ with cbindgen.toml, as `make header` writes it:
/// it reads `src/ffi/mod.rs`, then the modules it declares, in their order.
fn generate(config: cbindgen::Config) -> String {
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(root().join("src/ffi/mod.rs"))
        .generate()
        .expect("cbindgen could not read src/ffi/")
        .write(&mut generated);
    String::from_utf8(generated).expect("UTF-8 header")
}

fn config() -> cbindgen::Config {
    let mut config =
        cbindgen::Config::from_file(root().join("cbindgen.toml")).expect("cbindgen.toml");
    let after = config.after_includes.take().unwrap_or_default();
    config.after_includes = Some(version_macros() + "\n" + &after);
    config
}

/// Whether this run rewrites the header (`GCDN_UPDATE_HEADER=1`, as `make header` does).
fn updating() -> bool {
    std::env::var_os("GCDN_UPDATE_HEADER").is_some()
}

/// `include/gcdn.h` as the tests check it. When [`updating`], it is first rewritten from the
/// source, once per test process and before any test reads it: every test that reads the
/// header (or hands it to a compiler) comes through here, so none can see it half-written
/// while another test writes it. The new text goes to a temporary file renamed over the old
/// one, so a `cargo test` in another process meanwhile sees the old header or the new one.
fn checked_in() -> &'static str {
    static HEADER: OnceLock<String> = OnceLock::new();
    HEADER.get_or_init(|| {
        let path = root().join("include/gcdn.h");
        if updating() {
            let generated = generate(config());
            let tmp = root().join(format!("include/.gcdn.h.{}.tmp", std::process::id()));
            std::fs::write(&tmp, &generated).expect("write include/gcdn.h");
            std::fs::rename(&tmp, &path).expect("replace include/gcdn.h");
        }
        std::fs::read_to_string(&path).unwrap_or_default()
    })
}

#[test]
fn checked_in_header_matches_the_source() {
    let header = checked_in();
    assert!(
        header == generate(config()),
        "include/gcdn.h is stale: run `make header` and commit the result"
    );
}

#[test]
fn version_macros_are_the_crates() {
    let header = checked_in();
    for (name, value) in [
        ("MAJOR", env!("CARGO_PKG_VERSION_MAJOR")),
        ("MINOR", env!("CARGO_PKG_VERSION_MINOR")),
        ("PATCH", env!("CARGO_PKG_VERSION_PATCH")),
    ] {
        let line = format!("\n#define GCDN_VERSION_{name} {value}\n");
        assert!(header.contains(&line), "the header lacks {line:?}");
    }
}

/// The testing section's hand-written prototype is the one cbindgen writes for the export.
#[test]
fn the_testing_section_declares_what_the_ffi_exports() {
    let mut config = config();
    config
        .export
        .exclude
        .retain(|name| name != "gcdn_debug_panic");
    let full = generate(config);
    let prototype = |text: &str| {
        let at = text.find(" gcdn_debug_panic(").expect("declared");
        let start = text[..at].rfind('\n').unwrap() + 1;
        text[start..start + text[start..].find(';').unwrap() + 1].to_owned()
    };
    assert_eq!(prototype(checked_in()), prototype(&full));
    let testing = checked_in()
        .find("Testing only")
        .expect("a testing section");
    assert!(checked_in().find(" gcdn_debug_panic(").unwrap() > testing);
    assert_eq!(checked_in().matches("gcdn_debug_panic(").count(), 1);
}

/// Doc comments reach the header: they must be written for a C reader.
#[test]
fn the_header_speaks_c() {
    let header = checked_in();
    for rust in [
        "# Safety", "```", "&str", "Option<", "Result<", "[`", "`NULL`",
    ] {
        assert!(!header.contains(rust), "the header says {rust:?}");
    }
    // C89 has no // comments, not even on preprocessor lines.
    for (n, line) in header.lines().enumerate() {
        let code = line.split("/*").next().unwrap();
        assert!(
            !code.contains("//") || line.trim_start().starts_with('*'),
            "line {}: {line}",
            n + 1
        );
    }
}

fn compiler(cpp: bool) -> cc::Tool {
    let target = std::env::var("TARGET").unwrap_or_else(|_| "x86_64-unknown-linux-gnu".into());
    cc::Build::new()
        .cpp(cpp)
        .target(&target)
        .host(&target)
        .opt_level(0)
        .cargo_metadata(false)
        .cargo_warnings(false)
        .get_compiler()
}

/// Compile tests/c/header_check.c alone (no library needed) as `std`, warnings as errors.
fn compile_header_check(std: &str) {
    // The header on disk is the one checked (rewritten first when updating).
    checked_in();
    let cpp = std.starts_with("c++");
    let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("header");
    std::fs::create_dir_all(&out_dir).unwrap();
    let object = out_dir.join(format!("header_check.{std}.o"));
    let mut cmd: Command = compiler(cpp).to_command();
    if cpp {
        cmd.args(["-x", "c++"]);
    }
    cmd.arg(format!("-std={std}"))
        .args(["-pedantic", "-Wall", "-Wextra", "-Werror", "-c"])
        .arg("-I")
        .arg(root().join("include"))
        .arg(root().join("tests/c/header_check.c"))
        .arg("-o")
        .arg(&object);
    let out = cmd.output().expect("run the C compiler");
    assert!(
        out.status.success(),
        "gcdn.h does not compile as {std}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn header_compiles_as_c89_c99_c11_and_c17() {
    for std in ["c89", "c99", "c11", "c17"] {
        compile_header_check(std);
    }
}

#[test]
fn header_compiles_as_cpp11_and_cpp17() {
    for std in ["c++11", "c++17"] {
        compile_header_check(std);
    }
}

/// A source file's exports as `(name, body)`: every `extern "C" fn` item, with the text
/// between its body's braces, as [`code_only`] leaves it.
fn exports(src: &str) -> Vec<(String, String)> {
    let code = code_only(src);
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = code[from..].find("extern \"C\" fn ") {
        let start = from + at + "extern \"C\" fn ".len();
        let name: String = code[start..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        // The signature holds no brace: the body opens at the first one.
        let open = start + code[start..].find('{').expect("a body");
        let close = open + closing(&code[open..], '{', '}').expect("a closed body");
        found.push((name, code[open + 1..close].to_owned()));
        from = close;
    }
    found
}

/// Where the bracket opened at the start of `text` closes (`text` as `code_only` leaves it).
fn closing(text: &str, open: char, close: char) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        if c == open {
            depth += 1;
        } else if c == close {
            depth -= 1;
            if depth == 0 {
                return Some(i);
            }
        }
    }
    None
}

/// `src` with its comments blanked out and the brackets inside string, raw-string and char
/// literals replaced by `_`, byte for byte, so that brackets can simply be counted. A small
/// scanner for plain Rust like `src/ffi/`'s, not a Rust lexer.
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = b.to_vec();
    let mut blank = |from: usize, to: usize, all: bool| {
        for byte in &mut out[from..to] {
            if all && *byte != b'\n' {
                *byte = b' ';
            } else if matches!(*byte, b'{' | b'}' | b'(' | b')') {
                *byte = b'_';
            }
        }
    };
    let mut i = 0;
    while i < b.len() {
        let end = match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                let end = i + src[i..].find('\n').unwrap_or(src.len() - i);
                blank(i, end, true);
                end
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let end = i + src[i..].find("*/").expect("comment closed") + 2;
                blank(i, end, true);
                end
            }
            b'r' if (i == 0 || !b[i - 1].is_ascii_alphanumeric() && b[i - 1] != b'_')
                && matches!(b.get(i + 1), Some(b'"' | b'#')) =>
            {
                let hashes = src[i + 1..].bytes().take_while(|&c| c == b'#').count();
                let quote = format!("\"{}", "#".repeat(hashes));
                let body = i + 1 + hashes + 1;
                let end = body + src[body..].find(&quote).expect("raw string closed") + quote.len();
                blank(i, end, false);
                end
            }
            b'"' => {
                let mut j = i + 1;
                while b[j] != b'"' {
                    j += if b[j] == b'\\' { 2 } else { 1 };
                }
                blank(i, j + 1, false);
                j + 1
            }
            // A char literal ('{', '\'', '\n'), not a lifetime ('a).
            b'\'' if b.get(i + 1) == Some(&b'\\') => {
                let end = i + 3 + src[i + 3..].find('\'').expect("char closed") + 1;
                blank(i, end, false);
                end
            }
            b'\'' => {
                let c = src[i + 1..].chars().next().expect("text after '");
                let after = i + 1 + c.len_utf8();
                if src[after..].starts_with('\'') {
                    blank(i, after + 1, false);
                    after + 1
                } else {
                    i + 1 // a lifetime
                }
            }
            _ => i + 1,
        };
        i = end;
    }
    String::from_utf8(out).expect("only ASCII bytes were replaced")
}

/// Every `.rs` file under `src/`, as (path, text), sorted: the exports live in `src/ffi/`, and
/// no other file may export anything.
fn rust_sources() -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, found: &mut Vec<(PathBuf, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                found.push((path, text));
            }
        }
    }
    let mut found = Vec::new();
    walk(&root().join("src"), &mut found);
    found.sort();
    found
}

#[test]
fn every_export_is_one_boundary_call() {
    let header = checked_in();
    let ffi = root().join("src/ffi");
    let mut exports_seen = Vec::new();
    let mut files = 0;
    for (path, src) in rust_sources() {
        if !path.starts_with(&ffi) {
            // The rest of the crate exports nothing (a plain text search: the scanner below
            // is for src/ffi/'s plain Rust only). A symbol is exported by name only through
            // these attributes; a private `extern "C" fn` (a test's signal handler) is not.
            for export in ["no_mangle", "export_name"] {
                assert!(!src.contains(export), "{} has {export}", path.display());
            }
            continue;
        }
        files += 1;
        let code = code_only(&src);
        let exports = exports(&src);
        // Nothing is exported but through an `extern "C" fn` this test sees.
        assert_eq!(
            code.matches("#[no_mangle]").count(),
            exports.len(),
            "{}",
            path.display()
        );
        assert!(
            !code.contains("export_name") && !code.contains("extern fn"),
            "{}",
            path.display()
        );
        exports_seen.extend(exports);
    }
    let exports = exports_seen;
    assert!(files >= 10, "{files} files found in src/ffi/");
    assert!(exports.len() >= 80, "{} exports found", exports.len());
    for (name, body) in &exports {
        assert!(
            header.contains(&format!(" {name}(")) || header.contains(&format!("*{name}(")),
            "{name} is not in the header"
        );
        let body = body.trim();
        // The macro's parentheses close at the very end of the body: nothing follows it.
        let one_call = body.strip_prefix("boundary!").is_some_and(|args| {
            args.starts_with('(') && closing(args, '(', ')') == Some(args.len() - 1)
        });
        assert!(
            one_call,
            "{name}: the body of an export must be one `boundary!(fallback, ..)` call and \
             nothing else, so that no panic can cross into C; found:\n{body}"
        );
    }
}

#[test]
fn the_export_scanner_sees_through_literals_and_comments() {
    let src = r####"
        //! `extern "C" fn ` in a doc comment is not an export; nor is #[no_mangle] here.
        #[no_mangle]
        pub unsafe extern "C" fn a(x: i32) -> i32 {
            boundary!(0, { let s = "}("; let r = r#"}"#; let c = '}'; let q = '\''; /* } */ 1 })
        }
        // }
        pub extern "C" fn b<'x>() { boundary!((), { let _: &'x str = "\")}"; }) f() }
    "####;
    let found = exports(src);
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(found[0].0, "a");
    assert!(found[0].1.trim().ends_with("1 })"), "{:?}", found[0].1);
    assert_eq!(found[1].0, "b");
    assert!(found[1].1.trim().ends_with(") f()"), "{:?}", found[1].1);
    assert_eq!(code_only(src).matches("#[no_mangle]").count(), 1);
}

/// The header without its comments: what it declares, not what its prose mentions.
fn declarations(header: &str) -> String {
    let mut out = String::new();
    let mut rest = header;
    while let Some(at) = rest.find("/*") {
        out.push_str(&rest[..at]);
        rest = rest[at..]
            .find("*/")
            .map_or("", |end| &rest[at + end + 2..]);
    }
    out.push_str(rest);
    out
}

/// The identifiers starting with `prefix` in `text` (letters, digits and `_` after it).
fn identifiers<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find(prefix) {
        let start = from + at;
        let end = text[start..]
            .find(|c: char| !word(c))
            .map_or(text.len(), |n| start + n);
        if !text[..start].ends_with(word) {
            found.push(&text[start..end]);
        }
        from = end.max(start + 1);
    }
    found
}

/// Whether README.md names `name`: written out in backticks, or as a family `` `PREFIX*` ``
/// whose line lists the rest of the name (`` `gcdn_report_request_*` (`_count`, ...) ``).
fn readme_names(readme: &str, name: &str) -> bool {
    if readme.contains(&format!("`{name}`")) || readme.contains(&format!("`{name}(")) {
        return true;
    }
    readme.lines().any(|line| {
        identifiers(line, &name[..5]).into_iter().any(|family| {
            let star = line.contains(&format!("`{family}*`"));
            star && name.starts_with(family)
                && family.ends_with('_')
                && line.contains(&format!("`_{}`", &name[family.len()..]))
        })
    })
}

/// The README's function and constant tables name every function and constant the header
/// declares (one by one, or as a family listing each member), and its status table gives
/// every status code its number: a new export without its README row fails here.
#[test]
fn the_readme_names_every_export_and_status_code() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let declared = declarations(checked_in());
    let mut functions: Vec<&str> = identifiers(&declared, "gcdn_")
        .into_iter()
        .filter(|name| declared.contains(&format!("{name}(")))
        .collect();
    functions.sort_unstable();
    functions.dedup();
    let constants: Vec<&str> = declared
        .lines()
        .filter_map(|line| line.strip_prefix("#define "))
        .filter_map(|rest| rest.split_whitespace().next())
        .filter(|name| *name != "GCDN_H")
        .collect();
    assert!(
        functions.len() > 100 && constants.len() > 60,
        "the scan found too little"
    );
    let missing: Vec<&&str> = functions
        .iter()
        .chain(&constants)
        .filter(|name| !readme_names(&readme, name))
        .collect();
    assert!(missing.is_empty(), "README.md does not name {missing:?}");

    for line in declared.lines() {
        let Some(rest) = line.strip_prefix("#define ") else {
            continue;
        };
        let mut words = rest.split_whitespace();
        let (Some(name), Some(value)) = (words.next(), words.next()) else {
            continue;
        };
        if name == "GCDN_OK" || name.starts_with("GCDN_ERR_") {
            let row = format!("| `{name}` | {value} |");
            assert!(
                readme.contains(&row),
                "README.md's status table lacks {row:?}"
            );
        }
    }
    let rows = readme
        .lines()
        .filter(|l| l.starts_with("| `GCDN_ERR_"))
        .count();
    let codes = constants
        .iter()
        .filter(|c| c.starts_with("GCDN_ERR_"))
        .count();
    assert_eq!(
        rows, codes,
        "README.md's status table has a row the header lacks"
    );
}

/// The README's exit-code table is the CLI's (cli/src/exit.rs): every code, no other.
#[test]
fn the_readme_exit_table_is_the_clis() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let exit = std::fs::read_to_string(root().join("cli/src/exit.rs")).expect("cli/src/exit.rs");
    let mut codes: Vec<String> = exit
        .lines()
        .filter_map(|line| line.strip_prefix("pub const "))
        .filter_map(|rest| rest.split(": u8 = ").nth(1))
        .map(|value| value.trim_end_matches(';').to_owned())
        .collect();
    let table = readme
        .split("| exit | meaning |\n|---|---|\n")
        .nth(1)
        .expect("README.md has the exit table");
    let mut rows: Vec<String> = table
        .lines()
        .take_while(|line| line.starts_with('|'))
        .filter_map(|line| line.split('|').nth(1))
        .map(|code| code.trim().to_owned())
        .collect();
    codes.sort();
    rows.sort();
    assert!(codes.len() >= 7, "cli/src/exit.rs: {codes:?}");
    assert_eq!(
        rows, codes,
        "README.md's exit table against cli/src/exit.rs"
    );
}
