//! Persistence-check metrics: `persistence_check_ok`, `persistence_check_info`,
//! `persistence_check_unknown`, `persistence_check_not_applicable` and
//! `persistence_checks_failing`.

use super::Families;
use crate::checks::{CheckResult, Status, failing_counts};
use std::collections::BTreeMap;

/// Renders check results. `persistence_check_ok` exists only for evaluated checks, so an
/// unknown check is never a pass or a fail; it shows up in `persistence_check_unknown`.
/// A check that does not apply (N/A) shows up in `persistence_check_not_applicable` only:
/// never in `persistence_check_ok`, `persistence_check_unknown` or the failing counts.
pub(super) fn render(results: &[CheckResult], f: &mut Families) {
    let mut by_target: BTreeMap<&str, Vec<CheckResult>> = BTreeMap::new();
    for r in results {
        by_target
            .entry(r.target.as_str())
            .or_default()
            .push(r.clone());
        match &r.status {
            Status::Pass | Status::Fail => {
                f.gauge(
                    "persistence_check_ok",
                    "1 when the persistence check passes, 0 when it fails; absent while it cannot be evaluated.",
                    &[("target", &r.target), ("check", r.check.as_str()), ("severity", r.severity.as_str())],
                    if r.status == Status::Pass { 1.0 } else { 0.0 },
                );
                f.gauge(
                    "persistence_check_info",
                    "Expected and observed value of an evaluated persistence check (always 1).",
                    &[
                        ("target", &r.target),
                        ("check", r.check.as_str()),
                        ("expected", &r.expect),
                        ("observed", &r.observed),
                    ],
                    1.0,
                );
            }
            Status::Unknown(reason) => f.gauge(
                "persistence_check_unknown",
                "1 while a persistence check cannot be evaluated (target down, privilege or CONFIG missing, container not found).",
                &[("target", &r.target), ("check", r.check.as_str()), ("reason", reason)],
                1.0,
            ),
            Status::NotApplicable(reason) => f.gauge(
                "persistence_check_not_applicable",
                "1 while a persistence check does not apply to the target (volume checks of a server declared not in a container); neither failing nor unknown.",
                &[("target", &r.target), ("check", r.check.as_str()), ("reason", reason)],
                1.0,
            ),
        }
    }
    for (target, rs) in by_target {
        for (severity, n) in failing_counts(&rs) {
            f.gauge(
                "persistence_checks_failing",
                "Number of failing persistence checks per severity.",
                &[("target", target), ("severity", severity.as_str())],
                n as f64,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check_id::CheckId;
    use crate::config::profile::Severity;

    fn result(check: CheckId, status: Status) -> CheckResult {
        CheckResult {
            target: "t".into(),
            check,
            requirement: "r",
            severity: Severity::Critical,
            expected: "≥ 7".into(),
            expect: "7".into(),
            observed: "6.2.0".into(),
            status,
        }
    }

    #[test]
    fn not_applicable_is_neither_ok_nor_unknown_nor_failing() {
        let mut f = Families::default();
        render(
            &[
                result(CheckId::RedisVersionMin, Status::Fail),
                result(
                    CheckId::RedisDataOnNamedVolume,
                    Status::NotApplicable("declared".into()),
                ),
            ],
            &mut f,
        );
        let text = f.encode("");
        assert!(text.contains(
            "persistence_check_not_applicable{target=\"t\",check=\"redis_data_on_named_volume\",reason=\"declared\"} 1"
        ), "{text}");
        for family in ["persistence_check_ok", "persistence_check_info"] {
            assert!(
                !text
                    .lines()
                    .any(|l| l.starts_with(family) && l.contains("redis_data_on_named_volume")),
                "{text}"
            );
        }
        assert!(!text.contains("persistence_check_unknown{"), "{text}");
        assert!(
            text.contains("persistence_checks_failing{target=\"t\",severity=\"critical\"} 1"),
            "{text}"
        );
        // The info label keeps the profile's text as written.
        assert!(text.contains("expected=\"7\""), "{text}");
    }
}
