//! The per-target view of one scrape: each target's outcome joined, once, with what the
//! Docker collector of the same scrape knows about it — where its data lives (the data
//! directory the server reported, matched against its container's mounts), the usage of
//! the filesystem under the volumes, and where its slow statements are counted from (its
//! log file, or its container's log stream). `checks`, `render`, the status page and the
//! `check` command all read this view, so the join is written here and nowhere else.

use super::{ErrorCounts, ScrapeReport, TargetOutcome};
use crate::collectors::docker::{
    DataDirSource, DataMount, DockerSnapshot, FsCapacity, TargetContainer, data_mount,
};
use crate::collectors::postgres::PostgresSnapshot;
use crate::collectors::postgres::slowlog::SlowLogSnapshot;
use crate::collectors::redis::ConfigState;
use crate::collectors::{Kind, Snapshot};
use crate::config::Settings;
use std::sync::Arc;

/// Why a target's data location is unknown: no Docker Engine in the configuration.
pub const NO_ENGINE: &str = "no Docker Engine is monitored (add `--docker.host` or `docker:` \
     to the config; a server that does not run in a container: declare `in_container: false`)";
/// Why a target's data location is unknown: the Engine failed this scrape.
pub const ENGINE_DOWN: &str = "the Docker Engine did not answer";
/// Why a target's data location is unknown: no container matched the target.
pub const NO_CONTAINER: &str = "no container found for this target (set `container:` in the \
     config; a server that does not run in a container: declare `in_container: false`)";

/// Why a target's data location is not looked for: it is declared not to run in a
/// container (`in_container: false`, `--redis.not-in-container`,
/// `--postgres.not-in-container`).
pub const NOT_IN_CONTAINER: &str = "declared not to run in a container";

/// Where a target's data directory lives.
#[derive(Clone, Debug, PartialEq)]
pub enum DataLocation<'a> {
    /// The target runs in `container`, and `mount` holds its data directory.
    Found {
        /// The target's container.
        container: &'a TargetContainer,
        /// The mount covering the data directory (or none: the writable layer).
        mount: DataMount,
    },
    /// It could not be determined; the reason says why.
    Unknown(&'static str),
    /// The target is declared not to run in a container: there is no container volume,
    /// and the volume checks do not apply (N/A).
    NotInContainer,
    /// The target has no data directory of its own (a Docker Engine).
    NotApplicable,
}

/// One target in one scrape, with everything the other collectors know about it.
#[derive(Clone, Debug)]
pub struct TargetView<'a> {
    /// The target's own outcome.
    pub outcome: &'a TargetOutcome,
    /// Where its data lives.
    pub data: DataLocation<'a>,
    /// Usage of the filesystem holding Docker's volumes, when the Engine answered and the
    /// exporter can see Docker's data root.
    pub volumes_filesystem: Option<&'a FsCapacity>,
    /// The slow statements of a PostgreSQL target: from its log file when it has one,
    /// else from its container's log stream when the server logs to stderr.
    pub slow_log: Option<&'a SlowLogSnapshot>,
}

impl TargetView<'_> {
    /// The `target` label value.
    pub fn target(&self) -> &str {
        &self.outcome.target
    }

    /// What kind of system the target is.
    pub fn kind(&self) -> Kind {
        self.outcome.kind
    }
}

/// One scrape, target by target, with the failure counters.
#[derive(Clone, Debug)]
pub struct ScrapeView<'a> {
    /// One view per target, in configuration order.
    pub targets: Vec<TargetView<'a>>,
    /// `(collector, target, reason) → count` since start-up.
    pub errors: &'a ErrorCounts,
}

impl<'a> ScrapeView<'a> {
    /// The view of a scrape report.
    pub fn new(report: &'a ScrapeReport) -> Self {
        ScrapeView {
            targets: target_views_declared(&report.outcomes, &report.not_in_container),
            errors: &report.errors,
        }
    }

    /// The view of a scrape report, with the targets the settings declare not to run in
    /// a container.
    pub fn with_settings(report: &'a ScrapeReport, settings: &Settings) -> Self {
        ScrapeView {
            targets: target_views_declared(&report.outcomes, &declared_not_in_container(settings)),
            errors: &report.errors,
        }
    }
}

