//! `--web.config.file` at run time: the TLS acceptor and the basic-auth guard, built
//! from the file as parsed and validated by [`crate::config::web::WebConfigFile`] (the
//! exporter-toolkit format every Go exporter uses, so operators reuse the file they
//! already have for node_exporter and friends).
//!
//! Basic auth resists floods of wrong passwords: bcrypt runs on the blocking pool through
//! a bounded [`guard::Limiter`] (a full queue answers [`AuthResult::Busy`], served as 503
//! with `Retry-After`), recent successes and failures are remembered for five minutes so
//! a scraper's steady credentials skip bcrypt, and an unknown user is checked against a
//! dummy hash of the configured cost so that timing does not reveal which users exist.
//! The memory lives in the [`WebConfig`], so a reload (which loads a new one) forgets it.

mod guard;

use crate::config::web::{ClientAuth, TlsServerSettings, TlsVersions, WebConfigFile};
use base64::Engine as _;
use guard::{CACHE_CAPACITY, CACHE_TTL, CredentialKey, Limiter, OutcomeCache};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// The loaded, validated web configuration.
pub struct WebConfig {
    /// TLS for the listener, when configured.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// The configured users; empty means no authentication.
    users: Vec<User>,
    /// Bcrypt hash of a random password at the highest configured cost, verified for
    /// unknown users so that they take as long as known ones.
    dummy_hash: Arc<str>,
    /// Extra response headers.
    pub headers: Vec<(hyper::header::HeaderName, hyper::header::HeaderValue)>,
    /// Keyed hashes of credentials that verified recently (never the password itself).
    verified: Mutex<OutcomeCache>,
    /// Keyed hashes of credentials that failed recently, rejected without bcrypt.
    rejected: Mutex<OutcomeCache>,
    /// Runs bcrypt off the async workers, a bounded number at a time.
    limiter: Limiter,
}

/// One `basic_auth_users` entry.
struct User {
    name: String,
    /// Keyed hash of the name, compared in constant time (`None` without a process key:
    /// the name is then compared directly).
    name_key: Option<CredentialKey>,
    hash: Arc<str>,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field(
                "users",
                &self.users.iter().map(|u| &u.name).collect::<Vec<_>>(),
            )
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
    /// Too many verifications in progress to check these credentials now: answer 503
    /// with `Retry-After` (the server is saturated, not this client rate-limited).
    Busy,
}

impl WebConfig {
    /// No TLS, no authentication.
    pub fn none() -> WebConfig {
        WebConfig::with_users(None, Vec::new(), Arc::from(""), Vec::new())
    }

    fn with_users(
        tls: Option<tokio_rustls::TlsAcceptor>,
        users: Vec<User>,
        dummy_hash: Arc<str>,
        headers: Vec<(hyper::header::HeaderName, hyper::header::HeaderValue)>,
    ) -> WebConfig {
        WebConfig {
            tls,
            users,
            dummy_hash,
            headers,
            verified: Mutex::new(OutcomeCache::new(CACHE_CAPACITY, CACHE_TTL)),
            rejected: Mutex::new(OutcomeCache::new(CACHE_CAPACITY, CACHE_TTL)),
            limiter: Limiter::per_core(),
        }
    }

