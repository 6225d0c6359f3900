//! Configuration: the YAML file (`--config.file`) merged with the flags into [`Settings`].
//! Loading validates everything and reports every problem at once, so `--config.check`
//! and start-up both print the full list.

pub mod profile;
pub mod restarts;

use crate::cli::Cli;
use crate::secret::{
    Secret, ambiguous_keyword_dsn, ambiguous_url, keyword_pairs, redact_unparsed_url, sanitize_url,
};
use profile::{CheckOverride, DEFAULT_PROFILE, Profile};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Default Redis address watched when nothing at all is configured.
pub const DEFAULT_REDIS_ADDR: &str = "redis://localhost:6379";
/// Default PostgreSQL DSN watched when nothing at all is configured.
pub const DEFAULT_POSTGRES_DSN: &str = "postgresql://postgres@localhost:5432/postgres";
/// Default Docker Engine endpoint.
pub const DEFAULT_DOCKER_HOST: &str = "unix:///var/run/docker.sock";

/// Everything the exporter needs to run, resolved from flags, env and the config file.
#[derive(Clone, Debug)]
pub struct Settings {
    /// HTTP server settings.
    pub web: WebSettings,
    /// Upper bound for one scrape of all targets.
    pub scrape_timeout: Duration,
    /// Upper bound on the bytes one scrape reads from a Redis or PostgreSQL server.
    pub max_reply_bytes: u64,
    /// Redis targets, in configuration order.
    pub redis: Vec<RedisTarget>,
    /// PostgreSQL targets, in configuration order.
    pub postgres: Vec<PostgresTarget>,
    /// The Docker Engine to inspect, if any.
    pub docker: Option<DockerTarget>,
    /// Modules and allow-list for `/probe` (multi-target mode).
    pub probe: ProbeSettings,
    /// Restart tracking: the state file, per-target recovery ratio and write canary.
    pub restarts: restarts::RestartSettings,
}

/// `/probe` settings: credentials live in modules, targets must match the allow-list, so
/// the exporter never becomes an open proxy and credentials never travel in URLs.
#[derive(Clone, Debug, Default)]
pub struct ProbeSettings {
    /// `allowed_targets`, parsed: the networks (CIDR, with ports) and host names a
    /// probed target must be in (grammar in [`crate::http::allow_list`]).
    pub allowed_targets: crate::http::allow_list::AllowList,
    /// Module name → target template.
    pub modules: BTreeMap<String, ProbeModule>,
}

/// A target template for `/probe`: everything but the address.
#[derive(Clone, Debug)]
pub enum ProbeModule {
    /// Redis targets: `redis://[username@]<target>` (or `rediss://` with `tls`).
    Redis {
        /// ACL user, if any.
        username: Option<String>,
        /// Password, never printed.
        password: Option<Secret>,
        /// TLS client settings; `Some` means `rediss://`.
        tls: Option<RedisTls>,
        /// Per-target timeout.
        timeout: Duration,
        /// Persistence profile.
        profile: Profile,
    },
    /// PostgreSQL targets: `postgresql://<user>@<target>/<database>`.
    Postgres {
        /// Role to log in as.
        user: String,
        /// Database to connect to.
        database: String,
        /// Password, never printed.
        password: Option<Secret>,
        /// TLS mode.
        ssl_mode: Option<PgSslMode>,
        /// CA bundle for verify modes.
        ca_file: Option<PathBuf>,
        /// Per-target timeout.
        timeout: Duration,
        /// Persistence profile.
        profile: Profile,
    },
}

impl Settings {
    /// Target name → persistence profile, for every Redis and PostgreSQL target.
    pub fn profiles(&self) -> BTreeMap<String, Profile> {
        self.redis
            .iter()
            .map(|t| (t.name.clone(), t.profile.clone()))
            .chain(
                self.postgres
                    .iter()
                    .map(|t| (t.name.clone(), t.profile.clone())),
            )
            .collect()
    }
}

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
    /// The persistence profile its checks are evaluated against (overrides applied).
    pub profile: Profile,
    /// Address to connect to instead of resolving the URL's host. `/probe` sets it to the
    /// address it resolved and checked against the allow-list, so a name cannot re-resolve
    /// elsewhere between the check and the connect; the host name still serves TLS (SNI)
    /// and display.
    pub pinned_addr: Option<std::net::SocketAddr>,
}

/// TLS mode for PostgreSQL, named as libpq's `sslmode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
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
    /// Docker container this server runs in, when it cannot be found automatically.
    pub container: Option<String>,
    /// The persistence profile its checks are evaluated against (overrides applied).
    pub profile: Profile,
    /// Address to connect to instead of resolving the DSN's host (libpq's `hostaddr`).
    /// `/probe` sets it to the address it checked against the allow-list; the host name
    /// still serves TLS verification and display.
    pub pinned_addr: Option<std::net::SocketAddr>,
}

/// The Docker Engine to inspect.
#[derive(Clone, Debug, PartialEq)]
pub struct DockerTarget {
    /// `unix:///path` or `tcp://host:port`.
    pub host: String,
    /// Interval of the background `/system/df` refresh.
    pub disk_usage_interval: Duration,
    /// Timeout of each Engine API call.
    pub timeout: Duration,
}

/// Hard upper bound for `statements_top_n`: keeps pg_stat_statements cardinality bounded.
pub const MAX_STATEMENTS_TOP_N: usize = 100;
/// Default per-target timeout.
pub const DEFAULT_TARGET_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest timeout or threshold accepted (scrape, target, Docker call, slow query): 24h.
/// Deadlines are `now + timeout`, so this also keeps that sum far from overflowing.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
/// Longest background interval accepted (`disk_usage_interval`): 365 days.
pub const MAX_INTERVAL: Duration = Duration::from_secs(365 * 24 * 3600);

/// Every problem found while loading the configuration.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
pub struct ConfigErrors(pub Vec<String>);

// ---- the YAML file ---------------------------------------------------------------

