//! Redis checks: versions, memory limits, RDB and AOF configuration and health, evictions,
//! authentication, from `INFO`, `CONFIG GET` (when allowed) and the credential-less probe.

use super::{Eval, any_of, version_tuple, volumes};
use crate::check_id::CheckId;
use crate::collectors::docker::DataMount;
use crate::collectors::redis::{ConfigState, RedisSnapshot};
use crate::config::profile::CheckSpec;

pub use crate::config::expect::parse_redis_size;

/// Parses the `save` rules (`"3600 1 300 100"`) into `(seconds, changes)` pairs.
pub fn parse_save_rules(save: &str) -> Vec<(u64, u64)> {
    let nums: Vec<u64> = save
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    nums.chunks_exact(2)
        .filter_map(|c| match c {
            [seconds, changes] => Some((*seconds, *changes)),
            _ => None,
        })
        .collect()
}

/// Evaluates one Redis check.
pub(super) fn check(
    id: CheckId,
    spec: &CheckSpec,
    s: &RedisSnapshot,
    data: Result<&DataMount, &str>,
    now: f64,
) -> Eval {
    let info = &s.info;
    let config = match &s.config {
        ConfigState::Readable(m) => Ok(m),
        ConfigState::Refused(e) => Err(format!("CONFIG GET refused: {e}")),
    };
    let aof_on = info.num("aof_enabled") == Some(1.0);
    match id {
        CheckId::RedisVersionMin => match info.get("redis_version") {
            Some(v) => Eval::pass_if(version_tuple(v) >= version_tuple(&spec.expect), v),
            None => Eval::unknown("INFO has no redis_version"),
        },
        CheckId::RedisMaxmemory => match (info.num("maxmemory"), parse_redis_size(&spec.expect)) {
            (Some(v), Some(want)) => Eval::pass_if(
                v == want,
                if v == 0.0 {
                    "0 bytes (no limit)".to_string()
                } else {
                    super::format_iec(v)
                },
            ),
            (None, _) => Eval::unknown("INFO has no maxmemory"),
            (_, None) => Eval::unknown(format!("expectation {:?} is not a size", spec.expect)),
        },
        CheckId::RedisMaxmemoryPolicy => match info.get("maxmemory_policy") {
            Some(p) => Eval::pass_if(any_of(&spec.expect, p), p),
            None => Eval::unknown("INFO has no maxmemory_policy"),
        },
        CheckId::RedisRdbSnapshots => {
            let save = match config {
                Ok(m) => m.get("save").cloned().unwrap_or_default(),
                Err(e) => return Eval::unknown(e),
            };
            let rules = parse_save_rules(&save);
            let observed = if save.is_empty() {
                "save \"\" (RDB off)".to_string()
            } else {
                format!("save {save}")
            };
            match spec.expect.trim() {
                "enabled" => Eval::pass_if(!rules.is_empty(), observed),
                "enabled or AOF" => Eval::pass_if(
                    !rules.is_empty() || aof_on,
                    format!(
                        "{observed}, appendonly {}",
                        if aof_on { "yes" } else { "no" }
                    ),
                ),
                want => {
                    let wanted = parse_save_rules(want);
                    if wanted.is_empty() {
                        return Eval::unknown(format!("expectation {want:?} is not a save rule"));
                    }
                    Eval::pass_if(wanted.iter().all(|r| rules.contains(r)), observed)
                }
            }
        }
        CheckId::RedisAofEnabled => match info.num("aof_enabled") {
            Some(v) => {
                let rdb_off = config
                    .as_ref()
                    .ok()
                    .and_then(|m| m.get("save"))
                    .is_some_and(|s| s.trim().is_empty());
                // Without RDB as well nothing persists: escalate.
                Eval::pass_if(v == 1.0, if v == 1.0 { "yes" } else { "no" })
                    .escalated_if(v != 1.0 && rdb_off)
            }
            None => Eval::unknown("INFO has no aof_enabled"),
        },
        CheckId::RedisAofFsync => match config {
            Ok(m) => match m.get("appendfsync") {
                Some(v) => Eval::pass_if(any_of(&spec.expect, v), v),
                None => Eval::unknown("server has no appendfsync"),
            },
            Err(e) => Eval::unknown(e),
        },
        CheckId::RedisAuthRequired => match s.auth_required {
            Some(r) => Eval::pass_if(
                r,
                if r {
                    "yes"
                } else {
                    "no: connections without a password are accepted"
                },
            ),
            None => Eval::unknown("the credential-less probe did not answer"),
        },
        CheckId::RedisDataOnNamedVolume => volumes::on_named_volume(spec, data),
        CheckId::RedisRdbLastBgsaveOk => match info.get("rdb_last_bgsave_status") {
            Some(v) => Eval::pass_if(v == "ok", v),
            None => Eval::unknown("INFO has no rdb_last_bgsave_status"),
        },
        CheckId::RedisAofLastWriteOk | CheckId::RedisAofLastRewriteOk => {
            let field = if id == CheckId::RedisAofLastWriteOk {
                "aof_last_write_status"
            } else {
                "aof_last_bgrewrite_status"
            };
            match info.get(field) {
                Some(v) => Eval::pass_if(v == "ok", v),
                None => Eval::unknown(format!("INFO has no {field}")),
            }
        }
        CheckId::RedisNoEvictions => {
            let Some(evicted) = info.num("evicted_keys") else {
                return Eval::unknown("INFO has no evicted_keys");
            };
            let policy = info.get("maxmemory_policy").unwrap_or("");
            let allkeys_allowed = spec.expect.contains("allkeys policy allowed");
            let bad_policy = !allkeys_allowed && policy.starts_with("allkeys-");
            let observed = format!("{evicted} evicted, policy {policy}");
            Eval::pass_if(!(evicted > 0.0 || bad_policy), observed).escalated_if(evicted > 0.0)
        }
        CheckId::RedisLastSaveAge => {
            let save = match config {
                Ok(m) => m.get("save").cloned().unwrap_or_default(),
                Err(e) => return Eval::unknown(e),
            };
            let rules = parse_save_rules(&save);
            if rules.is_empty() {
                return Eval::pass_if(true, "RDB off");
            }
            let (Some(last), Some(changes)) = (
                info.num("rdb_last_save_time"),
                info.num("rdb_changes_since_last_save"),
            ) else {
                return Eval::unknown("INFO has no rdb_last_save_time");
            };
            let age = (now - last).max(0.0);
            // A save is due when some rule's interval has passed with enough changes; allow
            // a minute for the save itself and Redis' retry delay after a failed one.
            let overdue = rules
                .iter()
                .any(|(secs, n)| changes >= *n as f64 && age > *secs as f64 + 60.0);
            Eval::pass_if(
                !overdue,
                format!("last save {age:.0}s ago, {changes} changes since"),
            )
        }
        CheckId::PostgresVersionMin
        | CheckId::PostgresEncoding
        | CheckId::PostgresTimezone
        | CheckId::PostgresMaxConnections
        | CheckId::PostgresSlowQueryLogging
        | CheckId::PostgresFsync
        | CheckId::PostgresFullPageWrites
        | CheckId::PostgresSynchronousCommit
        | CheckId::PostgresArchiving
        | CheckId::PostgresDataOnNamedVolume
        | CheckId::DockerVolumeHeadroom
        | CheckId::RedisDataSurvivedRestart
        | CheckId::PostgresDataSurvivedRestart => {
            Eval::unknown(format!("{id} does not apply to Redis"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::super::{CheckResult, Facts, Scope, Status};
    use super::*;
    use crate::collectors::docker::MountType;
    use crate::collectors::redis::parse_info;
    use crate::config::profile::Severity;
    use std::collections::BTreeMap;

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

    fn run_redis(
        info: &str,
        config: BTreeMap<String, String>,
        auth: Option<bool>,
        profile: &str,
        mount: DataMount,
    ) -> Vec<CheckResult> {
        let snap = RedisSnapshot {
            info: parse_info(info),
            config: ConfigState::Readable(config),
            auth_required: auth,
        };
        run(Facts::Redis(&snap), Ok(&mount), Some(&fs(100, 50)), profile)
    }

    #[test]
    fn seed_redis_passes_das_tern() {
        let (info, config) = seed_redis();
        let r = run_redis(&info, config, Some(true), "das-tern", named_volume());
        assert!(r.iter().all(|r| r.status == Status::Pass), "{r:#?}");
        assert_eq!(
            r.len(),
            13 + 1 + 1,
            "13 Redis checks plus headroom and restarts"
        );
    }

    #[test]
    fn each_redis_misconfiguration_flips_only_its_check() {
        type Mutate = Box<
            dyn Fn(&mut String, &mut BTreeMap<String, String>, &mut Option<bool>, &mut DataMount),
        >;
        let cases: Vec<(CheckId, Mutate)> = vec![
            (
                CheckId::RedisAofEnabled,
                Box::new(|i, c, _, _| {
                    *i = i.replace("aof_enabled:1", "aof_enabled:0");
                    c.insert("appendonly".into(), "no".into());
                }),
            ),
            (
                CheckId::RedisRdbSnapshots,
                Box::new(|_, c, _, _| {
                    c.insert("save".into(), "".into());
                }),
            ),
            (
                CheckId::RedisAofFsync,
                Box::new(|_, c, _, _| {
                    c.insert("appendfsync".into(), "always".into());
                }),
            ),
            (
                CheckId::RedisMaxmemoryPolicy,
                Box::new(|i, _, _, _| {
                    *i = i.replace("allkeys-lru", "noeviction");
                }),
            ),
            (
                CheckId::RedisAuthRequired,
                Box::new(|_, _, a, _| *a = Some(false)),
            ),
            (
                CheckId::RedisRdbLastBgsaveOk,
                Box::new(|i, _, _, _| {
                    *i = i.replace("rdb_last_bgsave_status:ok", "rdb_last_bgsave_status:err");
                }),
            ),
            (
                CheckId::RedisNoEvictions,
                Box::new(|i, _, _, _| {
                    *i = i.replace("evicted_keys:0", "evicted_keys:12");
                }),
            ),
            (
                CheckId::RedisDataOnNamedVolume,
                Box::new(|_, _, _, m| {
                    *m = mount(MountType::AnonymousVolume, &"a".repeat(64), "local");
                }),
            ),
            (
                CheckId::RedisMaxmemory,
                Box::new(|i, _, _, _| {
                    *i = i.replace("maxmemory:536870912", "maxmemory:0");
                }),
            ),
            (
                CheckId::RedisVersionMin,
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
        assert_eq!(
            failing(&r),
            vec![(CheckId::RedisNoEvictions, Severity::Warning)]
        );
        let info_row = r
            .iter()
            .find(|r| r.check == CheckId::RedisNoEvictions)
            .unwrap();
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
                (CheckId::RedisRdbSnapshots, Severity::Critical),
                (CheckId::RedisAofEnabled, Severity::Critical)
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
        assert_eq!(
            failing(&r),
            vec![(CheckId::RedisAofEnabled, Severity::Warning)]
        );
    }

    #[test]
    fn durable_allkeys_policy_warns_and_evictions_escalate() {
        let (info, config) = seed_redis();
        let r = run_redis(&info, config.clone(), Some(true), "durable", named_volume());
        assert_eq!(
            failing(&r),
            vec![(CheckId::RedisNoEvictions, Severity::Warning)]
        );
        let r = run_redis(
            &info.replace("evicted_keys:0", "evicted_keys:1"),
            config,
            Some(true),
            "durable",
            named_volume(),
        );
        assert_eq!(
            failing(&r),
            vec![(CheckId::RedisNoEvictions, Severity::Critical)]
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
        let r = run(
            Facts::Redis(&snap),
            Ok(&named_volume()),
            Some(&fs(100, 5)),
            "das-tern",
        );
        assert_eq!(
            failing(&r),
            vec![
                (CheckId::RedisLastSaveAge, Severity::Warning),
                (CheckId::DockerVolumeHeadroom, Severity::Warning)
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
        let r = run(Facts::Redis(&snap), Err("no Docker"), None, "das-tern");
        let unknown: Vec<_> = r
            .iter()
            .filter(|r| matches!(r.status, Status::Unknown(_)))
            .map(|r| r.check)
            .collect();
        for c in [
            CheckId::RedisRdbSnapshots,
            CheckId::RedisAofFsync,
            CheckId::RedisAuthRequired,
            CheckId::RedisDataOnNamedVolume,
            CheckId::RedisLastSaveAge,
            CheckId::DockerVolumeHeadroom,
        ] {
            assert!(unknown.contains(&c), "{c} in {unknown:?}");
        }
        // What INFO alone tells is still evaluated.
        assert!(
            r.iter()
                .any(|r| r.check == CheckId::RedisAofEnabled && r.status == Status::Pass)
        );
        let r = run(
            Facts::Down(Scope::Redis, "timeout".into()),
            Ok(&named_volume()),
            None,
            "das-tern",
        );
        assert!(
            r.iter()
                .all(|r| matches!(&r.status, Status::Unknown(s) if s.contains("timeout")))
        );
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
