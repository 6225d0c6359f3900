//! Configuration: the YAML file (`--config.file`) merged with the flags into [`Settings`].
//! Loading validates everything and reports every problem at once, each naming where it
//! is (`redis[1] (name "cache"): addr: …`), so `--config.check` and start-up both print
//! the full list.
//!
//! The submodules follow the file's sections: [`file`] reads the YAML leniently, entry by
//! entry and field by field; `redis`, `postgres`, `docker` and `probe` turn entries (and
//! flags) into targets; [`web`] parses `--web.listen-address` and `--web.config.file`;
//! [`profile`] and [`expect`] are the profiles as data and what each check accepts.

pub mod allow_list;
pub mod expect;
mod file;
pub mod profile;
pub mod restarts;
pub mod web;

mod docker;
mod postgres;
mod probe;
mod redis;

pub use docker::DockerTarget;
pub use postgres::{
    DEFAULT_SIZE_INTERVAL, MAX_SIZE_INTERVAL, PgSslMode, PostgresTarget, probe_postgres_target,
    split_sslmode,
};
pub use probe::{ProbeModule, ProbeSettings};
pub use redis::{RedisTarget, RedisTls, probe_redis_target};
pub use web::{WebSettings, parse_listen_address};

use crate::cli::Cli;
use crate::secret::Secret;
use file::Entry;
use profile::{CheckOverride, DEFAULT_PROFILE, Profile};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;
use std::time::Duration;

/// Default Redis address watched when nothing at all is configured.
pub const DEFAULT_REDIS_ADDR: &str = "redis://localhost:6379";
/// Default PostgreSQL DSN watched when nothing at all is configured.
pub const DEFAULT_POSTGRES_DSN: &str = "postgresql://postgres@localhost:5432/postgres";
/// Default Docker Engine endpoint.
pub const DEFAULT_DOCKER_HOST: &str = "unix:///var/run/docker.sock";

/// Hard upper bound for `statements_top_n`: keeps pg_stat_statements cardinality bounded.
pub const MAX_STATEMENTS_TOP_N: usize = 100;
/// Default per-target timeout.
pub const DEFAULT_TARGET_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest timeout or threshold accepted (scrape, target, Docker call, slow query): 24h.
/// Deadlines are `now + timeout`, so this also keeps that sum far from overflowing.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
/// Longest background interval accepted (`disk_usage_interval`): 365 days.
pub const MAX_INTERVAL: Duration = Duration::from_secs(365 * 24 * 3600);

/// Default cap on the bytes one scrape may read from a Redis or PostgreSQL server.
pub const DEFAULT_MAX_REPLY_BYTES: u64 = 1024 * 1024;

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
    /// The built-in default targets in use because nothing at all was configured (no
    /// config file, no target flag, no `DATA_SOURCE_NAME`); empty otherwise.
    pub defaults_used: Vec<DefaultTarget>,
    /// Restart tracking: the state file, per-target recovery ratio and write canary.
    pub restarts: restarts::RestartSettings,
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

/// What kind of system a built-in default target is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultKind {
    /// [`DEFAULT_REDIS_ADDR`].
    Redis,
    /// [`DEFAULT_POSTGRES_DSN`].
    Postgres,
    /// The local Docker Engine (`DOCKER_HOST`, else [`DEFAULT_DOCKER_HOST`]).
    Docker,
}

/// A target watched only because nothing was configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DefaultTarget {
    /// Which system.
    pub kind: DefaultKind,
    /// Its address as shown to people (no secrets: the defaults carry none).
    pub address: String,
}

/// One configuration problem: where it is and what is wrong. `path` names the target or
/// setting (`redis[1] (name "cache")`, `--redis.addr`, `probe.modules.pg`); `message`
/// starts with the key when there is one (`addr: must start with redis://`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct Problem {
    /// Where: the target, section or flag.
    pub path: String,
    /// What is wrong, never including a secret.
    pub message: String,
}