/// Top level of the YAML file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    scrape_timeout: Option<String>,
    max_reply_bytes: Option<u64>,
    #[serde(default)]
    redis: Vec<serde_yaml_ng::Value>,
    #[serde(default)]
    postgres: Vec<serde_yaml_ng::Value>,
    docker: Option<serde_yaml_ng::Value>,
    probe: Option<serde_yaml_ng::Value>,
    /// `--state.file` (restart tracking).
    state_file: Option<PathBuf>,
}

const TOP_KEYS: &[&str] = &[
    "scrape_timeout",
    "max_reply_bytes",
    "redis",
    "postgres",
    "docker",
    "probe",
    "state_file",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProbeFile {
    #[serde(default)]
    allowed_targets: Vec<String>,
    #[serde(default)]
    modules: BTreeMap<String, serde_yaml_ng::Value>,
}

const PROBE_KEYS: &[&str] = &["allowed_targets", "modules"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProbeModuleFile {
    kind: String,
    username: Option<String>,
    user: Option<String>,
    database: Option<String>,
    password_file: Option<PathBuf>,
    password_env: Option<String>,
    tls: Option<TlsFile>,
    sslmode: Option<PgSslMode>,
    ca_file: Option<PathBuf>,
    timeout: Option<String>,
    profile: Option<String>,
    #[serde(default)]
    checks: BTreeMap<String, CheckOverride>,
}

const PROBE_MODULE_KEYS: &[&str] = &[
    "kind",
    "username",
    "user",
    "database",
    "password_file",
    "password_env",
    "tls",
    "sslmode",
    "ca_file",
    "timeout",
    "profile",
    "checks",
];

fn probe_from_file(
    v: &serde_yaml_ng::Value,
    env: &dyn Env,
    errors: &mut Vec<String>,
) -> ProbeSettings {
    let Some(f) = item::<ProbeFile>(v, PROBE_KEYS, "probe", errors) else {
        return ProbeSettings::default();
    };
    let mut modules = BTreeMap::new();
    for (name, mv) in &f.modules {
        let path = format!("probe.modules.{name}");
        let Some(m) = item::<ProbeModuleFile>(mv, PROBE_MODULE_KEYS, &path, errors) else {
            continue;
        };
        let password = password_from(
            m.password_file.as_deref(),
            m.password_env.as_deref(),
            &path,
            env,
            errors,
        );
        let timeout = target_timeout(m.timeout.as_deref(), &path, errors);
        let profile = resolve_profile(m.profile.as_deref(), &m.checks, &path, errors);
        let module = match m.kind.as_str() {
            "redis" => ProbeModule::Redis {
                username: m.username,
                password,
                tls: m.tls.map(RedisTls::from),
                timeout,
                profile,
            },
            "postgres" => ProbeModule::Postgres {
                user: m.user.unwrap_or_else(|| "postgres".to_string()),
                database: m.database.unwrap_or_else(|| "postgres".to_string()),
                password,
                ssl_mode: m.sslmode,
                ca_file: m.ca_file,
                timeout,
                profile,
            },
            other => {
                errors.push(format!("{path}.kind: {other:?} is not redis or postgres"));
                continue;
            }
        };
        modules.insert(name.clone(), module);
    }
    let allowed_targets = match crate::http::allow_list::AllowList::parse(&f.allowed_targets) {
        Ok(list) => list,
        Err(bad) => {
            errors.extend(
                bad.into_iter()
                    .map(|e| format!("probe.allowed_targets: {e}")),
            );
            crate::http::allow_list::AllowList::default()
        }
    };
    if !modules.is_empty() && f.allowed_targets.is_empty() {
        errors.push(
            "probe.allowed_targets: must list the networks (CIDR) or host names that may be probed"
                .to_string(),
        );
    }
    ProbeSettings {
        allowed_targets,
        modules,
    }
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
    let mut errors = Vec::new();
    redis_from_url(
        Some(addr.to_string()),
        &format!("{scheme}://{user}{addr}"),
        password,
        tls.unwrap_or_default(),
        timeout,
        None,
        profile,
        &mut errors,
    )
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
    let mut errors = Vec::new();
    finish_postgres(
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
            container: None,
            profile,
            pinned_addr: None,
        },
        &mut errors,
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RedisFile {
    name: String,
    addr: String,
    username: Option<String>,
    password_file: Option<PathBuf>,
    password_env: Option<String>,
    #[serde(default)]
    tls: TlsFile,
    timeout: Option<String>,
    container: Option<String>,
    profile: Option<String>,
    #[serde(default)]
    checks: BTreeMap<String, CheckOverride>,
    // Restart tracking: read from the raw item by `restarts::resolve`.
    #[allow(dead_code)]
    canary: Option<serde_yaml_ng::Value>,
    #[allow(dead_code)]
    min_recovered_ratio: Option<serde_yaml_ng::Value>,
}

const REDIS_KEYS: &[&str] = &[
    "canary",
    "min_recovered_ratio",
    "profile",
    "checks",
    "name",
    "addr",
    "username",
    "password_file",
    "password_env",
    "tls",
    "timeout",
    "container",
];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsFile {
    ca_file: Option<PathBuf>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    #[serde(default)]
    insecure_skip_verify: bool,
}

impl From<TlsFile> for RedisTls {
    fn from(t: TlsFile) -> RedisTls {
        RedisTls {
            ca_file: t.ca_file,
            cert_file: t.cert_file,
            key_file: t.key_file,
            insecure_skip_verify: t.insecure_skip_verify,
        }
    }
}

const TLS_KEYS: &[&str] = &["ca_file", "cert_file", "key_file", "insecure_skip_verify"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PostgresFile {
    name: String,
    dsn: String,
    password_file: Option<PathBuf>,
    password_env: Option<String>,
    sslmode: Option<PgSslMode>,
    ca_file: Option<PathBuf>,
    timeout: Option<String>,
    log_file: Option<PathBuf>,
    slow_query_threshold: Option<String>,
    statements_top_n: Option<usize>,
    container: Option<String>,
    profile: Option<String>,
    #[serde(default)]
    checks: BTreeMap<String, CheckOverride>,
    // Restart tracking: read from the raw item by `restarts::resolve`.
    #[allow(dead_code)]
    canary: Option<serde_yaml_ng::Value>,
    #[allow(dead_code)]
    min_recovered_ratio: Option<serde_yaml_ng::Value>,
}

const POSTGRES_KEYS: &[&str] = &[
    "canary",
    "min_recovered_ratio",
    "profile",
    "checks",
    "name",
    "dsn",
    "password_file",
    "password_env",
    "sslmode",
    "ca_file",
    "timeout",
    "log_file",
    "slow_query_threshold",
    "statements_top_n",
    "container",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DockerFile {
    host: Option<String>,
    disk_usage_interval: Option<String>,
    timeout: Option<String>,
}

const DOCKER_KEYS: &[&str] = &["host", "disk_usage_interval", "timeout"];

/// Environment the configuration is resolved against (injected so tests need not mutate
/// the process environment).
pub trait Env {
    /// Value of an environment variable, if set and valid UTF-8.
    fn var(&self, key: &str) -> Option<String>;
}

/// The real process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, key: &str) -> Option<String> {
        std::env::var(key).ok().filter(|v| !v.is_empty())
    }
}

/// Resolves flags, env and config file into [`Settings`], collecting every problem.
pub fn load(cli: &Cli, env: &dyn Env) -> Result<Settings, ConfigErrors> {
    let mut errors = Vec::new();
    let file = match &cli.config_file {
        Some(path) => read_file(path, &mut errors),
        None => FileConfig::default(),
    };

    let scrape_timeout = match &file.scrape_timeout {
        Some(s) => duration_or(
            s,
            "scrape_timeout",
            cli.scrape_timeout,
            MAX_TIMEOUT,
            &mut errors,
        ),
        None => {
            check_max(
                cli.scrape_timeout,
                "--scrape.timeout",
                MAX_TIMEOUT,
                &mut errors,
            );
            cli.scrape_timeout
        }
    };
    check_max(
        cli.postgres_slow_query_threshold,
        "--postgres.slow-query-threshold",
        MAX_TIMEOUT,
        &mut errors,
    );
    check_max(
        cli.docker_disk_usage_interval,
        "--docker.disk-usage-interval",
        MAX_INTERVAL,
        &mut errors,
    );
    if scrape_timeout.is_zero() {
        errors.push("scrape timeout must be greater than zero".to_string());
    }
    let max_reply_bytes = file.max_reply_bytes.unwrap_or(cli.max_reply_bytes);
    if max_reply_bytes == 0 {
        errors.push(
            "max_reply_bytes (--collector.max-reply-bytes) must be greater than zero".to_string(),
        );
    }

    let mut redis = Vec::new();
    for (i, v) in file.redis.iter().enumerate() {
        if let Some(t) = redis_from_file(i, v, env, &mut errors) {
            redis.push(t);
        }
    }
    let mut postgres = Vec::new();
    for (i, v) in file.postgres.iter().enumerate() {
        if let Some(t) = postgres_from_file(i, v, cli, env, &mut errors) {
            postgres.push(t);
        }
    }
    let probe = file
        .probe
        .as_ref()
        .map(|v| probe_from_file(v, env, &mut errors))
        .unwrap_or_default();
    let flag_profile = resolve_profile(
        cli.profile.as_deref(),
        &BTreeMap::new(),
        "--profile",
        &mut errors,
    );
    let mut docker = file
        .docker
        .as_ref()
        .and_then(|v| docker_from_file(v, cli, env, &mut errors));

    // Flag targets.
    let redis_flag_password = flag_password(
        cli.redis_password_file.as_deref(),
        "REDIS_PASSWORD",
        "--redis.password-file",
        env,
        &mut errors,
    );
    for addr in &cli.redis_addr {
        if let Some(t) = redis_from_url(
            None,
            addr,
            redis_flag_password.clone(),
            RedisTls::default(),
            DEFAULT_TARGET_TIMEOUT,
            None,
            flag_profile.clone(),
            &mut errors,
        ) {
            redis.push(t);
        }
    }
    let pg_flag_password = flag_password(
        cli.postgres_password_file.as_deref(),
        "DATA_SOURCE_PASS",
        "--postgres.password-file",
        env,
        &mut errors,
    );
    let mut dsns = cli.postgres_dsn.clone();
    if dsns.is_empty()
        && let Some(dsn) = env.var("DATA_SOURCE_NAME")
    {
        dsns.extend(dsn.split(',').map(str::to_string));
    }
    for dsn in &dsns {
        let t = PostgresTarget {
            name: String::new(),
            dsn: dsn.clone(),
            password: pg_flag_password.clone(),
            ssl_mode: None,
            ca_file: None,
            timeout: DEFAULT_TARGET_TIMEOUT,
            log_file: cli.postgres_log_file.clone(),
            slow_query_threshold: cli.postgres_slow_query_threshold,
            statements_top_n: 10,
            container: None,
            profile: flag_profile.clone(),
            pinned_addr: None,
        };
        if let Some(t) = finish_postgres(t, &mut errors) {
            postgres.push(t);
        }
    }
    if docker.is_none() && cli.docker_host.is_some() {
        docker = Some(DockerTarget {
            host: cli.docker_host.clone().unwrap_or_default(),
            disk_usage_interval: cli.docker_disk_usage_interval,
            timeout: DEFAULT_TARGET_TIMEOUT,
        });
    }

    // Nothing configured at all: watch the local defaults.
    let nothing = cli.config_file.is_none()
        && cli.redis_addr.is_empty()
        && dsns.is_empty()
        && cli.docker_host.is_none();
    if nothing {
        if let Some(t) = redis_from_url(
            None,
            DEFAULT_REDIS_ADDR,
            redis_flag_password,
            RedisTls::default(),
            DEFAULT_TARGET_TIMEOUT,
            None,
            flag_profile.clone(),
            &mut errors,
        ) {
            redis.push(t);
        }
        let t = PostgresTarget {
            name: String::new(),
            dsn: DEFAULT_POSTGRES_DSN.to_string(),
            password: pg_flag_password,
            ssl_mode: None,
            ca_file: None,
            timeout: DEFAULT_TARGET_TIMEOUT,
            log_file: cli.postgres_log_file.clone(),
            slow_query_threshold: cli.postgres_slow_query_threshold,
            statements_top_n: 10,
            container: None,
            profile: flag_profile.clone(),
            pinned_addr: None,
        };
        if let Some(t) = finish_postgres(t, &mut errors) {
            postgres.push(t);
        }
        docker = Some(DockerTarget {
            host: env
                .var("DOCKER_HOST")
                .unwrap_or_else(|| DEFAULT_DOCKER_HOST.to_string()),
            disk_usage_interval: cli.docker_disk_usage_interval,
            timeout: DEFAULT_TARGET_TIMEOUT,
        });
    }
    if let Some(d) = &docker {
        validate_docker_host(&d.host, &mut errors);
    }

    // Target names are label values: they must be unique.
    let mut seen = BTreeSet::new();
    for name in redis
        .iter()
        .map(|t| &t.name)
        .chain(postgres.iter().map(|t| &t.name))
    {
        if !seen.insert(name.clone()) {
            errors.push(format!("target name {name:?} is used more than once"));
        }
    }
    if !cli.telemetry_path.starts_with('/') {
        errors.push(format!(
            "--web.telemetry-path {:?} must start with '/'",
            cli.telemetry_path
        ));
    }
    if crate::http::parse_listen_address(&cli.listen_address).is_err() {
        errors.push(format!(
            "--web.listen-address {:?} is not host:port or :port",
            cli.listen_address
        ));
    }

    if let Some(w) = &cli.web_config_file
        && let Err(e) = crate::http::web_config::WebConfig::load(w)
    {
        errors.extend(e);
    }
    // Restart tracking: the file items by name, the flag targets by what is left.
    let file_names: BTreeSet<&str> = file
        .redis
        .iter()
        .chain(&file.postgres)
        .filter_map(|v| v.get("name").and_then(|n| n.as_str()))
        .collect();
    let flag_names = |names: Vec<&String>| -> Vec<String> {
        names
            .into_iter()
            .filter(|n| !file_names.contains(n.as_str()))
            .cloned()
            .collect()
    };
    let restarts = restarts::resolve(
        file.state_file.clone(),
        &file.redis,
        &file.postgres,
        cli,
        &flag_names(redis.iter().map(|t| &t.name).collect()),
        &flag_names(postgres.iter().map(|t| &t.name).collect()),
        &mut errors,
    );
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    Ok(Settings {
        web: WebSettings {
            listen_address: cli.listen_address.clone(),
            telemetry_path: cli.telemetry_path.clone(),
            max_requests: cli.max_requests,
            config_file: cli.web_config_file.clone(),
        },
        scrape_timeout,
        max_reply_bytes,
        redis,
        postgres,
        docker,
        probe,
        restarts,
    })
}

fn read_file(path: &Path, errors: &mut Vec<String>) -> FileConfig {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            errors.push(format!("cannot read config file {}: {e}", path.display()));
            return FileConfig::default();
        }
    };
    let value: serde_yaml_ng::Value = match serde_yaml_ng::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            errors.push(format!("config file {}: {e}", path.display()));
            return FileConfig::default();
        }
    };
    if value.is_null() {
        return FileConfig::default();
    }
    check_keys(&value, TOP_KEYS, "config", errors);
    let mut top = value.clone();
    if let Some(m) = top.as_mapping_mut() {
        m.retain(|k, _| k.as_str().is_some_and(|k| TOP_KEYS.contains(&k)));
    }
    match serde_yaml_ng::from_value::<FileConfig>(top) {
        Ok(f) => f,
        Err(e) => {
            errors.push(format!("config file {}: {e}", path.display()));
            FileConfig::default()
        }
    }
}

