//! What each check accepts as its `expect`, validated when the configuration loads, so a
//! typo (`expect: 1 gigabyte`) is a configuration error and not a check that is silently
//! UNKNOWN at run time. The parsers shared with `checks` (sizes) live here, below both.

use super::suggestion;
use crate::check_id::CheckId;

/// Redis `maxmemory-policy` values.
pub const REDIS_MAXMEMORY_POLICIES: &[&str] = &[
    "noeviction",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
];
/// Redis `appendfsync` values.
pub const REDIS_APPENDFSYNC: &[&str] = &["always", "everysec", "no"];
/// PostgreSQL `synchronous_commit` values.
pub const POSTGRES_SYNCHRONOUS_COMMIT: &[&str] =
    &["on", "off", "local", "remote_write", "remote_apply"];
/// A PostgreSQL boolean setting as `SHOW` prints it.
pub const POSTGRES_ON_OFF: &[&str] = &["on", "off"];

/// Parses a Redis memory size (`512mb`, `1gb`, `100k`, `1048576`) into bytes, with Redis'
/// own units: `k`/`m`/`g` are powers of 1000, `kb`/`mb`/`gb` powers of 1024.
pub fn parse_redis_size(s: &str) -> Option<f64> {
    let s = s.trim().to_ascii_lowercase();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (number, unit) = s.split_at_checked(split)?;
    let n: f64 = number.parse().ok()?;
    let mult = match unit {
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

/// Checks that `expect` is something check `id` can evaluate; the error says what it
/// accepts, with an example.
pub fn validate(id: CheckId, expect: &str) -> Result<(), String> {
    let e = expect.trim();
    match id {
        CheckId::PostgresVersionMin | CheckId::RedisVersionMin => {
            let first = e.split('.').next().unwrap_or_default();
            if first.trim().parse::<u64>().is_ok() {
                Ok(())
            } else {
                Err(format!(
                    "{expect:?} is not a version; write it like 16 or 7.2"
                ))
            }
        }
        CheckId::RedisMaxmemory => match parse_redis_size(e) {
            Some(_) => Ok(()),
            None => Err(format!(
                "{expect:?} is not a size; write it like 512mb, 1gb, 100k or 1048576 (bytes)"
            )),
        },
        CheckId::PostgresSlowQueryLogging => super::parse_duration(e).map(|_| ()),
        CheckId::DockerVolumeHeadroom => {
            match e.strip_suffix('%').unwrap_or(e).trim().parse::<f64>() {
                Ok(p) if (0.0..=100.0).contains(&p) => Ok(()),
                _ => Err(format!(
                    "{expect:?} is not a percentage; write it like 80% or 90"
                )),
            }
        }
        CheckId::RedisMaxmemoryPolicy => one_of(expect, REDIS_MAXMEMORY_POLICIES),
        CheckId::RedisAofFsync => one_of(expect, REDIS_APPENDFSYNC),
        CheckId::PostgresSynchronousCommit => one_of(expect, POSTGRES_SYNCHRONOUS_COMMIT),
        CheckId::PostgresFsync | CheckId::PostgresFullPageWrites => one_of(expect, POSTGRES_ON_OFF),
        CheckId::PostgresMaxConnections => {
            if alternatives(e).all(|a| a.parse::<u32>().is_ok()) && !e.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "{expect:?} is not a number; write it like 20, or 20 or 25"
                ))
            }
        }
        CheckId::PostgresEncoding | CheckId::PostgresTimezone => {
            if alternatives(e).all(|a| !a.is_empty()) && !e.is_empty() {
                Ok(())
            } else {
                Err("must not be empty; write it like UTF8 or Europe/Berlin".to_string())
            }
        }
        CheckId::RedisRdbSnapshots => save_rules(expect),
        CheckId::RedisDataSurvivedRestart | CheckId::PostgresDataSurvivedRestart => {
            let last = e.split_whitespace().last().unwrap_or_default();
            crate::duration::parse(last).map(|_| ()).map_err(|err| {
                format!("{expect:?} does not end in a duration ({err}); write it like no loss within 24h")
            })
        }
        // Evaluated without reading `expect` (it is shown in reports), or any text works
        // (a volume driver name, `any` or empty; the evictions policy note).
        CheckId::PostgresArchiving
        | CheckId::PostgresDataOnNamedVolume
        | CheckId::RedisDataOnNamedVolume
        | CheckId::RedisAofEnabled
        | CheckId::RedisAuthRequired
        | CheckId::RedisRdbLastBgsaveOk
        | CheckId::RedisAofLastWriteOk
        | CheckId::RedisAofLastRewriteOk
        | CheckId::RedisNoEvictions
        | CheckId::RedisLastSaveAge => Ok(()),
    }
}