impl Problem {
    /// A problem at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            path: path.into(),
            message: message.into(),
        }
    }

    /// A problem with the key `key` of the entry at `path`.
    pub fn at(path: &str, key: &str, message: impl fmt::Display) -> Problem {
        Problem::new(path, format!("{key}: {message}"))
    }
}

/// Every problem found while loading the configuration.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<Problem>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid configuration:")?;
        for p in &self.0 {
            write!(f, "\n  - {p}")?;
        }
        Ok(())
    }
}

impl ConfigErrors {
    /// Each problem as one line of text.
    pub fn lines(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }
}

/// The path of a target entry: `redis[1]`, or `redis[1] (name "cache")` once its name is
/// known.
pub(crate) fn entry_path(section: &str, index: usize, name: Option<&str>) -> String {
    match name {
        Some(n) => format!("{section}[{index}] (name {n:?})"),
        None => format!("{section}[{index}]"),
    }
}

/// The candidate closest to `word`, if it is close enough to be a likely typo.
pub(crate) fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (crate::check_id::edit_distance(&lower, c), c))
        .filter(|(d, c)| *d <= (c.chars().count() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// ` (did you mean "x"?)`, or nothing without a close candidate.
pub(crate) fn suggestion<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    did_you_mean(word, candidates)
        .map(|c| format!(" (did you mean {c:?}?)"))
        .unwrap_or_default()
}

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
    let mut problems = Vec::new();
    let root = match cli.config_file.as_deref() {
        Some(path) => match read_text(path, &mut problems) {
            Some(text) => file::parse_root(&text, &path.display().to_string(), &mut problems),
            None => serde_yaml_ng::Value::Null,
        },
        None => serde_yaml_ng::Value::Null,
    };
    let mut top = Entry::root(&root, "config", &mut problems);

    let scrape_timeout = match top.duration("scrape_timeout", MAX_TIMEOUT) {
        Some(d) => d,
        None => {
            check_max(
                cli.scrape_timeout,
                "--scrape.timeout",
                MAX_TIMEOUT,
                &mut problems,
            );
            cli.scrape_timeout.min(MAX_TIMEOUT)
        }
    };
    check_max(
        cli.postgres_slow_query_threshold,
        "--postgres.slow-query-threshold",
        MAX_TIMEOUT,
        &mut problems,
    );
    check_max(
        cli.docker_disk_usage_interval,
        "--docker.disk-usage-interval",
        MAX_INTERVAL,
        &mut problems,
    );
    if scrape_timeout.is_zero() {
        problems.push(Problem::new(
            "scrape_timeout",
            "must be greater than zero (also --scrape.timeout)",
        ));
    }
    let max_reply_bytes = top
        .get::<u64>("max_reply_bytes")
        .unwrap_or(cli.max_reply_bytes);
    if max_reply_bytes == 0 {
        problems.push(Problem::new(
            "max_reply_bytes",
            "must be greater than zero (also --collector.max-reply-bytes)",
        ));
    }
    let redis_entries = top.list("redis");
    let postgres_entries = top.list("postgres");
    let docker_entry = top.present("docker");
    let probe_entry = top.present("probe");
    let state_file = top.get::<std::path::PathBuf>("state_file");
    top.finish(&mut problems);

    let mut file_restarts = BTreeMap::new();
    let mut redis: Vec<RedisTarget> = redis_entries
        .iter()
        .enumerate()
        .filter_map(|(i, v)| redis::from_file(i, v, env, &mut problems, &mut file_restarts))
        .collect();
    let mut postgres: Vec<PostgresTarget> = postgres_entries
        .iter()
        .enumerate()
        .filter_map(|(i, v)| postgres::from_file(i, v, cli, env, &mut problems, &mut file_restarts))
        .collect();
    let probe = probe_entry
        .map(|v| probe::from_file(v, env, &mut problems))
        .unwrap_or_default();
    let mut docker = docker_entry.and_then(|v| docker::from_file(v, cli, env, &mut problems));

    // Flag targets (and the defaults) come after the file's.
    let (file_redis_count, file_postgres_count) = (redis.len(), postgres.len());
    let flag_profile = resolve_profile(
        cli.profile.as_deref(),
        &BTreeMap::new(),
        "--profile",
        &mut problems,
    );
    let redis_flag_password = flag_password(
        cli.redis_password_file.as_deref(),
        "REDIS_PASSWORD",
        "--redis.password-file",
        env,
        &mut problems,
    );
    let redis_flags = redis::FlagTargets {
        password: redis_flag_password,
        profile: flag_profile.clone(),
        not_in_container: cli.redis_not_in_container,
    };
    for addr in &cli.redis_addr {
        redis.extend(redis_flags.target(addr, "--redis.addr", &mut problems));
    }
    let pg_flags = postgres::FlagTargets {
        password: flag_password(
            cli.postgres_password_file.as_deref(),
            "DATA_SOURCE_PASS",
            "--postgres.password-file",
            env,
            &mut problems,
        ),
        profile: flag_profile,
        cli,
    };
    let mut dsns = cli.postgres_dsn.clone();
    if dsns.is_empty()
        && let Some(dsn) = env.var("DATA_SOURCE_NAME")
    {
        dsns.extend(dsn.split(',').map(str::to_string));
    }
    for dsn in &dsns {
        postgres.extend(pg_flags.target(dsn, "--postgres.dsn", &mut problems));
    }
    if docker.is_none() && cli.docker_host.is_some() {
        docker = Some(DockerTarget {
            host: cli.docker_host.clone().unwrap_or_default(),
            disk_usage_interval: cli.docker_disk_usage_interval,
            timeout: DEFAULT_TARGET_TIMEOUT,
        });
    }

    // Nothing configured at all: watch the local defaults, and say so.
    let mut defaults_used = Vec::new();
    let nothing = cli.config_file.is_none()
        && cli.redis_addr.is_empty()
        && dsns.is_empty()
        && cli.docker_host.is_none();
    if nothing {
        if let Some(t) = redis_flags.target(DEFAULT_REDIS_ADDR, "default redis", &mut problems) {
            defaults_used.push(DefaultTarget {
                kind: DefaultKind::Redis,
                address: t.url.clone(),
            });
            redis.push(t);
        }
        if let Some(t) = pg_flags.target(DEFAULT_POSTGRES_DSN, "default postgres", &mut problems) {
            defaults_used.push(DefaultTarget {
                kind: DefaultKind::Postgres,
                address: t.dsn.clone(),
            });
            postgres.push(t);
        }
        let host = env
            .var("DOCKER_HOST")
            .unwrap_or_else(|| DEFAULT_DOCKER_HOST.to_string());
        defaults_used.push(DefaultTarget {
            kind: DefaultKind::Docker,
            address: host.clone(),
        });
        docker = Some(DockerTarget {
            host,
            disk_usage_interval: cli.docker_disk_usage_interval,
            timeout: DEFAULT_TARGET_TIMEOUT,
        });
    } else {
        if cli.redis_not_in_container && cli.redis_addr.is_empty() {
            problems.push(Problem::new(
                "--redis.not-in-container",
                "applies to the targets of --redis.addr, and none is given \
                 (config-file targets set in_container: false)",
            ));
        }
        if cli.postgres_not_in_container && dsns.is_empty() {
            problems.push(Problem::new(
                "--postgres.not-in-container",
                "applies to the targets of --postgres.dsn, and none is given \
                 (config-file targets set in_container: false)",
            ));
        }
    }
    if let Some(d) = &docker {
        docker::validate_host(&d.host, &mut problems);
    }

    // Target names are label values: they must be unique.
    let mut seen = BTreeSet::new();
    for name in redis
        .iter()
        .map(|t| &t.name)
        .chain(postgres.iter().map(|t| &t.name))
    {
        if !seen.insert(name.clone()) {
            problems.push(Problem::new(
                format!("target {name:?}"),
                "the name is used more than once",
            ));
        }
    }
    let flag_names = |names: Vec<&String>| -> Vec<String> { names.into_iter().cloned().collect() };
    let restarts = restarts::resolve(
        state_file,
        file_restarts,
        cli,
        &flag_names(
            redis
                .iter()
                .skip(file_redis_count)
                .map(|t| &t.name)
                .collect(),
        ),
        &flag_names(
            postgres
                .iter()
                .skip(file_postgres_count)
                .map(|t| &t.name)
                .collect(),
        ),
        &mut problems,
    );
    let web = web::from_flags(cli, &mut problems);
    if !problems.is_empty() {
        return Err(ConfigErrors(problems));
    }
    Ok(Settings {
        web,
        scrape_timeout,
        max_reply_bytes,
        redis,
        postgres,
        docker,
        probe,
        defaults_used,
        restarts,
    })
}

