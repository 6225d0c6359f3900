//! The web server's configuration as data: `--web.listen-address`, `--web.telemetry-path`
//! and the `--web.config.file` in the exporter-toolkit format every Go exporter uses (TLS
//! certificate and key, client CA and client-auth type, basic-auth users with bcrypt
//! hashes, extra headers). This module parses and validates; `http::web_config` builds
//! the TLS acceptor and the authentication guard from the result.

use super::Problem;
use super::file::Entry;
use crate::cli::Cli;
use hyper::header::{HeaderName, HeaderValue};
use std::path::{Path, PathBuf};

/// HTTP server settings.
#[derive(Clone, Debug)]
pub struct WebSettings {
    /// `host:port` or `:port` to listen on.
    pub listen_address: String,
    /// Path serving the metrics.
    pub telemetry_path: String,
    /// Cap on concurrent scrapes (0 = unlimited); more get 503.
    pub max_requests: usize,
    /// exporter-toolkit web configuration (TLS, basic auth), re-read on reload.
    pub config_file: Option<PathBuf>,
}

/// A listen address that is not `host:port`, `:port` or `[v6]:port`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid listen address {0:?}: expected host:port or :port")]
pub struct BadListenAddress(pub String);

/// Splits `host:port` / `:port` / `[v6]:port` into host (empty = all) and port.
pub fn parse_listen_address(addr: &str) -> Result<(String, u16), BadListenAddress> {
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| BadListenAddress(addr.to_string()))?;
    let port: u16 = port
        .parse()
        .map_err(|_| BadListenAddress(addr.to_string()))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Ok((host.to_string(), port))
}

/// The `--web.*` flags, validated (the web config file too).
pub(crate) fn from_flags(cli: &Cli, problems: &mut Vec<Problem>) -> WebSettings {
    if !cli.telemetry_path.starts_with('/') {
        problems.push(Problem::new(
            "--web.telemetry-path",
            format!("{:?} must start with '/'", cli.telemetry_path),
        ));
    }
    if parse_listen_address(&cli.listen_address).is_err() {
        problems.push(Problem::new(
            "--web.listen-address",
            format!("{:?} is not host:port or :port", cli.listen_address),
        ));
    }
    if let Some(w) = &cli.web_config_file
        && let Err(e) = WebConfigFile::load(w)
    {
        problems.extend(e);
    }
    WebSettings {
        listen_address: cli.listen_address.clone(),
        telemetry_path: cli.telemetry_path.clone(),
        max_requests: cli.max_requests,
        config_file: cli.web_config_file.clone(),
    }
}

/// A validated `--web.config.file`.
#[derive(Debug, Default)]
pub struct WebConfigFile {
    /// TLS for the listener, when configured.
    pub tls: Option<TlsServerSettings>,
    /// `basic_auth_users`; empty means no authentication.
    pub users: Vec<BasicAuthUser>,
    /// `http_server_config.headers`: extra response headers.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

/// `tls_server_config`, with file paths resolved against the web config file's directory
/// (each file was readable when it was validated).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsServerSettings {
    /// Server certificate chain (PEM).
    pub cert_file: PathBuf,
    /// Server private key (PEM).
    pub key_file: PathBuf,
    /// Whether client certificates are asked for.
    pub client_auth: ClientAuth,
    /// CA bundle for client certificates (required by the verifying client-auth types).
    pub client_ca_file: Option<PathBuf>,
    /// The TLS versions accepted (`min_version`/`max_version`).
    pub versions: TlsVersions,
}

/// `client_auth_type`, as in exporter-toolkit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// No client certificate is asked for.
    NoClientCert,
    /// A client certificate, when given, must verify against `client_ca_file`.
    VerifyClientCertIfGiven,
    /// A client certificate is required and must verify.
    RequireAndVerifyClientCert,
}

/// The TLS versions the listener accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsVersions {
    /// TLS 1.2 and 1.3 (the default).
    Tls12And13,
    /// Only TLS 1.2 (`max_version: TLS12`).
    Tls12Only,
    /// Only TLS 1.3 (`min_version: TLS13`).
    Tls13Only,
}

/// One `basic_auth_users` entry, its hash checked to be bcrypt.
#[derive(Clone, PartialEq, Eq)]
pub struct BasicAuthUser {
    /// User name.
    pub name: String,
    /// The bcrypt hash (never printed).
    pub hash: String,
    /// The hash's bcrypt cost.
    pub cost: u32,
}

impl std::fmt::Debug for BasicAuthUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicAuthUser")
            .field("name", &self.name)
            .field("cost", &self.cost)
            .finish_non_exhaustive()
    }
}