/// Joins every outcome with the Docker Engine's outcome among them (if any).
pub fn target_views(outcomes: &[Arc<TargetOutcome>]) -> Vec<TargetView<'_>> {
    target_views_declared(outcomes, &[])
}

/// The targets (kind and name) whose settings declare them not to run in a container.
pub fn declared_not_in_container(settings: &Settings) -> Vec<(Kind, String)> {
    settings
        .redis
        .iter()
        .filter(|t| t.not_in_container)
        .map(|t| (Kind::Redis, t.name.clone()))
        .chain(
            settings
                .postgres
                .iter()
                .filter(|t| t.not_in_container)
                .map(|t| (Kind::Postgres, t.name.clone())),
        )
        .collect()
}

/// Like [`target_views`]; the targets in `not_in_container` (from
/// [`declared_not_in_container`]) get [`DataLocation::NotInContainer`] whatever the
/// Engine knows.
pub fn target_views_declared<'a>(
    outcomes: &'a [Arc<TargetOutcome>],
    not_in_container: &[(Kind, String)],
) -> Vec<TargetView<'a>> {
    let engine = outcomes
        .iter()
        .find(|o| o.kind == Kind::Docker)
        .map(|o| match &o.result {
            Ok(Snapshot::Docker(d)) => Some(d),
            _ => None,
        });
    outcomes
        .iter()
        .map(|o| TargetView {
            outcome: o,
            data: if not_in_container
                .iter()
                .any(|(k, n)| *k == o.kind && *n == o.target)
            {
                DataLocation::NotInContainer
            } else {
                data_location(o, engine)
            },
            volumes_filesystem: engine.flatten().and_then(|d| d.volumes_filesystem.as_ref()),
            slow_log: slow_log(o, engine.flatten()),
        })
        .collect()
}

/// `engine`: `None` without an Engine in the scrape, `Some(None)` when it failed.
fn data_location<'a>(
    o: &TargetOutcome,
    engine: Option<Option<&'a DockerSnapshot>>,
) -> DataLocation<'a> {
    let source = match o.kind {
        Kind::Redis => DataDirSource::Redis,
        Kind::Postgres => DataDirSource::Postgres,
        Kind::Docker => return DataLocation::NotApplicable,
    };
    let Some(engine) = engine else {
        return DataLocation::Unknown(NO_ENGINE);
    };
    let Some(engine) = engine else {
        return DataLocation::Unknown(ENGINE_DOWN);
    };
    let Some(container) = engine
        .containers
        .iter()
        .find(|c| c.target == o.target && c.kind == o.kind)
    else {
        return DataLocation::Unknown(NO_CONTAINER);
    };
    DataLocation::Found {
        container,
        mount: data_mount(server_data_dir(o), source, &container.container),
    }
}

/// The data directory a server reported about itself in this scrape: Redis
/// `CONFIG GET dir`, PostgreSQL `data_directory` (visible to superusers and
/// `pg_read_all_settings`).
fn server_data_dir(o: &TargetOutcome) -> Option<&str> {
    match &o.result {
        Ok(Snapshot::Redis(r)) => match &r.config {
            ConfigState::Readable(m) => m.get("dir").map(String::as_str),
            ConfigState::Refused(_) => None,
        },
        Ok(Snapshot::Postgres(p)) => p.info("data_directory"),
        Ok(Snapshot::Docker(_)) | Err(_) => None,
    }
}

/// The slow statements of a PostgreSQL target: its own log file, else — when it runs in a
/// container and logs to stderr — the container's log stream (the second source of
/// `pg_slow_queries_total`).
fn slow_log<'a>(
    o: &'a TargetOutcome,
    engine: Option<&'a DockerSnapshot>,
) -> Option<&'a SlowLogSnapshot> {
    let Ok(Snapshot::Postgres(s)) = &o.result else {
        return None;
    };
    if let Some(own) = &s.slow_log {
        return Some(own);
    }
    if !logs_to_stderr(s) {
        return None;
    }
    engine?.slow_logs.get(&o.target)
}

