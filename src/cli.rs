//! Command-line flags, named after the Prometheus conventions (`--web.listen-address`,
//! `--config.file`, ...). Every flag can also be given as `PERSISTENCE_EXPORTER_<FLAG>`
//! (dots and dashes become underscores, upper case).

use clap::{Parser, ValueEnum};
use std::path::PathBuf;

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// `ts=... level=info msg="..." key=value`, as Prometheus and its exporters log.
    Logfmt,
    /// One JSON object per line, for log pipelines.
    Json,
}

/// Log verbosity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    /// Everything, including each scrape.
    Debug,
    /// Start-up, reloads and target state changes.
    Info,
    /// Failures that are reported as metrics too.
    Warn,
    /// Only what stops the exporter from working.
    Error,
}

/// persistence_exporter: exports PostgreSQL, Redis and Docker volume persistence state
/// for Prometheus.
///
/// The `--web.*` flags belong to the exporter itself and are not global: `check` and
/// `verify` serve nothing, so their `--help` lists only the target and config flags.
#[derive(Clone, Debug, Parser)]
#[command(name = "persistence_exporter", version, about, long_about = None)]
pub struct Cli {
    /// Address to listen on for the web interface and telemetry (`:9631` = all interfaces).
    #[arg(
        long = "web.listen-address",
        env = "PERSISTENCE_EXPORTER_WEB_LISTEN_ADDRESS",
        default_value = ":9631"
    )]
    pub listen_address: String,

    /// Path under which to expose metrics.
    #[arg(
        long = "web.telemetry-path",
        env = "PERSISTENCE_EXPORTER_WEB_TELEMETRY_PATH",
        default_value = "/metrics"
    )]
    pub telemetry_path: String,

    /// Maximum number of scrapes served at once; more get 503 (0 = no limit).
    #[arg(
        long = "web.max-requests",
        env = "PERSISTENCE_EXPORTER_WEB_MAX_REQUESTS",
        default_value_t = 40
    )]
    pub max_requests: usize,

    /// exporter-toolkit web configuration file (TLS, client certificates, basic auth).
    #[arg(long = "web.config.file", env = "PERSISTENCE_EXPORTER_WEB_CONFIG_FILE")]
    pub web_config_file: Option<PathBuf>,

    /// Enable `POST /-/reload` over HTTP (off by default, as in Prometheus; SIGHUP always
    /// reloads).
    #[arg(
        long = "web.enable-lifecycle",
        env = "PERSISTENCE_EXPORTER_WEB_ENABLE_LIFECYCLE"
    )]
    pub web_enable_lifecycle: bool,

    /// YAML file declaring named targets (see README). Flags add to it.
    #[arg(
        global = true,
        long = "config.file",
        env = "PERSISTENCE_EXPORTER_CONFIG_FILE"
    )]
    pub config_file: Option<PathBuf>,

    /// Validate the configuration, print every problem found, and exit (0 valid, 2 invalid).
    #[arg(
        global = true,
        long = "config.check",
        env = "PERSISTENCE_EXPORTER_CONFIG_CHECK"
    )]
    pub config_check: bool,

    /// Only log messages with the given severity or above.
    #[arg(
        global = true,
        long = "log.level",
        env = "PERSISTENCE_EXPORTER_LOG_LEVEL",
        value_enum,
        default_value = "info"
    )]
    pub log_level: LogLevel,

    /// Output format of log messages.
    #[arg(
        global = true,
        long = "log.format",
        env = "PERSISTENCE_EXPORTER_LOG_FORMAT",
        value_enum,
        default_value = "logfmt"
    )]
    pub log_format: LogFormat,

    /// Upper bound for one scrape; Prometheus' own `X-Prometheus-Scrape-Timeout-Seconds`
    /// lowers it further.
    #[arg(global = true, long = "scrape.timeout", env = "PERSISTENCE_EXPORTER_SCRAPE_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub scrape_timeout: std::time::Duration,

    /// Threads that run collections, rendering and HTTP (the async runtime's workers).
    /// One is plenty for an exporter (a scrape costs well under a millisecond of CPU) and
    /// keeps wake-ups between threads off every scrape, as node_exporter's
    /// `--runtime.gomaxprocs=1`; raise it when many large targets are scraped at once.
    /// Password checks and log-file reads have their own threads either way.
    #[arg(
        global = true,
        long = "runtime.worker-threads",
        env = "PERSISTENCE_EXPORTER_RUNTIME_WORKER_THREADS",
        default_value_t = 1,
        value_parser = clap::value_parser!(u16).range(1..=1024)
    )]
    pub worker_threads: u16,

    /// Upper bound on the bytes one scrape may read from a Redis or PostgreSQL server
    /// (connection set-up included); a server sending more is dropped and reported as a
    /// `protocol` error. A plain byte count.
    #[arg(
        global = true,
        long = "collector.max-reply-bytes",
        env = "PERSISTENCE_EXPORTER_COLLECTOR_MAX_REPLY_BYTES",
        default_value_t = crate::config::DEFAULT_MAX_REPLY_BYTES
    )]
    pub max_reply_bytes: u64,

    /// Redis address to scrape (`redis://[user@]host:port[/db]` or `rediss://` for TLS).
    /// Repeatable; comma-separated in the env var.
    #[arg(
        global = true,
        long = "redis.addr",
        env = "PERSISTENCE_EXPORTER_REDIS_ADDR",
        value_delimiter = ','
    )]
    pub redis_addr: Vec<String>,

    /// File holding the password for the Redis targets given by `--redis.addr`
    /// (otherwise `REDIS_PASSWORD`, or the password in the URL).
    #[arg(
        global = true,
        long = "redis.password-file",
        env = "PERSISTENCE_EXPORTER_REDIS_PASSWORD_FILE"
    )]
    pub redis_password_file: Option<PathBuf>,

    /// The Redis servers of `--redis.addr` do not run in a Docker container: no container
    /// is looked for (config-file targets say `in_container: false`).
    #[arg(
        global = true,
        long = "redis.not-in-container",
        env = "PERSISTENCE_EXPORTER_REDIS_NOT_IN_CONTAINER"
    )]
    pub redis_not_in_container: bool,

    /// PostgreSQL DSN to scrape (libpq URL or `key=value` form). Repeatable; also read
    /// from `DATA_SOURCE_NAME` as postgres_exporter does.
    #[arg(
        global = true,
        long = "postgres.dsn",
        env = "PERSISTENCE_EXPORTER_POSTGRES_DSN",
        value_delimiter = ','
    )]
    pub postgres_dsn: Vec<String>,

    /// File holding the password for the PostgreSQL targets given by `--postgres.dsn`.
    #[arg(
        global = true,
        long = "postgres.password-file",
        env = "PERSISTENCE_EXPORTER_POSTGRES_PASSWORD_FILE"
    )]
    pub postgres_password_file: Option<PathBuf>,

    /// Server log file to count slow statements in, for the targets given by
    /// `--postgres.dsn` (stderr, csvlog or jsonlog format).
    #[arg(
        global = true,
        long = "postgres.log-file",
        env = "PERSISTENCE_EXPORTER_POSTGRES_LOG_FILE"
    )]
    pub postgres_log_file: Option<PathBuf>,

    /// The PostgreSQL servers of `--postgres.dsn` (or `DATA_SOURCE_NAME`) do not run in a
    /// Docker container: no container is looked for (config-file targets say
    /// `in_container: false`).
    #[arg(
        global = true,
        long = "postgres.not-in-container",
        env = "PERSISTENCE_EXPORTER_POSTGRES_NOT_IN_CONTAINER"
    )]
    pub postgres_not_in_container: bool,

    /// Slow-query threshold used when the server's `log_min_duration_statement` is off.
    #[arg(global = true, long = "postgres.slow-query-threshold", env = "PERSISTENCE_EXPORTER_POSTGRES_SLOW_QUERY_THRESHOLD", default_value = "1s", value_parser = parse_duration)]
    pub postgres_slow_query_threshold: std::time::Duration,

    /// How often database sizes and the WAL directory size are refreshed in the
    /// background (`pg_database_size()` walks every file); scrapes serve the last
    /// refresh. `0s` reads them on every scrape.
    #[arg(global = true, long = "postgres.size-interval", env = "PERSISTENCE_EXPORTER_POSTGRES_SIZE_INTERVAL", default_value = "1m", value_parser = parse_duration)]
    pub postgres_size_interval: std::time::Duration,

    /// One-shot subcommand; without one the exporter serves metrics.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Persistence profile for the targets given by flags: a built-in name (`durable`,
    /// `das-tern`, `cache`) or a YAML file. Config-file targets name their own.
    #[arg(global = true, long = "profile", env = "PERSISTENCE_EXPORTER_PROFILE")]
    pub profile: Option<String>,

    /// Docker Engine to inspect (`unix:///path` or `tcp://host:port`); `DOCKER_HOST` is
    /// honoured when this flag is not given.
    #[arg(
        global = true,
        long = "docker.host",
        env = "PERSISTENCE_EXPORTER_DOCKER_HOST"
    )]
    pub docker_host: Option<String>,

    /// How often the expensive `/system/df` disk-usage call refreshes volume sizes.
    #[arg(global = true, long = "docker.disk-usage-interval", env = "PERSISTENCE_EXPORTER_DOCKER_DISK_USAGE_INTERVAL", default_value = "5m", value_parser = parse_duration)]
    pub docker_disk_usage_interval: std::time::Duration,

    // ---- Restart tracking and the write canary (see `config::restarts`) ----
    /// JSON file in which each target's identity and last observations are kept, so that
    /// a restart (or a re-created data directory) is still judged after the exporter
    /// itself restarted. Optional; a corrupt file is logged and ignored.
    #[arg(
        global = true,
        long = "state.file",
        env = "PERSISTENCE_EXPORTER_STATE_FILE"
    )]
    pub state_file: Option<PathBuf>,

    /// Write the canary key into every `--redis.addr` target (off by default: the only
    /// write the exporter makes).
    #[arg(
        global = true,
        long = "redis.canary",
        env = "PERSISTENCE_EXPORTER_REDIS_CANARY"
    )]
    pub redis_canary: bool,

    /// Upsert the canary row into every `--postgres.dsn` target (off by default: the only
    /// write the exporter makes).
    #[arg(
        global = true,
        long = "postgres.canary",
        env = "PERSISTENCE_EXPORTER_POSTGRES_CANARY"
    )]
    pub postgres_canary: bool,

    /// How often the canary of a flag target is written.
    #[arg(global = true, long = "canary.interval", env = "PERSISTENCE_EXPORTER_CANARY_INTERVAL", default_value = "5s", value_parser = parse_duration)]
    pub canary_interval: std::time::Duration,
}

