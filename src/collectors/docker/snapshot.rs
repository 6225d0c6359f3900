//! What one Docker scrape produces: the Engine's identity, its volumes, the background
//! disk-usage cache, the volumes' filesystem and the monitored targets' containers.

use super::api::{self, ApiVersion, MountPoint, Volume, VolumeUsage};
use super::logs;
use super::matching::MatchedBy;
use crate::collectors::Kind;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// What the collector reports about a target's container.
#[derive(Clone, Debug, PartialEq)]
pub struct ContainerInfo {
    /// Full container ID.
    pub id: String,
    /// Container name (without `/`).
    pub name: String,
    /// Compose service, when the container belongs to a compose project.
    pub service: Option<String>,
    /// How it was found.
    pub matched_by: MatchedBy,
    /// `Mounts[]`.
    pub mounts: Vec<MountPoint>,
    /// The container's `PGDATA` environment variable (the only env var we keep).
    pub pgdata: Option<String>,
    /// The root filesystem is read-only.
    pub readonly_rootfs: bool,
    /// Restarts by the restart policy.
    pub restart_count: u64,
    /// Unix time of the last start.
    pub started_at: Option<f64>,
    /// Running now.
    pub running: bool,
    /// The container has a TTY (its log stream is not multiplexed).
    pub tty: bool,
    /// `log_line_prefix` from the server's command line, if given there.
    pub log_line_prefix: Option<String>,
}

impl ContainerInfo {
    pub(super) fn from_inspect(i: api::ContainerInspect, matched_by: MatchedBy) -> Self {
        let pgdata = i
            .env
            .iter()
            .find_map(|kv| kv.strip_prefix("PGDATA="))
            .filter(|v| !v.is_empty())
            .map(str::to_string);
        ContainerInfo {
            service: i.labels.get(api::LABEL_COMPOSE_SERVICE).cloned(),
            started_at: api::parse_rfc3339(&i.started_at),
            id: i.id,
            name: i.name,
            matched_by,
            mounts: i.mounts,
            pgdata,
            readonly_rootfs: i.readonly_rootfs,
            restart_count: i.restart_count,
            running: i.running,
            tty: i.tty,
            log_line_prefix: logs::prefix_from_argv(&i.argv),
        }
    }
}

/// A monitored target and the container it runs in.
#[derive(Clone, Debug, PartialEq)]
pub struct TargetContainer {
    /// The target's `target` label.
    pub target: String,
    /// Redis or Postgres.
    pub kind: Kind,
    /// Its container.
    pub container: ContainerInfo,
}

/// The last `/system/df` result.
#[derive(Clone, Debug, PartialEq)]
pub struct DiskUsage {
    /// Usage by volume name.
    pub volumes: BTreeMap<String, VolumeUsage>,
    /// When the refresh finished.
    pub refreshed_at: SystemTime,
    /// How long the call took.
    pub duration: Duration,
}

/// Capacity of the filesystem holding Docker's volumes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FsCapacity {
    /// The path measured.
    pub path: String,
    /// Total bytes.
    pub size_bytes: u64,
    /// Bytes available to unprivileged users.
    pub avail_bytes: u64,
}

/// Everything one scrape learned about the Engine.
#[derive(Clone, Debug, PartialEq)]
pub struct DockerSnapshot {
    /// Engine release.
    pub server_version: String,
    /// API version in use (negotiated).
    pub api_version: ApiVersion,
    /// Storage driver.
    pub storage_driver: String,
    /// Docker's data root on the Engine's host.
    pub docker_root_dir: String,
    /// Volumes of the last listing (refreshed in the background every
    /// `disk_usage_interval`), shared with it rather than copied per scrape.
    pub volumes: Arc<Vec<Volume>>,
    /// When that listing finished and how long it took (`None` for a snapshot not made
    /// by the collector).
    pub volumes_listed: Option<(std::time::SystemTime, std::time::Duration)>,
    /// The background `/system/df` cache (`None` until the first refresh succeeded).
    pub disk_usage: Option<Arc<DiskUsage>>,
    /// Capacity of the filesystem holding the volumes, when visible from here.
    pub volumes_filesystem: Option<FsCapacity>,
    /// Monitored targets found in containers.
    pub containers: Vec<TargetContainer>,
    /// Slow statements counted from the log streams of PostgreSQL containers (targets
    /// without a log file), by target.
    pub slow_logs: BTreeMap<String, crate::collectors::postgres::slowlog::SlowLogSnapshot>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inspect_to_info_keeps_only_pgdata() {
        let i = api::ContainerInspect {
            id: "x".into(),
            name: "pg".into(),
            env: vec![
                "POSTGRES_PASSWORD=secret".into(),
                "PGDATA=/var/lib/postgresql/18/docker".into(),
            ],
            labels: BTreeMap::from([(api::LABEL_COMPOSE_SERVICE.to_string(), "db".to_string())]),
            started_at: "2026-11-29T15:20:32Z".into(),
            restart_count: 3,
            ..Default::default()
        };
        let c = ContainerInfo::from_inspect(i, MatchedBy::ComposeService);
        assert_eq!(c.pgdata.as_deref(), Some("/var/lib/postgresql/18/docker"));
        assert_eq!(c.service.as_deref(), Some("db"));
        assert_eq!(c.started_at, Some(1_795_965_632.0));
        assert!(!format!("{c:?}").contains("secret"));
    }
}
