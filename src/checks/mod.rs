//! Persistence checks: pure functions from a target's snapshot (plus where its data lives,
//! from the Docker collector) and its profile to PASS / FAIL / UNKNOWN results with the
//! expected and observed values. A check that cannot be evaluated is UNKNOWN with a
//! reason, never a pass or a fail.

pub mod profile;

use crate::collectors::redis::{ConfigState, RedisSnapshot};
use profile::{CheckSpec, Profile};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// Which system a check is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Evaluated for Redis targets.
    Redis,
    /// Evaluated for PostgreSQL targets.
    Postgres,
    /// Evaluated for every Redis and PostgreSQL target with its data on a Docker volume.
    Data,
}

/// A check known to the exporter (its id is a contract with alerts and dashboards).
#[derive(Debug)]
pub struct CheckDef {
    /// Stable id, the `check` label.
    pub id: &'static str,
    /// The targets it applies to.
    pub scope: Scope,
    /// The requirement, as printed in the `check` report.
    pub requirement: &'static str,
}

/// Every check, in report order.
pub const CHECKS: &[CheckDef] = &[
    CheckDef {
        id: "postgres_version_min",
        scope: Scope::Postgres,
        requirement: "PostgreSQL version",
    },
    CheckDef {
        id: "postgres_encoding",
        scope: Scope::Postgres,
        requirement: "Server encoding",
    },
    CheckDef {
        id: "postgres_timezone",
        scope: Scope::Postgres,
        requirement: "Time zone",
    },
    CheckDef {
        id: "postgres_max_connections",
        scope: Scope::Postgres,
        requirement: "max_connections",
    },
    CheckDef {
        id: "postgres_slow_query_logging",
        scope: Scope::Postgres,
        requirement: "Slow query logging (log_min_duration_statement)",
    },
    CheckDef {
        id: "postgres_fsync",
        scope: Scope::Postgres,
        requirement: "fsync",
    },
    CheckDef {
        id: "postgres_full_page_writes",
        scope: Scope::Postgres,
        requirement: "full_page_writes",
    },
    CheckDef {
        id: "postgres_synchronous_commit",
        scope: Scope::Postgres,
        requirement: "synchronous_commit",
    },
    CheckDef {
        id: "postgres_archiving",
        scope: Scope::Postgres,
        requirement: "WAL archiving not failing",
    },
    CheckDef {
        id: "postgres_data_on_named_volume",
        scope: Scope::Postgres,
        requirement: "Data directory on a named volume",
    },
    CheckDef {
        id: "redis_version_min",
        scope: Scope::Redis,
        requirement: "Redis version",
    },
    CheckDef {
        id: "redis_maxmemory",
        scope: Scope::Redis,
        requirement: "maxmemory",
    },
    CheckDef {
        id: "redis_maxmemory_policy",
        scope: Scope::Redis,
        requirement: "maxmemory-policy",
    },
    CheckDef {
        id: "redis_rdb_snapshots",
        scope: Scope::Redis,
        requirement: "RDB snapshots (save)",
    },
    CheckDef {
        id: "redis_aof_enabled",
        scope: Scope::Redis,
        requirement: "Append-only file (appendonly)",
    },
    CheckDef {
        id: "redis_aof_fsync",
        scope: Scope::Redis,
        requirement: "AOF fsync policy (appendfsync)",
    },
    CheckDef {
        id: "redis_auth_required",
        scope: Scope::Redis,
        requirement: "Authentication required",
    },
    CheckDef {
        id: "redis_data_on_named_volume",
        scope: Scope::Redis,
        requirement: "Data directory on a named volume",
    },
    CheckDef {
        id: "redis_rdb_last_bgsave_ok",
        scope: Scope::Redis,
        requirement: "Last RDB save succeeded",
    },
    CheckDef {
        id: "redis_aof_last_write_ok",
        scope: Scope::Redis,
        requirement: "Last AOF write succeeded",
    },
    CheckDef {
        id: "redis_aof_last_rewrite_ok",
        scope: Scope::Redis,
        requirement: "Last AOF rewrite succeeded",
    },
    CheckDef {
        id: "redis_no_evictions",
        scope: Scope::Redis,
        requirement: "No eviction of persisted keys",
    },
    CheckDef {
        id: "redis_last_save_age",
        scope: Scope::Redis,
        requirement: "RDB saves keep up with the save rules",
    },
    CheckDef {
        id: "docker_volume_headroom",
        scope: Scope::Data,
        requirement: "Free space under the data volume",
    },
];

/// Outcome of one check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE", tag = "status", content = "reason")]
pub enum Status {
    /// The requirement holds.
    Pass,
    /// The requirement does not hold.
    Fail,
    /// It could not be evaluated; the reason says why.
    Unknown(String),
}

