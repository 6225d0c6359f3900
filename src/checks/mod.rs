//! Persistence checks: pure functions from a target's view in one scrape (its snapshot,
//! where its data lives) and its profile to PASS / FAIL / UNKNOWN / N/A results with the
//! expected and observed values. A check that cannot be evaluated is UNKNOWN with a
//! reason, never a pass or a fail; a check that does not apply to the target (the volume
//! checks of a server declared not in a container) is N/A, neither failing nor unknown.
//!
//! [`table`] defines the checks, [`redis`], [`postgres`] and [`volumes`] evaluate them,
//! [`expect`] writes the profile's expectations as comparisons (`≥ 16`, `= 512 MiB`);
//! this module holds the result types and dispatches.

mod expect;
mod postgres;
mod redis;
mod restarts;
mod table;
mod volumes;

pub use expect::{expectation, format_iec};
pub use postgres::PgFacts;
pub use redis::{parse_redis_size, parse_save_rules};
pub use table::{CheckDef, Scope, definition, table};

use crate::check_id::CheckId;
use crate::collectors::docker::{DataMount, FsCapacity};
use crate::collectors::redis::RedisSnapshot;
use crate::collectors::{Kind, Snapshot};
use crate::config::profile::{Profile, Severity};
use crate::outcome::{DataLocation, TargetView};
use serde::Serialize;
use std::collections::BTreeMap;

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
    /// It does not apply to this target (a volume check of a server declared not to run
    /// in a container); the reason says why. Neither failing nor unknown.
    #[serde(rename = "N/A")]
    NotApplicable(String),
}

impl Status {
    /// `PASS`, `FAIL`, `UNKNOWN` or `N/A`, as printed on the status page and in reports.
    pub fn label(&self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Unknown(_) => "UNKNOWN",
            Status::NotApplicable(_) => "N/A",
        }
    }

    /// Why the check is UNKNOWN or N/A (`None` for PASS and FAIL).
    pub fn reason(&self) -> Option<&str> {
        match self {
            Status::Pass | Status::Fail => None,
            Status::Unknown(r) | Status::NotApplicable(r) => Some(r),
        }
    }
}

/// Why a volume check is N/A for a target declared not to run in a container.
pub const DECLARED_NOT_IN_CONTAINER: &str =
    "declared not in a container (in_container: false): there is no container volume to check";

/// One evaluated check of one target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    /// Target name.
    pub target: String,
    /// Check id.
    pub check: CheckId,
    /// Requirement text.
    pub requirement: &'static str,
    /// Severity (after escalation).
    pub severity: Severity,
    /// What the profile expects, written as a comparison with the observed value
    /// (`≥ 16`, `= 512 MiB`, `≤ 80% used`, `one of: everysec, always`).
    pub expected: String,
    /// The profile's `expect` text as written (the `expected` label of
    /// `persistence_check_info`, kept as written so alert labels stay stable).
    pub expect: String,
    /// What the live server reports (empty when unknown or N/A).
    pub observed: String,
    /// PASS / FAIL / UNKNOWN / N/A.
    #[serde(flatten)]
    pub status: Status,
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
    /// The mount holding its data, or why that is unknown.
    pub data: Result<&'a DataMount, &'a str>,
    /// Usage of the filesystem under the volumes, when the exporter can see it.
    pub volumes_filesystem: Option<&'a FsCapacity>,
    /// The target is declared not to run in a container: its volume checks are N/A.
    pub not_in_container: bool,
    /// Current Unix time, for ages.
    pub now: f64,
    /// Restart tracking of the target, when it is tracked.
    pub restart: Option<&'a crate::restarts::RestartStatus>,
}

/// What evaluating one check found, before the profile's severity is applied.
#[derive(Clone, Debug, PartialEq)]
struct Eval {
    /// PASS / FAIL / UNKNOWN / N/A.
    status: Status,
    /// What the server reports (empty when unknown).
    observed: String,
    /// The failure is worse than usual: the profile's `escalate_to` applies.
    escalate: bool,
}

impl Eval {
    /// PASS when `ok`, else FAIL.
    fn pass_if(ok: bool, observed: impl Into<String>) -> Eval {
        Eval {
            status: if ok { Status::Pass } else { Status::Fail },
            observed: observed.into(),
            escalate: false,
        }
    }

    /// UNKNOWN with a reason.
    fn unknown(reason: impl Into<String>) -> Eval {
        Eval {
            status: Status::Unknown(reason.into()),
            observed: String::new(),
            escalate: false,
        }
    }