/// The exit-code table, shown by `check --help` and kept equal to the
/// README's table (the `check` command implements them in `report`).
pub const CHECK_EXIT_CODES: &str = "\
Exit codes:
  0  Every target answered and no check failed (UNKNOWN checks of a target that
     answered, e.g. without a Docker Engine, are listed but do not fail the run).
  1  A check failed; with --fail-on-unknown, also when a check is UNKNOWN.
  2  Usage or configuration error, or no target answered at all.
  3  A Redis, PostgreSQL or Docker target could not be reached (the others
     answered): its checks are UNKNOWN, so the audit is incomplete.";

/// The exit codes of `verify`, printed by `verify --help` (and listed in docs/verify.md).
pub const VERIFY_EXIT_CODES: &str = "\
Exit codes:
  0  At least one target was tested, and every tested target passed (skipped
     targets are listed).
  1  A target lost its marker, or its re-created server did not come up.
  2  Usage or configuration error, no --confirm, the Docker Engine cannot be
     reached, a target could not be tested, a target named with --target was
     skipped, or nothing was tested.

--confirm has no environment variable, on purpose: restarting containers is
always asked for on the command line.";

/// Subcommands.
#[derive(Clone, Debug, clap::Subcommand)]
pub enum Command {
    /// Audit the configured targets once, print the requirement table or report, and exit
    /// (0 all answered and nothing fails, 1 a check fails, 2 usage/config error or nothing
    /// answered, 3 a target could not be reached).
    #[command(after_help = CHECK_EXIT_CODES)]
    Check(CheckArgs),
    /// Prove that each Redis/PostgreSQL target in a Docker container keeps its data: write
    /// a marker, re-create (or restart) the container, read the marker back. Restarts the
    /// user's containers, so it needs `--confirm`; a failed test is rolled back. Exit 0
    /// every target passed, 1 a target lost its marker, 2 usage/config error or it could
    /// not run. See docs/verify.md.
    #[command(after_help = VERIFY_EXIT_CODES)]
    Verify(VerifyArgs),
}

