//! HTTPS through an HTTP CONNECT proxy from the environment (`HTTPS_PROXY`), for real: a
//! tunnelling proxy on loopback in front of the emulator's TLS mode. The transport builds its
//! own connector chain (src/engine/http/tuned.rs): the proxy must still be used, once per
//! connection, and TLS still verified end to end. One test per binary: it sets the process's
//! environment.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use common::*;
use gcdn::ffi::*;
use gcdn_emulator::{testca, Tls};

/// Accepts connections, answers `CONNECT host:port` by tunnelling to it; records each target.
fn connect_proxy() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let log = Arc::clone(&log);
            std::thread::spawn(move || tunnel(client, &log));
        }
    });
    (url, seen)
}

fn tunnel(client: TcpStream, log: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let target = line.split_whitespace().nth(1).unwrap_or("").to_owned();
    log.lock().unwrap().push(line.trim_end().to_owned());
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap() == 0 || header == "\r\n" {
            break;
        }
    }
    let mut client = client;
    let Ok(upstream) = TcpStream::connect(&target) else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
        return;
    };
    client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .unwrap();
    let mut up_read = upstream.try_clone().unwrap();
    let mut up_write = upstream;
    let mut down_write = client;
    // Bytes the reader took past the CONNECT head (none expected before the 200).
    let buffered = reader.buffer().to_vec();
    up_write.write_all(&buffered).unwrap();
    let mut from_client = reader.into_inner();
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut from_client, &mut up_write);
        let _ = up_write.shutdown(std::net::Shutdown::Write);
    });
    let mut buf = [0u8; 16 << 10];
    while let Ok(n) = up_read.read(&mut buf) {
        if n == 0 || down_write.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = down_write.shutdown(std::net::Shutdown::Write);
    let _ = up.join();
}

#[test]
fn https_goes_through_a_connect_proxy_from_the_environment() {
    let (ca, cert, key) = testca::make_ca_and_localhost_cert();
    let emu = emulator_with(Config {
        seed_resources: vec![1, 2, 3],
        tls: Some(Tls::new(cert, key)),
        ..Config::default()
    });
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("proxy");
    std::fs::create_dir_all(&dir).unwrap();
    let ca_path = dir.join(format!("ca-{}.pem", std::process::id()));
    std::fs::write(&ca_path, ca).unwrap();

    let (proxy_url, seen) = connect_proxy();
    for var in [
        "NO_PROXY",
        "no_proxy",
        "ALL_PROXY",
        "all_proxy",
        "HTTP_PROXY",
        "http_proxy",
    ] {
        std::env::remove_var(var);
    }
    std::env::set_var("HTTPS_PROXY", &proxy_url);

    let client = unsafe {
        let o = gcdn_options_new();
        let url = cstr(&emu.base_url());
        assert!(call(|e| gcdn_options_set_base_url(o, url.as_ptr(), e)).ok());
        assert!(call(|e| gcdn_options_set_max_retries(o, 0, e)).ok());
        let p = cstr(ca_path.to_str().unwrap());
        assert!(call(|e| gcdn_options_set_ca_file(o, p.as_ptr(), e)).ok());
        let key = cstr("test-key");
        let mut client = std::ptr::null_mut();
        let r = call(|e| gcdn_client_new(key.as_ptr(), o, &mut client, e));
        gcdn_options_free(o);
        assert!(r.ok(), "{r:?}");
        TestClient(client)
    };
    for id in [1, 2, 3] {
        let r = client.purge_all(id);
        assert!(r.ok(), "{r:?}");
    }
    std::env::remove_var("HTTPS_PROXY");
    let paths: Vec<String> = emu
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(paths.len(), 3, "{paths:?} {:?}", seen.lock().unwrap());
    let host = emu.base_url().trim_start_matches("https://").to_owned();
    // One tunnel to the API's host, kept alive for all three calls.
    assert_eq!(
        *seen.lock().unwrap(),
        [format!("CONNECT {host} HTTP/1.1")],
        "the proxy's log"
    );
}