    /// N/A with a reason.
    fn not_applicable(reason: impl Into<String>) -> Eval {
        Eval {
            status: Status::NotApplicable(reason.into()),
            observed: String::new(),
            escalate: false,
        }
    }

    /// The same result, escalated when `escalate`.
    fn escalated_if(self, escalate: bool) -> Eval {
        Eval { escalate, ..self }
    }
}

/// Evaluates every check of `profile` that applies to the target.
pub fn evaluate(input: &Input<'_>, profile: &Profile) -> Vec<CheckResult> {
    let scope = match &input.facts {
        Facts::Redis(_) => Scope::Redis,
        Facts::Postgres(_) => Scope::Postgres,
        Facts::Down(s, _) => *s,
    };
    table()
        .filter(|d| d.scope == scope || d.scope == Scope::Data)
        .filter_map(|d| profile.checks.get(&d.id).map(|spec| (d, spec)))
        .map(|(d, spec)| {
            let eval = match (&input.facts, d.scope) {
                _ if input.not_in_container && is_volume_check(d.id) => {
                    Eval::not_applicable(DECLARED_NOT_IN_CONTAINER)
                }
                (Facts::Down(_, reason), _) => Eval::unknown(format!("target down: {reason}")),
                (_, _) if restarts::applies(d.id) => {
                    restarts::check(spec, input.restart, input.now)
                }
                (_, Scope::Data) => volumes::headroom(spec, input.data, input.volumes_filesystem),
                (Facts::Redis(s), _) => redis::check(d.id, spec, s, input.data, input.now),
                (Facts::Postgres(p), _) => postgres::check(d.id, spec, p, input.data),
            };
            let severity = match (eval.escalate, spec.escalate_to) {
                (true, Some(s)) => s,
                _ => spec.severity,
            };
            CheckResult {
                target: input.target.to_string(),
                check: d.id,
                requirement: d.requirement,
                severity,
                expected: expectation(d.id, spec),
                expect: spec.expect.clone(),
                observed: eval.observed,
                status: eval.status,
            }
        })
        .collect()
}

/// Evaluates the checks of every target of a scrape, each against its profile (targets
/// without a profile, and the Docker Engine itself, have no checks).
pub fn evaluate_scrape(
    targets: &[TargetView<'_>],
    profiles: &BTreeMap<String, Profile>,
    now: f64,
) -> Vec<CheckResult> {
    let mut out = Vec::new();
    for v in targets {
        let Some(profile) = profiles.get(v.target()) else {
            continue;
        };
        let scope = match v.kind() {
            Kind::Redis => Scope::Redis,
            Kind::Postgres => Scope::Postgres,
            Kind::Docker => continue,
        };
        let pg_facts;
        let facts = match &v.outcome.result {
            Ok(Snapshot::Redis(s)) => Facts::Redis(s),
            Ok(Snapshot::Postgres(p)) => {
                pg_facts = PgFacts::from_snapshot(p);
                Facts::Postgres(&pg_facts)
            }
            Ok(Snapshot::Docker(_)) => continue,
            Err(e) => Facts::Down(scope, e.reason().to_string()),
        };
        let (data, not_in_container) = match &v.data {
            DataLocation::Found { mount, .. } => (Ok(mount), false),
            DataLocation::Unknown(reason) => (Err(*reason), false),
            DataLocation::NotInContainer => (Err(DECLARED_NOT_IN_CONTAINER), true),
            DataLocation::NotApplicable => continue,
        };
        out.extend(evaluate(
            &Input {
                target: v.target(),
                facts,
                data,
                volumes_filesystem: v.volumes_filesystem,
                not_in_container,
                now,
                restart: v.outcome.restart.as_ref(),
            },
            profile,
        ));
    }
    out
}

/// True for the checks about the target's container volume (N/A outside a container).
pub fn is_volume_check(id: CheckId) -> bool {
    matches!(
        id,
        CheckId::RedisDataOnNamedVolume
            | CheckId::PostgresDataOnNamedVolume
            | CheckId::DockerVolumeHeadroom
    )
}

/// Number of failing checks per severity (all severities present, 0 included). UNKNOWN
/// and N/A checks are never counted.
pub fn failing_counts(results: &[CheckResult]) -> BTreeMap<Severity, usize> {
    let mut m: BTreeMap<Severity, usize> = Severity::ALL.into_iter().map(|s| (s, 0)).collect();
    for r in results.iter().filter(|r| r.status == Status::Fail) {
        *m.entry(r.severity).or_insert(0) += 1;
    }
    m
}

/// How one target's (or a whole page's) checks came out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Failing checks per severity (all severities present, 0 included).
    pub failing: BTreeMap<Severity, usize>,
    /// Checks that could not be evaluated.
    pub unknown: usize,
    /// Checks that do not apply (never failing, never unknown).
    pub not_applicable: usize,
    /// Passing checks.
    pub passed: usize,
}

