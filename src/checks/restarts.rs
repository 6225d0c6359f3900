//! The restart checks (`redis_data_survived_restart`, `postgres_data_survived_restart`):
//! FAIL for a window (the `expect`, `no loss within 24h`: its last word is a duration)
//! after an observed restart that lost data; PASS otherwise, saying since when restarts
//! have been watched; UNKNOWN while a restart is being judged, or when a lost data
//! directory could go unnoticed (the cluster's identity is unreadable).

use super::Eval;
use crate::check_id::CheckId;
use crate::config::profile::CheckSpec;
use crate::restarts::{RestartStatus, format_utc};

/// True for the checks evaluated here.
pub(super) fn applies(id: CheckId) -> bool {
    matches!(
        id,
        CheckId::RedisDataSurvivedRestart | CheckId::PostgresDataSurvivedRestart
    )
}

/// The window of an `expect`: its last word as a duration (`24h`, `no loss within 7d`).
pub(super) fn window_seconds(expect: &str) -> Result<f64, String> {
    let last = expect.split_whitespace().last().unwrap_or("");
    crate::duration::parse(last)
        .map(|d| d.as_secs_f64())
        .map_err(|e| format!("expect {expect:?} does not end in a duration: {e}"))
}

/// Evaluates a restart check.
pub(super) fn check(spec: &CheckSpec, s: Option<&RestartStatus>, now: f64) -> Eval {
    let Some(s) = s else {
        // A /probe target or a one-shot `check` collects once, with no history: no restart
        // can be observed, so the check does not apply (N/A, not unknown: not an alert).
        return Eval::not_applicable(
            "restarts are observed by a running exporter, not by /probe or a one-shot check",
        );
    };
    let window = match window_seconds(&spec.expect) {
        Ok(w) => w,
        Err(e) => return Eval::unknown(e),
    };
    if let Some((at, why)) = &s.last_loss
        && now - at < window
    {
        return Eval::pass_if(
            false,
            format!(
                "data lost at the restart observed at {}: {why}",
                format_utc(*at)
            ),
        );
    }
    if s.pending {
        return Eval::unknown(format!(
            "the restart observed at {} is being judged (Redis still loading, or the canary not read back yet)",
            s.last_restart_at.map(format_utc).unwrap_or_default()
        ));
    }
    if let Some(reason) = &s.identity_unknown {
        return Eval::unknown(reason.clone());
    }
    let since = format_utc(s.since);
    let observed = match s.last_restart_at {
        None => format!("no restart observed since {since}"),
        Some(last) => {
            let mut text = format!(
                "{} restart(s) observed since {since}, the last at {}",
                s.restarts_total,
                format_utc(last)
            );
            if let Some(r) = s.recovered_ratio {
                text.push_str(&format!(", {:.0}% of the keys recovered", r * 100.0));
            }
            if let Some(l) = s.canary_loss_seconds {
                text.push_str(&format!(", canary loss {l:.1}s"));
            }
            if let Some((at, _)) = &s.last_loss {
                text.push_str(&format!(
                    "; the last loss ({}) is older than the window",
                    format_utc(*at)
                ));
            }
            text
        }
    };
    Eval::pass_if(true, observed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Status;
    use crate::config::profile::Severity;

    const NOW: f64 = 1_800_000_000.0;

    fn spec(expect: &str) -> CheckSpec {
        CheckSpec {
            severity: Severity::Critical,
            expect: expect.into(),
            escalate_to: None,
        }
    }

    fn status() -> RestartStatus {
        RestartStatus::quiet_since(1_796_040_000.0)
    }

    #[test]
    fn untracked_targets_are_not_applicable() {
        let e = check(&spec("no loss within 24h"), None, NOW);
        assert!(
            matches!(e.status, Status::NotApplicable(_)),
            "{:?}",
            e.status
        );
    }

    #[test]
    fn pass_before_any_restart_says_since_when() {
        let e = check(&spec("no loss within 24h"), Some(&status()), NOW);
        assert_eq!(e.status, Status::Pass);
        assert_eq!(e.observed, "no restart observed since 2026-11-30 12:00 UTC");
    }

    #[test]
    fn fail_within_the_window_then_pass() {
        let s = RestartStatus {
            restarts_total: 1,
            data_lost_total: 1,
            last_restart_at: Some(NOW - 3600.0),
            last_loss: Some((NOW - 3600.0, "the canary vanished".into())),
            canary_loss_seconds: Some(10.0),
            ..status()
        };
        let e = check(&spec("no loss within 24h"), Some(&s), NOW);
        assert_eq!(e.status, Status::Fail);
        assert!(e.observed.contains("the canary vanished"), "{}", e.observed);
        let e = check(&spec("30m"), Some(&s), NOW);
        assert_eq!(e.status, Status::Pass, "{}", e.observed);
        assert!(
            e.observed.contains("older than the window"),
            "{}",
            e.observed
        );
        // A loss wins over an unreadable identity.
        let blind = RestartStatus {
            identity_unknown: Some("no privilege".into()),
            ..s.clone()
        };
        assert_eq!(check(&spec("24h"), Some(&blind), NOW).status, Status::Fail);
    }

    #[test]
    fn unknown_when_blind_or_pending() {
        let blind = RestartStatus {
            identity_unknown: Some("no privilege".into()),
            ..status()
        };
        assert_eq!(
            check(&spec("24h"), Some(&blind), NOW).status,
            Status::Unknown("no privilege".into())
        );
        let pending = RestartStatus {
            pending: true,
            last_restart_at: Some(NOW),
            ..status()
        };
        assert!(matches!(
            check(&spec("24h"), Some(&pending), NOW).status,
            Status::Unknown(_)
        ));
        assert!(matches!(
            check(&spec("forever"), Some(&status()), NOW).status,
            Status::Unknown(_)
        ));
    }
}