/// Reports every key of a mapping that is not in `allowed` (serde stops at the first).
fn check_keys(
    value: &serde_yaml_ng::Value,
    allowed: &[&str],
    path: &str,
    errors: &mut Vec<String>,
) {
    let Some(map) = value.as_mapping() else {
        errors.push(format!("{path}: expected a mapping"));
        return;
    };
    for key in map.keys() {
        match key.as_str() {
            Some(k) if allowed.contains(&k) => {}
            Some(k) => errors.push(format!(
                "{path}: unknown key {k:?} (known: {})",
                allowed.join(", ")
            )),
            None => errors.push(format!("{path}: keys must be strings")),
        }
    }
}

/// Deserialises one item after its keys were checked, keeping only the known keys so a
/// typo does not also hide type errors in the rest of the item.
fn item<T: serde::de::DeserializeOwned>(
    value: &serde_yaml_ng::Value,
    allowed: &[&str],
    path: &str,
    errors: &mut Vec<String>,
) -> Option<T> {
    check_keys(value, allowed, path, errors);
    let mut v = value.clone();
    if let Some(m) = v.as_mapping_mut() {
        m.retain(|k, _| k.as_str().is_some_and(|k| allowed.contains(&k)));
    } else {
        return None;
    }
    match serde_yaml_ng::from_value(v) {
        Ok(t) => Some(t),
        Err(e) => {
            errors.push(format!("{path}: {e}"));
            None
        }
    }
}