/// One evaluated check of one target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    /// Target name.
    pub target: String,
    /// Check id.
    pub check: &'static str,
    /// Requirement text.
    pub requirement: &'static str,
    /// Severity (after escalation).
    pub severity: Severity,
    /// What the profile expects.
    pub expected: String,
    /// What the live server reports (empty when unknown).
    pub observed: String,
    /// PASS / FAIL / UNKNOWN.
    #[serde(flatten)]
    pub status: Status,
}

/// Where a target's data directory lives, from the Docker collector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MountFact {
    /// The mount covering the data directory.
    Known {
        /// `volume`, `anonymous_volume`, `bind`, `tmpfs` or `none`.
        mount_type: String,
        /// Volume name (empty for non-volumes).
        volume: String,
        /// Volume driver (empty for non-volumes).
        driver: String,
    },
    /// It could not be determined; the reason says why.
    Unknown(String),
}

/// Usage of the filesystem that holds the volumes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FsUsage {
    /// Size in bytes.
    pub size: f64,
    /// Bytes available to unprivileged users.
    pub avail: f64,
}

/// What the PostgreSQL collector knows that the checks need.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PgFacts {
    /// `server_version_num`.
    pub version_num: Option<u32>,
    /// `pg_settings.setting` by name, in the setting's own unit.
    pub settings: BTreeMap<String, String>,
    /// `pg_stat_archiver.failed_count`.
    pub archiver_failed_count: Option<f64>,
    /// Seconds since `pg_stat_archiver.last_failed_time` (`None`: never failed).
    pub archiver_last_failed_age: Option<f64>,
    /// Seconds since `pg_stat_archiver.last_archived_time` (`None`: never archived).
    pub archiver_last_archive_age: Option<f64>,
}

/// The facts one target's checks are evaluated on.
pub enum Facts<'a> {
    /// A Redis target that answered.
    Redis(&'a RedisSnapshot),
    /// A PostgreSQL target that answered.
    Postgres(&'a PgFacts),
    /// The target did not answer; the reason says why.
    Down(Scope, String),
}

/// Everything needed to evaluate one target.
pub struct Input<'a> {
    /// Target name.
    pub target: &'a str,
    /// Its state.
    pub facts: Facts<'a>,
    /// Where its data lives.
    pub mount: MountFact,
    /// Usage of the filesystem under the volumes, when the exporter can see it.
    pub volume_fs: Option<FsUsage>,
    /// Current Unix time, for ages.
    pub now: f64,
}

/// Evaluates every check of `profile` that applies to the target.
pub fn evaluate(input: &Input<'_>, profile: &Profile) -> Vec<CheckResult> {
    let scope = match &input.facts {
        Facts::Redis(_) => Scope::Redis,
        Facts::Postgres(_) => Scope::Postgres,
        Facts::Down(s, _) => *s,
    };
    CHECKS
        .iter()
        .filter(|d| d.scope == scope || d.scope == Scope::Data)
        .filter_map(|d| profile.checks.get(d.id).map(|spec| (d, spec)))
        .map(|(d, spec)| {
            let (status, observed, escalate) = match &input.facts {
                Facts::Down(_, reason) => (
                    Status::Unknown(format!("target down: {reason}")),
                    String::new(),
                    false,
                ),
                _ if d.scope == Scope::Data => headroom(spec, &input.mount, input.volume_fs),
                Facts::Redis(s) => redis_check(d.id, spec, s, &input.mount, input.now),
                Facts::Postgres(p) => postgres_check(d.id, spec, p, &input.mount),
            };
            let severity = match (escalate, spec.escalate_to) {
                (true, Some(s)) => s,
                _ => spec.severity,
            };
            CheckResult {
                target: input.target.to_string(),
                check: d.id,
                requirement: d.requirement,
                severity,
                expected: spec.expect.clone(),
                observed,
                status,
            }
        })
        .collect()
}

/// `(status, observed, escalate)`.
type Eval = (Status, String, bool);

fn pass_if(ok: bool, observed: impl Into<String>) -> Eval {
    (
        if ok { Status::Pass } else { Status::Fail },
        observed.into(),
        false,
    )
}

fn unknown(reason: impl Into<String>) -> Eval {
    (Status::Unknown(reason.into()), String::new(), false)
}

/// True when `observed` equals one of the `a or b or c` alternatives of `expect`.
fn any_of(expect: &str, observed: &str) -> bool {
    expect
        .split(" or ")
        .any(|e| e.trim().eq_ignore_ascii_case(observed.trim()))
}

/// Parses `7`, `7.2`, `7.0.15` into comparable numbers.
fn version_tuple(v: &str) -> Vec<u64> {
    v.split('.').map_while(|p| p.trim().parse().ok()).collect()
}

