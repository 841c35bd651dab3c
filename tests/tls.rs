//! HTTPS against the emulator's TLS mode, with CAs made here by the test: verification is
//! always on, a CA file can be trusted, and every bad certificate is a network error that
//! names TLS.

mod common;

use std::path::PathBuf;

use common::*;
use gcdn::ffi::*;
use gcdn_emulator::{testca, Tls};

fn https_emulator(cert: String, key: String) -> Emulator {
    emulator_with(Config {
        seed_resources: vec![1],
        tls: Some(Tls::new(cert, key)),
        ..Config::default()
    })
}

fn write_pem(name: &str, pem: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("tls");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}-{}.pem", std::process::id()));
    std::fs::write(&path, pem).unwrap();
    path
}

fn client_trusting(emu: &Emulator, ca_file: Option<&PathBuf>) -> TestClient {
    client_trusting_retrying(emu, ca_file, 1)
}

fn client_trusting_retrying(emu: &Emulator, ca_file: Option<&PathBuf>, retries: u32) -> TestClient {
    let setup = Setup::new(emu);
    let client = unsafe {
        let o = gcdn_options_new();
        let url = cstr(&emu.base_url());
        assert!(call(|e| gcdn_options_set_base_url(o, url.as_ptr(), e)).ok());
        assert!(call(|e| gcdn_options_set_max_retries(o, retries, e)).ok());
        if let Some(path) = ca_file {
            let p = cstr(path.to_str().unwrap());
            assert!(call(|e| gcdn_options_set_ca_file(o, p.as_ptr(), e)).ok());
        }
        let key = cstr(setup.key.as_deref().unwrap());
        let mut client = std::ptr::null_mut();
        let r = call(|e| gcdn_client_new(key.as_ptr(), o, &mut client, e));
        gcdn_options_free(o);
        assert!(r.ok(), "{r:?}");
        client
    };
    TestClient(client)
}

fn assert_tls_failure(r: &Outcome) {
    assert_eq!(r.status, GCDN_ERR_NETWORK, "{r:?}");
    assert!(
        r.msg().contains("TLS"),
        "the message should name TLS: {}",
        r.msg()
    );
}

#[test]
fn a_trusted_ca_file_works() {
    let (ca, cert, key) = testca::make_ca_and_localhost_cert();
    let emu = https_emulator(cert, key);
    assert!(emu.base_url().starts_with("https://localhost:"));
    let c = client_trusting(&emu, Some(&write_pem("ca", &ca)));
    assert!(c.purge_urls(1, &["/secure.js"]).ok());
    assert!(c.purge_all(1).ok());
    let seen = emu.requests();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].header("authorization"), Some("APIKey test-key"));
}

/// The TLS handshake's records are not requests: a connection the server closes right after
/// its first answer is still probed on its first reuse, so no retry is needed.
#[test]
fn a_tls_connection_closed_after_its_first_answer_is_probed_before_reuse() {
    let (ca, cert, key) = testca::make_ca_and_localhost_cert();
    // Three resources: the emulator's purge rate is per resource.
    let emu = emulator_with(Config {
        seed_resources: vec![1, 2, 3],
        tls: Some(Tls::new(cert, key)),
        ..Config::default()
    });
    let c = client_trusting_retrying(&emu, Some(&write_pem("ca-close", &ca)), 0);
    for id in 1..=2 {
        emu.push_fault(Fault::close_after());
        assert!(c.purge_urls(id, &["/close.js"]).ok(), "call {id}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(c.purge_urls(3, &["/after.js"]).ok());
    assert_eq!(
        emu.requests().len(),
        3,
        "no attempt met a closed connection"
    );
}

#[test]
fn the_bundled_roots_do_not_trust_a_private_ca() {
    let (_ca, cert, key) = testca::make_ca_and_localhost_cert();
    let emu = https_emulator(cert, key);
    let r = client_trusting(&emu, None).purge_all(1);
    assert_tls_failure(&r);
    assert!(emu.requests().is_empty(), "no request got through");
}

#[test]
fn another_ca_is_not_trusted() {
    let (_ca, cert, key) = testca::make_ca_and_localhost_cert();
    let (other_ca, _, _) = testca::make_ca_and_localhost_cert();
    let emu = https_emulator(cert, key);
    let r = client_trusting(&emu, Some(&write_pem("other-ca", &other_ca))).purge_all(1);
    assert_tls_failure(&r);
    assert!(emu.requests().is_empty());
}

#[test]
fn a_certificate_for_another_name_is_refused() {
    let (ca, cert, key) = testca::make_ca_and_cert_for(&["api.example.org"]);
    let emu = https_emulator(cert, key);
    let r = client_trusting(&emu, Some(&write_pem("ca-name", &ca))).purge_all(1);
    assert_tls_failure(&r);
}

#[test]
fn a_self_signed_certificate_is_refused() {
    let (cert, key) = testca::make_self_signed_localhost_cert();
    let emu = https_emulator(cert, key);
    let r = client_trusting(&emu, None).purge_all(1);
    assert_tls_failure(&r);
}

#[test]
fn a_ca_file_that_is_not_pem_is_an_invalid_argument() {
    let path = write_pem("not-pem", "hello, I am not a certificate\n");
    unsafe {
        let o = gcdn_options_new();
        let p = cstr(path.to_str().unwrap());
        assert!(call(|e| gcdn_options_set_ca_file(o, p.as_ptr(), e)).ok());
        let key = cstr("k");
        let mut client = std::ptr::null_mut();
        let r = call(|e| gcdn_client_new(key.as_ptr(), o, &mut client, e));
        gcdn_options_free(o);
        assert_eq!(r.status, GCDN_ERR_INVALID_ARGUMENT);
        assert!(r.msg().contains("holds no PEM certificate"), "{}", r.msg());
        assert!(client.is_null());
    }
}
