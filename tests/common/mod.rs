//! Shared helpers for the integration tests: drive the real C ABI against a real emulator.
#![allow(dead_code)]

use std::ffi::{c_char, CStr, CString};
use std::ptr;

use gcdn::ffi::*;
#[allow(unused_imports)]
pub use gcdn_emulator::{
    Config, Emulator, Fault, Limits, Recorded, Refusal, Resource, RetryAfterMode,
};

/// Every API key the Rust suites use, and every URL password. `call` checks every message
/// any call returns against all of them, written out and in the encoded forms a URL or a
/// JSON text gives them: no key ever shows up in an error.
pub const SECRETS: &[&str] = &[
    "test-key",
    "wrong-key-5f2a9c",
    "c-harness-key-9d41",
    "soak-key-71c0",
    "fuzz-key",
    SPECIAL_KEY,
    QUOTE_KEY,
    URL_KEY,
    URL_PASSWORD,
];

/// A key with the characters URL and JSON encoders change: `$ / + = & : @ %` and a space.
pub const SPECIAL_KEY: &str = "s3cr$t/k+y=9&z:@%q 7";
/// A key with the characters a quoted message escapes: `"` and `\`.
pub const QUOTE_KEY: &str = r#"qu"o\te-k3y-55"#;
/// A key made only of characters a URL may hold as they are (`$ + = ! ~`).
pub const URL_KEY: &str = "uRl$k3y+9=Zq!~";
/// A password in URL user information.
pub const URL_PASSWORD: &str = "hunter2-url-pw";

/// Panic if `message` holds any of [`SECRETS`]: as written, or with its characters
/// percent-encoded (either case), JSON-escaped (`\u00XX`, `\"`, `\\`, `\/`) or `+` for
/// a space, in any mix. Decodes on its own, so the library's redaction is not its judge.
pub fn assert_no_secret(message: &str) {
    let decoded = decode_once(message);
    for secret in SECRETS {
        assert!(
            !message.contains(secret) && !decoded.contains(secret),
            "a secret ({secret:?}) in the message {message:?}"
        );
    }
}

