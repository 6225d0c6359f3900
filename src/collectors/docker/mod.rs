//! Docker collector: the Engine's identity, its volumes with their sizes, the capacity of
//! the filesystem that holds them, and, for every monitored Redis/PostgreSQL target that
//! runs in a container, that container's mounts (joined with the server's own data
//! directory in `render`, through the pure [`data_mount`]).
//!
//! Per scrape (cheap): `/version` (cached after the first success, re-negotiated after a
//! failure), `/info` (reused for a minute), and `/containers/json` +
//! `/containers/{id}/json` only for containers of monitored targets. `/system/df`, which
//! walks every volume and layer, and `/volumes` ([`volume_list`]; 10 ms per thousand
//! volumes) run in background tasks, one call at a time each, every
//! `disk_usage_interval`; scrapes read their last results and never wait for them (a
//! scrape lists the volumes itself only when no listing is young enough).
//!
//! We speak HTTP to the Engine ourselves ([`engine`]) and parse its JSON tolerantly
//! ([`api`]): the version is negotiated (never pinned: Docker 29 rejects API < 1.44), and
//! both `/system/df` shapes (legacy `Volumes[]`, `VolumeUsage.Items` since 1.52) are read.

pub mod api;
mod disk_usage;
pub mod engine;
mod fs;
pub mod logs;
mod matching;
mod mounts;
mod snapshot;
mod volume_list;

use super::{Cause, CollectError, Kind, lock};
pub use crate::collectors::address::{postgres_host_port, redis_host_port};
use crate::config::DockerTarget;
pub use api::{
    ApiVersion, ContainerSummary, EngineVersion, MountPoint, Volume, VolumeUsage,
    is_anonymous_volume_name,
};
pub use disk_usage::{DISK_USAGE_MIN_TIMEOUT, DISK_USAGE_RETRY, disk_usage_path};
use disk_usage::{DiskUsageCache, RefreshTask, refresh_loop};
use engine::{Engine, EngineError, encode_segment};
use fs::volumes_capacity;
pub use matching::{Lookup, MatchedBy, MonitoredTarget, find_container, monitored_targets};
pub use mounts::{
    DataDirSource, DataMount, MountType, POSTGRES_CONVENTIONAL_DIR, PathSource,
    REDIS_CONVENTIONAL_DIR, data_mount, normalize_path,
};
pub use snapshot::{ContainerInfo, DiskUsage, DockerSnapshot, FsCapacity, TargetContainer};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// How long `/info` is reused before it is read again.
const INFO_TTL: Duration = Duration::from_secs(60);

/// Scrapes one Docker Engine.
pub struct DockerCollector {
    name: String,
    engine: Result<Engine, String>,
    timeout: Duration,
    interval: Duration,
    version: Option<EngineVersion>,
    /// `/info` (storage driver, data root) with the time it was read: it only changes
    /// when the Engine is reconfigured, and it is the slowest of the per-scrape calls.
    info: Option<(Instant, api::EngineInfo)>,
    targets: Vec<MonitoredTarget>,
    cache: DiskUsageCache,
    refresher: Option<RefreshTask>,
    volume_cache: volume_list::VolumeListCache,
    volume_refresher: Option<RefreshTask>,
    log_followers: BTreeMap<String, logs::ContainerLogFollower>,
}

impl DockerCollector {
    /// Prepares the client and starts the background `/system/df` refresh (when called
    /// inside a Tokio runtime; otherwise it starts with the first scrape).
    pub fn new(target: DockerTarget, monitored: Vec<MonitoredTarget>) -> Self {
        let mut c = DockerCollector {
            name: target.host.clone(),
            engine: Engine::new(&target.host),
            timeout: target.timeout,
            interval: target.disk_usage_interval.max(Duration::from_millis(100)),
            version: None,
            info: None,
            targets: monitored,
            cache: Arc::new(Mutex::new(None)),
            refresher: None,
            volume_cache: Arc::default(),
            volume_refresher: None,
            log_followers: BTreeMap::new(),
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            c.start_refresher();
        }
        c
    }

    /// The `target` label: the Engine's address.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The last `/system/df` result, if any.
    pub fn disk_usage(&self) -> Option<Arc<DiskUsage>> {
        lock(&self.cache).clone()
    }

    fn start_refresher(&mut self) {
        if self.refresher.is_some() {
            return;
        }
        let Ok(engine) = self.engine.clone() else {
            return;
        };
        let df_timeout = self.timeout.max(self.interval).max(DISK_USAGE_MIN_TIMEOUT);
        let task = tokio::spawn(refresh_loop(
            engine.clone(),
            self.name.clone(),
            self.interval,
            df_timeout,
            self.cache.clone(),
        ));
        self.refresher = Some(RefreshTask(task));
        if self.volume_refresher.is_none() {
            let task = tokio::spawn(volume_list::refresh_loop(
                engine,
                self.name.clone(),
                self.interval,
                self.timeout,
                self.volume_cache.clone(),
            ));
            self.volume_refresher = Some(RefreshTask(task));
        }
    }