/// A target's `timeout`, or the default when it is not set.
fn target_timeout(value: Option<&str>, path: &str, errors: &mut Vec<String>) -> Duration {
    value
        .map(|s| {
            duration_or(
                s,
                &format!("{path}.timeout"),
                DEFAULT_TARGET_TIMEOUT,
                MAX_TIMEOUT,
                errors,
            )
        })
        .unwrap_or(DEFAULT_TARGET_TIMEOUT)
}

/// Parses a duration no longer than `max`; on error the problem is recorded and
/// `fallback` stands in, so loading goes on.
fn duration_or(
    s: &str,
    what: &str,
    fallback: Duration,
    max: Duration,
    errors: &mut Vec<String>,
) -> Duration {
    match crate::duration::parse(s) {
        Ok(d) => {
            check_max(d, what, max, errors);
            d.min(max)
        }
        Err(e) => {
            errors.push(format!("{what}: {e}"));
            fallback
        }
    }
}

/// Records an error when `d` is above `max`.
fn check_max(d: Duration, what: &str, max: Duration, errors: &mut Vec<String>) {
    if d > max {
        errors.push(format!(
            "{what}: {} is above the limit of {}",
            crate::duration::format(d),
            crate::duration::format(max)
        ));
    }
}

/// Reads a password from a file or an env var; both set is an error (which one wins?).
fn password_from(
    file: Option<&Path>,
    env_name: Option<&str>,
    what: &str,
    env: &dyn Env,
    errors: &mut Vec<String>,
) -> Option<Secret> {
    match (file, env_name) {
        (Some(_), Some(_)) => {
            errors.push(format!(
                "{what}: set password_file or password_env, not both"
            ));
            None
        }
        (Some(f), None) => match Secret::from_file(f) {
            Ok(s) => Some(s),
            Err(e) => {
                errors.push(format!("{what}: {e}"));
                None
            }
        },
        (None, Some(var)) => match env.var(var) {
            Some(v) => Some(Secret::new(v)),
            None => {
                errors.push(format!("{what}: environment variable {var} is not set"));
                None
            }
        },
        (None, None) => None,
    }
}

