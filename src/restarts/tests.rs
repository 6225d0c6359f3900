//! Unit tests of the restart tracker: every way a restart can be judged.

use super::*;

const T0: f64 = 1_800_000_000.0;

fn redis(run_id: &str, loading: bool, keys: u64, loaded: Option<u64>) -> Observation {
    Observation::Redis {
        run_id: run_id.into(),
        loading,
        keys,
        keys_loaded: loaded,
    }
}

fn pg(instance: &str, sysid: Option<&str>) -> Observation {
    Observation::Postgres {
        instance: instance.into(),
        system_identifier: sysid.map(str::to_string),
    }
}

fn canary(instance: &str, recovered: Option<Option<i64>>, ack: Option<i64>) -> CanaryObservation {
    CanaryObservation {
        instance: Some(instance.into()),
        recovered,
        last_ack_ms: ack,
        last_write_ms: ack,
        previous_last_ack_ms: None,
        write_errors: 0,
    }
}

fn tracker() -> Tracker {
    Tracker::new("redis", 0.5, None, T0)
}

#[test]
fn the_first_observation_is_a_baseline_not_a_restart() {
    let mut t = tracker();
    let s = t.observe(Some(&redis("a", false, 100, None)), None, T0);
    assert_eq!(s.restarts_total, 0);
    assert_eq!(s.since, T0);
    assert!(s.last_restart_at.is_none());
    let s = t.observe(Some(&redis("a", false, 120, None)), None, T0 + 1.0);
    assert_eq!(s.restarts_total, 0);
    assert_eq!(t.record().keys_before, Some(120));
}

#[test]
fn a_redis_restart_that_kept_its_keys_loses_nothing() {
    let mut t = tracker();
    t.observe(Some(&redis("a", false, 100, None)), None, T0);
    // Still loading: the verdict waits.
    let s = t.observe(Some(&redis("b", true, 10, None)), None, T0 + 5.0);
    assert_eq!(s.restarts_total, 1);
    assert!(s.pending);
    let s = t.observe(Some(&redis("b", false, 99, Some(100))), None, T0 + 6.0);
    assert!(!s.pending);
    assert_eq!(s.data_lost_total, 0);
    assert_eq!(s.recovered_ratio, Some(1.0));
    assert_eq!(s.last_restart_at, Some(T0 + 5.0));
}

#[test]
fn a_redis_restart_that_came_back_empty_lost_data() {
    let mut t = tracker();
    t.observe(Some(&redis("a", false, 100, None)), None, T0);
    let s = t.observe(Some(&redis("b", false, 0, Some(0))), None, T0 + 5.0);
    assert_eq!((s.restarts_total, s.data_lost_total), (1, 1));
    assert_eq!(s.recovered_ratio, Some(0.0));
    let (at, why) = s.last_loss.unwrap();
    assert_eq!(at, T0 + 5.0);
    assert!(why.contains("recovered 0 of 100 keys"), "{why}");
    // Later scrapes do not count it again; the next restart is compared with the new count.
    let s = t.observe(Some(&redis("b", false, 40, None)), None, T0 + 6.0);
    assert_eq!(s.data_lost_total, 1);
    let s = t.observe(Some(&redis("c", false, 30, None)), None, T0 + 7.0);
    assert_eq!((s.restarts_total, s.data_lost_total), (2, 1));
    assert_eq!(s.recovered_ratio, Some(0.75));
}

#[test]
fn the_ratio_threshold_and_empty_servers() {
    let mut t = Tracker::new("redis", 0.9, None, T0);
    t.observe(Some(&redis("a", false, 100, None)), None, T0);
    let s = t.observe(Some(&redis("b", false, 85, None)), None, T0 + 1.0);
    assert_eq!(s.data_lost_total, 1, "85% < 90%");
    // An empty server cannot lose keys.
    let mut t = tracker();
    t.observe(Some(&redis("a", false, 0, None)), None, T0);
    let s = t.observe(Some(&redis("b", false, 0, None)), None, T0 + 1.0);
    assert_eq!((s.restarts_total, s.data_lost_total), (1, 0));
    assert_eq!(s.recovered_ratio, None);
    // Pure AOF: rdb_last_load_keys_loaded stays 0, the keyspace counts.
    let mut t = tracker();
    t.observe(Some(&redis("a", false, 10, None)), None, T0);
    let s = t.observe(Some(&redis("b", false, 10, Some(0))), None, T0 + 1.0);
    assert_eq!(s.data_lost_total, 0);
}

#[test]
fn the_canary_measures_the_loss_and_waits_for_its_read_back() {
    let mut t = tracker();
    t.observe(
        Some(&redis("a", false, 5, None)),
        Some(&canary("a", Some(None), Some(1_000))),
        T0,
    );
    t.observe(
        Some(&redis("a", false, 5, None)),
        Some(&canary("a", Some(None), Some(9_000))),
        T0 + 1.0,
    );
    assert_eq!(t.record().canary_last_ack_ms, Some(9_000));
    assert_eq!(t.record().canary_first_ack_ms, Some(1_000));
    // Restarted; the canary still talks to the old instance (reconnecting).
    let s = t.observe(
        Some(&redis("b", false, 5, None)),
        Some(&canary("a", Some(None), Some(9_000))),
        T0 + 2.0,
    );
    assert!(s.pending, "waits for the canary's read-back");
    // Read back on the new instance: 8 s of writes survived up to 7_500.
    let s = t.observe(
        Some(&redis("b", false, 5, None)),
        Some(&canary("b", Some(Some(7_500)), Some(12_000))),
        T0 + 3.0,
    );
    assert!(!s.pending);
    assert_eq!(s.canary_loss_seconds, Some(1.5));
    assert_eq!(s.data_lost_total, 0);
    // The steady state follows the new instance's acknowledgements.
    assert_eq!(t.record().canary_last_ack_ms, Some(12_000));
}

