//! HTTP/1.1 on the wire: reading requests and writing response heads and bodies.
//!
//! Just what the emulator needs, and strict where it matters for framing: a request head
//! is at most [`MAX_HEAD`] bytes and [`MAX_HEADERS`] fields, a body is framed by
//! `Content-Length` or `Transfer-Encoding: chunked` (at most [`MAX_BODY`] bytes kept, the
//! rest read and discarded so that the connection stays usable), `Expect: 100-continue` is
//! answered with an interim `100 Continue`. HTTP/1.1 connections are kept alive unless the
//! request says `Connection: close`; HTTP/1.0 ones only when it says `Connection: keep-alive`.

use std::io::{self, BufRead, BufReader, Read, Write};

/// Largest request head (request line and header fields).
pub(crate) const MAX_HEAD: u64 = 64 << 10;
/// Most header fields in a request.
pub(crate) const MAX_HEADERS: usize = 128;
/// Largest request body kept; the rest is read and ignored.
pub(crate) const MAX_BODY: u64 = 16 << 20;
/// Longest chunk-size line of a chunked request body.
const MAX_CHUNK_LINE: u64 = 4 << 10;

/// A request, its body read.
#[derive(Debug)]
pub(crate) struct Request {
    pub method: String,
    /// Request target as sent: path and query.
    pub target: String,
    /// Header fields in the order received, names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Whether the connection may serve another request after this one.
    pub keep_alive: bool,
    /// HTTP/1.0 (else 1.1).
    pub http10: bool,
}

/// Why no request could be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The peer closed the connection (between requests or in the middle of one), or it failed.
    Closed,
    /// A malformed request: answer this status and text, then close the connection.
    Bad(u16, &'static str),
}

impl From<io::Error> for ReadError {
    fn from(_: io::Error) -> Self {
        ReadError::Closed
    }
}

/// Reads one request from `r`. `Expect: 100-continue` is answered on `r`'s stream before
/// the body is read.
pub(crate) fn read_request<S: Read + Write>(r: &mut BufReader<S>) -> Result<Request, ReadError> {
    let mut budget = MAX_HEAD;
    let mut line = Vec::with_capacity(128);
    // A client may send empty lines before the request line (RFC 9112, section 2.2).
    loop {
        line.clear();
        if read_line(r, &mut line, &mut budget)? == 0 {
            return Err(ReadError::Closed);
        }
        if !trim_eol(&line).is_empty() {
            break;
        }
    }
    let request_line = std::str::from_utf8(trim_eol(&line))
        .map_err(|_| ReadError::Bad(400, "request line is not UTF-8"))?;
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ReadError::Bad(400, "malformed request line"));
    };
    if method.is_empty() || !method.bytes().all(is_token) || target.is_empty() {
        return Err(ReadError::Bad(400, "malformed request line"));
    }
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        v if v.starts_with("HTTP/1.") => false,
        v if v.starts_with("HTTP/") => {
            return Err(ReadError::Bad(505, "only HTTP/1.x is supported"))
        }
        _ => return Err(ReadError::Bad(400, "malformed request line")),
    };
    let (method, target) = (method.to_owned(), target.to_owned());

    let mut headers: Vec<(String, String)> = Vec::with_capacity(16);
    loop {
        line.clear();
        if read_line(r, &mut line, &mut budget)? == 0 {
            return Err(ReadError::Closed);
        }
        let field = trim_eol(&line);
        if field.is_empty() {
            break;
        }
        if headers.len() == MAX_HEADERS {
            return Err(ReadError::Bad(431, "too many header fields"));
        }
        let colon = field
            .iter()
            .position(|&b| b == b':')
            .ok_or(ReadError::Bad(400, "malformed header field"))?;
        let (name, value) = (&field[..colon], &field[colon + 1..]);
        // Also rejects obsolete line folding (a line starting with a space).
        if name.is_empty() || !name.iter().copied().all(is_token) {
            return Err(ReadError::Bad(400, "malformed header field"));
        }
        let name = String::from_utf8_lossy(name).to_ascii_lowercase();
        let value = String::from_utf8_lossy(value.trim_ascii()).into_owned();
        headers.push((name, value));
    }

    fn fields<'a>(
        headers: &'a [(String, String)],
        name: &'a str,
    ) -> impl Iterator<Item = &'a (String, String)> + 'a {
        headers.iter().filter(move |(n, _)| n == name)
    }
    let header = |name: &'static str| fields(&headers, name);
    let has_token = |name: &'static str, token: &str| {
        header(name)
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    let keep_alive = if http10 {
        has_token("connection", "keep-alive")
    } else {
        !has_token("connection", "close")
    };

    enum Framing {
        Length(u64),
        Chunked,
    }
    let framing = if header("transfer-encoding").next().is_some() {
        // The last coding must be chunked (RFC 9112, section 6.3); the emulator decodes no other.
        let last = header("transfer-encoding")
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .last();
        match last {
            Some(c) if c.eq_ignore_ascii_case("chunked") => Framing::Chunked,
            _ => return Err(ReadError::Bad(501, "unsupported transfer coding")),
        }
    } else {
        let mut length = None;
        for (_, v) in header("content-length") {
            for v in v.split(',') {
                let v = v.trim();
                let n = v
                    .parse::<u64>()
                    .ok()
                    .filter(|_| v.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or(ReadError::Bad(400, "invalid Content-Length"))?;
                if length.is_some_and(|l| l != n) {
                    return Err(ReadError::Bad(400, "conflicting Content-Length"));
                }
                length = Some(n);
            }
        }
        Framing::Length(length.unwrap_or(0))
    };

    if !http10
        && header("expect")
            .next()
            .is_some_and(|(_, v)| v.eq_ignore_ascii_case("100-continue"))
    {
        let w = r.get_mut();
        w.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        w.flush()?;
    }

    let mut body = Vec::new();
    match framing {
        Framing::Length(n) => read_body_part(r, n, &mut body)?,
        Framing::Chunked => loop {
            line.clear();
            let mut chunk_budget = MAX_CHUNK_LINE;
            if read_line(r, &mut line, &mut chunk_budget)? == 0 {
                return Err(ReadError::Closed);
            }
            let size = trim_eol(&line);
            let size = size
                .split(|&b| b == b';')
                .next()
                .unwrap_or(size)
                .trim_ascii();
            let size = std::str::from_utf8(size)
                .ok()
                .filter(|s| !s.is_empty() && s.len() <= 16)
                .and_then(|s| u64::from_str_radix(s, 16).ok())
                .ok_or(ReadError::Bad(400, "invalid chunk size"))?;
            if size == 0 {
                // Trailer fields, ignored, up to the empty line.
                loop {
                    line.clear();
                    if read_line(r, &mut line, &mut budget)? == 0 {
                        return Err(ReadError::Closed);
                    }
                    if trim_eol(&line).is_empty() {
                        break;
                    }
                }
                break;
            }
            read_body_part(r, size, &mut body)?;
            let mut crlf = [0u8; 2];
            r.read_exact(&mut crlf)?;
            if &crlf != b"\r\n" {
                return Err(ReadError::Bad(400, "malformed chunk"));
            }
        },
    }
    Ok(Request {
        method,
        target,
        headers,
        body,
        keep_alive,
        http10,
    })
}