/// Parses a Redis memory size (`512mb`, `1gb`, `100k`, `1048576`) into bytes, with Redis'
/// own units: `k`/`m`/`g` are powers of 1000, `kb`/`mb`/`gb` powers of 1024.
pub fn parse_redis_size(s: &str) -> Option<f64> {
    let s = s.trim().to_ascii_lowercase();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let n: f64 = s[..split].parse().ok()?;
    let mult = match &s[split..] {
        "" | "b" => 1.0,
        "k" => 1e3,
        "kb" => 1024.0,
        "m" => 1e6,
        "mb" => 1024.0 * 1024.0,
        "g" => 1e9,
        "gb" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some(n * mult)
}

/// Parses the `save` rules (`"3600 1 300 100"`) into `(seconds, changes)` pairs.
pub fn parse_save_rules(save: &str) -> Vec<(u64, u64)> {
    let nums: Vec<u64> = save
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    nums.chunks(2)
        .filter(|c| c.len() == 2)
        .map(|c| (c[0], c[1]))
        .collect()
}

fn mount_check(spec: &CheckSpec, mount: &MountFact) -> Eval {
    match mount {
        MountFact::Unknown(r) => unknown(r.clone()),
        MountFact::Known {
            mount_type,
            volume,
            driver,
        } => {
            let observed = if volume.is_empty() {
                mount_type.clone()
            } else {
                format!("{mount_type} {volume} (driver {driver})")
            };
            let on_volume = mount_type == "volume";
            let driver_ok = match spec.expect.trim() {
                "any" | "" => true,
                d => d == driver,
            };
            pass_if(on_volume && driver_ok, observed)
        }
    }
}

fn headroom(spec: &CheckSpec, mount: &MountFact, fs: Option<FsUsage>) -> Eval {
    let limit: f64 = match spec.expect.trim().trim_end_matches('%').parse::<f64>() {
        Ok(l) => l,
        Err(_) => return unknown(format!("expectation {:?} is not a percentage", spec.expect)),
    };
    match mount {
        MountFact::Unknown(r) => return unknown(r.clone()),
        MountFact::Known { mount_type, .. }
            if mount_type != "volume" && mount_type != "anonymous_volume" =>
        {
            return unknown(format!("data is not on a volume ({mount_type})"));
        }
        MountFact::Known { .. } => {}
    }
    let Some(fs) = fs.filter(|f| f.size > 0.0) else {
        return unknown("the exporter cannot see Docker's data root");
    };
    let used = 100.0 * (1.0 - fs.avail / fs.size);
    pass_if(used <= limit, format!("{used:.1}% used"))
}

fn redis_check(id: &str, spec: &CheckSpec, s: &RedisSnapshot, mount: &MountFact, now: f64) -> Eval {
    let info = &s.info;
    let config = match &s.config {
        ConfigState::Readable(m) => Ok(m),
        ConfigState::Refused(e) => Err(format!("CONFIG GET refused: {e}")),
    };
    let aof_on = info.num("aof_enabled") == Some(1.0);
    match id {
        "redis_version_min" => match info.get("redis_version") {
            Some(v) => pass_if(version_tuple(v) >= version_tuple(&spec.expect), v),
            None => unknown("INFO has no redis_version"),
        },
        "redis_maxmemory" => match (info.num("maxmemory"), parse_redis_size(&spec.expect)) {
            (Some(v), Some(want)) => pass_if(v == want, format!("{v} bytes")),
            (None, _) => unknown("INFO has no maxmemory"),
            (_, None) => unknown(format!("expectation {:?} is not a size", spec.expect)),
        },
        "redis_maxmemory_policy" => match info.get("maxmemory_policy") {
            Some(p) => pass_if(any_of(&spec.expect, p), p),
            None => unknown("INFO has no maxmemory_policy"),
        },
        "redis_rdb_snapshots" => {
            let save = match config {
                Ok(m) => m.get("save").cloned().unwrap_or_default(),
                Err(e) => return unknown(e),
            };
            let rules = parse_save_rules(&save);
            let observed = if save.is_empty() {
                "save \"\" (RDB off)".to_string()
            } else {
                format!("save {save}")
            };
            match spec.expect.trim() {
                "enabled" => pass_if(!rules.is_empty(), observed),
                "enabled or AOF" => pass_if(
                    !rules.is_empty() || aof_on,
                    format!(
                        "{observed}, appendonly {}",
                        if aof_on { "yes" } else { "no" }
                    ),
                ),
                want => {
                    let wanted = parse_save_rules(want);
                    if wanted.is_empty() {
                        return unknown(format!("expectation {want:?} is not a save rule"));
                    }
                    pass_if(wanted.iter().all(|r| rules.contains(r)), observed)
                }
            }
        }
        "redis_aof_enabled" => match info.num("aof_enabled") {
            Some(v) => {
                let rdb_off = config
                    .as_ref()
                    .ok()
                    .and_then(|m| m.get("save"))
                    .is_some_and(|s| s.trim().is_empty());
                let (st, obs, _) = pass_if(v == 1.0, if v == 1.0 { "yes" } else { "no" });
                // Without RDB as well nothing persists: escalate.
                (st, obs, v != 1.0 && rdb_off)
            }
            None => unknown("INFO has no aof_enabled"),
        },
        "redis_aof_fsync" => match config {
            Ok(m) => match m.get("appendfsync") {
                Some(v) => pass_if(any_of(&spec.expect, v), v),
                None => unknown("server has no appendfsync"),
            },
            Err(e) => unknown(e),
        },
        "redis_auth_required" => match s.auth_required {
            Some(r) => pass_if(
                r,
                if r {
                    "yes"
                } else {
                    "no: connections without a password are accepted"
                },
            ),
            None => unknown("the credential-less probe did not answer"),
        },
        "redis_data_on_named_volume" => mount_check(spec, mount),
        "redis_rdb_last_bgsave_ok" => match info.get("rdb_last_bgsave_status") {
            Some(v) => pass_if(v == "ok", v),
            None => unknown("INFO has no rdb_last_bgsave_status"),
        },
        "redis_aof_last_write_ok" | "redis_aof_last_rewrite_ok" => {
            let field = if id == "redis_aof_last_write_ok" {
                "aof_last_write_status"
            } else {
                "aof_last_bgrewrite_status"
            };
            match info.get(field) {
                Some(v) => pass_if(v == "ok", v),
                None => unknown(format!("INFO has no {field}")),
            }
        }
        "redis_no_evictions" => {
            let Some(evicted) = info.num("evicted_keys") else {
                return unknown("INFO has no evicted_keys");
            };
            let policy = info.get("maxmemory_policy").unwrap_or("");
            let allkeys_allowed = spec.expect.contains("allkeys policy allowed");
            let bad_policy = !allkeys_allowed && policy.starts_with("allkeys-");
            let observed = format!("{evicted} evicted, policy {policy}");
            (
                if evicted > 0.0 || bad_policy {
                    Status::Fail
                } else {
                    Status::Pass
                },
                observed,
                evicted > 0.0,
            )
        }
        "redis_last_save_age" => {
            let save = match config {
                Ok(m) => m.get("save").cloned().unwrap_or_default(),
                Err(e) => return unknown(e),
            };
            let rules = parse_save_rules(&save);
            if rules.is_empty() {
                return pass_if(true, "RDB off");
            }
            let (Some(last), Some(changes)) = (
                info.num("rdb_last_save_time"),
                info.num("rdb_changes_since_last_save"),
            ) else {
                return unknown("INFO has no rdb_last_save_time");
            };
            let age = (now - last).max(0.0);
            // A save is due when some rule's interval has passed with enough changes; allow
            // a minute for the save itself and Redis' retry delay after a failed one.
            let overdue = rules
                .iter()
                .any(|(secs, n)| changes >= *n as f64 && age > *secs as f64 + 60.0);
            pass_if(
                !overdue,
                format!("last save {age:.0}s ago, {changes} changes since"),
            )
        }
        _ => unknown(format!("{id} does not apply to Redis")),
    }
}

fn postgres_check(id: &str, spec: &CheckSpec, p: &PgFacts, mount: &MountFact) -> Eval {
    let setting = |name: &str| p.settings.get(name).map(String::as_str);
    let exact = |name: &str| match setting(name) {
        Some(v) => pass_if(any_of(&spec.expect, v), v),
        None => unknown(format!(
            "setting {name} is not visible (missing privilege?)"
        )),
    };
    match id {
        "postgres_version_min" => match p.version_num {
            Some(n) => {
                let major = (n / 10000) as u64;
                pass_if(
                    version_tuple(&spec.expect)
                        .first()
                        .is_some_and(|want| major >= *want),
                    major.to_string(),
                )
            }
            None => unknown("server version unknown"),
        },
        "postgres_encoding" => exact("server_encoding"),
        "postgres_timezone" => exact("TimeZone"),
        "postgres_max_connections" => exact("max_connections"),
        "postgres_slow_query_logging" => {
            let want = crate::duration::parse(&spec.expect).map(|d| d.as_millis() as i64);
            match (
                setting("log_min_duration_statement").and_then(|v| v.parse::<i64>().ok()),
                want,
            ) {
                (Some(v), Ok(w)) => pass_if(
                    v == w,
                    if v < 0 {
                        "off (-1)".to_string()
                    } else {
                        format!("{v}ms")
                    },
                ),
                (None, _) => unknown("setting log_min_duration_statement is not visible"),
                (_, Err(e)) => unknown(format!("expectation: {e}")),
            }
        }
        "postgres_fsync" => exact("fsync"),
        "postgres_full_page_writes" => exact("full_page_writes"),
        "postgres_synchronous_commit" => match setting("synchronous_commit") {
            // Every level except off waits for the local WAL flush.
            Some(v) => pass_if(
                if spec.expect.trim() == "on" {
                    v != "off"
                } else {
                    any_of(&spec.expect, v)
                },
                v,
            ),
            None => unknown("setting synchronous_commit is not visible"),
        },
        "postgres_archiving" => match setting("archive_mode") {
            Some("off") => pass_if(true, "archive_mode off"),
            Some(mode) => match p.archiver_failed_count {
                Some(failed) => {
                    // Failing when the most recent attempt failed: the last failure is
                    // younger than the last success (or nothing was ever archived).
                    let failing = failed > 0.0
                        && match (p.archiver_last_failed_age, p.archiver_last_archive_age) {
                            (Some(f), Some(a)) => f <= a,
                            (Some(_), None) => true,
                            (None, _) => false,
                        };
                    pass_if(
                        !failing,
                        format!(
                            "archive_mode {mode}, {failed} failures, last attempt {}",
                            if failing { "failed" } else { "ok" }
                        ),
                    )
                }
                None => unknown("pg_stat_archiver is not visible"),
            },
            None => unknown("setting archive_mode is not visible"),
        },
        "postgres_data_on_named_volume" => mount_check(spec, mount),
        _ => unknown(format!("{id} does not apply to PostgreSQL")),
    }
}

/// Number of failing checks per severity (all severities present, 0 included).
pub fn failing_counts(results: &[CheckResult]) -> BTreeMap<Severity, usize> {
    let mut m: BTreeMap<Severity, usize> = [Severity::Critical, Severity::Warning, Severity::Info]
        .into_iter()
        .map(|s| (s, 0))
        .collect();
    for r in results.iter().filter(|r| r.status == Status::Fail) {
        *m.entry(r.severity).or_insert(0) += 1;
    }
    m
}

/// Evaluates the checks of every target in a scrape, joining each target with what the
/// Docker collector found about its data directory.
pub fn evaluate_outcomes(
    outcomes: &[std::sync::Arc<crate::scrape::TargetOutcome>],
    profiles: &BTreeMap<String, Profile>,
    now: f64,
) -> Vec<CheckResult> {
    use crate::collectors::{Kind, Snapshot};
    let docker = outcomes.iter().find(|o| o.kind == Kind::Docker);
    let mut out = Vec::new();
    for o in outcomes {
        let Some(profile) = profiles.get(&o.target) else {
            continue;
        };
        let scope = match o.kind {
            Kind::Redis => Scope::Redis,
            Kind::Postgres => Scope::Postgres,
            Kind::Docker => continue,
        };
        let pg_facts;
        let facts = match &o.result {
            Ok(Snapshot::Redis(s)) => Facts::Redis(s),
            Ok(snap) => match postgres_facts(snap) {
                Some(f) => {
                    pg_facts = f;
                    Facts::Postgres(&pg_facts)
                }
                None => continue,
            },
            Err(e) => Facts::Down(scope, e.reason().to_string()),
        };
        let (mount, volume_fs) = mount_facts(&o.target, o, docker.map(|d| d.as_ref()));
        out.extend(evaluate(
            &Input {
                target: &o.target,
                facts,
                mount,
                volume_fs,
                now,
            },
            profile,
        ));
    }
    out
}

/// Adapts a PostgreSQL snapshot to [`PgFacts`]; `None` for other snapshots.
fn postgres_facts(snap: &crate::collectors::Snapshot) -> Option<PgFacts> {
    let crate::collectors::Snapshot::Postgres(p) = snap else {
        return None;
    };
    let mut settings: BTreeMap<String, String> = p
        .settings
        .iter()
        .map(|s| (s.name.clone(), s.setting.clone()))
        .collect();
    for (name, value) in &p.info_settings {
        settings.insert(name.clone(), value.clone());
    }
    Some(PgFacts {
        version_num: Some(p.version_num),
        settings,
        archiver_failed_count: p.archiver.as_ref().map(|a| a.failed_count),
        archiver_last_failed_age: p.archiver.as_ref().and_then(|a| a.last_failed_age),
        archiver_last_archive_age: p.archiver.as_ref().and_then(|a| a.last_archive_age),
    })
}

/// Where the target's data lives, from the Docker snapshot of the same scrape.
fn mount_facts(
    target: &str,
    outcome: &crate::scrape::TargetOutcome,
    docker: Option<&crate::scrape::TargetOutcome>,
) -> (MountFact, Option<FsUsage>) {
    use crate::collectors::docker::{DataDirSource, data_mount};
    use crate::collectors::{Kind, Snapshot};
    let Some(d) = docker else {
        return (
            MountFact::Unknown("no Docker Engine is monitored".into()),
            None,
        );
    };
    let Ok(Snapshot::Docker(ds)) = &d.result else {
        return (
            MountFact::Unknown("the Docker Engine did not answer".into()),
            None,
        );
    };
    let fs = ds.volumes_filesystem.as_ref().map(|c| FsUsage {
        size: c.size_bytes as f64,
        avail: c.avail_bytes as f64,
    });
    let Some(tc) = ds.containers.iter().find(|c| c.target == target) else {
        return (
            MountFact::Unknown(
                "no container found for this target (set `container:` in the config)".into(),
            ),
            fs,
        );
    };
    let (dir, source) = match (&outcome.result, outcome.kind) {
        (Ok(Snapshot::Redis(r)), _) => (
            match &r.config {
                ConfigState::Readable(m) => m.get("dir").cloned(),
                ConfigState::Refused(_) => None,
            },
            DataDirSource::Redis,
        ),
        (Ok(Snapshot::Postgres(p)), _) => (
            p.info("data_directory").map(str::to_string),
            DataDirSource::Postgres,
        ),
        (_, Kind::Postgres) => (None, DataDirSource::Postgres),
        _ => (None, DataDirSource::Redis),
    };
    let m = data_mount(dir.as_deref(), source, &tc.container);
    (
        MountFact::Known {
            mount_type: m.mount_type.as_str().to_string(),
            volume: m.volume,
            driver: m.driver,
        },
        fs,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::redis::parse_info;

    const NOW: f64 = 1_800_000_000.0;

    fn seed_redis() -> (String, BTreeMap<String, String>) {
        let info = format!(
            "redis_version:7.4.1\nmaxmemory:536870912\nmaxmemory_policy:allkeys-lru\naof_enabled:1\naof_last_write_status:ok\naof_last_bgrewrite_status:ok\nrdb_last_bgsave_status:ok\nevicted_keys:0\nrdb_last_save_time:{}\nrdb_changes_since_last_save:5\n",
            NOW - 30.0
        );
        let config = [
            ("save", "60 1000"),
            ("appendonly", "yes"),
            ("appendfsync", "everysec"),
            ("dir", "/data"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        (info, config)
    }

    fn named_volume() -> MountFact {
        MountFact::Known {
            mount_type: "volume".into(),
            volume: "redis_data".into(),
            driver: "local".into(),
        }
    }

    fn run_redis(
        info: &str,
        config: BTreeMap<String, String>,
        auth: Option<bool>,
        profile: &str,
        mount: MountFact,
    ) -> Vec<CheckResult> {
        let snap = RedisSnapshot {
            info: parse_info(info),
            config: ConfigState::Readable(config),
            auth_required: auth,
        };
        let input = Input {
            target: "r",
            facts: Facts::Redis(&snap),
            mount,
            volume_fs: Some(FsUsage {
                size: 100.0,
                avail: 50.0,
            }),
            now: NOW,
        };
        evaluate(&input, &Profile::load(profile).unwrap())
    }

    fn failing(results: &[CheckResult]) -> Vec<(&'static str, Severity)> {
        results
            .iter()
            .filter(|r| r.status == Status::Fail)
            .map(|r| (r.check, r.severity))
            .collect()
    }

    #[test]
    fn seed_redis_passes_das_tern() {
        let (info, config) = seed_redis();
        let r = run_redis(&info, config, Some(true), "das-tern", named_volume());
        assert!(r.iter().all(|r| r.status == Status::Pass), "{r:#?}");
        assert_eq!(r.len(), 13 + 1, "13 Redis checks plus headroom");
    }

    #[test]
    fn each_redis_misconfiguration_flips_only_its_check() {
        type Mutate = Box<
            dyn Fn(&mut String, &mut BTreeMap<String, String>, &mut Option<bool>, &mut MountFact),
        >;
        let cases: Vec<(&str, Mutate)> = vec![
            (
                "redis_aof_enabled",
                Box::new(|i, c, _, _| {
                    *i = i.replace("aof_enabled:1", "aof_enabled:0");
                    c.insert("appendonly".into(), "no".into());
                }),
            ),
            (
                "redis_rdb_snapshots",
                Box::new(|_, c, _, _| {
                    c.insert("save".into(), "".into());
                }),
            ),
            (
                "redis_aof_fsync",
                Box::new(|_, c, _, _| {
                    c.insert("appendfsync".into(), "always".into());
                }),
            ),
            (
                "redis_maxmemory_policy",
                Box::new(|i, _, _, _| {
                    *i = i.replace("allkeys-lru", "noeviction");
                }),
            ),
            (
                "redis_auth_required",
                Box::new(|_, _, a, _| *a = Some(false)),
            ),
            (
                "redis_rdb_last_bgsave_ok",
                Box::new(|i, _, _, _| {
                    *i = i.replace("rdb_last_bgsave_status:ok", "rdb_last_bgsave_status:err");
                }),
            ),
            (
                "redis_no_evictions",
                Box::new(|i, _, _, _| {
                    *i = i.replace("evicted_keys:0", "evicted_keys:12");
                }),
            ),
            (
                "redis_data_on_named_volume",
                Box::new(|_, _, _, m| {
                    *m = MountFact::Known {
                        mount_type: "anonymous_volume".into(),
                        volume: "a".repeat(64),
                        driver: "local".into(),
                    };
                }),
            ),
            (
                "redis_maxmemory",
                Box::new(|i, _, _, _| {
                    *i = i.replace("maxmemory:536870912", "maxmemory:0");
                }),
            ),
            (
                "redis_version_min",
                Box::new(|i, _, _, _| {
                    *i = i.replace("7.4.1", "6.2.14");
                }),
            ),
        ];
        for (check, mutate) in cases {
            let (mut info, mut config) = seed_redis();
            let mut auth = Some(true);
            let mut mount = named_volume();
            mutate(&mut info, &mut config, &mut auth, &mut mount);
            let r = run_redis(&info, config, auth, "das-tern", mount);
            let f = failing(&r);
            assert_eq!(f.len(), 1, "{check}: {f:?}");
            assert_eq!(f[0].0, check);
        }
    }

    #[test]
    fn das_tern_evictions_are_a_warning() {
        let (info, config) = seed_redis();
        let r = run_redis(
            &info.replace("evicted_keys:0", "evicted_keys:3"),
            config,
            Some(true),
            "das-tern",
            named_volume(),
        );
        assert_eq!(failing(&r), vec![("redis_no_evictions", Severity::Warning)]);
        let info_row = r.iter().find(|r| r.check == "redis_no_evictions").unwrap();
        assert_eq!(info_row.observed, "3 evicted, policy allkeys-lru");
    }

    #[test]
    fn persistence_off_is_fine_for_a_cache_and_critical_when_durable() {
        let (info, mut config) = seed_redis();
        let info = info
            .replace("aof_enabled:1", "aof_enabled:0")
            .replace("allkeys-lru", "noeviction");
        config.insert("save".into(), "".into());
        config.insert("appendonly".into(), "no".into());
        let cache = run_redis(&info, config.clone(), Some(true), "cache", named_volume());
        assert!(failing(&cache).is_empty(), "{cache:#?}");
        let durable = run_redis(&info, config, Some(true), "durable", named_volume());
        assert_eq!(
            failing(&durable),
            vec![
                ("redis_rdb_snapshots", Severity::Critical),
                ("redis_aof_enabled", Severity::Critical)
            ]
        );
    }

    #[test]
    fn rdb_without_aof_is_only_a_warning_when_durable() {
        let (info, mut config) = seed_redis();
        let info = info
            .replace("aof_enabled:1", "aof_enabled:0")
            .replace("allkeys-lru", "noeviction");
        config.insert("appendonly".into(), "no".into());
        let r = run_redis(&info, config, Some(true), "durable", named_volume());
        assert_eq!(failing(&r), vec![("redis_aof_enabled", Severity::Warning)]);
    }

    #[test]
    fn durable_allkeys_policy_warns_and_evictions_escalate() {
        let (info, config) = seed_redis();
        let r = run_redis(&info, config.clone(), Some(true), "durable", named_volume());
        assert_eq!(failing(&r), vec![("redis_no_evictions", Severity::Warning)]);
        let r = run_redis(
            &info.replace("evicted_keys:0", "evicted_keys:1"),
            config,
            Some(true),
            "durable",
            named_volume(),
        );
        assert_eq!(
            failing(&r),
            vec![("redis_no_evictions", Severity::Critical)]
        );
    }

    #[test]
    fn overdue_save_and_full_volume_fail() {
        let (info, config) = seed_redis();
        let info = info
            .replace(
                &format!("rdb_last_save_time:{}", NOW - 30.0),
                &format!("rdb_last_save_time:{}", NOW - 500.0),
            )
            .replace(
                "rdb_changes_since_last_save:5",
                "rdb_changes_since_last_save:5000",
            );
        let snap = RedisSnapshot {
            info: parse_info(&info),
            config: ConfigState::Readable(config),
            auth_required: Some(true),
        };
        let input = Input {
            target: "r",
            facts: Facts::Redis(&snap),
            mount: named_volume(),
            volume_fs: Some(FsUsage {
                size: 100.0,
                avail: 5.0,
            }),
            now: NOW,
        };
        let r = evaluate(&input, &Profile::load("das-tern").unwrap());
        assert_eq!(
            failing(&r),
            vec![
                ("redis_last_save_age", Severity::Warning),
                ("docker_volume_headroom", Severity::Warning)
            ]
        );
    }

    #[test]
    fn refused_config_and_down_targets_are_unknown() {
        let (info, _) = seed_redis();
        let snap = RedisSnapshot {
            info: parse_info(&info),
            config: ConfigState::Refused("NOPERM".into()),
            auth_required: None,
        };
        let input = Input {
            target: "r",
            facts: Facts::Redis(&snap),
            mount: MountFact::Unknown("no Docker".into()),
            volume_fs: None,
            now: NOW,
        };
        let r = evaluate(&input, &Profile::load("das-tern").unwrap());
        let unknown: Vec<_> = r
            .iter()
            .filter(|r| matches!(r.status, Status::Unknown(_)))
            .map(|r| r.check)
            .collect();
        for c in [
            "redis_rdb_snapshots",
            "redis_aof_fsync",
            "redis_auth_required",
            "redis_data_on_named_volume",
            "redis_last_save_age",
            "docker_volume_headroom",
        ] {
            assert!(unknown.contains(&c), "{c} in {unknown:?}");
        }
        // What INFO alone tells is still evaluated.
        assert!(
            r.iter()
                .any(|r| r.check == "redis_aof_enabled" && r.status == Status::Pass)
        );
        let input = Input {
            target: "r",
            facts: Facts::Down(Scope::Redis, "timeout".into()),
            mount: named_volume(),
            volume_fs: None,
            now: NOW,
        };
        let r = evaluate(&input, &Profile::load("das-tern").unwrap());
        assert!(
            r.iter()
                .all(|r| matches!(&r.status, Status::Unknown(s) if s.contains("timeout")))
        );
    }

    fn seed_pg(version: u32) -> PgFacts {
        PgFacts {
            version_num: Some(version),
            settings: [
                ("server_encoding", "UTF8"),
                ("TimeZone", "Asia/Phnom_Penh"),
                ("max_connections", "20"),
                ("log_min_duration_statement", "1000"),
                ("fsync", "on"),
                ("full_page_writes", "on"),
                ("synchronous_commit", "on"),
                ("archive_mode", "off"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            archiver_failed_count: Some(0.0),
            ..Default::default()
        }
    }

    fn run_pg(p: &PgFacts, mount: MountFact) -> Vec<CheckResult> {
        let input = Input {
            target: "p",
            facts: Facts::Postgres(p),
            mount,
            volume_fs: Some(FsUsage {
                size: 10.0,
                avail: 9.0,
            }),
            now: NOW,
        };
        evaluate(&input, &Profile::load("das-tern").unwrap())
    }

    #[test]
    fn seed_postgres_passes_das_tern_from_16() {
        for v in [160004, 170002, 180001] {
            let r = run_pg(&seed_pg(v), named_volume());
            assert!(failing(&r).is_empty(), "{v}: {r:#?}");
        }
        let r = run_pg(&seed_pg(150008), named_volume());
        assert_eq!(
            failing(&r),
            vec![("postgres_version_min", Severity::Critical)]
        );
        assert_eq!(
            r.iter()
                .find(|r| r.check == "postgres_version_min")
                .unwrap()
                .observed,
            "15"
        );
    }

    #[test]
    fn each_postgres_misconfiguration_flips_only_its_check() {
        for (setting, value, check) in [
            ("fsync", "off", "postgres_fsync"),
            ("synchronous_commit", "off", "postgres_synchronous_commit"),
            ("TimeZone", "UTC", "postgres_timezone"),
            ("max_connections", "100", "postgres_max_connections"),
            ("full_page_writes", "off", "postgres_full_page_writes"),
            (
                "log_min_duration_statement",
                "-1",
                "postgres_slow_query_logging",
            ),
            ("server_encoding", "SQL_ASCII", "postgres_encoding"),
        ] {
            let mut p = seed_pg(170002);
            p.settings.insert(setting.into(), value.into());
            let f = failing(&run_pg(&p, named_volume()));
            assert_eq!(
                f.iter().map(|f| f.0).collect::<Vec<_>>(),
                vec![check],
                "{setting}"
            );
        }
        for mount in ["anonymous_volume", "none", "bind"] {
            let m = MountFact::Known {
                mount_type: mount.into(),
                volume: String::new(),
                driver: String::new(),
            };
            let f = failing(&run_pg(&seed_pg(170002), m));
            assert_eq!(
                f.iter().map(|f| f.0).collect::<Vec<_>>(),
                vec!["postgres_data_on_named_volume"],
                "{mount}"
            );
        }
    }

    #[test]
    fn archiving_fails_only_when_the_last_attempt_failed() {
        let mut p = seed_pg(170002);
        p.settings.insert("archive_mode".into(), "on".into());
        p.archiver_failed_count = Some(3.0);
        p.archiver_last_failed_age = Some(10.0);
        p.archiver_last_archive_age = Some(100.0);
        assert_eq!(
            failing(&run_pg(&p, named_volume())),
            vec![("postgres_archiving", Severity::Critical)]
        );
        p.archiver_last_archive_age = Some(5.0);
        assert!(failing(&run_pg(&p, named_volume())).is_empty());
    }

    #[test]
    fn sizes_and_save_rules_parse() {
        assert_eq!(parse_redis_size("512mb"), Some(536_870_912.0));
        assert_eq!(parse_redis_size("1g"), Some(1e9));
        assert_eq!(parse_redis_size("100"), Some(100.0));
        assert_eq!(parse_redis_size("lots"), None);
        assert_eq!(
            parse_save_rules("3600 1 300 100 60 10000"),
            vec![(3600, 1), (300, 100), (60, 10000)]
        );
        assert!(parse_save_rules("").is_empty());
    }
}