fn flag_password(
    file: Option<&Path>,
    env_var: &str,
    flag: &str,
    env: &dyn Env,
    errors: &mut Vec<String>,
) -> Option<Secret> {
    match file {
        Some(f) => match Secret::from_file(f) {
            Ok(s) => Some(s),
            Err(e) => {
                errors.push(format!("{flag}: {e}"));
                None
            }
        },
        None => env.var(env_var).map(Secret::new),
    }
}

fn redis_from_file(
    i: usize,
    v: &serde_yaml_ng::Value,
    env: &dyn Env,
    errors: &mut Vec<String>,
) -> Option<RedisTarget> {
    let path = format!("redis[{i}]");
    let f: RedisFile = item(v, REDIS_KEYS, &path, errors)?;
    let path = format!("redis[{i}] ({})", f.name);
    if let Some(tls) = v.get("tls") {
        check_keys(tls, TLS_KEYS, &format!("{path}.tls"), errors);
    }
    let password = password_from(
        f.password_file.as_deref(),
        f.password_env.as_deref(),
        &path,
        env,
        errors,
    );
    let timeout = target_timeout(f.timeout.as_deref(), &path, errors);
    let tls = RedisTls::from(f.tls);
    if tls.cert_file.is_some() != tls.key_file.is_some() {
        errors.push(format!("{path}.tls: cert_file and key_file go together"));
    }
    for file in [&tls.ca_file, &tls.cert_file, &tls.key_file]
        .into_iter()
        .flatten()
    {
        if let Err(e) = std::fs::metadata(file) {
            errors.push(format!("{path}.tls: {}: {e}", file.display()));
        }
    }
    let mut addr = f.addr.clone();
    if let Some(user) = &f.username {
        if addr.contains('@') {
            errors.push(format!(
                "{path}: username given both in addr and as username"
            ));
        } else if let Some((scheme, rest)) = addr.split_once("://") {
            // The username is a plain value: encode it so `:`, `@`, ... stay in it.
            let user = percent_encoding::utf8_percent_encode(user, USERINFO_ENCODE);
            addr = format!("{scheme}://{user}@{rest}");
        }
    }
    if f.name.trim().is_empty() {
        errors.push(format!("{path}: name must not be empty"));
    }
    redis_from_url(
        Some(f.name),
        &addr,
        password,
        tls,
        timeout,
        f.container,
        resolve_profile(f.profile.as_deref(), &f.checks, &path, errors),
        errors,
    )
}

/// Loads the named (or default) profile and applies per-target overrides; on error the
/// problem is recorded and the default profile stands in, so loading goes on.
fn resolve_profile(
    name: Option<&str>,
    overrides: &BTreeMap<String, CheckOverride>,
    origin: &str,
    errors: &mut Vec<String>,
) -> Profile {
    let loaded = Profile::load(name.unwrap_or(DEFAULT_PROFILE))
        .and_then(|p| p.with_overrides(overrides, origin));
    match loaded {
        Ok(p) => p,
        Err(e) => {
            errors.extend(e);
            Profile::load(DEFAULT_PROFILE).unwrap_or_else(|_| Profile {
                name: DEFAULT_PROFILE.to_string(),
                description: String::new(),
                checks: BTreeMap::new(),
            })
        }
    }
}