const CLIENT_AUTH: &[(&str, ClientAuth)] = &[
    ("NoClientCert", ClientAuth::NoClientCert),
    (
        "VerifyClientCertIfGiven",
        ClientAuth::VerifyClientCertIfGiven,
    ),
    (
        "RequireAndVerifyClientCert",
        ClientAuth::RequireAndVerifyClientCert,
    ),
];

impl WebConfigFile {
    /// Reads and validates the file; every problem is reported.
    pub fn load(path: &Path) -> Result<WebConfigFile, Vec<Problem>> {
        let origin = format!("web config {}", path.display());
        let text = std::fs::read_to_string(path)
            .map_err(|e| vec![Problem::new(&origin, format!("cannot read it: {e}"))])?;
        if text.trim().is_empty() {
            return Ok(WebConfigFile::default());
        }
        let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text)
            .map_err(|e| vec![Problem::new(&origin, e.to_string())])?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut problems = Vec::new();
        let mut top = Entry::root(&value, &origin, &mut problems);
        let tls = top
            .present("tls_server_config")
            .filter(|v| !v.is_null())
            .and_then(|v| tls_settings(v, &origin, base, &mut problems));
        let mut users = Vec::new();
        for (name, hash) in top.map("basic_auth_users") {
            let hash = hash.as_str().unwrap_or_default();
            let prefix_ok =
                hash.starts_with("$2a$") || hash.starts_with("$2b$") || hash.starts_with("$2y$");
            match hash.parse::<bcrypt::HashParts>() {
                Ok(parts) if prefix_ok => users.push(BasicAuthUser {
                    cost: parts.get_cost(),
                    name,
                    hash: hash.to_string(),
                }),
                _ => top.problem(&format!("basic_auth_users.{name}"), "not a bcrypt hash"),
            }
        }
        let mut headers = Vec::new();
        if let Some(v) = top.present("http_server_config").filter(|v| !v.is_null())
            && let Some(mut h) = Entry::new(v, &origin, "http_server_config.", &mut problems)
        {
            for (k, v) in h.map("headers") {
                match (
                    HeaderName::from_bytes(k.as_bytes()),
                    HeaderValue::from_str(v.as_str().unwrap_or_default()),
                ) {
                    (Ok(k), Ok(v)) => headers.push((k, v)),
                    _ => h.problem("headers", format!("invalid header {k:?}")),
                }
            }
            h.finish(&mut problems);
        }
        top.finish(&mut problems);
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(WebConfigFile {
            tls,
            users,
            headers,
        })
    }
}

/// `tls_server_config`.
fn tls_settings(
    v: &serde_yaml_ng::Value,
    origin: &str,
    base: &Path,
    problems: &mut Vec<Problem>,
) -> Option<TlsServerSettings> {
    let mut t = Entry::new(v, origin, "tls_server_config.", problems)?;
    let resolve = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };
    let file = |t: &mut Entry<'_>, key: &'static str, required: bool| {
        let p = t.get::<PathBuf>(key);
        if p.is_none() && required {
            t.problem(key, "missing");
        }
        let p = p?;
        let resolved = resolve(p.clone());
        if let Err(e) = std::fs::metadata(&resolved) {
            t.problem(key, format!("{}: {e}", p.display()));
        }
        Some(resolved)
    };
    let cert_file = file(&mut t, "cert_file", true);
    let key_file = file(&mut t, "key_file", true);
    let client_ca_file = file(&mut t, "client_ca_file", false);
    let client_auth = t
        .choice("client_auth_type", CLIENT_AUTH)
        .unwrap_or(ClientAuth::NoClientCert);
    if client_auth != ClientAuth::NoClientCert && client_ca_file.is_none() {
        t.problem(
            "client_auth_type",
            format!("{client_auth:?} needs client_ca_file"),
        );
    }
    let min = t.string("min_version");
    let max = t.string("max_version");
    let versions = match (min.as_deref(), max.as_deref()) {
        (Some("TLS13"), _) => Some(TlsVersions::Tls13Only),
        (_, Some("TLS12")) => Some(TlsVersions::Tls12Only),
        (None | Some("TLS12" | "TLS10" | "TLS11"), None | Some("TLS13")) => {
            Some(TlsVersions::Tls12And13)
        }
        (min, max) => {
            t.problem(
                "min_version",
                format!("unsupported min_version/max_version {min:?}/{max:?} (TLS12, TLS13)"),
            );
            None
        }
    };
    t.finish(problems);
    Some(TlsServerSettings {
        cert_file: cert_file?,
        key_file: key_file?,
        client_auth,
        client_ca_file,
        versions: versions?,
    })
}