    fn err(&self, e: EngineError) -> CollectError {
        let target = self.name.clone();
        match e {
            EngineError::Connect { addr, source } => CollectError::Connect {
                target,
                cause: Cause::described(format!("{addr}: {source}"), source),
            },
            EngineError::Timeout => CollectError::Timeout {
                target,
                after: self.timeout,
            },
            e @ EngineError::Status { .. } => CollectError::Query {
                target,
                cause: Cause::new(e),
            },
            e @ EngineError::Protocol { .. } => CollectError::Protocol {
                target,
                cause: Cause::new(e),
            },
        }
    }

    fn protocol(&self, e: impl Into<Cause>) -> CollectError {
        CollectError::Protocol {
            target: self.name.clone(),
            cause: e.into(),
        }
    }

    /// One scrape, finished before `deadline`.
    pub async fn collect(&mut self, deadline: Instant) -> Result<DockerSnapshot, CollectError> {
        self.start_refresher();
        let cached = self.version.is_some();
        let mut result = self.collect_inner(deadline).await;
        if result.is_err() {
            // Re-negotiate: the Engine may have been replaced by another version (an
            // upgraded Engine answers 400 to a version it no longer accepts). Once more
            // right away when the failure was an answer, not silence.
            self.version = None;
            self.info = None;
            *lock(&self.volume_cache) = None;
            if cached
                && matches!(
                    result,
                    Err(CollectError::Query { .. } | CollectError::Protocol { .. })
                )
            {
                result = self.collect_inner(deadline).await;
                if result.is_err() {
                    self.version = None;
                }
            }
        }
        result
    }

    async fn collect_inner(&mut self, deadline: Instant) -> Result<DockerSnapshot, CollectError> {
        let engine = match &self.engine {
            Ok(e) => e.clone(),
            Err(cause) => {
                return Err(CollectError::Connect {
                    target: self.name.clone(),
                    cause: cause.clone().into(),
                });
            }
        };
        let timeout = self.timeout;
        let call_deadline = move || deadline.min(Instant::now() + timeout);
        let version = match &self.version {
            Some(v) => v.clone(),
            None => {
                let body = engine
                    .get("/version", call_deadline())
                    .await
                    .map_err(|e| self.err(e))?;
                let v = api::parse_version(&body).map_err(|e| self.protocol(e))?;
                tracing::debug!(engine = %self.name, server_version = %v.server_version, api_version = %v.api_version, "Docker API version negotiated");
                self.version = Some(v.clone());
                v
            }
        };
        let api = version.api_version;
        let (info_path, volumes_path) = (format!("/v{api}/info"), format!("/v{api}/volumes"));
        let cached_info = self
            .info
            .as_ref()
            .filter(|(at, _)| at.elapsed() < INFO_TTL)
            .map(|(_, i)| i.clone());
        let info_call = async {
            match cached_info {
                Some(_) => None,
                None => Some(engine.get(&info_path, call_deadline()).await),
            }
        };
        let listed = volume_list::fresh(&self.volume_cache, self.interval + self.timeout);
        // With a cached listing the scrape still asks the Engine something (`/_ping`, the
        // cheapest call, under the negotiated version): an Engine that is gone or was
        // replaced by one refusing that version fails the scrape, never served from
        // caches as up.
        let ping_path = format!("/v{api}/_ping");
        let list_call = async {
            match listed {
                Some(_) => match engine.get(&ping_path, call_deadline()).await {
                    Ok(_) => None,
                    Err(e) => Some((Err(e), Duration::ZERO)),
                },
                None => {
                    let start = Instant::now();
                    let body = engine.get(&volumes_path, call_deadline()).await;
                    Some((body, start.elapsed()))
                }
            }
        };
        let (fresh_info, fresh_list, containers) = tokio::join!(
            info_call,
            list_call,
            find_target_containers(&engine, api, &self.name, &self.targets, call_deadline()),
        );
        let info = match (cached_info, fresh_info) {
            (Some(i), _) => i,
            (None, Some(body)) => {
                let i = api::parse_info(&body.map_err(|e| self.err(e))?)
                    .map_err(|e| self.protocol(e))?;
                self.info = Some((Instant::now(), i.clone()));
                i
            }
            (None, None) => {
                return Err(self.protocol("/info was neither cached nor read".to_string()));
            }
        };
        let list = match (listed, fresh_list) {
            (Some(_), Some((Err(e), _))) => return Err(self.err(e)),
            (Some(l), _) => l,
            (None, Some((body, took))) => {
                let l = volume_list::listing(&body.map_err(|e| self.err(e))?, took)
                    .map_err(|e| self.protocol(e))?;
                volume_list::store(&self.volume_cache, l)
            }
            (None, None) => {
                return Err(self.protocol("/volumes was neither cached nor read".to_string()));
            }
        };
        self.follow_postgres_logs(&engine, api, &containers);
        let slow_logs = self
            .log_followers
            .iter()
            .map(|(t, f)| (t.clone(), f.snapshot()))
            .collect();
        let volumes_filesystem = if engine.endpoint().is_local() && !info.docker_root_dir.is_empty()
        {
            volumes_capacity(&info.docker_root_dir, call_deadline()).await
        } else {
            None
        };
        Ok(DockerSnapshot {
            server_version: version.server_version.clone(),
            api_version: api,
            storage_driver: info.storage_driver,
            docker_root_dir: info.docker_root_dir,
            volumes: list.volumes.clone(),
            volumes_listed: Some((list.refreshed_at, list.duration)),
            disk_usage: lock(&self.cache).clone(),
            volumes_filesystem,
            containers,
            slow_logs,
        })
    }

