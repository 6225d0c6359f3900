//! TLS for PostgreSQL connections through rustls (ring provider), with libpq's `sslmode`
//! semantics:
//!
//! | mode | TLS | chain checked | host name checked |
//! |---|---|---|---|
//! | `disable` | no | – | – |
//! | `prefer` (default) | if the server offers it | no | no |
//! | `require` | yes | only when a CA file is given (as libpq does) | no |
//! | `verify-ca` | yes | yes, against the CA file | no |
//! | `verify-full` | yes | yes, against the CA file | yes |

use crate::config::PgSslMode;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error, RootCertStore, SignatureScheme};
use std::path::Path;
use std::sync::Arc;

/// The TLS connector and the `sslmode` to hand to tokio-postgres.
pub fn connector(
    mode: PgSslMode,
    ca_file: Option<&Path>,
) -> Result<
    (
        tokio_postgres_rustls::MakeRustlsConnect,
        tokio_postgres::config::SslMode,
    ),
    String,
> {
    use tokio_postgres::config::SslMode;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = match ca_file {
        Some(p) => Some(Arc::new(load_roots(p)?)),
        None => None,
    };
    let verifier: Arc<dyn ServerCertVerifier> = match (mode, roots) {
        (PgSslMode::VerifyFull, Some(roots)) => webpki(roots, &provider)?,
        (PgSslMode::VerifyCa | PgSslMode::Require, Some(roots)) => Arc::new(ChainOnly {
            inner: webpki(roots, &provider)?,
        }),
        (PgSslMode::VerifyFull | PgSslMode::VerifyCa, None) => {
            return Err("sslmode verify-ca/verify-full needs a CA file".to_string());
        }
        (PgSslMode::Disable | PgSslMode::Prefer | PgSslMode::Require, _) => {
            Arc::new(NoVerification {
                provider: provider.clone(),
            })
        }
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    let ssl_mode = match mode {
        PgSslMode::Disable => SslMode::Disable,
        PgSslMode::Prefer => SslMode::Prefer,
        PgSslMode::Require | PgSslMode::VerifyCa | PgSslMode::VerifyFull => SslMode::Require,
    };
    Ok((
        tokio_postgres_rustls::MakeRustlsConnect::new(config),
        ssl_mode,
    ))
}

/// Reads a PEM CA bundle (also used for Redis' `ca_file`).
pub(crate) fn load_roots(path: &Path) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("CA file {}: {e}", path.display()))?;
    for cert in certs {
        let cert = cert.map_err(|e| format!("CA file {}: {e}", path.display()))?;
        roots
            .add(cert)
            .map_err(|e| format!("CA file {}: {e}", path.display()))?;
    }
    if roots.is_empty() {
        return Err(format!("CA file {}: no certificates found", path.display()));
    }
    Ok(roots)
}

fn webpki(
    roots: Arc<RootCertStore>,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ServerCertVerifier>, String> {
    let v = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
        .build()
        .map_err(|e| format!("TLS verifier: {e}"))?;
    Ok(v)
}

/// `verify-ca`: the chain must lead to the CA, the name may be anything.
#[derive(Debug)]
struct ChainOnly {
    inner: Arc<dyn ServerCertVerifier>,
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A verifier that accepts any certificate but still checks handshake signatures (Redis'
/// `insecure_skip_verify`).
pub(crate) fn no_verification(provider: Arc<CryptoProvider>) -> Arc<dyn ServerCertVerifier> {
    Arc::new(NoVerification { provider })
}

/// `prefer`/`require` without a CA file: encryption without authentication of the
/// server, as libpq does. Handshake signatures are still checked.
#[derive(Debug)]
struct NoVerification {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_modes_need_a_ca_file() {
        assert!(connector(PgSslMode::VerifyFull, None).is_err());
        assert!(connector(PgSslMode::VerifyCa, None).is_err());
        assert!(connector(PgSslMode::Require, None).is_ok());
        assert!(connector(PgSslMode::Prefer, None).is_ok());
        assert!(connector(PgSslMode::Disable, None).is_ok());
    }

    #[test]
    fn bad_ca_files_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ca.pem");
        std::fs::write(&p, "not a certificate").unwrap();
        let e = connector(PgSslMode::VerifyCa, Some(&p)).err().unwrap();
        assert!(e.contains("ca.pem"), "{e}");
        let e = connector(PgSslMode::VerifyCa, Some(&dir.path().join("missing.pem")))
            .err()
            .unwrap();
        assert!(e.contains("missing.pem"), "{e}");
    }
}
