//! HTTPS mode: the rustls server configuration built from a [`Tls`] identity.

use std::io;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::types::Tls;

fn invalid(what: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("TLS {what}: {e}"))
}

/// A rustls server configuration (the ring provider, TLS 1.2 and 1.3, ALPN `http/1.1`)
/// serving `tls`'s certificate chain and key.
pub(crate) fn server_config(tls: &Tls) -> io::Result<Arc<ServerConfig>> {
    let certs = CertificateDer::pem_slice_iter(tls.cert_chain_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid("certificate chain", e))?;
    if certs.is_empty() {
        return Err(invalid(
            "certificate chain",
            "no CERTIFICATE block in the PEM",
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(tls.key_pem.as_bytes())
        .map_err(|e| invalid("private key", e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid("configuration", e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| invalid("certificate or key", e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