/// `text` with every `%XX`, `\uXXXX`, `\"`, `\\`, `\/` and `+` read once, left to right.
/// A secret's own `%`, `\` or `+` may decode into something else here; the raw check above
/// catches the secret as written.
pub fn decode_once(text: &str) -> String {
    let b = text.as_bytes();
    let hex = |s: &[u8]| {
        std::str::from_utf8(s)
            .ok()
            .and_then(|s| u32::from_str_radix(s, 16).ok())
    };
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 3 <= b.len() && hex(&b[i + 1..i + 3]).is_some() => {
                out.push(hex(&b[i + 1..i + 3]).unwrap() as u8);
                i += 3;
            }
            b'\\' if i + 6 <= b.len() && b[i + 1] == b'u' => match hex(&b[i + 2..i + 6]) {
                Some(c) if c < 0x80 => {
                    out.push(c as u8);
                    i += 6;
                }
                _ => {
                    out.push(b'\\');
                    i += 1;
                }
            },
            b'\\' if i + 2 <= b.len() && matches!(b[i + 1], b'"' | b'\\' | b'/') => {
                out.push(b[i + 1]);
                i += 2;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `text` with every byte percent-encoded, hex digits in the case asked for.
pub fn percent_all(text: &str, upper: bool) -> String {
    text.bytes()
        .map(|b| {
            if upper {
                format!("%{b:02X}")
            } else {
                format!("%{b:02x}")
            }
        })
        .collect()
}

/// `text` as a URL query encoder writes it: reserved characters as `%XX`, a space as `+`.
pub fn percent_reserved(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b' ' => "+".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `text` as JSON encoders that escape everything but letters and digits write it.
pub fn json_u_escaped(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            'A'..='Z' | 'a'..='z' | '0'..='9' => c.to_string(),
            '/' => "\\/".to_owned(),
            c => format!("\\u{:04x}", c as u32),
        })
        .collect()
}

/// A status and the message that came with it, the message already freed on the C side.
#[derive(Debug)]
pub struct Outcome {
    pub status: i32,
    pub message: Option<String>,
}

impl Outcome {
    pub fn ok(&self) -> bool {
        self.status == GCDN_OK
    }
    pub fn msg(&self) -> &str {
        self.message.as_deref().unwrap_or("")
    }
}

/// Run one C-ABI call with a fresh `error_out`, checking the contract on the way: `*error_out`
/// is NULL exactly on success, and a message comes with every failure.
pub fn call(f: impl FnOnce(*mut *mut c_char) -> i32) -> Outcome {
    // A non-NULL sentinel: the call must overwrite it either way.
    let sentinel = std::ptr::dangling_mut::<c_char>();
    let mut err: *mut c_char = sentinel;
    let status = f(&mut err);
    let message = if err.is_null() {
        None
    } else {
        assert_ne!(err, sentinel, "error_out was not written");
        let text = unsafe { CStr::from_ptr(err) }
            .to_str()
            .expect("UTF-8")
            .to_owned();
        unsafe { gcdn_string_free(err) };
        assert_no_secret(&text);
        Some(text)
    };
    assert_eq!(
        status == GCDN_OK,
        message.is_none(),
        "status {status} with message {message:?}"
    );
    Outcome { status, message }
}

pub fn cstr(s: &str) -> CString {
    CString::new(s).unwrap()
}

/// An owned client handle, freed on drop.
pub struct TestClient(pub *mut gcdn_client);

unsafe impl Send for TestClient {}
unsafe impl Sync for TestClient {}

impl Drop for TestClient {
    fn drop(&mut self) {
        unsafe { gcdn_client_free(self.0) };
    }
}

impl TestClient {
    pub fn ptr(&self) -> *const gcdn_client {
        self.0
    }

    pub fn purge_urls(&self, id: i64, urls: &[&str]) -> Outcome {
        let owned: Vec<CString> = urls.iter().map(|u| cstr(u)).collect();
        let ptrs: Vec<*const c_char> = owned.iter().map(|c| c.as_ptr()).collect();
        call(|e| unsafe { gcdn_purge_urls(self.0, id, ptrs.as_ptr(), ptrs.len(), e) })
    }

    pub fn purge_patterns(&self, id: i64, patterns: &[&str]) -> Outcome {
        let owned: Vec<CString> = patterns.iter().map(|u| cstr(u)).collect();
        let ptrs: Vec<*const c_char> = owned.iter().map(|c| c.as_ptr()).collect();
        call(|e| unsafe { gcdn_purge_patterns(self.0, id, ptrs.as_ptr(), ptrs.len(), e) })
    }

    pub fn purge_all(&self, id: i64) -> Outcome {
        call(|e| unsafe { gcdn_purge_all(self.0, id, e) })
    }

    pub fn deactivate(&self, id: i64) -> Outcome {
        call(|e| unsafe { gcdn_deactivate_resource(self.0, id, e) })
    }

    pub fn delete(&self, id: i64, flags: u32) -> Outcome {
        call(|e| unsafe { gcdn_delete_resource(self.0, id, flags, e) })
    }
}

/// Settings for a test client; each applied through the C ABI.
#[derive(Clone)]
pub struct Setup {
    pub key: Option<String>,
    pub base_url: Option<String>,
    pub timeout_ms: Option<u64>,
    pub max_retries: Option<u32>,
    pub wait_ms: Option<u64>,
    pub intervals_ms: Option<(u64, u64)>,
    /// `gcdn_options_set_coalesce` (`None`: the default, on).
    pub coalesce: Option<bool>,
}

impl Setup {
    pub fn new(emu: &Emulator) -> Setup {
        Setup {
            key: Some(emu.api_key().to_owned()),
            base_url: Some(emu.base_url()),
            timeout_ms: Some(5_000),
            max_retries: None,
            wait_ms: None,
            intervals_ms: None,
            coalesce: None,
        }
    }

    pub fn build(&self) -> Result<TestClient, Outcome> {
        unsafe {
            let o = gcdn_options_new();
            assert!(!o.is_null());
            if let Some(url) = &self.base_url {
                let u = cstr(url);
                let r = call(|e| gcdn_options_set_base_url(o, u.as_ptr(), e));
                assert!(r.ok(), "{r:?}");
            }
            if let Some(ms) = self.timeout_ms {
                assert!(call(|e| gcdn_options_set_timeout_ms(o, ms, e)).ok());
            }
            if let Some(n) = self.max_retries {
                assert!(call(|e| gcdn_options_set_max_retries(o, n, e)).ok());
            }
            if let Some(ms) = self.wait_ms {
                assert!(call(|e| gcdn_options_set_max_rate_limit_wait_ms(o, ms, e)).ok());
            }
            if let Some((u, p)) = self.intervals_ms {
                assert!(call(|e| gcdn_options_set_purge_intervals_ms(o, u, p, e)).ok());
            }
            if let Some(on) = self.coalesce {
                assert!(call(|e| gcdn_options_set_coalesce(o, i32::from(on), e)).ok());
            }
            let key = self.key.as_deref().map(cstr);
            let mut client: *mut gcdn_client = ptr::null_mut();
            let r = call(|e| {
                gcdn_client_new(
                    key.as_ref().map_or(ptr::null(), |k| k.as_ptr()),
                    o,
                    &mut client,
                    e,
                )
            });
            gcdn_options_free(o);
            if r.ok() {
                assert!(!client.is_null());
                Ok(TestClient(client))
            } else {
                assert!(client.is_null(), "client_out written on failure");
                Err(r)
            }
        }
    }
}

/// An emulator with the documented defaults and resources 1 to 20, active.
pub fn emulator() -> Emulator {
    emulator_with(Config {
        seed_resources: (1..=20).collect(),
        ..Config::default()
    })
}

pub fn emulator_with(config: Config) -> Emulator {
    let emu = Emulator::start(config).expect("emulator starts");
    emu.set_logging(false);
    emu
}

pub fn client(emu: &Emulator) -> TestClient {
    Setup::new(emu).build().expect("client")
}

/// The purge requests the emulator received.
pub fn purges(emu: &Emulator) -> Vec<Recorded> {
    emu.requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/purge"))
        .collect()
}

/// Resident set size of this process, in KiB (Linux).
pub fn rss_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4
}

/// The seconds N of "… opens in N s …" in a pacing message, parsed (a test compares it with a
/// range: matching its first digits would fail whenever the machine was slow).
pub fn opens_in_secs(message: &str) -> f64 {
    let rest = message
        .split_once("opens in ")
        .unwrap_or_else(|| panic!("no \"opens in\" in: {message}"))
        .1;
    rest.split_once(" s")
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("no seconds after \"opens in\" in: {message}"))
}
