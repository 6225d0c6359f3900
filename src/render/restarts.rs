//! Restart tracking and the write canary as metrics: restarts observed, restarts that
//! lost data, the last restart's recovered-keys ratio and canary loss, and the canary's
//! writes.

use super::Families;
use crate::restarts::RestartStatus;

/// Renders one target's restart tracking.
pub fn render(target: &str, s: &RestartStatus, f: &mut Families) {
    let t = [("target", target)];
    f.counter(
        "persistence_restarts_observed_total",
        "Restarts of the target observed by the exporter (a new Redis run_id, a new PostgreSQL postmaster start time).",
        &t,
        s.restarts_total as f64,
    );
    f.counter(
        "persistence_data_lost_on_restart_total",
        "Observed restarts after which the data did not survive: the PostgreSQL system identifier changed, Redis recovered fewer than min_recovered_ratio of its keys, or the canary vanished.",
        &t,
        s.data_lost_total as f64,
    );
    if let Some(r) = s.recovered_ratio {
        f.gauge(
            "persistence_restart_recovered_keys_ratio",
            "Redis, last observed restart: keys recovered / keys held before.",
            &t,
            r,
        );
    }
    if let Some(c) = &s.canary {
        f.counter(
            "persistence_canary_write_errors_total",
            "Failed canary attempts (connect, read-back or write) since the exporter started.",
            &t,
            c.write_errors as f64,
        );
        if let Some(ms) = c.last_write_ms {
            f.gauge(
                "persistence_canary_last_write_timestamp_seconds",
                "Unix time of the last canary write the target acknowledged.",
                &t,
                ms as f64 / 1000.0,
            );
        }
    }
    if let Some(loss) = s.canary_loss_seconds {
        f.gauge(
            "persistence_canary_data_loss_seconds",
            "Last observed restart: seconds of acknowledged canary writes lost (0 = nothing lost).",
            &t,
            loss,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canary::CanaryObservation;

    #[test]
    fn every_family_with_its_target() {
        let mut f = Families::default();
        let s = RestartStatus {
            since: 1.0,
            restarts_total: 2,
            data_lost_total: 1,
            last_restart_at: Some(5.0),
            last_loss: Some((5.0, "x".into())),
            recovered_ratio: Some(0.25),
            canary_loss_seconds: Some(1.5),
            identity_unknown: None,
            pending: false,
            canary: Some(CanaryObservation {
                last_write_ms: Some(1_800_000_000_500),
                write_errors: 3,
                ..CanaryObservation::default()
            }),
        };
        render("r", &s, &mut f);
        let text = f.encode("");
        for line in [
            "persistence_restarts_observed_total{target=\"r\"} 2",
            "persistence_data_lost_on_restart_total{target=\"r\"} 1",
            "persistence_restart_recovered_keys_ratio{target=\"r\"} 0.25",
            "persistence_canary_write_errors_total{target=\"r\"} 3",
            "persistence_canary_last_write_timestamp_seconds{target=\"r\"} 1800000000.5",
            "persistence_canary_data_loss_seconds{target=\"r\"} 1.5",
        ] {
            assert!(text.contains(line), "{line} missing:\n{text}");
        }
        // Without a canary and before a restart: only the counters, at 0.
        let mut f = Families::default();
        render(
            "q",
            &RestartStatus {
                restarts_total: 0,
                data_lost_total: 0,
                recovered_ratio: None,
                canary_loss_seconds: None,
                canary: None,
                ..s
            },
            &mut f,
        );
        let text = f.encode("");
        assert!(text.contains("persistence_restarts_observed_total{target=\"q\"} 0"));
        assert!(!text.contains("persistence_canary"), "{text}");
        assert!(
            !text.contains("persistence_restart_recovered_keys_ratio"),
            "{text}"
        );
    }
}