    /// Loads the file (validated by [`WebConfigFile::load`]) and builds the TLS acceptor
    /// and the users; every problem is reported.
    pub fn load(path: &Path) -> Result<WebConfig, Vec<String>> {
        let file = WebConfigFile::load(path)
            .map_err(|e| e.iter().map(ToString::to_string).collect::<Vec<_>>())?;
        let origin = path.display().to_string();
        let mut errors = Vec::new();
        let tls = match &file.tls {
            Some(t) => match tls_acceptor(t) {
                Ok(a) => Some(a),
                Err(e) => {
                    errors.extend(e.into_iter().map(|e| format!("web config {origin}: {e}")));
                    None
                }
            },
            None => None,
        };
        let max_cost = file.users.iter().map(|u| u.cost).max();
        let dummy_hash = match max_cost.map(dummy_hash) {
            Some(Ok(h)) => Arc::from(h),
            Some(Err(e)) => {
                errors.push(format!("web config {origin}: basic_auth_users: {e}"));
                Arc::from("")
            }
            None => Arc::from(""),
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        let users = file
            .users
            .into_iter()
            .map(|u| User {
                name_key: guard::keyed_hash(b"user", &[u.name.as_bytes()]),
                name: u.name,
                hash: Arc::from(u.hash),
            })
            .collect();
        Ok(WebConfig::with_users(tls, users, dummy_hash, file.headers))
    }

    /// Checks the `Authorization` header against the configured users. Remembered
    /// outcomes answer at once; otherwise bcrypt runs on the blocking pool (an unknown
    /// user against the dummy hash), or the answer is [`AuthResult::Busy`] when too many
    /// verifications are already waiting.
    pub async fn authorize(&self, header: Option<&str>) -> AuthResult {
        if self.users.is_empty() {
            return AuthResult::Allowed;
        }
        let Some((user, pass)) = header.and_then(parse_basic) else {
            return AuthResult::Denied;
        };
        let key = guard::keyed_hash(b"credential", &[user.as_bytes(), pass.as_bytes()]);
        if let Some(key) = &key {
            let now = Instant::now();
            if lock(&self.verified).contains(key, now) {
                return AuthResult::Allowed;
            }
            if lock(&self.rejected).contains(key, now) {
                return AuthResult::Denied;
            }
        }
        let (known, hash) = match self.find_user(&user) {
            Some(h) => (true, h),
            None => (false, self.dummy_hash.clone()),
        };
        let verified = self
            .limiter
            .run(move || bcrypt::verify(pass.as_bytes(), &hash).unwrap_or(false))
            .await;
        let Some(verified) = verified else {
            return AuthResult::Busy;
        };
        let allowed = known && verified;
        if let Some(key) = key {
            let cache = if allowed {
                &self.verified
            } else {
                &self.rejected
            };
            lock(cache).insert(key, Instant::now());
        }
        if allowed {
            AuthResult::Allowed
        } else {
            AuthResult::Denied
        }
    }

    /// The hash of `name`, looking at every configured user and comparing keyed hashes
    /// in constant time, so the time taken does not depend on which (if any) matched.
    fn find_user(&self, name: &str) -> Option<Arc<str>> {
        let wanted = guard::keyed_hash(b"user", &[name.as_bytes()]);
        let mut found = None;
        for u in &self.users {
            let same = match (&wanted, &u.name_key) {
                (Some(w), Some(k)) => guard::ct_eq(w, k),
                _ => u.name == name,
            };
            if same {
                found = Some(u.hash.clone());
            }
        }
        found
    }

    /// Forgets every remembered outcome (a reload builds a new `WebConfig`, which starts
    /// empty; this is for callers that keep one across a change of users).
    pub fn forget_outcomes(&self) {
        lock(&self.verified).clear();
        lock(&self.rejected).clear();
    }
}

/// Locks a cache, recovering from a poisoned lock (the cache stays consistent).
fn lock(m: &Mutex<OutcomeCache>) -> MutexGuard<'_, OutcomeCache> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A bcrypt hash of a random password at `cost`, for unknown users.
fn dummy_hash(cost: u32) -> Result<String, bcrypt::BcryptError> {
    let mut secret = [0u8; 16];
    // Any password works: nobody can send one that matters, since a match for an
    // unknown user is still refused. Randomness only avoids a well-known constant.
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut secret);
    bcrypt::hash(secret, cost)
}

