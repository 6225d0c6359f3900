//! Redis targets: `redis:` entries of the file, `--redis.addr` flags and `/probe`
//! requests become [`RedisTarget`]s. The password moves out of the URL into a
//! [`Secret`]; an ambiguous URL is refused with a hint, never echoed with its password.

use super::file::Entry;
use super::profile::Profile;
use super::{DEFAULT_TARGET_TIMEOUT, Env, MAX_TIMEOUT, Problem, entry_path};
use crate::secret::{Secret, ambiguous_url, redact_unparsed_url};
use serde_yaml_ng::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// TLS client settings for a Redis target.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RedisTls {
    /// CA bundle (PEM) to verify the server with instead of the web PKI roots.
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS.
    pub cert_file: Option<PathBuf>,
    /// Client key (PEM) for mutual TLS.
    pub key_file: Option<PathBuf>,
    /// Skip server certificate verification (testing only).
    pub insecure_skip_verify: bool,
}

/// One Redis server to scrape.
#[derive(Clone, Debug, PartialEq)]
pub struct RedisTarget {
    /// Value of the `target` label: the config name, or `host:port` for flag targets.
    pub name: String,
    /// `redis://` or `rediss://` URL without the password.
    pub url: String,
    /// Password (from file, env, or the URL); never printed.
    pub password: Option<Secret>,
    /// TLS client settings (`rediss://` only).
    pub tls: RedisTls,
    /// Per-target connect and command timeout, further capped by the scrape deadline.
    pub timeout: Duration,
    /// Docker container this server runs in, when it cannot be found automatically.
    pub container: Option<String>,
    /// Declared not to run in a container (`in_container: false`,
    /// `--redis.not-in-container`): no container is looked for.
    pub not_in_container: bool,
    /// The persistence profile its checks are evaluated against (overrides applied).
    pub profile: Profile,
    /// Address to connect to instead of resolving the URL's host. `/probe` sets it to the
    /// address it resolved and checked against the allow-list, so a name cannot re-resolve
    /// elsewhere between the check and the connect; the host name still serves TLS (SNI)
    /// and display.
    pub pinned_addr: Option<std::net::SocketAddr>,
}

/// What the `--redis.addr` targets share.
pub(crate) struct FlagTargets {
    /// `--redis.password-file` or `REDIS_PASSWORD`.
    pub(crate) password: Option<Secret>,
    /// `--profile`.
    pub(crate) profile: Profile,
    /// `--redis.not-in-container`.
    pub(crate) not_in_container: bool,
}

impl FlagTargets {
    /// The target of one address given by `flag`.
    pub(crate) fn target(
        &self,
        addr: &str,
        flag: &str,
        problems: &mut Vec<Problem>,
    ) -> Option<RedisTarget> {
        let parts = Parts {
            name: None,
            password: self.password.clone(),
            tls: RedisTls::default(),
            timeout: DEFAULT_TARGET_TIMEOUT,
            container: None,
            not_in_container: self.not_in_container,
            profile: self.profile.clone(),
        };
        from_url(parts, addr, flag, "", problems)
    }
}

/// Everything of a Redis target but its address.
struct Parts {
    name: Option<String>,
    password: Option<Secret>,
    tls: RedisTls,
    timeout: Duration,
    container: Option<String>,
    not_in_container: bool,
    profile: Profile,
}

/// Builds the Redis target a `/probe` request names (the address was validated).
pub fn probe_redis_target(
    addr: &str,
    username: Option<&str>,
    password: Option<Secret>,
    tls: Option<RedisTls>,
    timeout: Duration,
    profile: Profile,
) -> Option<RedisTarget> {
    let scheme = if tls.is_some() { "rediss" } else { "redis" };
    let user = username.map(|u| format!("{u}@")).unwrap_or_default();
    let parts = Parts {
        name: Some(addr.to_string()),
        password,
        tls: tls.unwrap_or_default(),
        timeout,
        container: None,
        not_in_container: false,
        profile,
    };
    from_url(
        parts,
        &format!("{scheme}://{user}{addr}"),
        "/probe",
        "",
        &mut Vec::new(),
    )
}

/// Reads the `tls:` of a Redis entry or probe module.
pub(crate) fn tls_from(e: &mut Entry<'_>, problems: &mut Vec<Problem>) -> Option<RedisTls> {
    let v = e.present("tls")?;
    if v.is_null() {
        return Some(RedisTls::default());
    }
    let mut t = Entry::new(v, e.path(), "tls.", problems)?;
    let tls = RedisTls {
        ca_file: t.get("ca_file"),
        cert_file: t.get("cert_file"),
        key_file: t.get("key_file"),
        insecure_skip_verify: t.get("insecure_skip_verify").unwrap_or(false),
    };
    if tls.cert_file.is_some() != tls.key_file.is_some() {
        t.problem("cert_file", "cert_file and key_file go together");
    }
    for (key, file) in [
        ("ca_file", &tls.ca_file),
        ("cert_file", &tls.cert_file),
        ("key_file", &tls.key_file),
    ] {
        if let Some(f) = file
            && let Err(err) = std::fs::metadata(f)
        {
            t.problem(key, format!("{}: {err}", f.display()));
        }
    }
    t.finish(problems);
    Some(tls)
}

/// The container settings of a target entry: `container: NAME`, or `in_container: false`.
pub(crate) fn placement(e: &mut Entry<'_>) -> (Option<String>, bool) {
    let container = e.string("container");
    let in_container = e.get::<bool>("in_container");
    match (&container, in_container) {
        (Some(_), Some(_)) => {
            e.problem(
                "in_container",
                "set container: NAME or in_container: false, not both",
            );
            (container, false)
        }
        (_, Some(false)) => (None, true),
        _ => (container, false),
    }
}

