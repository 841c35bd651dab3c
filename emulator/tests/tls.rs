//! HTTPS mode, with throwaway certificates from `gcdn_emulator::testca`.

mod common;

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Conn, KEY};
use gcdn_emulator::{testca, Config, Emulator, Fault, Tls};

fn start_https() -> (Emulator, String) {
    let (ca, cert, key) = testca::make_ca_and_localhost_cert();
    let emu = Emulator::start(Config {
        seed_resources: vec![1],
        tls: Some(Tls::new(cert, key)),
        ..Config::default()
    })
    .unwrap();
    (emu, ca)
}

/// A TLS error of the handshake, as rustls reports it through `io::Error`.
fn tls_error(e: &std::io::Error) -> &rustls::Error {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .unwrap_or_else(|| panic!("not a TLS error: {e:?}"))
}

#[test]
fn https_with_a_test_ca() {
    let (emu, ca) = start_https();
    let url = emu.base_url();
    assert_eq!(url, format!("https://localhost:{}", emu.addr().port()));
    let mut c = Conn::open_tls(emu.addr(), &ca).unwrap();
    // Keep-alive over TLS.
    for _ in 0..3 {
        let r = c.api("GET", "/cdn/resources/1", "");
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["id"], 1);
    }
    let recs = emu.requests();
    assert_eq!(recs.len(), 3);
    assert_eq!(recs[0].header("authorization"), Some("apikey test-key"));
    // Dropping the emulator closes the connection.
    drop(emu);
    let _ = c.try_read_to_eof();
}

#[test]
fn clients_that_do_not_trust_the_ca_fail_the_handshake() {
    let (emu, _ca) = start_https();
    let (other_ca, _, _) = testca::make_ca_and_localhost_cert();
    let err = Conn::open_tls(emu.addr(), &other_ca).err().unwrap();
    assert!(
        matches!(
            tls_error(&err),
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)
        ),
        "{err}"
    );
    // The server goes on serving the others.
    let (emu, ca) = start_https();
    assert_eq!(
        Conn::open_tls(emu.addr(), &ca)
            .unwrap()
            .api("GET", "/cdn/resources/1", "")
            .status,
        200
    );
}

#[test]
fn wrong_name_and_self_signed_certificates_are_refused() {
    let (ca, cert, key) = testca::make_ca_and_cert_for(&["example.com"]);
    let emu = Emulator::start(Config {
        tls: Some(Tls::new(cert, key)),
        ..Config::default()
    })
    .unwrap();
    let err = Conn::open_tls(emu.addr(), &ca).err().unwrap();
    assert!(
        matches!(
            tls_error(&err),
            rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName)
                | rustls::Error::InvalidCertificate(
                    rustls::CertificateError::NotValidForNameContext { .. }
                )
        ),
        "{err}"
    );

    let (cert, key) = testca::make_self_signed_localhost_cert();
    let emu = Emulator::start(Config {
        tls: Some(Tls::new(cert.clone(), key)),
        ..Config::default()
    })
    .unwrap();
    let (unrelated_ca, _, _) = testca::make_ca_and_localhost_cert();
    assert!(Conn::open_tls(emu.addr(), &unrelated_ca).is_err());
}

#[test]
fn plain_http_to_the_https_port_gets_nothing_useful() {
    let (emu, _ca) = start_https();
    let mut c = Conn::open(emu.addr());
    c.send_raw("GET", "/cdn/resources/1", &[], "");
    assert!(c.try_read_response(false).is_err());
    assert!(emu.requests().is_empty());
}

#[test]
fn faults_over_tls() {
    let (emu, ca) = start_https();
    emu.push_fault(Fault::drop_connection());
    emu.push_fault(Fault::truncate(400, "0123456789", 3));
    emu.push_fault(Fault::chunked(400, "abcdefg", 2));
    emu.push_fault(Fault::close_after());
    emu.push_fault(Fault::stall());

    let mut c = Conn::open_tls(emu.addr(), &ca).unwrap();
    c.send_raw("GET", "/cdn/resources/1", &[], "");
    // Closed without close_notify: rustls reports an unexpected EOF, never a byte.
    match c.try_read_to_eof() {
        Ok(rest) => assert!(rest.is_empty()),
        Err(e) => assert_eq!(e.kind(), ErrorKind::UnexpectedEof, "{e}"),
    }

    let mut c = Conn::open_tls(emu.addr(), &ca).unwrap();
    c.send_raw("GET", "/cdn/resources/1", &[], "");
    let head = c.read_exact(20).unwrap();
    assert!(head.starts_with(b"HTTP/1.1 400 "));
    assert!(c.try_read_response(false).is_err());

    let mut c = Conn::open_tls(emu.addr(), &ca).unwrap();
    let r = c.api("GET", "/cdn/resources/1", "");
    assert_eq!((r.status, r.body.as_str()), (400, "abcdefg"));

    let r = c.api("GET", "/cdn/resources/1", "");
    assert_eq!(r.status, 200);
    // Closed cleanly (close_notify) right after the answer.
    assert_eq!(c.try_read_to_eof().unwrap(), b"");

    let mut c = Conn::open_tls(emu.addr(), &ca).unwrap();
    c.send_raw("GET", "/cdn/resources/1", &[], "");
    while emu.requests().len() < 5 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let t = Instant::now();
    drop(emu);
    assert!(t.elapsed() < Duration::from_secs(2));
    let _ = c.try_read_to_eof();
}

#[test]
fn bad_tls_material_is_an_error() {
    let (_, cert, key) = testca::make_ca_and_localhost_cert();
    for (cert, key) in [
        ("", key.as_str()),
        (cert.as_str(), ""),
        ("not PEM", key.as_str()),
        (key.as_str(), cert.as_str()),
    ] {
        let err = Emulator::start(Config {
            tls: Some(Tls::new(cert, key)),
            ..Config::default()
        })
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().starts_with("TLS "), "{err}");
    }
    // The key never shows in Debug output.
    let shown = format!("{:?}", Tls::new(cert, key.clone()));
    assert!(!shown.contains(&key[40..80]), "{shown}");
}

#[test]
fn binary_serves_https() {
    let (ca, cert, key) = testca::make_ca_and_localhost_cert();
    let dir = std::env::temp_dir().join(format!("gcdn-emulator-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert_file, key_file) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_file, cert).unwrap();
    std::fs::write(&key_file, key).unwrap();
    let (mut child, url) = common::spawn_binary(
        common::binary()
            .args([
                "--quiet",
                "--seed",
                "1",
                "--exit-on-stdin-eof",
                "--tls-cert",
            ])
            .arg(&cert_file)
            .arg("--tls-key")
            .arg(&key_file),
    );
    let port = url
        .strip_prefix("https://localhost:")
        .unwrap_or_else(|| panic!("unexpected URL {url:?}"));
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let auth = format!("apikey {KEY}");
    let r = Conn::open_tls(addr, &ca).unwrap().request(
        "GET",
        "/cdn/resources/1",
        &[("Authorization", &auth)],
        "",
    );
    assert_eq!(r.status, 200);
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());

    // A missing key file is a start-up error.
    let out = Command::new(env!("CARGO_BIN_EXE_gcdn-emulator"))
        .arg("--tls-cert")
        .arg(&cert_file)
        .arg("--tls-key")
        .arg(dir.join("missing.pem"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.pem"));
    std::fs::remove_dir_all(&dir).unwrap();
}
