//! Profiles as data: declarative YAML files that say which checks apply to a target,
//! what they expect and how severe a failure is. `das-tern`, `durable` and `cache` ship in
//! `profiles/` and are built into the binary; users can point at their own files. Check
//! ids parse into [`CheckId`]; what each check means and how it is evaluated lives in
//! `checks`.

use super::Problem;
use crate::check_id::CheckId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// How bad a failing check is; also the `severity` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Data is being lost or will be lost on the next crash: page someone.
    Critical,
    /// Durability is weaker than declared: open a ticket.
    Warning,
    /// Worth knowing, never routed.
    Info,
}

impl Severity {
    /// Every severity, most severe first.
    pub const ALL: [Severity; 3] = [Severity::Critical, Severity::Warning, Severity::Info];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// One check's settings within a profile (or a per-target override).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    /// Severity of a failure.
    pub severity: Severity,
    /// What the check expects; each check documents its syntax in `docs/checks.md`.
    pub expect: String,
    /// Severity used instead when the failure is worse than usual (real evictions; no
    /// persistence left at all).
    #[serde(default)]
    pub escalate_to: Option<Severity>,
}

/// A per-target override of one check: any field left out keeps the profile's value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckOverride {
    /// New severity.
    pub severity: Option<Severity>,
    /// New expectation.
    pub expect: Option<String>,
    /// Set to false to switch the check off for this target.
    pub enabled: Option<bool>,
}

/// A loaded profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    /// Name shown in the `check` report.
    pub name: String,
    /// What the profile is for.
    pub description: String,
    /// Check → settings; checks not listed do not apply.
    pub checks: BTreeMap<CheckId, CheckSpec>,
}

/// A profile file as written: check ids are still strings, so that every unknown one can
/// be reported at once.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    name: String,
    #[serde(default)]
    description: String,
    checks: BTreeMap<String, CheckSpec>,
}

/// The profiles shipped with the exporter, by name.
pub const BUILTIN: &[(&str, &str)] = &[
    ("das-tern", include_str!("../../profiles/das-tern.yml")),
    ("durable", include_str!("../../profiles/durable.yml")),
    ("cache", include_str!("../../profiles/cache.yml")),
];

/// True when `name` is one of the [`BUILTIN`] profiles.
pub fn is_builtin(name: &str) -> bool {
    BUILTIN.iter().any(|(n, _)| *n == name)
}

/// Name of the profile used when a target names none.
pub const DEFAULT_PROFILE: &str = "durable";

impl Profile {
    /// Parses and validates a profile; every problem is reported.
    pub fn parse(text: &str, origin: &str) -> Result<Profile, Vec<Problem>> {
        let at = format!("profile {origin}");
        let file: ProfileFile =
            serde_yaml_ng::from_str(text).map_err(|e| vec![Problem::new(&at, e.to_string())])?;
        let mut checks = BTreeMap::new();
        let mut errors = Vec::new();
        for (id, spec) in file.checks {
            match id.parse::<CheckId>() {
                Ok(id) => {
                    checks.insert(id, spec);
                }
                Err(e) => errors.push(Problem::new(&at, e.to_string())),
            }
        }
        if errors.is_empty() {
            Ok(Profile {
                name: file.name,
                description: file.description,
                checks,
            })
        } else {
            Err(errors)
        }
    }

    /// Loads a built-in profile by name, or a YAML file by path.
    pub fn load(name_or_path: &str) -> Result<Profile, Vec<Problem>> {
        if let Some((_, text)) = BUILTIN.iter().find(|(n, _)| *n == name_or_path) {
            return Profile::parse(text, name_or_path);
        }
        let path = Path::new(name_or_path);
        let text = std::fs::read_to_string(path).map_err(|e| {
            let names = BUILTIN.iter().map(|(n, _)| *n);
            let hint = super::suggestion(name_or_path, names.clone());
            vec![Problem::new(
                "profile",
                format!(
                    "{name_or_path:?} is not a built-in profile ({}) and not a readable file ({e}){hint}",
                    names.collect::<Vec<_>>().join(", ")
                ),
            )]
        })?;
        Profile::parse(&text, name_or_path)
    }