/// Reads `n` body bytes, appending to `body` those that fit under [`MAX_BODY`].
fn read_body_part<R: Read>(r: &mut R, n: u64, body: &mut Vec<u8>) -> Result<(), ReadError> {
    let keep = n.min(MAX_BODY.saturating_sub(body.len() as u64));
    if keep > 0 {
        let got = r.by_ref().take(keep).read_to_end(body)? as u64;
        if got < keep {
            return Err(ReadError::Closed);
        }
    }
    let skip = n - keep;
    if skip > 0 && io::copy(&mut r.by_ref().take(skip), &mut io::sink())? < skip {
        return Err(ReadError::Closed);
    }
    Ok(())
}

/// Reads up to and including the next `\n`, taking at most `budget` bytes from it.
/// Returns 0 at EOF before any byte.
fn read_line<R: BufRead>(
    r: &mut R,
    line: &mut Vec<u8>,
    budget: &mut u64,
) -> Result<usize, ReadError> {
    let n = r.by_ref().take(*budget).read_until(b'\n', line)?;
    *budget -= n as u64;
    if n > 0 && line.last() != Some(&b'\n') {
        return Err(if *budget == 0 {
            ReadError::Bad(431, "request head too large")
        } else {
            ReadError::Closed
        });
    }
    Ok(n)
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// RFC 9110 `tchar`.
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// How a response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Neither: statuses without a body (1xx, 204, 304).
    NoBody,
}

/// What the `Connection` field of a response says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Connection {
    /// Nothing: HTTP/1.1's default, keep-alive.
    Default,
    /// `Connection: keep-alive` (for an HTTP/1.0 client that asked for it).
    KeepAlive,
    /// `Connection: close`.
    Close,
}

/// Whether a response with this status can have a body (RFC 9110, sections 15.2, 15.3.5, 15.4.5).
pub(crate) fn status_has_body(status: u16) -> bool {
    !(100..200).contains(&status) && status != 204 && status != 304
}