/// The `a or b or c` alternatives of an expectation, trimmed.
fn alternatives(expect: &str) -> impl Iterator<Item = &str> {
    expect.split(" or ").map(str::trim)
}

/// Every alternative is one of `allowed` (case-insensitive, as the checks compare).
fn one_of(expect: &str, allowed: &[&str]) -> Result<(), String> {
    let bad: Vec<String> = alternatives(expect)
        .filter(|a| !allowed.iter().any(|v| v.eq_ignore_ascii_case(a)))
        .map(|a| format!("{a:?}{}", suggestion(a, allowed.iter().copied())))
        .collect();
    if bad.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{} is not one of {} (write alternatives as \"a or b\")",
        bad.join(", "),
        allowed.join(", ")
    ))
}

/// `enabled`, `enabled or AOF`, or save rules as pairs of seconds and changes.
fn save_rules(expect: &str) -> Result<(), String> {
    let e = expect.trim();
    if e == "enabled" || e == "enabled or AOF" {
        return Ok(());
    }
    let numbers: Vec<&str> = e.split_whitespace().collect();
    if !numbers.is_empty()
        && numbers.len().is_multiple_of(2)
        && numbers.iter().all(|n| n.parse::<u64>().is_ok())
    {
        return Ok(());
    }
    Err(format!(
        "{expect:?} is not a save rule; write it like \"60 1000\" (seconds and changes, \
         in pairs), \"enabled\" or \"enabled or AOF\""
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::profile::{BUILTIN, Profile};

    #[test]
    fn builtin_profiles_expect_what_their_checks_accept() {
        for (name, _) in BUILTIN {
            let p = Profile::load(name).unwrap();
            for (id, spec) in &p.checks {
                assert_eq!(validate(*id, &spec.expect), Ok(()), "{name}: {id}");
            }
        }
    }

    #[test]
    fn typos_are_refused_with_what_is_accepted() {
        let e = validate(CheckId::RedisMaxmemory, "1 gigabyte").unwrap_err();
        assert!(e.contains("512mb"), "{e}");
        assert_eq!(validate(CheckId::RedisMaxmemory, "1gb"), Ok(()));
        let e = validate(CheckId::RedisMaxmemoryPolicy, "allkeys-lru or volatile-lur").unwrap_err();
        assert!(e.contains("did you mean \"volatile-lru\""), "{e}");
        assert_eq!(
            validate(CheckId::RedisMaxmemoryPolicy, "allkeys-lru or volatile-lru"),
            Ok(())
        );
        let e = validate(CheckId::PostgresSlowQueryLogging, "1 sec").unwrap_err();
        assert!(e.contains("write it like 5s"), "{e}");
        assert!(validate(CheckId::PostgresVersionMin, "sixteen").is_err());
        assert!(validate(CheckId::PostgresFsync, "yes").is_err());
        assert!(validate(CheckId::PostgresMaxConnections, "many").is_err());
        assert!(validate(CheckId::RedisRdbSnapshots, "60").is_err());
        assert!(validate(CheckId::DockerVolumeHeadroom, "lots").is_err());
        assert!(validate(CheckId::DockerVolumeHeadroom, "180%").is_err());
        assert_eq!(
            validate(CheckId::RedisAofFsync, "EVERYSEC or always"),
            Ok(())
        );
    }

    #[test]
    fn sizes_use_redis_units() {
        assert_eq!(parse_redis_size("512mb"), Some(536_870_912.0));
        assert_eq!(parse_redis_size("1g"), Some(1e9));
        assert_eq!(parse_redis_size("lots"), None);
    }
}