/// Builds a Redis target from a URL, moving any password out of the URL into a [`Secret`].
/// (Each argument is one independent part of a target; bundling them would only rename them.)
#[allow(clippy::too_many_arguments)]
fn redis_from_url(
    name: Option<String>,
    url: &str,
    password: Option<Secret>,
    tls: RedisTls,
    timeout: Duration,
    container: Option<String>,
    profile: Profile,
    errors: &mut Vec<String>,
) -> Option<RedisTarget> {
    let raw_shown = redact_unparsed_url(url);
    if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
        if name.is_some() {
            errors.push(format!(
                "redis address {raw_shown:?}: must start with redis:// or rediss://"
            ));
        } else {
            // A flag value is not echoed: it may be the tail of a password cut off at
            // the `,` list separator.
            errors.push(
                "a --redis.addr value (not shown) must start with redis:// or rediss://; \
                 a ',' separates addresses, so a password containing one must write it as %2C"
                    .to_string(),
            );
        }
        return None;
    }
    if let Some(reason) = ambiguous_url(url) {
        errors.push(ambiguity_error(
            "redis address",
            &raw_shown,
            reason,
            URL_HINT,
        ));
        return None;
    }
    let mut parsed = match url::Url::parse(url) {
        Ok(u) => u,
        Err(e) => {
            errors.push(format!("redis address {raw_shown:?}: {e}"));
            return None;
        }
    };
    let url_password = match parsed.password().filter(|p| !p.is_empty()) {
        None => None,
        Some(p) => match percent_encoding::percent_decode_str(p).decode_utf8() {
            Ok(p) => Some(p.into_owned()),
            Err(_) => {
                errors.push(format!(
                    "redis address {raw_shown:?}: the password is not valid UTF-8 once percent-decoded"
                ));
                return None;
            }
        },
    };
    // Cannot fail on a URL with a host, and a URL without one is reported just below.
    let _ = parsed.set_password(None);
    let shown = parsed.to_string();
    let Some(host) = parsed.host_str().filter(|h| !h.is_empty()) else {
        errors.push(format!("redis address {shown:?}: missing host"));
        return None;
    };
    if let Err(e) = redis::IntoConnectionInfo::into_connection_info(shown.as_str()) {
        errors.push(format!("redis address {shown:?}: {e}"));
        return None;
    }
    if (tls.ca_file.is_some() || tls.cert_file.is_some() || tls.insecure_skip_verify)
        && parsed.scheme() != "rediss"
    {
        errors.push(format!(
            "redis address {shown:?}: tls settings need a rediss:// address"
        ));
    }
    let password = password.or(url_password.map(Secret::new));
    let name = name.unwrap_or_else(|| format!("{host}:{}", parsed.port().unwrap_or(6379)));
    Some(RedisTarget {
        name,
        url: shown,
        password,
        tls,
        timeout,
        container,
        profile,
        pinned_addr: None,
    })
}

/// How to write a password so a connection URL stays unambiguous.
const URL_HINT: &str = "if the password contains special characters, percent-encode them \
     ('@' as %40, '#' as %23, '/' as %2F, '?' as %3F, ':' as %3A, '%' as %25, a space as %20) \
     or move the password to password_file (--redis.password-file / --postgres.password-file)";

/// How to write a password so a key=value DSN stays unambiguous.
const KEYWORD_HINT: &str = "quote a value that contains spaces (password='my secret', with \\' \
     for a quote inside) or move the password to password_file (--postgres.password-file)";

/// Characters percent-encoded in a username put into a URL (RFC 3986 `userinfo`, minus `:`).
const USERINFO_ENCODE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The error for an ambiguous URL: what is wrong and how to write it, without the password.
fn ambiguity_error(what: &str, shown: &str, reason: &str, hint: &str) -> String {
    format!("{what} {shown:?} is ambiguous: {reason}; {hint}")
}

fn postgres_from_file(
    i: usize,
    v: &serde_yaml_ng::Value,
    cli: &Cli,
    env: &dyn Env,
    errors: &mut Vec<String>,
) -> Option<PostgresTarget> {
    let path = format!("postgres[{i}]");
    let f: PostgresFile = item(v, POSTGRES_KEYS, &path, errors)?;
    let path = format!("postgres[{i}] ({})", f.name);
    if f.name.trim().is_empty() {
        errors.push(format!("{path}: name must not be empty"));
    }
    let password = password_from(
        f.password_file.as_deref(),
        f.password_env.as_deref(),
        &path,
        env,
        errors,
    );
    let timeout = target_timeout(f.timeout.as_deref(), &path, errors);
    let slow = f
        .slow_query_threshold
        .as_deref()
        .map(|s| {
            duration_or(
                s,
                &format!("{path}.slow_query_threshold"),
                cli.postgres_slow_query_threshold,
                MAX_TIMEOUT,
                errors,
            )
        })
        .unwrap_or(cli.postgres_slow_query_threshold);
    let top_n = f.statements_top_n.unwrap_or(10);
    if top_n > MAX_STATEMENTS_TOP_N {
        errors.push(format!(
            "{path}.statements_top_n: {top_n} is above the limit of {MAX_STATEMENTS_TOP_N}"
        ));
    }
    if matches!(f.sslmode, Some(PgSslMode::VerifyCa | PgSslMode::VerifyFull)) && f.ca_file.is_none()
    {
        errors.push(format!(
            "{path}: sslmode verify-ca/verify-full needs ca_file"
        ));
    }
    if let Some(ca) = &f.ca_file
        && let Err(e) = std::fs::metadata(ca)
    {
        errors.push(format!("{path}.ca_file: {}: {e}", ca.display()));
    }
    let t = PostgresTarget {
        name: f.name,
        dsn: f.dsn,
        password,
        ssl_mode: f.sslmode,
        ca_file: f.ca_file,
        timeout,
        log_file: f.log_file,
        slow_query_threshold: slow,
        statements_top_n: top_n.min(MAX_STATEMENTS_TOP_N),
        container: f.container,
        profile: resolve_profile(f.profile.as_deref(), &f.checks, &path, errors),
        pinned_addr: None,
    };
    finish_postgres(t, errors)
}

