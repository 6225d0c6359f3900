//! `--web.config.file` in the exporter-toolkit format every Go exporter uses: TLS
//! certificate and key, client CA and client-auth type, and basic-auth users with bcrypt
//! hashes. Operators reuse the file they already have for node_exporter and friends.

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The file as written by operators.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebConfigFile {
    #[serde(default)]
    tls_server_config: Option<TlsServerConfig>,
    #[serde(default)]
    basic_auth_users: BTreeMap<String, String>,
    #[serde(default)]
    http_server_config: Option<HttpServerConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsServerConfig {
    cert_file: PathBuf,
    key_file: PathBuf,
    #[serde(default)]
    client_auth_type: Option<String>,
    #[serde(default)]
    client_ca_file: Option<PathBuf>,
    #[serde(default)]
    min_version: Option<String>,
    #[serde(default)]
    max_version: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpServerConfig {
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

/// The loaded, validated web configuration.
pub struct WebConfig {
    /// TLS for the listener, when configured.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// User → bcrypt hash; empty means no authentication.
    users: BTreeMap<String, String>,
    /// Extra response headers.
    pub headers: Vec<(hyper::header::HeaderName, hyper::header::HeaderValue)>,
    /// SHA-256 of `user:password` pairs that verified, so bcrypt (slow on purpose) runs
    /// once per credential, not once per scrape. Never the password itself.
    verified: Mutex<HashSet<[u8; 32]>>,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Result of checking a request's credentials.
#[derive(Debug, PartialEq, Eq)]
pub enum AuthResult {
    /// No authentication configured, or valid credentials.
    Allowed,
    /// Missing or wrong credentials: answer 401.
    Denied,
}

impl WebConfig {
    /// No TLS, no authentication.
    pub fn none() -> WebConfig {
        WebConfig {
            tls: None,
            users: BTreeMap::new(),
            headers: Vec::new(),
            verified: Mutex::new(HashSet::new()),
        }
    }

    /// Loads and validates the file; every problem is reported.
    pub fn load(path: &Path) -> Result<WebConfig, Vec<String>> {
        let origin = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|e| vec![format!("web config {origin}: {e}")])?;
        let file: WebConfigFile = if text.trim().is_empty() {
            WebConfigFile::default()
        } else {
            serde_yaml_ng::from_str(&text).map_err(|e| vec![format!("web config {origin}: {e}")])?
        };
        let base = path.parent().unwrap_or(Path::new("."));
        let mut errors = Vec::new();
        for (user, hash) in &file.basic_auth_users {
            if !(hash.starts_with("$2a$") || hash.starts_with("$2b$") || hash.starts_with("$2y$")) {
                errors.push(format!(
                    "web config {origin}: basic_auth_users.{user}: not a bcrypt hash"
                ));
            }
        }
        let mut headers = Vec::new();
        if let Some(h) = &file.http_server_config {
            for (k, v) in &h.headers {
                match (
                    hyper::header::HeaderName::from_bytes(k.as_bytes()),
                    hyper::header::HeaderValue::from_str(v),
                ) {
                    (Ok(k), Ok(v)) => headers.push((k, v)),
                    _ => errors.push(format!("web config {origin}: invalid header {k:?}")),
                }
            }
        }
        let tls = match &file.tls_server_config {
            Some(t) => match tls_acceptor(t, base) {
                Ok(a) => Some(a),
                Err(e) => {
                    errors.extend(e.into_iter().map(|e| format!("web config {origin}: {e}")));
                    None
                }
            },
            None => None,
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(WebConfig {
            tls,
            users: file.basic_auth_users,
            headers,
            verified: Mutex::new(HashSet::new()),
        })
    }

    /// Checks the `Authorization` header against the configured users.
    pub fn authorize(&self, header: Option<&str>) -> AuthResult {
        if self.users.is_empty() {
            return AuthResult::Allowed;
        }
        let Some((user, pass)) = header.and_then(parse_basic) else {
            return AuthResult::Denied;
        };
        let Some(hash) = self.users.get(&user) else {
            return AuthResult::Denied;
        };
        let key: [u8; 32] = {
            let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
            ctx.update(hash.as_bytes());
            ctx.update(b"\0");
            ctx.update(user.as_bytes());
            ctx.update(b"\0");
            ctx.update(pass.as_bytes());
            let d = ctx.finish();
            let mut k = [0u8; 32];
            k.copy_from_slice(d.as_ref());
            k
        };
        if self
            .verified
            .lock()
            .map(|s| s.contains(&key))
            .unwrap_or(false)
        {
            return AuthResult::Allowed;
        }
        if bcrypt::verify(&pass, hash).unwrap_or(false) {
            if let Ok(mut s) = self.verified.lock() {
                if s.len() > 1024 {
                    s.clear();
                }
                s.insert(key);
            }
            AuthResult::Allowed
        } else {
            AuthResult::Denied
        }
    }
}

/// Decodes `Basic base64(user:pass)`.
fn parse_basic(header: &str) -> Option<(String, String)> {
    let b64 = header
        .strip_prefix("Basic ")
        .or_else(|| header.strip_prefix("basic "))?;
    let raw = base64_decode(b64.trim())?;
    let text = String::from_utf8(raw).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

/// Standard base64 decoding (with or without padding).
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let bytes: Vec<u8> = s.bytes().filter(|c| *c != b'=').collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut acc = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            acc |= val(*c)? << (18 - 6 * i);
        }
        let n = chunk.len();
        if n < 2 {
            return None;
        }
        out.push((acc >> 16) as u8);
        if n > 2 {
            out.push((acc >> 8) as u8);
        }
        if n > 3 {
            out.push(acc as u8);
        }
    }
    Some(out)
}

fn tls_acceptor(
    t: &TlsServerConfig,
    base: &Path,
) -> Result<tokio_rustls::TlsAcceptor, Vec<String>> {
    let resolve = |p: &Path| {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        }
    };
    let mut errors = Vec::new();
    let certs: Vec<CertificateDer<'static>> =
        match CertificateDer::pem_file_iter(resolve(&t.cert_file)) {
            Ok(it) => it.filter_map(Result::ok).collect(),
            Err(e) => {
                errors.push(format!("cert_file {}: {e}", t.cert_file.display()));
                Vec::new()
            }
        };
    if certs.is_empty() && errors.is_empty() {
        errors.push(format!(
            "cert_file {}: no certificate found",
            t.cert_file.display()
        ));
    }
    let key = match PrivateKeyDer::from_pem_file(resolve(&t.key_file)) {
        Ok(k) => Some(k),
        Err(e) => {
            errors.push(format!("key_file {}: {e}", t.key_file.display()));
            None
        }
    };
    let versions: Vec<&'static rustls::SupportedProtocolVersion> =
        match (t.min_version.as_deref(), t.max_version.as_deref()) {
            (Some("TLS13"), _) => vec![&rustls::version::TLS13],
            (_, Some("TLS12")) => vec![&rustls::version::TLS12],
            (None | Some("TLS12" | "TLS10" | "TLS11"), None | Some("TLS13")) => {
                vec![&rustls::version::TLS12, &rustls::version::TLS13]
            }
            (min, max) => {
                errors.push(format!(
                    "unsupported min_version/max_version {min:?}/{max:?} (TLS12, TLS13)"
                ));
                Vec::new()
            }
        };
    let auth_type = t.client_auth_type.as_deref().unwrap_or("NoClientCert");
    let roots = match &t.client_ca_file {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            match CertificateDer::pem_file_iter(resolve(ca)) {
                Ok(it) => {
                    for c in it.filter_map(Result::ok) {
                        if let Err(e) = roots.add(c) {
                            errors.push(format!("client_ca_file {}: {e}", ca.display()));
                        }
                    }
                }
                Err(e) => errors.push(format!("client_ca_file {}: {e}", ca.display())),
            }
            Some(Arc::new(roots))
        }
        None => None,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = match (auth_type, roots) {
        ("NoClientCert", _) => None,
        ("RequireAndVerifyClientCert", Some(r)) => {
            rustls::server::WebPkiClientVerifier::builder_with_provider(r, provider.clone())
                .build()
                .ok()
        }
        ("VerifyClientCertIfGiven", Some(r)) => {
            rustls::server::WebPkiClientVerifier::builder_with_provider(r, provider.clone())
                .allow_unauthenticated()
                .build()
                .ok()
        }
        ("RequireAndVerifyClientCert" | "VerifyClientCertIfGiven", None) => {
            errors.push(format!("client_auth_type {auth_type} needs client_ca_file"));
            None
        }
        (other, _) => {
            errors.push(format!(
                "client_auth_type {other:?} is not supported (NoClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert)"
            ));
            None
        }
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let builder = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| vec![e.to_string()])?;
    let builder = match verifier {
        Some(v) => builder.with_client_cert_verifier(v),
        None => builder.with_no_client_auth(),
    };
    let key = key.ok_or_else(|| vec!["key_file: no key".to_string()])?;
    let mut cfg = builder
        .with_single_cert(certs, key)
        .map_err(|e| vec![format!("cert_file/key_file: {e}")])?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_basic_auth() {
        // "alice:s3cr:et" in base64.
        assert_eq!(
            parse_basic("Basic YWxpY2U6czNjcjpldA=="),
            Some(("alice".to_string(), "s3cr:et".to_string()))
        );
        assert_eq!(parse_basic("Bearer x"), None);
        assert_eq!(parse_basic("Basic !!!"), None);
    }

    #[test]
    fn bcrypt_users_are_checked_and_cached() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("web.yml");
        let hash = bcrypt::hash("pw", 4).unwrap();
        std::fs::write(&p, format!("basic_auth_users:\n  alice: '{hash}'\n")).unwrap();
        let w = WebConfig::load(&p).unwrap();
        assert_eq!(w.authorize(None), AuthResult::Denied);
        assert_eq!(w.authorize(Some("Basic YWxpY2U6cHc=")), AuthResult::Allowed); // alice:pw
        assert_eq!(w.authorize(Some("Basic YWxpY2U6cHc=")), AuthResult::Allowed);
        assert_eq!(w.authorize(Some("Basic YWxpY2U6cHd4")), AuthResult::Denied); // alice:pwx
        assert_eq!(w.authorize(Some("Basic Ym9iOnB3")), AuthResult::Denied); // bob:pw
        assert!(!format!("{w:?}").contains(&hash));
    }

    #[test]
    fn bad_files_list_every_problem() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("web.yml");
        std::fs::write(
            &p,
            "tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n  client_auth_type: RequireAndVerifyClientCert\nbasic_auth_users:\n  bob: plaintext\n",
        )
        .unwrap();
        let e = WebConfig::load(&p).unwrap_err().join("\n");
        for needle in [
            "not a bcrypt hash",
            "cert_file",
            "key_file",
            "needs client_ca_file",
        ] {
            assert!(e.contains(needle), "{needle} in {e}");
        }
        std::fs::write(
            &p,
            "tls_server_config: {cert_file: a, key_file: b, cipher_suitez: []}\n",
        )
        .unwrap();
        assert!(WebConfig::load(&p).is_err());
    }
}