#[test]
fn a_vanished_canary_is_data_lost() {
    let mut t = Tracker::new("postgres", 0.5, None, T0);
    t.observe(
        Some(&pg("1.000", None)),
        Some(&canary("1.000", Some(None), Some(1_000))),
        T0,
    );
    t.observe(
        Some(&pg("1.000", None)),
        Some(&canary("1.000", Some(None), Some(4_000))),
        T0 + 1.0,
    );
    let s = t.observe(
        Some(&pg("2.000", None)),
        Some(&canary("2.000", Some(None), Some(6_000))),
        T0 + 2.0,
    );
    assert_eq!((s.restarts_total, s.data_lost_total), (1, 1));
    assert_eq!(s.canary_loss_seconds, Some(3.0));
    assert!(s.last_loss.unwrap().1.contains("canary vanished"));
    assert_eq!(
        t.record().canary_first_ack_ms,
        Some(6_000),
        "history restarts"
    );
}

#[test]
fn a_new_system_identifier_is_data_lost() {
    let mut t = Tracker::new("postgres", 0.5, None, T0);
    t.observe(Some(&pg("1.000", Some("111"))), None, T0);
    let s = t.observe(Some(&pg("2.000", Some("111"))), None, T0 + 1.0);
    assert_eq!((s.restarts_total, s.data_lost_total), (1, 0));
    let s = t.observe(Some(&pg("3.000", Some("222"))), None, T0 + 2.0);
    assert_eq!((s.restarts_total, s.data_lost_total), (2, 1));
    assert!(s.last_loss.unwrap().1.contains("system identifier changed"));
    assert!(s.identity_unknown.is_none());
}

#[test]
fn an_unreadable_identity_is_reported_and_never_guessed() {
    let mut t = Tracker::new("postgres", 0.5, None, T0);
    t.observe(Some(&pg("1.000", Some("111"))), None, T0);
    let s = t.observe(Some(&pg("2.000", None)), None, T0 + 1.0);
    assert_eq!((s.restarts_total, s.data_lost_total), (1, 0));
    assert_eq!(s.identity_unknown.as_deref(), Some(IDENTITY_UNREADABLE));
    // Readable again: compared with the last identifier known.
    let s = t.observe(Some(&pg("3.000", Some("222"))), None, T0 + 2.0);
    assert_eq!(s.data_lost_total, 1);
    assert!(s.identity_unknown.is_none());
}

#[test]
fn a_stored_record_carries_the_baseline_across_exporter_restarts() {
    let mut t = Tracker::new("postgres", 0.5, None, T0);
    t.observe(
        Some(&pg("1.000", Some("111"))),
        Some(&canary("1.000", Some(None), Some(5_000))),
        T0,
    );
    let stored = t.record().clone();
    // A record of another kind, or without a start, is not used.
    assert_eq!(
        Tracker::new("redis", 0.5, Some(stored.clone()), T0 + 9.0)
            .record()
            .since,
        T0 + 9.0
    );
    let mut again = Tracker::new("postgres", 0.5, Some(stored), T0 + 100.0);
    assert_eq!(again.record().since, T0);
    let s = again.observe(
        Some(&pg("2.000", Some("999"))),
        Some(&canary("2.000", Some(None), Some(105_000))),
        T0 + 100.0,
    );
    assert_eq!((s.restarts_total, s.data_lost_total), (1, 1));
    let why = s.last_loss.unwrap().1;
    assert!(
        why.contains("system identifier") && why.contains("canary vanished"),
        "{why}"
    );
}

#[test]
fn a_pending_verdict_times_out_on_what_is_known() {
    let mut t = tracker();
    t.observe(
        Some(&redis("a", false, 10, None)),
        Some(&canary("a", Some(None), Some(1_000))),
        T0,
    );
    let s = t.observe(Some(&redis("b", true, 0, None)), None, T0 + 1.0);
    assert!(s.pending);
    // Down for a while: nothing moves but the timeout.
    let s = t.observe(None, None, T0 + 1.0 + PENDING_TIMEOUT_SECONDS + 1.0);
    assert!(!s.pending);
    assert_eq!(s.data_lost_total, 0, "nothing known, nothing claimed");
    assert_eq!(s.recovered_ratio, None);
}

#[test]
fn down_targets_keep_their_counters() {
    let mut t = tracker();
    t.observe(Some(&redis("a", false, 10, None)), None, T0);
    t.observe(Some(&redis("b", false, 0, None)), None, T0 + 1.0);
    let s = t.observe(None, None, T0 + 2.0);
    assert_eq!((s.restarts_total, s.data_lost_total), (1, 1));
}

#[test]
fn utc_formatting() {
    assert_eq!(format_utc(0.0), "1970-01-01 00:00 UTC");
    assert_eq!(format_utc(1_796_040_000.0), "2026-11-30 12:00 UTC");
    assert_eq!(format_utc(951_782_400.0), "2000-02-29 00:00 UTC");
    assert_eq!(format_utc(f64::NAN), "1970-01-01 00:00 UTC");
}