    /// Applies per-target overrides; unknown check ids are errors, reported at `path`
    /// (the target).
    pub fn with_overrides(
        mut self,
        overrides: &BTreeMap<String, CheckOverride>,
        path: &str,
    ) -> Result<Profile, Vec<Problem>> {
        let mut errors = Vec::new();
        for (id, o) in overrides {
            let id = match id.parse::<CheckId>() {
                Ok(id) => id,
                Err(e) => {
                    errors.push(Problem::at(path, &format!("checks.{id}"), e));
                    continue;
                }
            };
            if o.enabled == Some(false) {
                self.checks.remove(&id);
                continue;
            }
            match self.checks.get_mut(&id) {
                Some(spec) => {
                    if let Some(s) = o.severity {
                        spec.severity = s;
                    }
                    if let Some(e) = &o.expect {
                        spec.expect = e.clone();
                    }
                }
                None => match (&o.severity, &o.expect) {
                    (Some(severity), Some(expect)) => {
                        self.checks.insert(
                            id,
                            CheckSpec {
                                severity: *severity,
                                expect: expect.clone(),
                                escalate_to: None,
                            },
                        );
                    }
                    _ => errors.push(Problem::at(
                        path,
                        &format!("checks.{id}"),
                        format!(
                            "the check is not in profile {:?}; adding it needs severity and expect",
                            self.name
                        ),
                    )),
                },
            }
        }
        if errors.is_empty() {
            Ok(self)
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_profiles_parse() {
        for (name, _) in BUILTIN {
            let p = Profile::load(name).unwrap();
            assert_eq!(p.name, *name);
            assert!(!p.checks.is_empty());
        }
    }

    #[test]
    fn das_tern_covers_the_seed_report() {
        let p = Profile::load("das-tern").unwrap();
        for id in [
            CheckId::PostgresVersionMin,
            CheckId::PostgresEncoding,
            CheckId::PostgresTimezone,
            CheckId::PostgresMaxConnections,
            CheckId::PostgresSlowQueryLogging,
            CheckId::PostgresDataOnNamedVolume,
            CheckId::RedisVersionMin,
            CheckId::RedisMaxmemory,
            CheckId::RedisMaxmemoryPolicy,
            CheckId::RedisRdbSnapshots,
            CheckId::RedisAofEnabled,
            CheckId::RedisAofFsync,
            CheckId::RedisAuthRequired,
            CheckId::RedisDataOnNamedVolume,
        ] {
            assert!(p.checks.contains_key(&id), "{id}");
        }
        assert_eq!(p.checks[&CheckId::RedisMaxmemory].expect, "512mb");
    }

    #[test]
    fn unknown_checks_and_bad_overrides_are_errors() {
        assert!(
            Profile::parse(
                "name: x\nchecks:\n  nope: {severity: info, expect: x}\n",
                "t"
            )
            .is_err()
        );
        assert!(Profile::parse("name: x\nchecks: {}\nextra: 1\n", "t").is_err());
        let p = Profile::load("cache").unwrap();
        let mut o = BTreeMap::new();
        o.insert(
            "redis_aof_enabled".to_string(),
            CheckOverride {
                severity: Some(Severity::Info),
                ..Default::default()
            },
        );
        assert!(p.clone().with_overrides(&o, "t").is_err());
        let mut o = BTreeMap::new();
        o.insert(
            "redis_auth_required".to_string(),
            CheckOverride {
                enabled: Some(false),
                ..Default::default()
            },
        );
        assert!(
            !p.with_overrides(&o, "t")
                .unwrap()
                .checks
                .contains_key(&CheckId::RedisAuthRequired)
        );
    }

    #[test]
    fn unknown_ids_are_named_with_a_suggestion_and_all_reported() {
        let e = Profile::parse(
            "name: x\nchecks:\n  redis_aof_enable: {severity: info, expect: x}\n  postgres_fsynk: {severity: info, expect: x}\n",
            "mine.yml",
        )
        .unwrap_err();
        assert_eq!(
            e.iter().map(ToString::to_string).collect::<Vec<_>>(),
            vec![
                "profile mine.yml: unknown check \"postgres_fsynk\" (did you mean \"postgres_fsync\"?)",
                "profile mine.yml: unknown check \"redis_aof_enable\" (did you mean \"redis_aof_enabled\"?)",
            ]
        );
        let o = BTreeMap::from([("redis_no_eviction".to_string(), CheckOverride::default())]);
        let e = Profile::load("durable")
            .unwrap()
            .with_overrides(&o, "redis[0] (name \"r\")")
            .unwrap_err();
        assert_eq!(
            e.iter().map(ToString::to_string).collect::<Vec<_>>(),
            vec![
                "redis[0] (name \"r\"): checks.redis_no_eviction: unknown check \"redis_no_eviction\" (did you mean \"redis_no_evictions\"?)"
            ]
        );
    }

    #[test]
    fn missing_profile_file_is_a_clear_error() {
        let e = Profile::load("/nonexistent/p.yml").unwrap_err();
        assert!(
            e[0].to_string().contains("das-tern, durable, cache"),
            "{e:?}"
        );
        let e = Profile::load("das-term").unwrap_err();
        assert!(
            e[0].to_string().contains("(did you mean \"das-tern\"?)"),
            "{e:?}"
        );
    }
}
