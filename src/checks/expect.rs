//! The profile's expectations written as comparisons with the observed value: `≥ 16`,
//! `= allkeys-lru`, `one of: everysec, always`, `= 512 MiB`, `≤ 80% used`. Sizes use IEC
//! units on both sides ([`format_iec`]), so an expected and an observed size read alike.

use super::redis::{parse_redis_size, parse_save_rules};
use crate::check_id::CheckId;
use crate::config::profile::CheckSpec;

/// IEC units, smallest first.
const UNITS: [&str; 6] = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB"];

/// A byte count in IEC units: `512 MiB` when exact, else one decimal and the exact count
/// (`512.0 MiB (536870913 bytes)`), so two sizes that differ never print alike.
pub fn format_iec(bytes: f64) -> String {
    if !bytes.is_finite() || bytes < 0.0 {
        return format!("{bytes} bytes");
    }
    let mut unit = 0;
    let mut scaled = bytes;
    while scaled >= 1024.0 && unit + 1 < UNITS.len() {
        scaled /= 1024.0;
        unit += 1;
    }
    let name = UNITS.get(unit).copied().unwrap_or("bytes");
    if scaled.fract() == 0.0 {
        format!("{scaled:.0} {name}")
    } else if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{scaled:.1} {name} ({bytes:.0} bytes)")
    }
}

/// `= x` for one alternative, `one of: a, b` for `a or b`.
fn equals_any(expect: &str) -> String {
    let alternatives: Vec<&str> = expect.split(" or ").map(str::trim).collect();
    match alternatives.as_slice() {
        [one] => format!("= {one}"),
        many => format!("one of: {}", many.join(", ")),
    }
}

/// What `spec` expects of check `id`, written as a comparison.
pub fn expectation(id: CheckId, spec: &CheckSpec) -> String {
    let e = spec.expect.trim();
    match id {
        CheckId::PostgresVersionMin | CheckId::RedisVersionMin => format!("≥ {e}"),
        CheckId::RedisMaxmemory => match parse_redis_size(e) {
            Some(b) => format!("= {}", format_iec(b)),
            None => format!("= {e}"),
        },
        CheckId::PostgresSlowQueryLogging => match crate::duration::parse(e) {
            Ok(d) => format!("= {}ms", d.as_millis()),
            Err(_) => format!("= {e}"),
        },
        CheckId::PostgresSynchronousCommit if e == "on" => {
            "≠ off (on, remote_write, remote_apply or local)".to_string()
        }
        CheckId::PostgresArchiving => "last attempt not failed (or archive_mode off)".to_string(),
        CheckId::PostgresDataOnNamedVolume | CheckId::RedisDataOnNamedVolume => match e {
            "any" | "" => "named volume (any driver)".to_string(),
            driver => format!("named volume, driver = {driver}"),
        },
        CheckId::RedisRdbSnapshots => match e {
            "enabled" => "save rules set".to_string(),
            "enabled or AOF" => "save rules set, or appendonly yes".to_string(),
            rules if !parse_save_rules(rules).is_empty() => format!("includes save {rules}"),
            other => format!("= {other}"),
        },
        CheckId::RedisNoEvictions => {
            if e.contains("allkeys policy allowed") {
                "= 0 evicted (any policy)".to_string()
            } else {
                "= 0 evicted, policy not allkeys-*".to_string()
            }
        }
        CheckId::RedisLastSaveAge => {
            "last save ≤ rule interval + 60s ago once the rule's changes are pending".to_string()
        }
        CheckId::DockerVolumeHeadroom => format!("≤ {}% used", e.trim_end_matches('%').trim()),
        CheckId::RedisDataSurvivedRestart | CheckId::PostgresDataSurvivedRestart => {
            let window = e.split_whitespace().last().unwrap_or_default();
            format!("= no data lost at a restart within {window}")
        }
        CheckId::PostgresEncoding
        | CheckId::PostgresTimezone
        | CheckId::PostgresMaxConnections
        | CheckId::PostgresFsync
        | CheckId::PostgresFullPageWrites
        | CheckId::PostgresSynchronousCommit
        | CheckId::RedisMaxmemoryPolicy
        | CheckId::RedisAofEnabled
        | CheckId::RedisAofFsync
        | CheckId::RedisAuthRequired
        | CheckId::RedisRdbLastBgsaveOk
        | CheckId::RedisAofLastWriteOk
        | CheckId::RedisAofLastRewriteOk => equals_any(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::profile::{Profile, Severity};

    fn spec(expect: &str) -> CheckSpec {
        CheckSpec {
            severity: Severity::Warning,
            expect: expect.into(),
            escalate_to: None,
        }
    }

    #[test]
    fn sizes_in_iec_units() {
        assert_eq!(format_iec(536_870_912.0), "512 MiB");
        assert_eq!(format_iec(0.0), "0 bytes");
        assert_eq!(format_iec(100.0), "100 bytes");
        assert_eq!(format_iec(1024.0), "1 KiB");
        assert_eq!(format_iec(1e9), "953.7 MiB (1000000000 bytes)");
        assert_eq!(format_iec(536_870_913.0), "512.0 MiB (536870913 bytes)");
        assert_eq!(format_iec(3.0 * 1024f64.powi(4)), "3 TiB");
    }

    #[test]
    fn expectations_say_the_comparison() {
        let cases = [
            (CheckId::PostgresVersionMin, "16", "≥ 16"),
            (CheckId::RedisVersionMin, "7", "≥ 7"),
            (CheckId::RedisMaxmemory, "512mb", "= 512 MiB"),
            (
                CheckId::RedisMaxmemoryPolicy,
                "allkeys-lru",
                "= allkeys-lru",
            ),
            (
                CheckId::RedisAofFsync,
                "everysec or always",
                "one of: everysec, always",
            ),
            (CheckId::DockerVolumeHeadroom, "80%", "≤ 80% used"),
            (CheckId::PostgresSlowQueryLogging, "1s", "= 1000ms"),
            (
                CheckId::RedisRdbSnapshots,
                "60 1000",
                "includes save 60 1000",
            ),
            (
                CheckId::RedisDataOnNamedVolume,
                "local",
                "named volume, driver = local",
            ),
        ];
        for (id, expect, want) in cases {
            assert_eq!(expectation(id, &spec(expect)), want, "{id}");
        }
    }

    #[test]
    fn every_builtin_expectation_is_a_comparison() {
        for (name, _) in crate::config::profile::BUILTIN {
            let p = Profile::load(name).unwrap();
            for (id, s) in &p.checks {
                let e = expectation(*id, s);
                assert!(
                    [
                        "≥ ",
                        "≤ ",
                        "= ",
                        "≠ ",
                        "one of: ",
                        "includes ",
                        "named volume"
                    ]
                    .iter()
                    .any(|p| e.starts_with(p))
                        || matches!(
                            id,
                            CheckId::PostgresArchiving
                                | CheckId::RedisRdbSnapshots
                                | CheckId::RedisLastSaveAge
                        ),
                    "{name} {id}: {e}"
                );
            }
        }
    }
}