/// How `verify` tests a container.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum VerifyMode {
    /// Re-create the container from the same definition, as `docker compose down` + `up`
    /// does: named volumes and bind mounts come back, anonymous volumes are new and empty.
    Recreate,
    /// `docker restart`: keeps the writable layer and anonymous volumes, so it proves less.
    Restart,
}

/// Flags of `verify` (all exporter flags apply too).
#[derive(Clone, Debug, clap::Args)]
pub struct VerifyArgs {
    /// Report format.
    #[arg(
        long = "output",
        env = "PERSISTENCE_EXPORTER_VERIFY_OUTPUT",
        value_enum,
        default_value = "table"
    )]
    pub output: OutputFormat,
    /// Re-create the containers (the default) or only restart them.
    #[arg(
        long = "mode",
        env = "PERSISTENCE_EXPORTER_VERIFY_MODE",
        value_enum,
        default_value = "recreate"
    )]
    pub mode: VerifyMode,
    /// How long a server may take to answer (and finish loading) after its container
    /// was re-created or restarted.
    #[arg(long = "timeout", env = "PERSISTENCE_EXPORTER_VERIFY_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
    /// Only these targets (repeatable); all Redis and PostgreSQL targets otherwise.
    #[arg(
        long = "target",
        env = "PERSISTENCE_EXPORTER_VERIFY_TARGET",
        value_delimiter = ','
    )]
    pub target: Vec<String>,
    /// Really restart/re-create the containers. Without it `verify` prints its plan and
    /// exits 2 without touching anything. Deliberately a flag only: no environment
    /// variable, so that a variable left in the environment cannot restart containers.
    #[arg(long = "confirm")]
    pub confirm: bool,
}