    /// Starts (or re-points) a log-stream follower for every PostgreSQL target found in a
    /// container that has no log file configured.
    fn follow_postgres_logs(
        &mut self,
        engine: &Engine,
        api: ApiVersion,
        found: &[TargetContainer],
    ) {
        for tc in found {
            let wanted = tc.kind == Kind::Postgres
                && self
                    .targets
                    .iter()
                    .any(|t| t.name == tc.target && !t.log_file);
            if !wanted {
                continue;
            }
            let c = &tc.container;
            let prefix = c.log_line_prefix.as_deref();
            match self.log_followers.get(&tc.target) {
                Some(f) => f.update(api, &c.id, c.tty, prefix),
                None => {
                    let f = logs::ContainerLogFollower::start(
                        engine.clone(),
                        api,
                        &c.id,
                        c.tty,
                        prefix,
                        &tc.target,
                    );
                    self.log_followers.insert(tc.target.clone(), f);
                }
            }
        }
    }
}

/// Finds and inspects the containers of the monitored targets. Failures here cost only
/// the affected targets' container metrics (logged), never the whole Engine scrape.
async fn find_target_containers(
    engine: &Engine,
    api: ApiVersion,
    engine_name: &str,
    targets: &[MonitoredTarget],
    deadline: Instant,
) -> Vec<TargetContainer> {
    if targets.is_empty() {
        return Vec::new();
    }
    let mut wanted: Vec<(&MonitoredTarget, String, MatchedBy)> = Vec::new();
    let need_list = targets.iter().any(|t| t.container.is_none());
    let running =
        if need_list {
            match engine.get(&format!("/v{api}/containers/json"), deadline).await {
            Ok(body) => api::parse_container_list(&body).unwrap_or_else(|e| {
                tracing::warn!(engine = %engine_name, error = %e, "Cannot read the container list");
                Vec::new()
            }),
            Err(e) => {
                tracing::warn!(engine = %engine_name, error = %e, "Cannot list containers");
                Vec::new()
            }
        }
        } else {
            Vec::new()
        };
    for t in targets {
        match &t.container {
            Some(c) => wanted.push((t, c.clone(), MatchedBy::Explicit)),
            None => match find_container(t, &running) {
                Lookup::Found(id, by) => wanted.push((t, id, by)),
                Lookup::NotFound => {
                    tracing::debug!(engine = %engine_name, target_name = %t.name, "No container found for target")
                }
                Lookup::Ambiguous(ids) => {
                    tracing::debug!(engine = %engine_name, target_name = %t.name, candidates = ids.len(), "Several containers match the target; set container: in its configuration")
                }
            },
        }
    }
    let inspections = wanted.into_iter().map(|(t, id, by)| async move {
        let path = format!("/v{api}/containers/{}/json", encode_segment(&id));
        match engine.get(&path, deadline).await {
            Ok(body) => match api::parse_container_inspect(&body) {
                Ok(i) => Some(TargetContainer {
                    target: t.name.clone(),
                    kind: t.kind,
                    container: ContainerInfo::from_inspect(i, by),
                }),
                Err(e) => {
                    tracing::warn!(engine = %engine_name, target_name = %t.name, error = %e, "Cannot read container");
                    None
                }
            },
            Err(EngineError::Status { code: 404, .. }) => {
                tracing::debug!(engine = %engine_name, target_name = %t.name, container = %id, "Container not found");
                None
            }
            Err(e) => {
                tracing::warn!(engine = %engine_name, target_name = %t.name, container = %id, error = %e, "Cannot inspect container");
                None
            }
        }
    });
    futures::future::join_all(inspections)
        .await
        .into_iter()
        .flatten()
        .collect()
}
