//! PostgreSQL targets: `postgres:` entries of the file, `--postgres.dsn` flags (and
//! `DATA_SOURCE_NAME`) and `/probe` requests become [`PostgresTarget`]s. DSNs are libpq
//! URLs or `key=value` strings; the password moves into a [`Secret`], and `sslmode`
//! `verify-ca`/`verify-full` (which tokio-postgres does not know) is taken out for rustls.

use super::file::Entry;
use super::profile::Profile;
use super::redis::URL_HINT;
use super::{DEFAULT_TARGET_TIMEOUT, Env, MAX_STATEMENTS_TOP_N, MAX_TIMEOUT, Problem, entry_path};
use crate::cli::Cli;
use crate::secret::{
    Secret, ambiguous_keyword_dsn, ambiguous_url, keyword_pairs, redact_unparsed_url, sanitize_url,
};
use serde_yaml_ng::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Default of `size_interval` / `--postgres.size-interval`.
pub const DEFAULT_SIZE_INTERVAL: Duration = Duration::from_secs(60);

/// Upper bound of `size_interval`: sizes older than a day are not worth serving.
pub const MAX_SIZE_INTERVAL: Duration = Duration::from_secs(24 * 3600);

/// TLS mode for PostgreSQL, named as libpq's `sslmode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PgSslMode {
    /// Plain TCP.
    Disable,
    /// TLS when the server offers it, plain otherwise (libpq's default).
    Prefer,
    /// TLS without certificate verification.
    Require,
    /// TLS, the certificate must chain to the CA file.
    VerifyCa,
    /// TLS, chain and host name verified.
    VerifyFull,
}

impl PgSslMode {
    /// The modes by their libpq names (`allow` is read as `disable`, as it was before).
    pub const NAMES: &'static [(&'static str, PgSslMode)] = &[
        ("disable", PgSslMode::Disable),
        ("allow", PgSslMode::Disable),
        ("prefer", PgSslMode::Prefer),
        ("require", PgSslMode::Require),
        ("verify-ca", PgSslMode::VerifyCa),
        ("verify-full", PgSslMode::VerifyFull),
    ];

    /// The mode named `s`, if any.
    pub fn from_name(s: &str) -> Option<PgSslMode> {
        PgSslMode::NAMES
            .iter()
            .find(|(n, _)| *n == s)
            .map(|(_, m)| *m)
    }
}

/// One PostgreSQL server to scrape.
#[derive(Clone, Debug, PartialEq)]
pub struct PostgresTarget {
    /// Value of the `target` label: the config name, or `host:port/db` for flag targets.
    pub name: String,
    /// The DSN with any password removed (URL or key/value form).
    pub dsn: String,
    /// Password (from file, env, or the DSN); never printed.
    pub password: Option<Secret>,
    /// TLS mode; overrides `sslmode` in the DSN when set in the config file.
    pub ssl_mode: Option<PgSslMode>,
    /// CA bundle for `verify-ca`/`verify-full`.
    pub ca_file: Option<PathBuf>,
    /// Per-target connect and query timeout, further capped by the scrape deadline.
    pub timeout: Duration,
    /// Server log file whose `duration:` lines are counted as slow queries.
    pub log_file: Option<PathBuf>,
    /// Threshold for slow queries when the server's `log_min_duration_statement` is off.
    pub slow_query_threshold: Duration,
    /// How many pg_stat_statements entries (by total time) to export.
    pub statements_top_n: usize,
    /// How often database sizes (`pg_database_size()`) and the WAL directory size are
    /// refreshed in the background; scrapes serve the last refresh.
    pub size_interval: Duration,
    /// Docker container this server runs in, when it cannot be found automatically.
    pub container: Option<String>,
    /// Declared not to run in a container (`in_container: false`,
    /// `--postgres.not-in-container`): no container is looked for.
    pub not_in_container: bool,
    /// The persistence profile its checks are evaluated against (overrides applied).
    pub profile: Profile,
    /// Address to connect to instead of resolving the DSN's host (libpq's `hostaddr`).
    /// `/probe` sets it to the address it checked against the allow-list; the host name
    /// still serves TLS verification and display.
    pub pinned_addr: Option<std::net::SocketAddr>,
}

/// What the `--postgres.dsn` targets share.
pub(crate) struct FlagTargets<'a> {
    /// `--postgres.password-file` or `DATA_SOURCE_PASS`.
    pub(crate) password: Option<Secret>,
    /// `--profile`.
    pub(crate) profile: Profile,
    /// The other flags (log file, slow-query threshold, not-in-container).
    pub(crate) cli: &'a Cli,
}