/// Reads the config file; `None` (with the problem recorded) when it cannot be read.
fn read_text(path: &Path, problems: &mut Vec<Problem>) -> Option<String> {
    match std::fs::read_to_string(path) {
        Ok(t) => Some(t),
        Err(e) => {
            problems.push(Problem::new(
                format!("config file {}", path.display()),
                format!("cannot read it: {e}"),
            ));
            None
        }
    }
}

/// Parses a duration no longer than `max`, with an example of the syntax when it is
/// malformed.
pub(crate) fn parse_bounded_duration(s: &str, max: Duration) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d > max {
        return Err(format!(
            "{} is above the limit of {}",
            crate::duration::format(d),
            crate::duration::format(max)
        ));
    }
    Ok(d)
}

/// Parses a Prometheus duration; a malformed one gets an example of the syntax.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    crate::duration::parse(s).map_err(|e| {
        if e.contains("maximum") {
            e
        } else {
            format!("{s:?} is not a duration; write it like 5s, 1m30s or 250ms")
        }
    })
}

/// Records a problem when the flag value `d` is above `max`.
fn check_max(d: Duration, flag: &str, max: Duration, problems: &mut Vec<Problem>) {
    if d > max {
        problems.push(Problem::new(
            flag,
            format!(
                "{} is above the limit of {}",
                crate::duration::format(d),
                crate::duration::format(max)
            ),
        ));
    }
}

