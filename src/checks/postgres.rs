//! PostgreSQL checks: version, encoding, time zone, connections, slow-query logging,
//! the durability settings (`fsync`, `full_page_writes`, `synchronous_commit`) and WAL
//! archiving, from `pg_settings` and `pg_stat_archiver`.

use super::{Eval, any_of, version_tuple, volumes};
use crate::check_id::CheckId;
use crate::collectors::docker::DataMount;
use crate::collectors::postgres::PostgresSnapshot;
use crate::config::profile::CheckSpec;
use std::collections::BTreeMap;

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

impl PgFacts {
    /// What a PostgreSQL snapshot tells the checks.
    pub fn from_snapshot(p: &PostgresSnapshot) -> PgFacts {
        let mut settings: BTreeMap<String, String> = p
            .settings
            .iter()
            .map(|s| (s.name.clone(), s.setting.clone()))
            .collect();
        for (name, value) in p.info_settings.iter() {
            settings.insert(name.clone(), value.clone());
        }
        PgFacts {
            version_num: Some(p.version_num),
            settings,
            archiver_failed_count: p.archiver.as_ref().map(|a| a.failed_count),
            archiver_last_failed_age: p.archiver.as_ref().and_then(|a| a.last_failed_age),
            archiver_last_archive_age: p.archiver.as_ref().and_then(|a| a.last_archive_age),
        }
    }
}

/// Evaluates one PostgreSQL check.
pub(super) fn check(
    id: CheckId,
    spec: &CheckSpec,
    p: &PgFacts,
    data: Result<&DataMount, &str>,
) -> Eval {
    let setting = |name: &str| p.settings.get(name).map(String::as_str);
    let exact = |name: &str| match setting(name) {
        Some(v) => Eval::pass_if(any_of(&spec.expect, v), v),
        None => Eval::unknown(format!(
            "setting {name} is not visible (missing privilege?)"
        )),
    };
    match id {
        CheckId::PostgresVersionMin => match p.version_num {
            Some(n) => {
                let major = (n / 10000) as u64;
                Eval::pass_if(
                    version_tuple(&spec.expect)
                        .first()
                        .is_some_and(|want| major >= *want),
                    major.to_string(),
                )
            }
            None => Eval::unknown("server version unknown"),
        },
        CheckId::PostgresEncoding => exact("server_encoding"),
        CheckId::PostgresTimezone => exact("TimeZone"),
        CheckId::PostgresMaxConnections => exact("max_connections"),
        CheckId::PostgresSlowQueryLogging => {
            let want = crate::duration::parse(&spec.expect).map(|d| d.as_millis() as i64);
            match (
                setting("log_min_duration_statement").and_then(|v| v.parse::<i64>().ok()),
                want,
            ) {
                (Some(v), Ok(w)) => Eval::pass_if(
                    v == w,
                    if v < 0 {
                        "off (-1)".to_string()
                    } else {
                        format!("{v}ms")
                    },
                ),
                (None, _) => Eval::unknown("setting log_min_duration_statement is not visible"),
                (_, Err(e)) => Eval::unknown(format!("expectation: {e}")),
            }
        }
        CheckId::PostgresFsync => exact("fsync"),
        CheckId::PostgresFullPageWrites => exact("full_page_writes"),
        CheckId::PostgresSynchronousCommit => match setting("synchronous_commit") {
            // Every level except off waits for the local WAL flush.
            Some(v) => Eval::pass_if(
                if spec.expect.trim() == "on" {
                    v != "off"
                } else {
                    any_of(&spec.expect, v)
                },
                v,
            ),
            None => Eval::unknown("setting synchronous_commit is not visible"),
        },
        CheckId::PostgresArchiving => match setting("archive_mode") {
            Some("off") => Eval::pass_if(true, "archive_mode off"),
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
                    Eval::pass_if(
                        !failing,
                        format!(
                            "archive_mode {mode}, {failed} failures, last attempt {}",
                            if failing { "failed" } else { "ok" }
                        ),
                    )
                }
                None => Eval::unknown("pg_stat_archiver is not visible"),
            },
            None => Eval::unknown("setting archive_mode is not visible"),
        },
        CheckId::PostgresDataOnNamedVolume => volumes::on_named_volume(spec, data),
        CheckId::RedisVersionMin
        | CheckId::RedisMaxmemory
        | CheckId::RedisMaxmemoryPolicy
        | CheckId::RedisRdbSnapshots
        | CheckId::RedisAofEnabled
        | CheckId::RedisAofFsync
        | CheckId::RedisAuthRequired
        | CheckId::RedisDataOnNamedVolume
        | CheckId::RedisRdbLastBgsaveOk
        | CheckId::RedisAofLastWriteOk
        | CheckId::RedisAofLastRewriteOk
        | CheckId::RedisNoEvictions
        | CheckId::RedisLastSaveAge
        | CheckId::DockerVolumeHeadroom
        | CheckId::RedisDataSurvivedRestart
        | CheckId::PostgresDataSurvivedRestart => {
            Eval::unknown(format!("{id} does not apply to PostgreSQL"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::super::{CheckResult, Facts};
    use super::*;
    use crate::collectors::docker::MountType;
    use crate::config::profile::Severity;

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

    fn run_pg(p: &PgFacts, mount: DataMount) -> Vec<CheckResult> {
        run(Facts::Postgres(p), Ok(&mount), Some(&fs(10, 9)), "das-tern")
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
            vec![(CheckId::PostgresVersionMin, Severity::Critical)]
        );
        assert_eq!(
            r.iter()
                .find(|r| r.check == CheckId::PostgresVersionMin)
                .unwrap()
                .observed,
            "15"
        );
    }

    #[test]
    fn each_postgres_misconfiguration_flips_only_its_check() {
        for (setting, value, check) in [
            ("fsync", "off", CheckId::PostgresFsync),
            (
                "synchronous_commit",
                "off",
                CheckId::PostgresSynchronousCommit,
            ),
            ("TimeZone", "UTC", CheckId::PostgresTimezone),
            ("max_connections", "100", CheckId::PostgresMaxConnections),
            ("full_page_writes", "off", CheckId::PostgresFullPageWrites),
            (
                "log_min_duration_statement",
                "-1",
                CheckId::PostgresSlowQueryLogging,
            ),
            ("server_encoding", "SQL_ASCII", CheckId::PostgresEncoding),
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
        for mount_type in [MountType::AnonymousVolume, MountType::None, MountType::Bind] {
            let m = mount(mount_type.clone(), "", "");
            let f = failing(&run_pg(&seed_pg(170002), m));
            assert_eq!(
                f.iter().map(|f| f.0).collect::<Vec<_>>(),
                vec![CheckId::PostgresDataOnNamedVolume],
                "{mount_type:?}"
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
            vec![(CheckId::PostgresArchiving, Severity::Critical)]
        );
        p.archiver_last_archive_age = Some(5.0);
        assert!(failing(&run_pg(&p, named_volume())).is_empty());
    }
}