impl FlagTargets<'_> {
    /// The target of one DSN given by `flag`.
    pub(crate) fn target(
        &self,
        dsn: &str,
        flag: &str,
        problems: &mut Vec<Problem>,
    ) -> Option<PostgresTarget> {
        let t = PostgresTarget {
            name: String::new(),
            dsn: dsn.to_string(),
            password: self.password.clone(),
            ssl_mode: None,
            ca_file: None,
            timeout: DEFAULT_TARGET_TIMEOUT,
            log_file: self.cli.postgres_log_file.clone(),
            slow_query_threshold: self.cli.postgres_slow_query_threshold,
            statements_top_n: 10,
            size_interval: self.cli.postgres_size_interval,
            container: None,
            not_in_container: self.cli.postgres_not_in_container,
            profile: self.profile.clone(),
            pinned_addr: None,
        };
        finish(t, flag, "", problems)
    }
}

/// Builds the PostgreSQL target a `/probe` request names (the address was validated).
#[allow(clippy::too_many_arguments)]
pub fn probe_postgres_target(
    addr: &str,
    user: &str,
    database: &str,
    password: Option<Secret>,
    ssl_mode: Option<PgSslMode>,
    ca_file: Option<PathBuf>,
    timeout: Duration,
    profile: Profile,
    slow_query_threshold: Duration,
) -> Option<PostgresTarget> {
    finish(
        PostgresTarget {
            name: addr.to_string(),
            dsn: format!("postgresql://{user}@{addr}/{database}"),
            password,
            ssl_mode,
            ca_file,
            timeout,
            log_file: None,
            slow_query_threshold,
            statements_top_n: 10,
            size_interval: DEFAULT_SIZE_INTERVAL,
            container: None,
            not_in_container: false,
            profile,
            pinned_addr: None,
        },
        "/probe",
        "",
        &mut Vec::new(),
    )
}

/// `sslmode` and `ca_file` of an entry, checked together.
pub(crate) fn tls_from(e: &mut Entry<'_>) -> (Option<PgSslMode>, Option<PathBuf>) {
    let mode = e.choice("sslmode", PgSslMode::NAMES);
    let ca_file = e.get::<PathBuf>("ca_file");
    if matches!(mode, Some(PgSslMode::VerifyCa | PgSslMode::VerifyFull)) && ca_file.is_none() {
        e.problem("sslmode", "verify-ca and verify-full need ca_file");
    }
    if let Some(ca) = &ca_file
        && let Err(err) = std::fs::metadata(ca)
    {
        e.problem("ca_file", format!("{}: {err}", ca.display()));
    }
    (mode, ca_file)
}

/// One `postgres:` entry of the file.
pub(crate) fn from_file(
    i: usize,
    v: &Value,
    cli: &Cli,
    env: &dyn Env,
    problems: &mut Vec<Problem>,
    restarts: &mut BTreeMap<String, super::restarts::TargetRestarts>,
) -> Option<PostgresTarget> {
    let mut e = Entry::new(v, &entry_path("postgres", i, None), "", problems)?;
    let name = e.string("name");
    match &name {
        Some(n) if !n.trim().is_empty() => e.set_path(entry_path("postgres", i, Some(n))),
        Some(_) => e.problem("name", "must not be empty"),
        None => e.problem("name", "missing (every target needs a name)"),
    }
    let path = e.path().to_string();
    let dsn = e.string("dsn");
    if dsn.is_none() {
        e.problem(
            "dsn",
            "missing (postgresql://user@host:port/db or host=... user=...)",
        );
    }
    let (ssl_mode, ca_file) = tls_from(&mut e);
    let timeout = e
        .duration("timeout", MAX_TIMEOUT)
        .unwrap_or(DEFAULT_TARGET_TIMEOUT);
    let log_file = e.get::<PathBuf>("log_file");
    let slow_query_threshold = e
        .duration("slow_query_threshold", MAX_TIMEOUT)
        .unwrap_or(cli.postgres_slow_query_threshold);
    let statements_top_n = e.get::<usize>("statements_top_n").unwrap_or(10);
    if statements_top_n > MAX_STATEMENTS_TOP_N {
        e.problem(
            "statements_top_n",
            format!("{statements_top_n} is above the limit of {MAX_STATEMENTS_TOP_N}"),
        );
    }
    let size_interval = e
        .duration("size_interval", MAX_SIZE_INTERVAL)
        .unwrap_or(cli.postgres_size_interval);
    let common = super::finish_entry(
        e,
        super::restarts::System::Postgres,
        name.as_deref(),
        env,
        problems,
        restarts,
    );
    let t = PostgresTarget {
        name: name.unwrap_or_default(),
        dsn: dsn?,
        password: common.password,
        ssl_mode,
        ca_file,
        timeout,
        log_file,
        slow_query_threshold,
        statements_top_n: statements_top_n.min(MAX_STATEMENTS_TOP_N),
        size_interval,
        container: common.container,
        not_in_container: common.not_in_container,
        profile: common.profile,
        pinned_addr: None,
    };
    finish(t, &path, "dsn", problems)
}