/// Validates a PostgreSQL DSN, moves its password into a [`Secret`] and names the target.
fn finish_postgres(mut t: PostgresTarget, errors: &mut Vec<String>) -> Option<PostgresTarget> {
    let is_url = t.dsn.contains("://");
    let raw_shown = redact_unparsed_url(&t.dsn);
    let ambiguity = if is_url {
        ambiguous_url(&t.dsn)
    } else {
        ambiguous_keyword_dsn(&t.dsn)
    };
    if let Some(reason) = ambiguity {
        let hint = if is_url { URL_HINT } else { KEYWORD_HINT };
        errors.push(ambiguity_error("postgres DSN", &raw_shown, reason, hint));
        return None;
    }
    // verify-ca/verify-full are handled by us through rustls; tokio-postgres rejects them.
    let (dsn_for_parse, dsn_mode) = split_sslmode(&t.dsn);
    let parsed: tokio_postgres::Config = match dsn_for_parse.parse() {
        Ok(c) => c,
        Err(e) => {
            errors.push(format!("postgres DSN {raw_shown:?}: {e}"));
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

/// Takes `sslmode` out of a DSN (URL or key/value) so tokio-postgres, which does not know
/// `verify-ca`/`verify-full`, can parse the rest; returns the mode found.
pub fn split_sslmode(dsn: &str) -> (String, Option<PgSslMode>) {
    let mode_of = |v: &str| match v {
        "disable" | "allow" => Some(PgSslMode::Disable),
        "prefer" => Some(PgSslMode::Prefer),
        "require" => Some(PgSslMode::Require),
        "verify-ca" => Some(PgSslMode::VerifyCa),
        "verify-full" => Some(PgSslMode::VerifyFull),
        _ => None,
    };
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
                        mode = mode_of(v);
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
                mode = mode_of(p.value.trim_matches('\''));
                false
            } else {
                true
            }
        })
        .map(|p| format!("{}={}", p.key, p.value))
        .collect();
    (kept.join(" "), mode)
}

fn docker_from_file(
    v: &serde_yaml_ng::Value,
    cli: &Cli,
    env: &dyn Env,
    errors: &mut Vec<String>,
) -> Option<DockerTarget> {
    if v.is_null() {
        return Some(DockerTarget {
            host: cli
                .docker_host
                .clone()
                .or_else(|| env.var("DOCKER_HOST"))
                .unwrap_or_else(|| DEFAULT_DOCKER_HOST.to_string()),
            disk_usage_interval: cli.docker_disk_usage_interval,
            timeout: DEFAULT_TARGET_TIMEOUT,
        });
    }
    let f: DockerFile = item(v, DOCKER_KEYS, "docker", errors)?;
    Some(DockerTarget {
        host: f
            .host
            .or_else(|| cli.docker_host.clone())
            .or_else(|| env.var("DOCKER_HOST"))
            .unwrap_or_else(|| DEFAULT_DOCKER_HOST.to_string()),
        disk_usage_interval: f
            .disk_usage_interval
            .map(|s| {
                duration_or(
                    &s,
                    "docker.disk_usage_interval",
                    cli.docker_disk_usage_interval,
                    MAX_INTERVAL,
                    errors,
                )
            })
            .unwrap_or(cli.docker_disk_usage_interval),
        timeout: f
            .timeout
            .map(|s| {
                duration_or(
                    &s,
                    "docker.timeout",
                    DEFAULT_TARGET_TIMEOUT,
                    MAX_TIMEOUT,
                    errors,
                )
            })
            .unwrap_or(DEFAULT_TARGET_TIMEOUT),
    })
}