impl Summary {
    /// Counts `results`.
    pub fn of<'a>(results: impl IntoIterator<Item = &'a CheckResult>) -> Summary {
        let results: Vec<&CheckResult> = results.into_iter().collect();
        let count = |f: fn(&Status) -> bool| results.iter().filter(|r| f(&r.status)).count();
        let mut failing: BTreeMap<Severity, usize> =
            Severity::ALL.into_iter().map(|s| (s, 0)).collect();
        for r in results.iter().filter(|r| r.status == Status::Fail) {
            *failing.entry(r.severity).or_insert(0) += 1;
        }
        Summary {
            failing,
            unknown: count(|s| matches!(s, Status::Unknown(_))),
            not_applicable: count(|s| matches!(s, Status::NotApplicable(_))),
            passed: count(|s| *s == Status::Pass),
        }
    }

    /// Failing checks of `severity`.
    pub fn failing(&self, severity: Severity) -> usize {
        self.failing.get(&severity).copied().unwrap_or(0)
    }
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

/// Fixtures shared by the evaluation tests of every system.
#[cfg(test)]
mod fixtures {
    use super::*;
    use crate::collectors::docker::{MountType, PathSource};

    pub const NOW: f64 = 1_800_000_000.0;

    /// A data mount of the given type (named `volume` with `driver` for volumes).
    pub fn mount(mount_type: MountType, volume: &str, driver: &str) -> DataMount {
        DataMount {
            path: "/data".into(),
            path_source: PathSource::Server,
            mount_type,
            destination: Some("/data".into()),
            volume: volume.into(),
            driver: driver.into(),
            source: String::new(),
            rw: true,
        }
    }

    pub fn named_volume() -> DataMount {
        mount(MountType::Volume, "redis_data", "local")
    }

    pub fn fs(size_bytes: u64, avail_bytes: u64) -> FsCapacity {
        FsCapacity {
            path: "/var/lib/docker/volumes".into(),
            size_bytes,
            avail_bytes,
        }
    }

    /// Evaluates one target's facts against a built-in profile.
    pub fn run(
        facts: Facts<'_>,
        data: Result<&DataMount, &str>,
        fs: Option<&FsCapacity>,
        profile: &str,
    ) -> Vec<CheckResult> {
        let restart = quiet_restarts();
        let input = Input {
            target: "t",
            facts,
            data,
            volumes_filesystem: fs,
            not_in_container: false,
            now: NOW,
            restart: Some(&restart),
        };
        evaluate(&input, &Profile::load(profile).unwrap())
    }

    /// Restarts tracked since a day ago, none observed.
    pub(crate) fn quiet_restarts() -> crate::restarts::RestartStatus {
        crate::restarts::RestartStatus::quiet_since(NOW - 86_400.0)
    }