/// What every Redis and PostgreSQL entry has besides its address and kind-specific
/// settings, read by [`finish_entry`].
pub(crate) struct CommonFields {
    /// `container: NAME`.
    pub container: Option<String>,
    /// `in_container: false`.
    pub not_in_container: bool,
    /// From `password_file` or `password_env`.
    pub password: Option<Secret>,
    /// The named profile with the entry's `checks:` overrides.
    pub profile: Profile,
}

/// Reads the keys every Redis and PostgreSQL entry shares (`password_file`,
/// `password_env`, `container`/`in_container`, `profile`, `checks`, and the restart
/// settings, recorded under the target's name in `restarts`), then closes the entry:
/// keys nobody read become problems. Call it after the kind's own keys.
pub(crate) fn finish_entry(
    mut e: file::Entry<'_>,
    system: restarts::System,
    name: Option<&str>,
    env: &dyn Env,
    problems: &mut Vec<Problem>,
    restarts: &mut BTreeMap<String, restarts::TargetRestarts>,
) -> CommonFields {
    let path = e.path().to_string();
    let password_file = e.get::<std::path::PathBuf>("password_file");
    let password_env = e.string("password_env");
    let (container, not_in_container) = redis::placement(&mut e);
    let profile_name = e.string("profile");
    let overrides = e.check_overrides();
    let target_restarts = restarts::from_entry(system, name.unwrap_or_default(), &mut e, problems);
    e.finish(problems);
    if let Some(n) = name {
        restarts.insert(n.to_string(), target_restarts);
    }
    let password = password_from(
        password_file.as_deref(),
        password_env.as_deref(),
        &path,
        env,
        problems,
    );
    let profile = resolve_profile(profile_name.as_deref(), &overrides, &path, problems);
    CommonFields {
        container,
        not_in_container,
        password,
        profile,
    }
}

