//! Restart tracking and the write canary as configured: the state file (`--state.file`,
//! `state_file:`), and per target the `min_recovered_ratio` and the opt-in `canary`
//! (`canary: {enabled: true, interval: 5s, key: …}` in the config, `--redis.canary`,
//! `--postgres.canary` and `--canary.interval` for flag targets). Read from the raw YAML
//! entries by [`from_entry`], so the target structs stay as they are.

use super::Problem;
use super::file::Entry;
use crate::cli::Cli;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Default share of the keys a Redis must recover after a restart.
pub const DEFAULT_MIN_RECOVERED_RATIO: f64 = 0.5;
/// Default canary write interval.
pub const DEFAULT_CANARY_INTERVAL: Duration = Duration::from_secs(5);
/// Shortest canary interval accepted.
pub const MIN_CANARY_INTERVAL: Duration = Duration::from_millis(100);
/// Longest canary interval accepted.
pub const MAX_CANARY_INTERVAL: Duration = Duration::from_secs(24 * 3600);
/// Default PostgreSQL canary table.
pub const DEFAULT_CANARY_TABLE: &str = "persistence_exporter_canary";

/// The default Redis canary key of a target.
pub fn default_canary_key(target: &str) -> String {
    format!("persistence_exporter:canary:{target}")
}

/// A target's write canary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Canary {
    /// Time between two writes.
    pub interval: Duration,
    /// The Redis key, or the PostgreSQL table (plain or `schema.table` identifier).
    pub location: String,
}

/// What restart tracking needs to know about one target.
#[derive(Clone, Debug, PartialEq)]
pub struct TargetRestarts {
    /// A Redis restart lost data when it recovered fewer than this share of its keys.
    pub min_recovered_ratio: f64,
    /// The write canary, when enabled.
    pub canary: Option<Canary>,
}

impl Default for TargetRestarts {
    fn default() -> Self {
        TargetRestarts {
            min_recovered_ratio: DEFAULT_MIN_RECOVERED_RATIO,
            canary: None,
        }
    }
}

/// Restart tracking settings of all targets.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RestartSettings {
    /// Where identities and last observations are kept across exporter restarts.
    pub state_file: Option<PathBuf>,
    /// Target name → its settings (targets not listed use the defaults).
    pub targets: BTreeMap<String, TargetRestarts>,
}

impl RestartSettings {
    /// The settings of one target.
    pub fn target(&self, name: &str) -> TargetRestarts {
        self.targets.get(name).cloned().unwrap_or_default()
    }
}

/// Which system a target belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum System {
    /// A Redis target.
    Redis,
    /// A PostgreSQL target.
    Postgres,
}

/// Resolves the restart settings: the config file's targets (already read by
/// [`from_entry`]) and the flags for the flag targets named in `flag_redis` and
/// `flag_postgres`. Problems are appended to `problems`.
pub(crate) fn resolve(
    file_state: Option<PathBuf>,
    mut targets: BTreeMap<String, TargetRestarts>,
    cli: &Cli,
    flag_redis: &[String],
    flag_postgres: &[String],
    problems: &mut Vec<Problem>,
) -> RestartSettings {
    if !interval_ok(cli.canary_interval) {
        problems.push(Problem::new("--canary.interval", INTERVAL_RANGE));
    }
    for (names, on, system) in [
        (flag_redis, cli.redis_canary, System::Redis),
        (flag_postgres, cli.postgres_canary, System::Postgres),
    ] {
        for name in names {
            targets.insert(
                name.clone(),
                TargetRestarts {
                    canary: on.then(|| Canary {
                        interval: cli.canary_interval,
                        location: default_location(system, name),
                    }),
                    ..TargetRestarts::default()
                },
            );
        }
    }
    RestartSettings {
        state_file: file_state.or_else(|| cli.state_file.clone()),
        targets,
    }
}

fn default_location(system: System, target: &str) -> String {
    match system {
        System::Redis => default_canary_key(target),
        System::Postgres => DEFAULT_CANARY_TABLE.to_string(),
    }
}

const INTERVAL_RANGE: &str = "must be between 100ms and 24h";

fn interval_ok(d: Duration) -> bool {
    (MIN_CANARY_INTERVAL..=MAX_CANARY_INTERVAL).contains(&d)
}

/// Reads a target entry's `min_recovered_ratio` and `canary` keys; problems are recorded
/// against the entry (so they name the target).
pub(crate) fn from_entry(
    system: System,
    name: &str,
    e: &mut Entry<'_>,
    problems: &mut Vec<Problem>,
) -> TargetRestarts {
    let mut t = TargetRestarts::default();
    if let Some(x) = e.get::<f64>("min_recovered_ratio") {
        if system == System::Postgres {
            e.problem("min_recovered_ratio", "applies to Redis targets only");
        } else if (0.0..=1.0).contains(&x) {
            t.min_recovered_ratio = x;
        } else {
            e.problem("min_recovered_ratio", "must be a number from 0 to 1");
        }
    }
    let Some(v) = e.present("canary").filter(|v| !v.is_null()) else {
        return t;
    };
    let Some(mut c) = Entry::new(v, e.path(), "canary.", problems) else {
        return t;
    };
    let enabled = c.get::<bool>("enabled").unwrap_or(false);
    let interval = c
        .duration("interval", MAX_CANARY_INTERVAL)
        .unwrap_or(DEFAULT_CANARY_INTERVAL);
    if !interval_ok(interval) {
        c.problem("interval", INTERVAL_RANGE);
    }
    let key = c.string("key");
    let table = c.string("table");
    let location = match (system, key, table) {
        (System::Redis, key, None) => Some(key.unwrap_or_else(|| default_canary_key(name))),
        (System::Postgres, None, table) => {
            Some(table.unwrap_or_else(|| DEFAULT_CANARY_TABLE.into()))
        }
        (System::Redis, _, Some(_)) => {
            c.problem("table", "is for PostgreSQL targets (Redis uses key)");
            None
        }
        (System::Postgres, Some(_), _) => {
            c.problem("key", "is for Redis targets (PostgreSQL uses table)");
            None
        }
    };
    if let Some(location) = location {
        if location.is_empty() {
            c.problem("key", "the key or table must not be empty");
        } else if system == System::Postgres && !valid_table(&location) {
            c.problem(
                "table",
                format!(
                    "{location:?} is not a plain identifier or schema.table (letters, digits, _)"
                ),
            );
        } else if enabled {
            t.canary = Some(Canary { interval, location });
        }
    }
    c.finish(problems);
    t
}

