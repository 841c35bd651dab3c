//! Raw-socket servers on loopback: answers no well-behaved server gives, byte for byte.
//! Shared by the C ABI's hostile cases (tests/hostile.rs) and the CLI's
//! (cli/tests/hostile.rs), each including this file with `#[path]`.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread::JoinHandle;

/// What the server does with one connection.
#[derive(Clone, Debug)]
pub enum Answer {
    /// Accept and close at once, before reading a byte of the request.
    Hang,
    /// Read the request (one read), write these bytes, close.
    Bytes(Vec<u8>),
}

impl Answer {
    /// `head` (the status line and headers, each ending in CRLF, without the blank line)
    /// and `body`, written as they are: nothing is added.
    pub fn raw(head: &str, body: &str) -> Answer {
        Answer::Bytes(format!("{head}\r\n{body}").into_bytes())
    }
}

/// A server answering its first connections with [`Answer`]s, one each, in order; then it
/// stops listening.
pub struct RawServer {
    port: u16,
    thread: Option<JoinHandle<Vec<String>>>,
}

impl RawServer {
    pub fn start(answers: Vec<Answer>) -> RawServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let thread = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for answer in answers {
                let (mut s, _) = listener.accept().unwrap();
                match answer {
                    Answer::Hang => drop(s),
                    Answer::Bytes(bytes) => {
                        let mut buf = [0u8; 8192];
                        let n = s.read(&mut buf).unwrap_or(0);
                        seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
                        // The client may have hung up already: what it did is the test's.
                        let _ = s.write_all(&bytes);
                    }
                }
            }
            seen
        });
        RawServer {
            port,
            thread: Some(thread),
        }
    }

    /// The same answer `n` times.
    pub fn repeat(answer: Answer, n: usize) -> RawServer {
        RawServer::start(vec![answer; n])
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Wait until every answer was given; the requests read (their first read each).
    pub fn join(mut self) -> Vec<String> {
        self.thread.take().unwrap().join().unwrap()
    }
}

/// One hostile answer to an API request, and what it must end in.
pub struct Case {
    pub name: &'static str,
    pub answer: Answer,
    /// The GCDN_ERR_* status the call ends with.
    pub status: i32,
    /// Words the message has.
    pub says: &'static str,
}

/// The hostile answers every front end (the C ABI, the `gcdn` command) is run against; none
/// may crash anything. `key` is the API key the client uses: some answers carry it.
pub fn cases(key: &str) -> Vec<Case> {
    use gcdn::ffi::{
        GCDN_ERR_NETWORK, GCDN_ERR_PROTOCOL, GCDN_ERR_RATE_LIMITED, GCDN_ERR_REJECTED,
        GCDN_ERR_SERVER,
    };
    let keyed = |c: char| !c.is_ascii_alphanumeric();
    let encoded: String = key
        .chars()
        .map(|c| {
            if keyed(c) {
                format!("%{:02X}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect();
    let keyed_body = format!("{{\"message\": \"bad key {key}\"}}");
    vec![
        Case {
            name: "a 429 with Retry-After: 18446744073709551615",
            answer: Answer::raw(
                "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 18446744073709551615\r\nContent-Length: 0\r\nConnection: close\r\n",
                "",
            ),
            status: GCDN_ERR_RATE_LIMITED,
            says: "past the rate-limit wait budget",
        },
        Case {
            name: "a 429 with Retry-After: 99999999999999999999999",
            answer: Answer::raw(
                "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 99999999999999999999999\r\nContent-Length: 0\r\nConnection: close\r\n",
                "",
            ),
            status: GCDN_ERR_RATE_LIMITED,
            says: "past the rate-limit wait budget",
        },
        Case {
            name: "a 429 with Retry-After in the year 9999",
            answer: Answer::raw(
                "HTTP/1.1 429 Too Many Requests\r\nRetry-After: Fri, 31 Dec 9999 23:59:59 GMT\r\nContent-Length: 0\r\nConnection: close\r\n",
                "",
            ),
            status: GCDN_ERR_RATE_LIMITED,
            says: "past the rate-limit wait budget",
        },
        Case {
            name: "a 503 with Retry-After: 18446744073709551615",
            answer: Answer::raw(
                "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 18446744073709551615\r\nContent-Length: 0\r\nConnection: close\r\n",
                "",
            ),
            status: GCDN_ERR_SERVER,
            says: "18446744073709551615 s",
        },
        Case {
            name: "a close-delimited HTTP/1.0 answer",
            answer: Answer::raw(
                "HTTP/1.0 400 Bad Request\r\nContent-Type: application/json\r\n",
                "{\"message\": \"JSON parse error - Expecting value\"}",
            ),
            status: GCDN_ERR_REJECTED,
            says: "JSON parse error - Expecting value",
        },
        Case {
            name: "the key in the reason phrase, a header and the body",
            answer: Answer::raw(
                &format!(
                    "HTTP/1.1 418 {encoded}\r\nX-Key: {key}\r\nContent-Length: {}\r\nConnection: close\r\n",
                    keyed_body.len()
                ),
                &keyed_body,
            ),
            status: GCDN_ERR_REJECTED,
            says: "HTTP 418",
        },
        Case {
            name: "garbage instead of HTTP",
            answer: Answer::Bytes(b"HELLO THERE\r\n\r\n".to_vec()),
            status: GCDN_ERR_PROTOCOL,
            says: "not valid HTTP",
        },
        Case {
            name: "a connection closed before the request was read",
            answer: Answer::Hang,
            status: GCDN_ERR_NETWORK,
            says: "",
        },
    ]
}
