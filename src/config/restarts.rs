//! Restart tracking and the write canary as configured: the state file (`--state.file`,
//! `state_file:`), and per target the `min_recovered_ratio` and the opt-in `canary`
//! (`canary: {enabled: true, interval: 5s, key: …}` in the config, `--redis.canary`,
//! `--postgres.canary` and `--canary.interval` for flag targets). Read from the raw YAML
//! items, so the target structs stay as they are.

use crate::cli::Cli;
use serde::Deserialize;
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

/// `canary:` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CanaryFile {
    #[serde(default)]
    enabled: bool,
    interval: Option<String>,
    key: Option<String>,
    table: Option<String>,
}

/// Which system a file item belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum System {
    Redis,
    Postgres,
}

/// Resolves the restart settings: the config file's items (raw YAML, keys already
/// checked by the loader) and the flags for the flag targets named in `flag_redis` and
/// `flag_postgres`. Problems are appended to `errors`.
pub fn resolve(
    file_state: Option<PathBuf>,
    file_redis: &[serde_yaml_ng::Value],
    file_postgres: &[serde_yaml_ng::Value],
    cli: &Cli,
    flag_redis: &[String],
    flag_postgres: &[String],
    errors: &mut Vec<String>,
) -> RestartSettings {
    let mut targets = BTreeMap::new();
    for (system, items, what) in [
        (System::Redis, file_redis, "redis"),
        (System::Postgres, file_postgres, "postgres"),
    ] {
        for (i, v) in items.iter().enumerate() {
            let Some(name) = v.get("name").and_then(|n| n.as_str()) else {
                continue;
            };
            let path = format!("{what}[{i}] ({name})");
            if let Some(t) = from_item(system, name, v, &path, errors) {
                targets.insert(name.to_string(), t);
            }
        }
    }
    check_interval(cli.canary_interval, "--canary.interval", errors);
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

fn from_item(
    system: System,
    name: &str,
    v: &serde_yaml_ng::Value,
    path: &str,
    errors: &mut Vec<String>,
) -> Option<TargetRestarts> {
    let mut t = TargetRestarts::default();
    if let Some(r) = v.get("min_recovered_ratio") {
        match r.as_f64() {
            Some(x) if (0.0..=1.0).contains(&x) => t.min_recovered_ratio = x,
            _ => errors.push(format!(
                "{path}.min_recovered_ratio: must be a number from 0 to 1"
            )),
        }
        if system == System::Postgres {
            errors.push(format!(
                "{path}.min_recovered_ratio: applies to Redis targets only"
            ));
        }
    }
    let Some(c) = v.get("canary") else {
        return Some(t);
    };
    let c: CanaryFile = match serde_yaml_ng::from_value(c.clone()) {
        Ok(c) => c,
        Err(e) => {
            errors.push(format!("{path}.canary: {e}"));
            return Some(t);
        }
    };
    let interval = match c.interval.as_deref().map(crate::duration::parse) {
        None => DEFAULT_CANARY_INTERVAL,
        Some(Ok(d)) => d,
        Some(Err(e)) => {
            errors.push(format!("{path}.canary.interval: {e}"));
            DEFAULT_CANARY_INTERVAL
        }
    };
    check_interval(interval, &format!("{path}.canary.interval"), errors);
    let location = match (system, c.key, c.table) {
        (System::Redis, key, None) => key.unwrap_or_else(|| default_canary_key(name)),
        (System::Postgres, None, table) => table.unwrap_or_else(|| DEFAULT_CANARY_TABLE.into()),
        (System::Redis, _, Some(_)) => {
            errors.push(format!(
                "{path}.canary.table: is for PostgreSQL targets (Redis uses key)"
            ));
            return Some(t);
        }
        (System::Postgres, Some(_), _) => {
            errors.push(format!(
                "{path}.canary.key: is for Redis targets (PostgreSQL uses table)"
            ));
            return Some(t);
        }
    };
    if location.is_empty() {
        errors.push(format!("{path}.canary: the key or table must not be empty"));
    }
    if system == System::Postgres && !valid_table(&location) {
        errors.push(format!(
            "{path}.canary.table: {location:?} is not a plain identifier or schema.table (letters, digits, _)"
        ));
    }
    if c.enabled {
        t.canary = Some(Canary { interval, location });
    }
    Some(t)
}

fn check_interval(d: Duration, what: &str, errors: &mut Vec<String>) {
    if d < MIN_CANARY_INTERVAL || d > MAX_CANARY_INTERVAL {
        errors.push(format!("{what}: must be between 100ms and 24h"));
    }
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
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use clap::Parser as _;

    fn cli(args: &[&str]) -> Cli {
        let mut argv = vec!["persistence_exporter"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).unwrap()
    }

    fn items(yaml: &str) -> Vec<serde_yaml_ng::Value> {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    #[test]
    fn file_items_and_flags_resolve() {
        let mut errors = Vec::new();
        let s = resolve(
            None,
            &items(
                "- {name: r, canary: {enabled: true, interval: 1s}, min_recovered_ratio: 0.9}\n- {name: q}\n",
            ),
            &items("- {name: p, canary: {enabled: true, table: mon.canary}}\n"),
            &cli(&[
                "--redis.canary",
                "--canary.interval",
                "2s",
                "--state.file",
                "/tmp/s.json",
            ]),
            &["127.0.0.1:6379".to_string()],
            &["127.0.0.1:5432/db".to_string()],
            &mut errors,
        );
        assert!(errors.is_empty(), "{errors:?}");
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
        let flag = s.target("127.0.0.1:6379").canary.unwrap();
        assert_eq!(flag.interval, Duration::from_secs(2));
        assert_eq!(s.target("127.0.0.1:5432/db").canary, None);
        assert_eq!(s.target("nowhere"), TargetRestarts::default());
    }

    #[test]
    fn every_problem_is_reported() {
        let mut errors = Vec::new();
        resolve(
            None,
            &items(
                "- {name: r, canary: {enabled: true, table: t, interval: 1ms}, min_recovered_ratio: 2}\n",
            ),
            &items(
                "- {name: p, canary: {enabled: true, table: \"x; drop\"}}\n- {name: k, canary: {enabled: true, key: a}, min_recovered_ratio: 0.5}\n- {name: u, canary: {nope: 1}}\n",
            ),
            &cli(&[]),
            &[],
            &[],
            &mut errors,
        );
        let all = errors.join("\n");
        for needle in [
            "redis[0] (r).min_recovered_ratio: must be a number",
            "redis[0] (r).canary.interval: must be between",
            "redis[0] (r).canary.table: is for PostgreSQL",
            "postgres[0] (p).canary.table: \"x; drop\" is not",
            "postgres[1] (k).canary.key: is for Redis",
            "postgres[1] (k).min_recovered_ratio: applies to Redis",
            "postgres[2] (u).canary: unknown field",
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