/// True when PostgreSQL writes its log to stderr (what the container's log stream
/// carries): `log_destination` includes `stderr` and no logging collector takes it.
fn logs_to_stderr(s: &PostgresSnapshot) -> bool {
    s.info("logging_collector").is_none_or(|v| v != "on")
        && s.info("log_destination")
            .is_none_or(|d| d.split(',').any(|x| x.trim() == "stderr"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::CollectError;
    use crate::collectors::docker::{
        ApiVersion, ContainerInfo, MatchedBy, MountPoint, MountType, PathSource,
    };
    use crate::collectors::postgres::parse_main;
    use crate::collectors::redis::{RedisInfo, RedisSnapshot};
    use std::collections::BTreeMap;
    use std::time::{Duration, SystemTime};

    fn outcome(
        target: &str,
        kind: Kind,
        result: Result<Snapshot, CollectError>,
    ) -> Arc<TargetOutcome> {
        Arc::new(TargetOutcome {
            target: target.into(),
            kind,
            finished_at: SystemTime::now(),
            duration: Duration::ZERO,
            result,
            restart: None,
        })
    }

    fn redis(dir: Option<&str>) -> Arc<TargetOutcome> {
        let config = match dir {
            Some(d) => ConfigState::Readable(BTreeMap::from([("dir".to_string(), d.to_string())])),
            None => ConfigState::Refused("NOPERM".into()),
        };
        outcome(
            "cache",
            Kind::Redis,
            Ok(Snapshot::Redis(RedisSnapshot {
                info: RedisInfo::default(),
                config,
                auth_required: None,
            })),
        )
    }

    fn postgres(settings: &str) -> Arc<TargetOutcome> {
        let doc = format!(r#"{{"info": {settings}}}"#);
        let (s, _) = parse_main(&doc, 170000, Arc::default()).unwrap();
        outcome("pg", Kind::Postgres, Ok(Snapshot::Postgres(Box::new(s))))
    }

    fn container(target: &str, kind: Kind, destination: &str) -> TargetContainer {
        TargetContainer {
            target: target.into(),
            kind,
            container: ContainerInfo {
                id: "x".into(),
                name: format!("{target}-1"),
                service: None,
                matched_by: MatchedBy::Explicit,
                mounts: vec![MountPoint {
                    kind: "volume".into(),
                    name: format!("{target}_data"),
                    source: String::new(),
                    destination: destination.into(),
                    driver: "local".into(),
                    rw: true,
                }],
                pgdata: None,
                readonly_rootfs: false,
                restart_count: 0,
                started_at: None,
                running: true,
                tty: false,
                log_line_prefix: None,
            },
        }
    }

    fn engine(containers: Vec<TargetContainer>, slow: &[&str]) -> Arc<TargetOutcome> {
        let slow_logs = slow
            .iter()
            .map(|t| (t.to_string(), SlowLogSnapshot::default()))
            .collect();
        outcome(
            "docker",
            Kind::Docker,
            Ok(Snapshot::Docker(DockerSnapshot {
                server_version: "27.0".into(),
                api_version: ApiVersion::new(1, 41),
                storage_driver: "overlay2".into(),
                docker_root_dir: "/var/lib/docker".into(),
                volumes: Default::default(),
                volumes_listed: None,
                disk_usage: None,
                volumes_filesystem: Some(FsCapacity {
                    path: "/var/lib/docker/volumes".into(),
                    size_bytes: 10,
                    avail_bytes: 5,
                }),
                containers,
                slow_logs,
            })),
        )
    }

    #[test]
    fn data_location_joins_the_server_directory_with_its_container() {
        let outcomes = vec![
            redis(Some("/srv/redis/db")),
            engine(vec![container("cache", Kind::Redis, "/srv/redis")], &[]),
        ];
        let views = target_views(&outcomes);
        let DataLocation::Found { container, mount } = &views[0].data else {
            panic!("{:?}", views[0].data);
        };
        assert_eq!(container.container.name, "cache-1");
        assert_eq!(mount.path, "/srv/redis/db");
        assert_eq!(mount.path_source, PathSource::Server);
        assert_eq!(mount.mount_type, MountType::Volume);
        assert_eq!(mount.volume, "cache_data");
        assert_eq!(views[0].volumes_filesystem.map(|f| f.avail_bytes), Some(5));
        assert_eq!(views[1].data, DataLocation::NotApplicable);
    }

    #[test]
    fn targets_declared_outside_containers_are_a_distinct_location() {
        let outcomes = vec![redis(Some("/srv/redis/db")), engine(Vec::new(), &[])];
        let placed = [(Kind::Redis, outcomes[0].target.clone())];
        let views = target_views_declared(&outcomes, &placed);
        assert_eq!(views[0].data, DataLocation::NotInContainer);
        assert_eq!(views[1].data, DataLocation::NotApplicable);
        // Without the declaration the same target is an unknown location.
        let views = target_views(&outcomes);
        assert_eq!(views[0].data, DataLocation::Unknown(NO_CONTAINER));
    }

    #[test]
    fn refused_config_falls_back_to_the_convention() {
        let outcomes = vec![
            redis(None),
            engine(vec![container("cache", Kind::Redis, "/srv/redis")], &[]),
        ];
        let views = target_views(&outcomes);
        let DataLocation::Found { mount, .. } = &views[0].data else {
            panic!("{:?}", views[0].data);
        };
        assert_eq!(mount.path, "/data");
        assert_eq!(mount.path_source, PathSource::Convention);
        assert_eq!(mount.mount_type, MountType::None);
    }

    #[test]
    fn unknown_locations_say_why() {
        let alone = [redis(Some("/data"))];
        let views = target_views(&alone);
        assert_eq!(views[0].data, DataLocation::Unknown(NO_ENGINE));
        assert!(views[0].volumes_filesystem.is_none());
        let down = outcome(
            "docker",
            Kind::Docker,
            Err(CollectError::Timeout {
                target: "docker".into(),
                after: Duration::from_secs(1),
            }),
        );
        let outcomes = [redis(Some("/data")), down];
        assert_eq!(
            target_views(&outcomes)[0].data,
            DataLocation::Unknown(ENGINE_DOWN)
        );
        let outcomes = [redis(Some("/data")), engine(Vec::new(), &[])];
        let views = target_views(&outcomes);
        assert_eq!(views[0].data, DataLocation::Unknown(NO_CONTAINER));
        // The filesystem is known even without the container.
        assert!(views[0].volumes_filesystem.is_some());
    }

    #[test]
    fn declared_targets_are_not_in_a_container_whatever_the_engine_knows() {
        let outcomes = vec![
            redis(Some("/srv/redis/db")),
            engine(vec![container("cache", Kind::Redis, "/srv/redis")], &[]),
        ];
        let declared = [(Kind::Redis, "cache".to_string())];
        let views = target_views_declared(&outcomes, &declared);
        assert_eq!(views[0].data, DataLocation::NotInContainer);
        assert_eq!(views[1].data, DataLocation::NotApplicable);
        // The same name of another kind is not declared.
        let other = [(Kind::Postgres, "cache".to_string())];
        assert!(matches!(
            target_views_declared(&outcomes, &other)[0].data,
            DataLocation::Found { .. }
        ));
        // Without an Engine too.
        let alone = [redis(None)];
        assert_eq!(
            target_views_declared(&alone, &declared)[0].data,
            DataLocation::NotInContainer
        );
    }

    #[test]
    fn unknown_locations_give_the_right_advice() {
        assert!(NO_ENGINE.contains("--docker.host") && !NO_ENGINE.contains("container:`"));
        assert!(NO_CONTAINER.contains("set `container:`"));
        for r in [NO_ENGINE, NO_CONTAINER] {
            assert!(r.contains("in_container: false"), "{r}");
        }
    }

    #[test]
    fn slow_log_comes_from_the_container_only_when_the_server_logs_to_stderr() {
        let outcomes = [postgres("[]"), engine(Vec::new(), &["pg"])];
        assert!(target_views(&outcomes)[0].slow_log.is_some());
        let outcomes = [
            postgres(r#"[["logging_collector", "on"]]"#),
            engine(Vec::new(), &["pg"]),
        ];
        assert!(target_views(&outcomes)[0].slow_log.is_none());
        let outcomes = [
            postgres(r#"[["log_destination", "csvlog"]]"#),
            engine(Vec::new(), &["pg"]),
        ];
        assert!(target_views(&outcomes)[0].slow_log.is_none());
        let outcomes = [postgres("[]"), engine(Vec::new(), &[])];
        assert!(target_views(&outcomes)[0].slow_log.is_none());
        assert!(target_views(&[redis(None)])[0].slow_log.is_none());
    }
}