/// Standard base64 as clients send it, padded or not.
const BASIC_B64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// Decodes `Basic base64(user:pass)`.
fn parse_basic(header: &str) -> Option<(String, String)> {
    let b64 = header
        .strip_prefix("Basic ")
        .or_else(|| header.strip_prefix("basic "))?;
    let raw = BASIC_B64.decode(b64.trim()).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

/// Builds the listener's TLS configuration from validated settings (reading the PEM
/// files can still fail: a file may be unparsable or have changed since).
fn tls_acceptor(t: &TlsServerSettings) -> Result<tokio_rustls::TlsAcceptor, Vec<String>> {
    let mut errors = Vec::new();
    let certs: Vec<CertificateDer<'static>> = match CertificateDer::pem_file_iter(&t.cert_file) {
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
    let key = match PrivateKeyDer::from_pem_file(&t.key_file) {
        Ok(k) => Some(k),
        Err(e) => {
            errors.push(format!("key_file {}: {e}", t.key_file.display()));
            None
        }
    };
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = match t.versions {
        TlsVersions::Tls13Only => vec![&rustls::version::TLS13],
        TlsVersions::Tls12Only => vec![&rustls::version::TLS12],
        TlsVersions::Tls12And13 => vec![&rustls::version::TLS12, &rustls::version::TLS13],
    };
    let roots = match &t.client_ca_file {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            match CertificateDer::pem_file_iter(ca) {
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
    let verifier = match (t.client_auth, roots) {
        (ClientAuth::NoClientCert, _) => None,
        (ClientAuth::RequireAndVerifyClientCert, Some(r)) => {
            rustls::server::WebPkiClientVerifier::builder_with_provider(r, provider.clone())
                .build()
                .ok()
        }
        (ClientAuth::VerifyClientCertIfGiven, Some(r)) => {
            rustls::server::WebPkiClientVerifier::builder_with_provider(r, provider.clone())
                .allow_unauthenticated()
                .build()
                .ok()
        }
        (auth, None) => {
            errors.push(format!("client_auth_type {auth:?} needs client_ca_file"));
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

    fn basic(user: &str, pass: &str) -> String {
        format!("Basic {}", BASIC_B64.encode(format!("{user}:{pass}")))
    }

    /// What `w` answers to these credentials.
    async fn auth(w: &WebConfig, user: &str, pass: &str) -> AuthResult {
        w.authorize(Some(&basic(user, pass))).await
    }

    fn write_users(p: &Path, users: &[(&str, &str, u32)]) {
        let mut text = String::from("basic_auth_users:\n");
        for (u, pw, cost) in users {
            let hash = bcrypt::hash(pw, *cost).unwrap();
            text.push_str(&format!("  {u}: '{hash}'\n"));
        }
        std::fs::write(p, text).unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bcrypt_users_are_checked_and_cached() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("web.yml");
        let hash = bcrypt::hash("pw", 4).unwrap();
        std::fs::write(&p, format!("basic_auth_users:\n  alice: '{hash}'\n")).unwrap();
        let w = WebConfig::load(&p).unwrap();
        assert_eq!(w.authorize(None).await, AuthResult::Denied);
        assert_eq!(
            w.authorize(Some("Basic YWxpY2U6cHc=")).await,
            AuthResult::Allowed
        ); // alice:pw
        assert_eq!(lock(&w.verified).len(), 1);
        assert_eq!(
            w.authorize(Some("Basic YWxpY2U6cHc=")).await,
            AuthResult::Allowed
        );
        assert_eq!(lock(&w.verified).len(), 1);
        assert_eq!(
            w.authorize(Some("Basic YWxpY2U6cHd4")).await,
            AuthResult::Denied
        ); // alice:pwx
        assert_eq!(
            w.authorize(Some("Basic Ym9iOnB3")).await,
            AuthResult::Denied
        ); // bob:pw
        assert_eq!(lock(&w.rejected).len(), 2, "both failures remembered");
        assert!(!format!("{w:?}").contains(&hash));
        // The dummy hash for unknown users has the configured cost.
        assert_eq!(
            w.dummy_hash
                .parse::<bcrypt::HashParts>()
                .unwrap()
                .get_cost(),
            4
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn remembered_outcomes_skip_bcrypt() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("web.yml");
        write_users(&p, &[("alice", "pw", 4)]);
        let w = WebConfig::load(&p).unwrap();
        assert_eq!(auth(&w, "alice", "pw").await, AuthResult::Allowed);
        assert_eq!(auth(&w, "alice", "nope").await, AuthResult::Denied);
        // With every verification slot and queue place taken, remembered outcomes still
        // answer, and a new credential is told the server is busy.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let rx = Arc::new(Mutex::new(rx));
        let w = Arc::new(w);
        let mut blockers = Vec::new();
        for _ in 0..cores * (1 + guard::QUEUE_PER_SLOT) {
            let (w, rx) = (w.clone(), rx.clone());
            blockers.push(tokio::spawn(async move {
                w.limiter
                    .run(move || {
                        let _ = rx
                            .lock()
                            .unwrap()
                            .recv_timeout(std::time::Duration::from_secs(10));
                        false
                    })
                    .await
            }));
        }
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        // A new password each time: a tried one would be remembered as failed.
        for attempt in 0.. {
            let h = basic("alice", &format!("new{attempt}"));
            if w.authorize(Some(&h)).await == AuthResult::Busy {
                break;
            }
            assert!(Instant::now() < deadline, "limiter never filled up");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(auth(&w, "alice", "pw").await, AuthResult::Allowed);
        assert_eq!(auth(&w, "alice", "nope").await, AuthResult::Denied);
        for _ in 0..blockers.len() {
            let _ = tx.send(());
        }
        for b in blockers {
            b.await.unwrap();
        }
        assert_eq!(auth(&w, "alice", "new").await, AuthResult::Denied);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reload_forgets_remembered_outcomes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("web.yml");
        write_users(&p, &[("alice", "old", 4)]);
        let w = WebConfig::load(&p).unwrap();
        assert_eq!(auth(&w, "alice", "old").await, AuthResult::Allowed);
        assert_eq!(auth(&w, "alice", "new").await, AuthResult::Denied);
        // The password changes: the reloaded config remembers nothing of the old one.
        write_users(&p, &[("alice", "new", 4)]);
        let w = WebConfig::load(&p).unwrap();
        assert!(lock(&w.verified).is_empty() && lock(&w.rejected).is_empty());
        assert_eq!(auth(&w, "alice", "old").await, AuthResult::Denied);
        assert_eq!(auth(&w, "alice", "new").await, AuthResult::Allowed);
        w.forget_outcomes();
        assert!(lock(&w.verified).is_empty() && lock(&w.rejected).is_empty());
    }

    #[test]
    fn dummy_cost_is_the_highest_configured() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("web.yml");
        write_users(&p, &[("a", "x", 4), ("b", "y", 5)]);
        let w = WebConfig::load(&p).unwrap();
        let cost = w
            .dummy_hash
            .parse::<bcrypt::HashParts>()
            .unwrap()
            .get_cost();
        assert_eq!(cost, 5);
        assert_eq!(
            w.find_user("b").as_deref(),
            w.users.get(1).map(|u: &User| &*u.hash)
        );
        assert!(w.find_user("c").is_none());
        assert!(w.find_user("").is_none());
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
