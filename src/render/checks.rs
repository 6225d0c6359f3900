//! Persistence-check metrics: `persistence_check_ok`, `persistence_check_info`,
//! `persistence_check_unknown` and `persistence_checks_failing`.

use super::Families;
use crate::checks::{CheckResult, Status, failing_counts};
use std::collections::BTreeMap;

/// Renders check results. `persistence_check_ok` exists only for evaluated checks, so an
/// unknown check is never a pass or a fail; it shows up in `persistence_check_unknown`.
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
                        ("expected", &r.expected),
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