/// `table` or `schema.table`, each part `[A-Za-z_][A-Za-z0-9_]*`.
pub fn valid_table(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() <= 2
        && parts.iter().all(|p| {
            let mut chars = p.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Env, load};
    use clap::Parser as _;
    use std::io::Write as _;

    struct NoEnv;
    impl Env for NoEnv {
        fn var(&self, _: &str) -> Option<String> {
            None
        }
    }

    fn cli(args: &[&str]) -> Cli {
        let mut argv = vec!["persistence_exporter"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).unwrap()
    }

    /// Loads `yaml` as the config file with `args`.
    fn load_yaml(
        yaml: &str,
        args: &[&str],
    ) -> Result<crate::config::Settings, crate::config::ConfigErrors> {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(yaml.as_bytes()).unwrap();
        let path = f.path().display().to_string();
        let mut all = vec!["--config.file", path.as_str()];
        all.extend_from_slice(args);
        load(&cli(&all), &NoEnv)
    }

    #[test]
    fn file_items_and_flags_resolve() {
        let yaml = "redis:\n  - {name: r, addr: redis://127.0.0.1:1, canary: {enabled: true, interval: 1s}, min_recovered_ratio: 0.9}\n  - {name: q, addr: redis://127.0.0.1:2}\npostgres:\n  - {name: p, dsn: postgresql://u@127.0.0.1:1/db, canary: {enabled: true, table: mon.canary}}\nstate_file: /tmp/s.json\n";
        let s = load_yaml(yaml, &["--redis.canary", "--canary.interval", "2s"])
            .unwrap()
            .restarts;
        assert_eq!(s.state_file, Some(PathBuf::from("/tmp/s.json")));
        let r = s.target("r");
        assert_eq!(r.min_recovered_ratio, 0.9);
        assert_eq!(
            r.canary,
            Some(Canary {
                interval: Duration::from_secs(1),
                location: "persistence_exporter:canary:r".into()
            })
        );
        assert_eq!(s.target("q").canary, None);
        assert_eq!(s.target("p").canary.unwrap().location, "mon.canary");
        assert_eq!(s.target("nowhere"), TargetRestarts::default());
    }

    #[test]
    fn flag_targets_take_the_flags() {
        let c = cli(&[
            "--redis.addr",
            "redis://127.0.0.1:6379",
            "--postgres.dsn",
            "postgresql://u@127.0.0.1:5432/db",
            "--redis.canary",
            "--canary.interval",
            "2s",
            "--state.file",
            "/tmp/f.json",
        ]);
        let s = load(&c, &NoEnv).unwrap();
        let r = s.restarts.target(&s.redis.first().unwrap().name);
        assert_eq!(r.canary.unwrap().interval, Duration::from_secs(2));
        let p = s.restarts.target(&s.postgres.first().unwrap().name);
        assert_eq!(p.canary, None);
        assert_eq!(s.restarts.state_file, Some(PathBuf::from("/tmp/f.json")));
    }

    #[test]
    fn every_problem_is_reported() {
        let yaml = "redis:\n  - {name: r, addr: redis://127.0.0.1:1, canary: {enabled: true, table: t, interval: 1ms}, min_recovered_ratio: 2}\npostgres:\n  - {name: p, dsn: postgresql://u@127.0.0.1:1/db, canary: {enabled: true, table: \"x; drop\"}}\n  - {name: k, dsn: postgresql://u@127.0.0.1:2/db, canary: {enabled: true, key: a}, min_recovered_ratio: 0.5}\n  - {name: u, dsn: postgresql://u@127.0.0.1:3/db, canary: {nope: 1}}\n";
        let all = load_yaml(yaml, &["--canary.interval", "1ms"])
            .unwrap_err()
            .lines()
            .join("\n");
        for needle in [
            "redis[0] (name \"r\"): min_recovered_ratio: must be a number",
            "redis[0] (name \"r\"): canary.interval: must be between",
            "redis[0] (name \"r\"): canary.table: is for PostgreSQL",
            "postgres[0] (name \"p\"): canary.table: \"x; drop\" is not",
            "postgres[1] (name \"k\"): canary.key: is for Redis",
            "postgres[1] (name \"k\"): min_recovered_ratio: applies to Redis",
            "postgres[2] (name \"u\"): canary: unknown key \"nope\"",
            "--canary.interval: must be between",
        ] {
            assert!(all.contains(needle), "{needle} missing in:\n{all}");
        }
    }

    #[test]
    fn tables() {
        assert!(valid_table("persistence_exporter_canary"));
        assert!(valid_table("mon._c1"));
        assert!(!valid_table("a.b.c"));
        assert!(!valid_table("1abc"));
        assert!(!valid_table(""));
    }
}