/// Report format of `check`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Aligned plain-text table.
    Table,
    /// Markdown report (`check`: summary and one requirement table per target), to keep
    /// as a verification report.
    Markdown,
    /// JSON, for scripts.
    Json,
}

/// Flags of `check` (all exporter flags apply too).
#[derive(Clone, Debug, clap::Args)]
pub struct CheckArgs {
    /// Report format.
    #[arg(
        long = "output",
        env = "PERSISTENCE_EXPORTER_CHECK_OUTPUT",
        value_enum,
        default_value = "table"
    )]
    pub output: OutputFormat,
    /// Exit 1 when a check is unknown, not only when one fails (an unreachable target
    /// exits 3 without it).
    #[arg(
        long = "fail-on-unknown",
        env = "PERSISTENCE_EXPORTER_CHECK_FAIL_ON_UNKNOWN"
    )]
    pub fail_on_unknown: bool,
}

/// A duration flag; a malformed one gets an example of the syntax.
fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    crate::config::parse_duration(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_flag_has_an_env_var_except_confirm() {
        let root = Cli::command();
        let mut commands = vec![root.clone()];
        commands.extend(root.get_subcommands().cloned());
        let mut missing = Vec::new();
        for cmd in &commands {
            for arg in cmd.get_arguments() {
                let Some(long) = arg.get_long() else { continue };
                if ["help", "version", "confirm"].contains(&long) {
                    continue;
                }
                match arg.get_env().and_then(|e| e.to_str()) {
                    Some(env) if env.starts_with("PERSISTENCE_EXPORTER_") => {}
                    _ => missing.push(format!("{} --{long}", cmd.get_name())),
                }
            }
        }
        assert!(missing.is_empty(), "flags without an env var: {missing:?}");
        let verify = root.find_subcommand("verify").unwrap();
        let confirm = verify
            .get_arguments()
            .find(|a| a.get_long() == Some("confirm"))
            .unwrap();
        assert!(confirm.get_env().is_none());
    }

    #[test]
    fn defaults_follow_prometheus_conventions() {
        let cli = Cli::try_parse_from(["persistence_exporter"]).unwrap();
        assert_eq!(cli.listen_address, ":9631");
        assert_eq!(cli.telemetry_path, "/metrics");
        assert_eq!(cli.scrape_timeout, std::time::Duration::from_secs(10));
        assert_eq!(cli.log_format, LogFormat::Logfmt);
        assert_eq!(cli.max_reply_bytes, 1024 * 1024);
    }

    #[test]
    fn repeatable_targets() {
        let cli = Cli::try_parse_from([
            "persistence_exporter",
            "--redis.addr",
            "redis://a:1",
            "--redis.addr=redis://b:2,redis://c:3",
        ])
        .unwrap();
        assert_eq!(
            cli.redis_addr,
            ["redis://a:1", "redis://b:2", "redis://c:3"]
        );
    }

    #[test]
    fn not_in_container_flags() {
        let cli = Cli::try_parse_from(["persistence_exporter"]).unwrap();
        assert!(!cli.redis_not_in_container && !cli.postgres_not_in_container);
        let cli = Cli::try_parse_from([
            "persistence_exporter",
            "--redis.not-in-container",
            "--postgres.not-in-container",
        ])
        .unwrap();
        assert!(cli.redis_not_in_container && cli.postgres_not_in_container);
        let e = Cli::try_parse_from(["persistence_exporter", "--scrape.timeout", "5 sec"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("write it like 5s, 1m30s or 250ms"), "{e}");
    }
}