/// Validates a PostgreSQL DSN, moves its password into a [`Secret`] and names the target.
/// `path` and `key` say where the DSN came from.
fn finish(
    mut t: PostgresTarget,
    path: &str,
    key: &str,
    problems: &mut Vec<Problem>,
) -> Option<PostgresTarget> {
    let at = |message: String| {
        if key.is_empty() {
            Problem::new(path, message)
        } else {
            Problem::at(path, key, message)
        }
    };
    let is_url = t.dsn.contains("://");
    let raw_shown = redact_unparsed_url(&t.dsn);
    let ambiguity = if is_url {
        ambiguous_url(&t.dsn)
    } else {
        ambiguous_keyword_dsn(&t.dsn)
    };
    if let Some(reason) = ambiguity {
        let hint = if is_url { URL_HINT } else { KEYWORD_HINT };
        problems.push(at(format!(
            "postgres DSN {raw_shown:?} is ambiguous: {reason}; {hint}"
        )));
        return None;
    }
    // verify-ca/verify-full are handled by us through rustls; tokio-postgres rejects them.
    let (dsn_for_parse, dsn_mode) = split_sslmode(&t.dsn);
    let parsed: tokio_postgres::Config = match dsn_for_parse.parse() {
        Ok(c) => c,
        Err(e) => {
            problems.push(at(format!("postgres DSN {raw_shown:?}: {e}")));
            return None;
        }
    };
    let shown = sanitize_url(&t.dsn);
    if t.ssl_mode.is_none() {
        t.ssl_mode = dsn_mode;
    }
    if t.password.is_none()
        && let Some(p) = parsed.get_password()
    {
        t.password = Some(Secret::new(String::from_utf8_lossy(p).into_owned()));
    }
    if t.name.is_empty() {
        let host = parsed
            .get_hosts()
            .first()
            .map(|h| match h {
                tokio_postgres::config::Host::Tcp(h) => h.clone(),
                tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
            })
            .unwrap_or_else(|| "localhost".to_string());
        let port = parsed.get_ports().first().copied().unwrap_or(5432);
        let db = parsed
            .get_dbname()
            .or(parsed.get_user())
            .unwrap_or("postgres");
        t.name = format!("{host}:{port}/{db}");
    }
    t.dsn = shown;
    Some(t)
}

/// How to write a password so a key=value DSN stays unambiguous.
const KEYWORD_HINT: &str = "quote a value that contains spaces (password='my secret', with \\' \
     for a quote inside) or move the password to password_file (--postgres.password-file)";

/// Takes `sslmode` out of a DSN (URL or key/value) so tokio-postgres, which does not know
/// `verify-ca`/`verify-full`, can parse the rest; returns the mode found.
pub fn split_sslmode(dsn: &str) -> (String, Option<PgSslMode>) {
    if dsn.contains("://") {
        if let Some(q) = dsn.find('?') {
            let (head, query) = dsn.split_at(q);
            let mut mode = None;
            let kept: Vec<&str> = query
                .strip_prefix('?')
                .unwrap_or(query)
                .split('&')
                .filter(|kv| match kv.strip_prefix("sslmode=") {
                    Some(v) => {
                        mode = PgSslMode::from_name(v);
                        false
                    }
                    None => true,
                })
                .collect();
            let rebuilt = if kept.is_empty() {
                head.to_string()
            } else {
                format!("{head}?{}", kept.join("&"))
            };
            return (rebuilt, mode);
        }
        return (dsn.to_string(), None);
    }
    // Key/value form: rebuilt pair by pair, values as written (quotes and the spaces or
    // tabs inside them kept).
    let mut mode = None;
    let kept: Vec<String> = keyword_pairs(dsn)
        .0
        .into_iter()
        .filter(|p| {
            if p.key == "sslmode" {
                mode = PgSslMode::from_name(p.value.trim_matches('\''));
                false
            } else {
                true
            }
        })
        .map(|p| format!("{}={}", p.key, p.value))
        .collect();
    (kept.join(" "), mode)
}