    /// The failing checks with their severities.
    pub fn failing(results: &[CheckResult]) -> Vec<(CheckId, Severity)> {
        results
            .iter()
            .filter(|r| r.status == Status::Fail)
            .map(|r| (r.check, r.severity))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;
    use crate::collectors::redis::{ConfigState, parse_info};
    use crate::collectors::{CollectError, Kind};
    use crate::outcome::TargetOutcome;
    use crate::outcome::view::{NO_ENGINE, target_views};
    use std::sync::Arc;
    use std::time::{Duration, SystemTime};

    #[test]
    fn down_targets_are_unknown_with_the_reason() {
        let r = run(
            Facts::Down(Scope::Redis, "timeout".into()),
            Ok(&named_volume()),
            None,
            "das-tern",
        );
        assert_eq!(r.len(), 13 + 1 + 1, "Redis checks, headroom, restarts");
        assert!(
            r.iter()
                .all(|r| matches!(&r.status, Status::Unknown(s) if s == "target down: timeout"))
        );
    }

    #[test]
    fn a_scrape_is_evaluated_from_its_views() {
        let outcome = |target: &str, kind, result| {
            Arc::new(TargetOutcome {
                target: String::from(target),
                kind,
                finished_at: SystemTime::now(),
                duration: Duration::ZERO,
                result,
                restart: None,
            })
        };
        let outcomes = [
            outcome(
                "r",
                Kind::Redis,
                Ok(Snapshot::Redis(RedisSnapshot {
                    info: parse_info("aof_enabled:1\n"),
                    config: ConfigState::Refused("NOPERM".into()),
                    auth_required: None,
                })),
            ),
            outcome(
                "other",
                Kind::Redis,
                Err(CollectError::Connect {
                    target: "other".into(),
                    cause: "refused".into(),
                }),
            ),
        ];
        let profiles = BTreeMap::from([("r".to_string(), Profile::load("durable").unwrap())]);
        let results = evaluate_scrape(&target_views(&outcomes), &profiles, NOW);
        // Only the target with a profile; the data location comes from the view.
        assert!(results.iter().all(|r| r.target == "r"));
        let volume = results
            .iter()
            .find(|r| r.check == CheckId::RedisDataOnNamedVolume)
            .unwrap();
        assert_eq!(volume.status, Status::Unknown(NO_ENGINE.into()));
        let aof = results
            .iter()
            .find(|r| r.check == CheckId::RedisAofEnabled)
            .unwrap();
        assert_eq!(aof.status, Status::Pass);
    }

    #[test]
    fn volume_checks_are_not_applicable_outside_a_container() {
        let (info, _) = (parse_info("aof_enabled:0\n"), ());
        let snap = RedisSnapshot {
            info,
            config: ConfigState::Refused("NOPERM".into()),
            auth_required: Some(true),
        };
        let input = Input {
            target: "t",
            facts: Facts::Redis(&snap),
            data: Err(DECLARED_NOT_IN_CONTAINER),
            volumes_filesystem: None,
            not_in_container: true,
            now: NOW,
            restart: Some(&super::fixtures::quiet_restarts()),
        };
        let r = evaluate(&input, &Profile::load("durable").unwrap());
        let na: Vec<CheckId> = r
            .iter()
            .filter(|r| matches!(r.status, Status::NotApplicable(_)))
            .map(|r| r.check)
            .collect();
        assert_eq!(
            na,
            vec![
                CheckId::RedisDataOnNamedVolume,
                CheckId::DockerVolumeHeadroom
            ]
        );
        let s = Summary::of(&r);
        assert_eq!(s.not_applicable, 2);
        // N/A is neither unknown nor failing: only CONFIG-dependent checks are unknown.
        assert!(
            r.iter()
                .filter(|r| matches!(r.status, Status::Unknown(_)))
                .all(|r| !is_volume_check(r.check))
        );
        assert_eq!(s.failing(Severity::Warning), 1, "{r:#?}"); // aof off
        assert_eq!(failing_counts(&r).values().sum::<usize>(), 1);
        let na = r
            .iter()
            .find(|r| r.check == CheckId::RedisDataOnNamedVolume)
            .unwrap();
        assert_eq!(na.status.label(), "N/A");
        assert_eq!(na.status.reason(), Some(DECLARED_NOT_IN_CONTAINER));
        let json = serde_json::to_value(na).unwrap();
        assert_eq!(json["status"], "N/A");
        // Even a down target's volume checks are N/A, not unknown.
        let down = Input {
            facts: Facts::Down(Scope::Redis, "timeout".into()),
            ..input
        };
        let r = evaluate(&down, &Profile::load("durable").unwrap());
        assert_eq!(Summary::of(&r).not_applicable, 2);
    }

    #[test]
    fn results_carry_the_comparison_and_the_profile_text() {
        let snap = RedisSnapshot {
            info: parse_info("redis_version:6.2.0\nmaxmemory:1048576\n"),
            config: ConfigState::Refused("NOPERM".into()),
            auth_required: None,
        };
        let r = run(Facts::Redis(&snap), Err("x"), None, "das-tern");
        let v = r
            .iter()
            .find(|r| r.check == CheckId::RedisVersionMin)
            .unwrap();
        assert_eq!((v.expected.as_str(), v.expect.as_str()), ("≥ 7", "7"));
        assert_eq!(v.status, Status::Fail);
        let m = r
            .iter()
            .find(|r| r.check == CheckId::RedisMaxmemory)
            .unwrap();
        assert_eq!(m.expected, "= 512 MiB");
        assert_eq!(m.observed, "1 MiB");
    }

    #[test]
    fn failing_counts_list_every_severity() {
        let counts = failing_counts(&[]);
        assert_eq!(counts.len(), 3);
        assert!(counts.values().all(|n| *n == 0));
    }
}