/// Reads a password from a file or an env var; both set is an error (which one wins?).
pub(crate) fn password_from(
    file: Option<&Path>,
    env_name: Option<&str>,
    path: &str,
    env: &dyn Env,
    problems: &mut Vec<Problem>,
) -> Option<Secret> {
    match (file, env_name) {
        (Some(_), Some(_)) => {
            problems.push(Problem::new(
                path,
                "set password_file or password_env, not both",
            ));
            None
        }
        (Some(f), None) => match Secret::from_file(f) {
            Ok(s) => Some(s),
            Err(e) => {
                problems.push(Problem::at(path, "password_file", e));
                None
            }
        },
        (None, Some(var)) => match env.var(var) {
            Some(v) => Some(Secret::new(v)),
            None => {
                problems.push(Problem::at(
                    path,
                    "password_env",
                    format!("environment variable {var} is not set"),
                ));
                None
            }
        },
        (None, None) => None,
    }
}

/// The password of the flag targets: the file named by `flag`, else `env_var`.
fn flag_password(
    file: Option<&Path>,
    env_var: &str,
    flag: &str,
    env: &dyn Env,
    problems: &mut Vec<Problem>,
) -> Option<Secret> {
    match file {
        Some(f) => match Secret::from_file(f) {
            Ok(s) => Some(s),
            Err(e) => {
                problems.push(Problem::new(flag, e.to_string()));
                None
            }
        },
        None => env.var(env_var).map(Secret::new),
    }
}

/// The profile named `name` (or the default one) with `overrides` applied, every
/// expectation validated against its check. On error the problems are recorded and the
/// default profile stands in, so loading goes on.
pub(crate) fn resolve_profile(
    name: Option<&str>,
    overrides: &BTreeMap<String, CheckOverride>,
    path: &str,
    problems: &mut Vec<Problem>,
) -> Profile {
    let fallback = || {
        Profile::load(DEFAULT_PROFILE).unwrap_or_else(|_| Profile {
            name: DEFAULT_PROFILE.to_string(),
            description: String::new(),
            checks: BTreeMap::new(),
        })
    };
    let base = match Profile::load(name.unwrap_or(DEFAULT_PROFILE)) {
        Ok(p) => p,
        Err(e) => {
            problems.extend(e.into_iter().map(|p| Problem::new(path, p.to_string())));
            fallback()
        }
    };
    let before = problems.len();
    // Expectations a user wrote for this target (built-in profiles are tested), checked
    // even when another override is wrong.
    for (id, o) in overrides {
        if let (Ok(id), Some(want)) = (id.parse::<crate::check_id::CheckId>(), &o.expect)
            && let Err(e) = expect::validate(id, want)
        {
            problems.push(Problem::at(path, &format!("checks.{id}.expect"), e));
        }
    }
    let profile = match base.with_overrides(overrides, path) {
        Ok(p) => p,
        Err(e) => {
            problems.extend(e);
            return fallback();
        }
    };
    // A profile file given by path: its expectations too.
    if name.is_some_and(|n| !profile::is_builtin(n)) {
        for (id, spec) in &profile.checks {
            let overridden = overrides
                .get(id.as_str())
                .is_some_and(|o| o.expect.is_some());
            if !overridden && let Err(e) = expect::validate(*id, &spec.expect) {
                problems.push(Problem::new(
                    path,
                    format!("profile {:?}: checks.{id}.expect: {e}", profile.name),
                ));
            }
        }
    }
    if problems.len() > before {
        return fallback();
    }
    profile
}

#[cfg(test)]
mod tests;