/// Appends a response head to `out`.
pub(crate) fn write_head(
    out: &mut Vec<u8>,
    status: u16,
    headers: &[(String, String)],
    framing: Framing,
    connection: Connection,
) {
    // Writing to a Vec cannot fail.
    let _ = write!(out, "HTTP/1.1 {status} {}\r\n", reason(status));
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    match framing {
        Framing::Length(n) => {
            let _ = write!(out, "Content-Length: {n}\r\n");
        }
        Framing::Chunked => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        Framing::NoBody => {}
    }
    match connection {
        Connection::Default => {}
        Connection::KeepAlive => out.extend_from_slice(b"Connection: keep-alive\r\n"),
        Connection::Close => out.extend_from_slice(b"Connection: close\r\n"),
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends `body` to `out` as chunks of at most `chunk` bytes, then the last chunk.
pub(crate) fn write_chunked(out: &mut Vec<u8>, body: &[u8], chunk: usize) {
    for piece in body.chunks(chunk.max(1)) {
        let _ = write!(out, "{:x}\r\n", piece.len());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
}

/// The reason phrase of a status (RFC 9110 and a few common extensions).
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        418 => "I'm a teapot",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// A byte source that also records what is written back (the `100 Continue`).
    struct Duplex {
        input: Cursor<Vec<u8>>,
        output: Vec<u8>,
    }

    impl Read for Duplex {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.input.read(buf)
        }
    }

    impl Write for Duplex {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.output.write(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn reader(raw: &[u8]) -> BufReader<Duplex> {
        BufReader::new(Duplex {
            input: Cursor::new(raw.to_vec()),
            output: Vec::new(),
        })
    }

    fn bad(raw: &[u8]) -> u16 {
        match read_request(&mut reader(raw)) {
            Err(ReadError::Bad(status, _)) => status,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn pipelined_requests_with_lengths() {
        let mut r = reader(
            b"\r\nPOST /a?b=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nX-A:  v v \r\n\r\nabc\
              GET /b HTTP/1.1\r\nConnection: close\r\n\r\n",
        );
        let a = read_request(&mut r).unwrap();
        assert_eq!((a.method.as_str(), a.target.as_str()), ("POST", "/a?b=1"));
        assert_eq!(a.body, b"abc");
        assert_eq!(a.headers[2], ("x-a".to_owned(), "v v".to_owned()));
        assert!(a.keep_alive && !a.http10);
        let b = read_request(&mut r).unwrap();
        assert_eq!(b.target, "/b");
        assert!(b.body.is_empty());
        assert!(!b.keep_alive);
        assert!(matches!(read_request(&mut r), Err(ReadError::Closed)));
    }

    #[test]
    fn chunked_body_and_expect_continue() {
        let mut r = reader(
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n\
              3;ext=1\r\nabc\r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\nGET / HTTP/1.0\r\n\r\n",
        );
        let a = read_request(&mut r).unwrap();
        assert_eq!(a.body, b"abc0123456789");
        assert_eq!(r.get_ref().output, b"HTTP/1.1 100 Continue\r\n\r\n");
        let b = read_request(&mut r).unwrap();
        assert!(b.http10 && !b.keep_alive);
    }

    #[test]
    fn http10_keep_alive() {
        let a = read_request(&mut reader(
            b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
        ))
        .unwrap();
        assert!(a.http10 && a.keep_alive);
    }

    #[test]
    fn truncated_requests_are_closed() {
        for raw in [
            &b""[..],
            b"GET / HTTP/1.1\r\nHost",
            b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
        ] {
            assert!(
                matches!(read_request(&mut reader(raw)), Err(ReadError::Closed)),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn malformed_requests() {
        assert_eq!(bad(b"GARBAGE\r\n\r\n"), 400);
        assert_eq!(bad(b"GET / HTTP/2.0\r\n\r\n"), 505);
        assert_eq!(bad(b"GET / HTTP/1.1\r\nNo colon\r\n\r\n"), 400);
        assert_eq!(bad(b"GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n"), 400);
        assert_eq!(bad(b"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), 400);
        assert_eq!(
            bad(b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            400
        );
        assert_eq!(
            bad(b"GET / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"),
            501
        );
        assert_eq!(
            bad(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
            400
        );
        let mut huge = b"GET / HTTP/1.1\r\nX: ".to_vec();
        huge.resize(MAX_HEAD as usize + 10, b'a');
        assert_eq!(bad(&huge), 431);
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            many.extend_from_slice(format!("X-{i}: 1\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(bad(&many), 431);
    }

    #[test]
    fn oversized_body_is_cut_but_consumed() {
        let n = MAX_BODY as usize + 5;
        let mut raw = format!("POST / HTTP/1.1\r\nContent-Length: {n}\r\n\r\n").into_bytes();
        raw.resize(raw.len() + n, b'x');
        raw.extend_from_slice(b"GET /next HTTP/1.1\r\n\r\n");
        let mut r = reader(&raw);
        assert_eq!(read_request(&mut r).unwrap().body.len(), MAX_BODY as usize);
        assert_eq!(read_request(&mut r).unwrap().target, "/next");
    }

    #[test]
    fn heads() {
        let mut out = Vec::new();
        let headers = [("Content-Type".to_owned(), "application/json".to_owned())];
        write_head(
            &mut out,
            201,
            &headers,
            Framing::Length(2),
            Connection::Close,
        );
        assert_eq!(
            out,
            b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n"
        );
        out.clear();
        write_head(&mut out, 799, &[], Framing::Chunked, Connection::Default);
        write_chunked(&mut out, b"abcde", 2);
        assert_eq!(
            out,
            b"HTTP/1.1 799 Unknown\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n2\r\ncd\r\n1\r\ne\r\n0\r\n\r\n"
        );
    }
}
