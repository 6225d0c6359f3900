//! Check ids: the stable names of the persistence checks. They are contracts (the `check`
//! label, profile keys, `checks:` overrides in the config, the `check` report), so the
//! enum is declared once here with its string, and everything else — the checks table,
//! profile parsing, the labels — is derived from it.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// Declares [`CheckId`], its report order ([`CheckId::ALL`]) and its strings in one list,
/// so a variant can never miss its string or its place in the order.
macro_rules! check_ids {
    ($($(#[$doc:meta])* $variant:ident => $id:literal,)+) => {
        /// A check known to the exporter.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum CheckId {
            $($(#[$doc])* $variant,)+
        }

        impl CheckId {
            /// Every check, in report order.
            pub const ALL: &'static [CheckId] = &[$(CheckId::$variant,)+];

            /// The id as it appears in labels, profiles and the config.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(CheckId::$variant => $id,)+
                }
            }
        }
    };
}

check_ids! {
    /// PostgreSQL major version at least the expected one.
    PostgresVersionMin => "postgres_version_min",
    /// `server_encoding`.
    PostgresEncoding => "postgres_encoding",
    /// `TimeZone`.
    PostgresTimezone => "postgres_timezone",
    /// `max_connections`.
    PostgresMaxConnections => "postgres_max_connections",
    /// `log_min_duration_statement`.
    PostgresSlowQueryLogging => "postgres_slow_query_logging",
    /// `fsync`.
    PostgresFsync => "postgres_fsync",
    /// `full_page_writes`.
    PostgresFullPageWrites => "postgres_full_page_writes",
    /// `synchronous_commit`.
    PostgresSynchronousCommit => "postgres_synchronous_commit",
    /// WAL archiving is not failing.
    PostgresArchiving => "postgres_archiving",
    /// The data directory is on a named volume.
    PostgresDataOnNamedVolume => "postgres_data_on_named_volume",
    /// Redis version at least the expected one.
    RedisVersionMin => "redis_version_min",
    /// `maxmemory`.
    RedisMaxmemory => "redis_maxmemory",
    /// `maxmemory-policy`.
    RedisMaxmemoryPolicy => "redis_maxmemory_policy",
    /// RDB snapshots (`save`).
    RedisRdbSnapshots => "redis_rdb_snapshots",
    /// The append-only file (`appendonly`).
    RedisAofEnabled => "redis_aof_enabled",
    /// The AOF fsync policy (`appendfsync`).
    RedisAofFsync => "redis_aof_fsync",
    /// Connections without credentials are refused.
    RedisAuthRequired => "redis_auth_required",
    /// The data directory is on a named volume.
    RedisDataOnNamedVolume => "redis_data_on_named_volume",
    /// The last RDB save succeeded.
    RedisRdbLastBgsaveOk => "redis_rdb_last_bgsave_ok",
    /// The last AOF write succeeded.
    RedisAofLastWriteOk => "redis_aof_last_write_ok",
    /// The last AOF rewrite succeeded.
    RedisAofLastRewriteOk => "redis_aof_last_rewrite_ok",
    /// No keys were evicted.
    RedisNoEvictions => "redis_no_evictions",
    /// RDB saves keep up with the save rules.
    RedisLastSaveAge => "redis_last_save_age",
    /// Free space under the data volume.
    DockerVolumeHeadroom => "docker_volume_headroom",
    /// No data lost at an observed Redis restart.
    RedisDataSurvivedRestart => "redis_data_survived_restart",
    /// No data lost at an observed PostgreSQL restart.
    PostgresDataSurvivedRestart => "postgres_data_survived_restart",
}

/// A string that is not a check id; its message names the id and the closest valid one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown check {id:?} (did you mean {suggestion:?}?)")]
pub struct UnknownCheck {
    /// The id as written.
    pub id: String,
    /// The valid id closest to it.
    pub suggestion: &'static str,
}

impl FromStr for CheckId {
    type Err = UnknownCheck;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(id) = CheckId::ALL.iter().find(|c| c.as_str() == s) {
            return Ok(*id);
        }
        let suggestion = CheckId::ALL
            .iter()
            .map(|c| c.as_str())
            .min_by_key(|c| edit_distance(&s.to_ascii_lowercase(), c))
            .unwrap_or("");
        Err(UnknownCheck {
            id: s.to_string(),
            suggestion,
        })
    }
}

impl fmt::Display for CheckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for CheckId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CheckId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Levenshtein distance over characters (insertions, deletions, substitutions); also
/// used by the configuration's "did you mean" suggestions.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut row = Vec::with_capacity(b.len() + 1);
        row.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev
                .get(j)
                .copied()
                .unwrap_or(usize::MAX)
                .saturating_add(usize::from(ca != *cb));
            let delete = prev
                .get(j + 1)
                .copied()
                .unwrap_or(usize::MAX)
                .saturating_add(1);
            let insert = row.last().copied().unwrap_or(usize::MAX).saturating_add(1);
            row.push(substitute.min(delete).min(insert));
        }
        prev = row;
    }
    prev.last().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_round_trips_through_its_string() {
        for id in CheckId::ALL {
            assert_eq!(id.as_str().parse::<CheckId>(), Ok(*id));
            assert_eq!(
                serde_json::to_string(id).unwrap(),
                format!("\"{}\"", id.as_str())
            );
            let back: CheckId = serde_json::from_str(&format!("\"{id}\"")).unwrap();
            assert_eq!(back, *id);
        }
        assert_eq!(CheckId::ALL.len(), 26);
    }

    #[test]
    fn unknown_ids_suggest_the_closest() {
        let e = "redis_aof_enable".parse::<CheckId>().unwrap_err();
        assert_eq!(e.suggestion, "redis_aof_enabled");
        assert_eq!(
            e.to_string(),
            "unknown check \"redis_aof_enable\" (did you mean \"redis_aof_enabled\"?)"
        );
        let e = "Postgres_FSYNC".parse::<CheckId>().unwrap_err();
        assert_eq!(e.suggestion, "postgres_fsync");
        let e = serde_json::from_str::<CheckId>("\"docker_volume_headrom\"").unwrap_err();
        assert!(e.to_string().contains("docker_volume_headroom"), "{e}");
    }

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