/// One `redis:` entry of the file.
pub(crate) fn from_file(
    i: usize,
    v: &Value,
    env: &dyn Env,
    problems: &mut Vec<Problem>,
    restarts: &mut BTreeMap<String, super::restarts::TargetRestarts>,
) -> Option<RedisTarget> {
    let mut e = Entry::new(v, &entry_path("redis", i, None), "", problems)?;
    let name = e.string("name");
    match &name {
        Some(n) if !n.trim().is_empty() => e.set_path(entry_path("redis", i, Some(n))),
        Some(_) => e.problem("name", "must not be empty"),
        None => e.problem("name", "missing (every target needs a name)"),
    }
    let path = e.path().to_string();
    let addr = e.string("addr");
    if addr.is_none() {
        e.problem("addr", "missing (redis://host:port or rediss://host:port)");
    }
    let username = e.string("username");
    let tls = tls_from(&mut e, problems).unwrap_or_default();
    let timeout = e
        .duration("timeout", MAX_TIMEOUT)
        .unwrap_or(DEFAULT_TARGET_TIMEOUT);
    let common = super::finish_entry(
        e,
        super::restarts::System::Redis,
        name.as_deref(),
        env,
        problems,
        restarts,
    );
    let mut addr = addr?;
    if let Some(user) = &username {
        if addr.contains('@') {
            problems.push(Problem::at(
                &path,
                "username",
                "the username is given both in addr and as username",
            ));
        } else if let Some((scheme, rest)) = addr.split_once("://") {
            // The username is a plain value: encode it so `:`, `@`, ... stay in it.
            let user = percent_encoding::utf8_percent_encode(user, USERINFO_ENCODE);
            addr = format!("{scheme}://{user}@{rest}");
        }
    }
    let parts = Parts {
        name: Some(name.unwrap_or_default()),
        password: common.password,
        tls,
        timeout,
        container: common.container,
        not_in_container: common.not_in_container,
        profile: common.profile,
    };
    from_url(parts, &addr, &path, "addr", problems)
}

/// Builds a Redis target from a URL, moving any password out of the URL into a [`Secret`].
/// `path` and `key` name where the URL came from (`redis[0] (name "a")` and `addr`, or
/// the flag `--redis.addr` and no key).
fn from_url(
    parts: Parts,
    url: &str,
    path: &str,
    key: &str,
    problems: &mut Vec<Problem>,
) -> Option<RedisTarget> {
    let raw_shown = redact_unparsed_url(url);
    let at = |message: String| {
        if key.is_empty() {
            Problem::new(path, message)
        } else {
            Problem::at(path, key, message)
        }
    };
    if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
        if parts.name.is_some() {
            problems.push(at(format!(
                "{raw_shown:?} must start with redis:// or rediss://"
            )));
        } else {
            // A flag value is not echoed: it may be the tail of a password cut off at
            // the `,` list separator.
            problems.push(at(
                "a value (not shown) must start with redis:// or rediss://; \
                 a ',' separates addresses, so a password containing one must write it as %2C"
                    .to_string(),
            ));
        }
        return None;
    }
    if let Some(reason) = ambiguous_url(url) {
        problems.push(at(format!(
            "redis address {raw_shown:?} is ambiguous: {reason}; {URL_HINT}"
        )));
        return None;
    }
    let mut parsed = match url::Url::parse(url) {
        Ok(u) => u,
        Err(e) => {
            problems.push(at(format!("redis address {raw_shown:?}: {e}")));
            return None;
        }
    };
    let url_password = match parsed.password().filter(|p| !p.is_empty()) {
        None => None,
        Some(p) => match percent_encoding::percent_decode_str(p).decode_utf8() {
            Ok(p) => Some(p.into_owned()),
            Err(_) => {
                problems.push(at(format!(
                    "redis address {raw_shown:?}: the password is not valid UTF-8 once percent-decoded"
                )));
                return None;
            }
        },
    };
    // Cannot fail on a URL with a host, and a URL without one is reported just below.
    let _ = parsed.set_password(None);
    let shown = parsed.to_string();
    let Some(host) = parsed.host_str().filter(|h| !h.is_empty()) else {
        problems.push(at(format!("redis address {shown:?}: missing host")));
        return None;
    };
    if let Err(e) = ::redis::IntoConnectionInfo::into_connection_info(shown.as_str()) {
        problems.push(at(format!("redis address {shown:?}: {e}")));
        return None;
    }
    let tls = parts.tls;
    if (tls.ca_file.is_some() || tls.cert_file.is_some() || tls.insecure_skip_verify)
        && parsed.scheme() != "rediss"
    {
        problems.push(at(format!(
            "redis address {shown:?}: tls settings need a rediss:// address"
        )));
    }
    let password = parts.password.or(url_password.map(Secret::new));
    let name = parts
        .name
        .unwrap_or_else(|| format!("{host}:{}", parsed.port().unwrap_or(6379)));
    Some(RedisTarget {
        name,
        url: shown,
        password,
        tls,
        timeout: parts.timeout,
        container: parts.container,
        not_in_container: parts.not_in_container,
        profile: parts.profile,
        pinned_addr: None,
    })
}

/// How to write a password so a connection URL stays unambiguous.
pub(crate) const URL_HINT: &str = "if the password contains special characters, \
     percent-encode them ('@' as %40, '#' as %23, '/' as %2F, '?' as %3F, ':' as %3A, \
     '%' as %25, a space as %20) or move the password to password_file \
     (--redis.password-file / --postgres.password-file)";

/// Characters percent-encoded in a username put into a URL (RFC 3986 `userinfo`, minus `:`).
const USERINFO_ENCODE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
