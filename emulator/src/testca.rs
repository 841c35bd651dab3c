//! Throwaway certificates for HTTPS tests (cargo feature `testca`).
//!
//! Each call makes fresh keys (ECDSA P-256), valid from 1975 to 4096. Nothing is written to
//! disk: the tests that need files write the PEM texts themselves.
//!
//! ```
//! use gcdn_emulator::{testca, Config, Emulator, Tls};
//!
//! let (ca_pem, cert_pem, key_pem) = testca::make_ca_and_localhost_cert();
//! let emu = Emulator::start(Config {
//!     tls: Some(Tls::new(cert_pem, key_pem)),
//!     ..Config::default()
//! })
//! .unwrap();
//! assert!(emu.base_url().starts_with("https://localhost:"));
//! // A client trusting `ca_pem` (and only it) can now talk to `emu.base_url()`.
//! # let _ = ca_pem;
//! ```

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

/// A new test CA and a certificate it signed for `localhost` and `127.0.0.1`, with its key:
/// `(ca_pem, cert_pem, key_pem)`. Give `cert_pem` and `key_pem` to [`crate::Tls`]; clients
/// trust `ca_pem`.
pub fn make_ca_and_localhost_cert() -> (String, String, String) {
    make_ca_and_cert_for(&["localhost", "127.0.0.1"])
}

/// Like [`make_ca_and_localhost_cert`], for other names (DNS names or IP addresses), e.g.
/// a certificate for `example.com` that a client connecting to `localhost` must reject.
pub fn make_ca_and_cert_for(names: &[&str]) -> (String, String, String) {
    let ca_key = KeyPair::generate().expect("generate the CA key");
    let mut ca = CertificateParams::default();
    // A name of its own: a client trusting another test CA then reports an unknown issuer
    // (the same name would make it try, and fail, the other CA's signature).
    ca.distinguished_name = name(&format!("gcdn-emulator test CA {}", unique()));
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).expect("self-sign the CA");
    let issuer = Issuer::new(ca, ca_key);

    let key = KeyPair::generate().expect("generate the server key");
    let cert = leaf_params(names)
        .signed_by(&key, &issuer)
        .expect("sign the server certificate");
    (ca_cert.pem(), cert.pem(), key.serialize_pem())
}

/// A self-signed certificate for `localhost` and `127.0.0.1` (no CA), with its key:
/// `(cert_pem, key_pem)`. A verifying client must refuse it.
pub fn make_self_signed_localhost_cert() -> (String, String) {
    let key = KeyPair::generate().expect("generate the key");
    let cert = leaf_params(&["localhost", "127.0.0.1"])
        .self_signed(&key)
        .expect("self-sign the certificate");
    (cert.pem(), key.serialize_pem())
}

fn leaf_params(names: &[&str]) -> CertificateParams {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let mut params = CertificateParams::new(names.clone()).expect("valid subject names");
    params.distinguished_name = name(names.first().map_or("gcdn-emulator", String::as_str));
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params
}

/// Different at each call, in this process and across processes.
fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{}-{nanos}-{}",
        std::process::id(),
        COUNT.fetch_add(1, Ordering::Relaxed)
    )
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn
}