fn validate_docker_host(host: &str, errors: &mut Vec<String>) {
    if !(host.starts_with("unix://") || host.starts_with("tcp://") || host.starts_with("http://")) {
        errors.push(format!(
            "docker host {host:?}: must be unix:///path or tcp://host:port"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::collections::HashMap;

    struct FakeEnv(HashMap<&'static str, &'static str>);
    impl Env for FakeEnv {
        fn var(&self, key: &str) -> Option<String> {
            self.0.get(key).map(|v| v.to_string())
        }
    }
    fn no_env() -> FakeEnv {
        FakeEnv(HashMap::new())
    }
    fn cli(args: &[&str]) -> Cli {
        let mut v = vec!["persistence_exporter"];
        v.extend_from_slice(args);
        Cli::try_parse_from(v).unwrap()
    }

    #[test]
    fn nothing_configured_watches_local_defaults() {
        let s = load(&cli(&[]), &no_env()).unwrap();
        assert_eq!(s.redis.len(), 1);
        assert_eq!(s.redis[0].name, "localhost:6379");
        assert_eq!(s.postgres.len(), 1);
        assert_eq!(s.postgres[0].name, "localhost:5432/postgres");
        assert_eq!(s.docker.unwrap().host, DEFAULT_DOCKER_HOST);
    }

    #[test]
    fn only_configured_collectors_run() {
        let s = load(&cli(&["--redis.addr", "redis://127.0.0.1:7000"]), &no_env()).unwrap();
        assert_eq!(s.redis.len(), 1);
        assert!(s.postgres.is_empty());
        assert!(s.docker.is_none());
    }

    #[test]
    fn url_password_moves_into_secret() {
        let s = load(
            &cli(&["--redis.addr", "redis://bob:pa%40ss@h:7000/1"]),
            &no_env(),
        )
        .unwrap();
        let t = &s.redis[0];
        assert_eq!(t.url, "redis://bob@h:7000/1");
        assert_eq!(t.name, "h:7000");
        assert_eq!(t.password.as_ref().unwrap().expose(), "pa@ss");
        assert!(!format!("{s:?}").contains("pa@ss"));
    }

    #[test]
    fn redis_password_env_is_accepted() {
        let env = FakeEnv(HashMap::from([("REDIS_PASSWORD", "pw1")]));
        let s = load(&cli(&["--redis.addr", "redis://h:1"]), &env).unwrap();
        assert_eq!(s.redis[0].password.as_ref().unwrap().expose(), "pw1");
    }

    #[test]
    fn data_source_name_is_accepted() {
        let env = FakeEnv(HashMap::from([(
            "DATA_SOURCE_NAME",
            "postgresql://u:secret@db:5433/app?sslmode=disable",
        )]));
        let s = load(&cli(&[]), &env).unwrap();
        assert_eq!(s.postgres.len(), 1);
        assert!(s.redis.is_empty());
        assert_eq!(s.postgres[0].name, "db:5433/app");
        assert_eq!(s.postgres[0].password.as_ref().unwrap().expose(), "secret");
        assert!(!s.postgres[0].dsn.contains("secret"));
        assert_eq!(s.postgres[0].ssl_mode, Some(PgSslMode::Disable));
    }

    #[test]
    fn file_errors_are_all_reported() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.yml");
        std::fs::write(
            &p,
            "scrape_timeout: 10x\nbogus: 1\nredis:\n  - name: a\n    addr: http://x\n    colour: red\n    timeout: soon\n  - name: a\n    addr: redis://y:1\n    password_file: /nonexistent/pw\npostgres:\n  - name: p\n    dsn: 'host=x port=notaport'\n    statements_top_n: 1000\n",
        )
        .unwrap();
        let c = cli(&["--config.file", p.to_str().unwrap()]);
        let errs = load(&c, &no_env()).unwrap_err().0;
        let all = errs.join("\n");
        for needle in [
            "scrape_timeout",
            "unknown key \"bogus\"",
            "unknown key \"colour\"",
            "redis[0] (a).timeout",
            "must start with redis://",
            "/nonexistent/pw",
            "statements_top_n",
            "postgres DSN",
        ] {
            assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
        }
    }

    #[test]
    fn file_targets_with_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "filepw\n").unwrap();
        let p = dir.path().join("c.yml");
        std::fs::write(
            &p,
            format!(
                "redis:\n  - name: cache\n    addr: redis://10.0.0.1:6380\n    username: exporter\n    password_file: {}\n    timeout: 2s\npostgres:\n  - name: main\n    dsn: postgresql://exporter@db/postgres\n    password_env: PGPW\n    sslmode: require\n",
                pw.display()
            ),
        )
        .unwrap();
        let env = FakeEnv(HashMap::from([("PGPW", "envpw")]));
        let s = load(&cli(&["--config.file", p.to_str().unwrap()]), &env).unwrap();
        assert_eq!(s.redis[0].name, "cache");
        assert_eq!(s.redis[0].url, "redis://exporter@10.0.0.1:6380");
        assert_eq!(s.redis[0].password.as_ref().unwrap().expose(), "filepw");
        assert_eq!(s.redis[0].timeout, Duration::from_secs(2));
        assert_eq!(s.postgres[0].password.as_ref().unwrap().expose(), "envpw");
        assert_eq!(s.postgres[0].ssl_mode, Some(PgSslMode::Require));
        assert!(s.docker.is_none());
    }

    #[test]
    fn odd_percent_escapes_do_not_panic() {
        for addr in [
            "redis://:%a\u{e9}@h:1",
            "redis://:%@h:1",
            "redis://:%\u{e9}%@h:1",
        ] {
            let _ = load(&cli(&["--redis.addr", addr]), &no_env());
        }
        let s = load(&cli(&["--redis.addr", "redis://:%a\u{e9}@h:1"]), &no_env()).unwrap();
        assert_eq!(s.redis[0].password.as_ref().unwrap().expose(), "%a\u{e9}");
        let e = load(&cli(&["--redis.addr", "redis://:%ff@h:1"]), &no_env()).unwrap_err();
        assert!(e.to_string().contains("UTF-8"), "{e}");
    }

    #[test]
    fn ambiguous_urls_are_config_errors_without_the_password() {
        let pg = "postgresql://exporter:P@ss#w0rd:/!@127.0.0.1:22955/postgres";
        let e = load(&cli(&["--postgres.dsn", pg]), &no_env())
            .unwrap_err()
            .to_string();
        assert!(e.contains("%40") && e.contains("%23") && e.contains("password_file"));
        assert!(!e.contains("P@ss") && !e.contains("w0rd"), "{e}");
        for addr in [
            "redis://:P@ss@h:1",
            "redis://:P ss@h:1",
            "redis://u:P#ss@h:1",
        ] {
            let e = load(&cli(&["--redis.addr", addr]), &no_env())
                .unwrap_err()
                .to_string();
            assert!(e.contains("ambiguous"), "{e}");
            assert!(!e.contains("P@") && !e.contains("ss@"), "{e}");
        }
        let kv = "host=h password=my secretword user=u";
        let e = load(&cli(&["--postgres.dsn", kv]), &no_env())
            .unwrap_err()
            .to_string();
        assert!(e.contains("quote"), "{e}");
        assert!(!e.contains("secretword"), "{e}");
    }

    #[test]
    fn file_username_is_encoded_into_the_url() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.yml");
        std::fs::write(
            &p,
            "redis:\n  - name: r\n    addr: redis://h:1\n    username: 'a:b@c'\n",
        )
        .unwrap();
        let s = load(&cli(&["--config.file", p.to_str().unwrap()]), &no_env()).unwrap();
        assert_eq!(s.redis[0].url, "redis://a%3Ab%40c@h:1");
        assert!(s.redis[0].password.is_none());
    }

    #[test]
    fn durations_are_bounded() {
        let e = load(&cli(&["--scrape.timeout", "25h"]), &no_env())
            .unwrap_err()
            .to_string();
        assert!(e.contains("--scrape.timeout") && e.contains("limit"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.yml");
        std::fs::write(
            &p,
            "scrape_timeout: 2d\nredis:\n  - name: r\n    addr: redis://h:1\n    timeout: 1000y\ndocker:\n  disk_usage_interval: 2y\n",
        )
        .unwrap();
        let e = load(&cli(&["--config.file", p.to_str().unwrap()]), &no_env())
            .unwrap_err()
            .0
            .join("\n");
        for needle in [
            "scrape_timeout",
            "redis[0] (r).timeout",
            "disk_usage_interval",
        ] {
            assert!(e.contains(needle), "{needle} missing in {e}");
        }
    }

    #[test]
    fn splits_verify_modes_out_of_dsn() {
        let (d, m) = split_sslmode("postgresql://h/db?sslmode=verify-full&application_name=x");
        assert_eq!(d, "postgresql://h/db?application_name=x");
        assert_eq!(m, Some(PgSslMode::VerifyFull));
        let (d, m) = split_sslmode("host=h sslmode=verify-ca");
        assert_eq!(d, "host=h");
        assert_eq!(m, Some(PgSslMode::VerifyCa));
        let (d, m) = split_sslmode("host=h password='a\tb  c' sslmode='require'");
        assert_eq!(d, "host=h password='a\tb  c'");
        assert_eq!(m, Some(PgSslMode::Require));
    }
}
