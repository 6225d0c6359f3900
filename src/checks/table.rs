//! The checks table: for every [`CheckId`], the systems it applies to and the requirement
//! it stands for, as printed in the `check` report and on the status page. Derived from
//! the id list, so a new id cannot be added without its definition.

use crate::check_id::CheckId;

/// Which system a check is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Evaluated for Redis targets.
    Redis,
    /// Evaluated for PostgreSQL targets.
    Postgres,
    /// Evaluated for every Redis and PostgreSQL target with its data on a Docker volume.
    Data,
}

/// A check known to the exporter (its id is a contract with alerts and dashboards).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckDef {
    /// Stable id, the `check` label.
    pub id: CheckId,
    /// The targets it applies to.
    pub scope: Scope,
    /// The requirement, as printed in the `check` report.
    pub requirement: &'static str,
}

/// The requirement of the restart checks.
const RESTART_REQUIREMENT: &str = "No data lost at an observed restart";

/// The definition of one check.
pub const fn definition(id: CheckId) -> CheckDef {
    let (scope, requirement) = match id {
        CheckId::PostgresVersionMin => (Scope::Postgres, "PostgreSQL version"),
        CheckId::PostgresEncoding => (Scope::Postgres, "Server encoding"),
        CheckId::PostgresTimezone => (Scope::Postgres, "Time zone"),
        CheckId::PostgresMaxConnections => (Scope::Postgres, "max_connections"),
        CheckId::PostgresSlowQueryLogging => (
            Scope::Postgres,
            "Slow query logging (log_min_duration_statement)",
        ),
        CheckId::PostgresFsync => (Scope::Postgres, "fsync"),
        CheckId::PostgresFullPageWrites => (Scope::Postgres, "full_page_writes"),
        CheckId::PostgresSynchronousCommit => (Scope::Postgres, "synchronous_commit"),
        CheckId::PostgresArchiving => (Scope::Postgres, "WAL archiving not failing"),
        CheckId::PostgresDataOnNamedVolume => (Scope::Postgres, "Data directory on a named volume"),
        CheckId::RedisVersionMin => (Scope::Redis, "Redis version"),
        CheckId::RedisMaxmemory => (Scope::Redis, "maxmemory"),
        CheckId::RedisMaxmemoryPolicy => (Scope::Redis, "maxmemory-policy"),
        CheckId::RedisRdbSnapshots => (Scope::Redis, "RDB snapshots (save)"),
        CheckId::RedisAofEnabled => (Scope::Redis, "Append-only file (appendonly)"),
        CheckId::RedisAofFsync => (Scope::Redis, "AOF fsync policy (appendfsync)"),
        CheckId::RedisAuthRequired => (Scope::Redis, "Authentication required"),
        CheckId::RedisDataOnNamedVolume => (Scope::Redis, "Data directory on a named volume"),
        CheckId::RedisRdbLastBgsaveOk => (Scope::Redis, "Last RDB save succeeded"),
        CheckId::RedisAofLastWriteOk => (Scope::Redis, "Last AOF write succeeded"),
        CheckId::RedisAofLastRewriteOk => (Scope::Redis, "Last AOF rewrite succeeded"),
        CheckId::RedisNoEvictions => (Scope::Redis, "No eviction of persisted keys"),
        CheckId::RedisLastSaveAge => (Scope::Redis, "RDB saves keep up with the save rules"),
        CheckId::DockerVolumeHeadroom => (Scope::Data, "Free space under the data volume"),
        CheckId::RedisDataSurvivedRestart => (Scope::Redis, RESTART_REQUIREMENT),
        CheckId::PostgresDataSurvivedRestart => (Scope::Postgres, RESTART_REQUIREMENT),
    };
    CheckDef {
        id,
        scope,
        requirement,
    }
}

/// Every check, in report order.
pub fn table() -> impl Iterator<Item = CheckDef> {
    CheckId::ALL.iter().map(|id| definition(*id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_scoped_by_their_prefix() {
        for d in table() {
            let prefix = match d.scope {
                Scope::Redis => "redis_",
                Scope::Postgres => "postgres_",
                Scope::Data => "docker_",
            };
            assert!(d.id.as_str().starts_with(prefix), "{d:?}");
            assert!(!d.requirement.is_empty());
        }
    }
}
