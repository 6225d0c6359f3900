//! Docker collector: the Engine's identity, its volumes with their sizes, the capacity of
//! the filesystem that holds them, and, for every monitored Redis/PostgreSQL target that
//! runs in a container, that container's mounts (joined with the server's own data
//! directory in `render`, through the pure [`data_mount`]).
//!
//! Per scrape (cheap): `/version` (cached after the first success, re-negotiated after a
//! failure), `/info` (reused for a minute), `/volumes`, and `/containers/json` +
//! `/containers/{id}/json` only for containers of monitored targets. `/system/df`, which walks every volume and layer, runs
//! in a background task, one call at a time, every `disk_usage_interval`; scrapes read its
//! last result and never wait for it.
//!
//! We speak HTTP to the Engine ourselves ([`engine`]) and parse its JSON tolerantly
//! ([`api`]): the version is negotiated (never pinned: Docker 29 rejects API < 1.44), and
//! both `/system/df` shapes (legacy `Volumes[]`, `VolumeUsage.Items` since 1.52) are read.

pub mod api;
pub mod engine;
pub mod logs;

use super::{CollectError, Kind};
use crate::config::{DockerTarget, Settings};
pub use api::{
    ApiVersion, ContainerSummary, EngineVersion, MountPoint, Volume, VolumeUsage,
    is_anonymous_volume_name,
};
use engine::{Engine, EngineError, encode_segment};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// Wait before retrying a failed `/system/df` (capped by the configured interval).
pub const DISK_USAGE_RETRY: Duration = Duration::from_secs(5);
/// Lower bound of the `/system/df` timeout: it walks every volume, so it gets longer than
/// the per-call timeout of the scrape path.
pub const DISK_USAGE_MIN_TIMEOUT: Duration = Duration::from_secs(60);

/// A monitored Redis/PostgreSQL target whose container the collector looks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonitoredTarget {
    /// The target's `target` label.
    pub name: String,
    /// Redis or Postgres.
    pub kind: Kind,
    /// Host from the target's address (a name, an IP, or a unix socket directory).
    pub host: String,
    /// Port from the target's address.
    pub port: Option<u16>,
    /// Explicit container name or ID from the target's configuration.
    pub container: Option<String>,
    /// PostgreSQL with a log file configured: its slow statements come from that file,
    /// not from the container's log stream.
    pub log_file: bool,
}

/// The Redis and PostgreSQL targets of the configuration, with host and port taken from
/// their addresses (no secrets: URLs and DSNs are already sanitised).
pub fn monitored_targets(settings: &Settings) -> Vec<MonitoredTarget> {
    let mut out = Vec::new();
    // Targets declared not to run in a container are not looked for.
    for t in settings.redis.iter().filter(|t| !t.not_in_container) {
        let (host, port) = redis_host_port(&t.url);
        out.push(MonitoredTarget {
            name: t.name.clone(),
            kind: Kind::Redis,
            host,
            port,
            container: t.container.clone(),
            log_file: false,
        });
    }
    for t in settings.postgres.iter().filter(|t| !t.not_in_container) {
        let (host, port) = postgres_host_port(&t.dsn);
        out.push(MonitoredTarget {
            name: t.name.clone(),
            kind: Kind::Postgres,
            host,
            port,
            container: t.container.clone(),
            log_file: t.log_file.is_some(),
        });
    }
    out
}

/// Host and port of a `redis://` / `rediss://` URL (default port 6379).
pub fn redis_host_port(url: &str) -> (String, Option<u16>) {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let hostport = authority
        .rsplit_once('@')
        .map(|(_, h)| h)
        .unwrap_or(authority);
    split_host_port(hostport, 6379)
}

fn split_host_port(hostport: &str, default_port: u16) -> (String, Option<u16>) {
    if let Some(rest) = hostport.strip_prefix('[') {
        // [v6]:port
        let (host, after) = rest.split_once(']').unwrap_or((rest, ""));
        let port = after
            .strip_prefix(':')
            .and_then(|p| p.parse().ok())
            .or(Some(default_port));
        return (host.to_string(), port);
    }
    match hostport.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h.to_string(), p.parse().ok()),
        _ => (hostport.to_string(), Some(default_port)),
    }
}

/// Host and port of a PostgreSQL DSN (URL or key/value; default port 5432).
pub fn postgres_host_port(dsn: &str) -> (String, Option<u16>) {
    let (dsn, _) = crate::config::split_sslmode(dsn);
    match dsn.parse::<tokio_postgres::Config>() {
        Ok(c) => {
            let host = match c.get_hosts().first() {
                Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
                Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
                None => "localhost".to_string(),
            };
            (host, Some(c.get_ports().first().copied().unwrap_or(5432)))
        }
        Err(_) => (String::new(), None),
    }
}

/// How a target's container was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchedBy {
    /// `container:` in the target's configuration.
    Explicit,
    /// The only container publishing the target's port on a matching host address.
    PublishedPort,
    /// The only container whose compose service is the target's host name.
    ComposeService,
    /// The only container named like the target's host (Docker network DNS).
    ContainerName,
}

impl MatchedBy {
    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchedBy::Explicit => "config",
            MatchedBy::PublishedPort => "published_port",
            MatchedBy::ComposeService => "compose_service",
            MatchedBy::ContainerName => "container_name",
        }
    }
}

/// Result of looking for a target's container among the running ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// Exactly one candidate.
    Found(String, MatchedBy),
    /// No candidate.
    NotFound,
    /// Several candidates (IDs): we do not guess.
    Ambiguous(Vec<String>),
}

fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn is_wildcard_ip(ip: &str) -> bool {
    matches!(ip, "" | "0.0.0.0" | "::")
}

/// Does a port binding on `binding_ip` serve connections to `host`?
fn binding_serves(binding_ip: &str, host: &str) -> bool {
    if is_wildcard_ip(binding_ip) {
        // Reachable on every local address; we only claim it for loopback targets (a
        // remote host with the same port is a different server).
        return is_loopback_host(host);
    }
    if binding_ip == host {
        return true;
    }
    let loop_ip = binding_ip
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback());
    loop_ip && is_loopback_host(host)
}

/// Finds the running container of a target without an explicit `container:`: first by a
/// published port serving the target's address, then by compose service name or container
/// name equal to the target's host. Only an unambiguous match counts.
pub fn find_container(target: &MonitoredTarget, containers: &[ContainerSummary]) -> Lookup {
    if let Some(port) = target.port {
        let by_port: Vec<&ContainerSummary> = containers
            .iter()
            .filter(|c| {
                c.ports.iter().any(|p| {
                    p.public_port == Some(port)
                        && (p.protocol.is_empty() || p.protocol == "tcp")
                        && binding_serves(&p.ip, &target.host)
                })
            })
            .collect();
        match by_port.len() {
            0 => {}
            1 => return Lookup::Found(by_port[0].id.clone(), MatchedBy::PublishedPort),
            _ => return Lookup::Ambiguous(by_port.iter().map(|c| c.id.clone()).collect()),
        }
    }
    if target.host.is_empty() || target.host.starts_with('/') || is_loopback_host(&target.host) {
        return Lookup::NotFound;
    }
    for (by, pick) in [
        (
            MatchedBy::ComposeService,
            (|c: &ContainerSummary, h: &str| {
                c.labels
                    .get(api::LABEL_COMPOSE_SERVICE)
                    .is_some_and(|s| s == h)
            }) as fn(&ContainerSummary, &str) -> bool,
        ),
        (MatchedBy::ContainerName, |c, h| {
            c.names.iter().any(|n| n == h)
        }),
    ] {
        let found: Vec<&ContainerSummary> = containers
            .iter()
            .filter(|c| pick(c, &target.host))
            .collect();
        match found.len() {
            0 => {}
            1 => return Lookup::Found(found[0].id.clone(), by),
            _ => return Lookup::Ambiguous(found.iter().map(|c| c.id.clone()).collect()),
        }
    }
    Lookup::NotFound
}

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
    fn from_inspect(i: api::ContainerInspect, matched_by: MatchedBy) -> Self {
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

/// Which server a data directory belongs to: decides the fallbacks when the server did
/// not report its directory (down, or `CONFIG` refused).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataDirSource {
    /// Redis: the official image's `/data`.
    Redis,
    /// PostgreSQL: the container's `PGDATA`, else the official image's
    /// `/var/lib/postgresql/data`.
    Postgres,
}

/// Conventional Redis data directory of the official image.
pub const REDIS_CONVENTIONAL_DIR: &str = "/data";
/// Conventional PGDATA of the official PostgreSQL image before 18.
pub const POSTGRES_CONVENTIONAL_DIR: &str = "/var/lib/postgresql/data";

/// Where the data path came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathSource {
    /// Reported by the server itself (`CONFIG GET dir`, `SHOW data_directory`).
    Server,
    /// The container's `PGDATA` environment variable.
    Env,
    /// The image's conventional path: a guess.
    Convention,
}

impl PathSource {
    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            PathSource::Server => "server",
            PathSource::Env => "env",
            PathSource::Convention => "convention",
        }
    }
}

/// What holds a data directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MountType {
    /// A named volume.
    Volume,
    /// A volume named by the Engine (64 hex characters): not reused by the next
    /// `docker compose up`/`docker run`.
    AnonymousVolume,
    /// A host directory.
    Bind,
    /// Memory.
    Tmpfs,
    /// No mount: the container's writable layer, gone when the container is re-created.
    None,
    /// Another mount type (`image`, `npipe`, ...), as the Engine names it.
    Other(String),
}

impl MountType {
    /// Label value.
    pub fn as_str(&self) -> &str {
        match self {
            MountType::Volume => "volume",
            MountType::AnonymousVolume => "anonymous_volume",
            MountType::Bind => "bind",
            MountType::Tmpfs => "tmpfs",
            MountType::None => "none",
            MountType::Other(s) => s,
        }
    }
}

/// Where a target's data lives in its container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataMount {
    /// The data directory (normalised).
    pub path: String,
    /// Where `path` came from.
    pub path_source: PathSource,
    /// What holds it.
    pub mount_type: MountType,
    /// Mount point in the container covering `path` (`None` for [`MountType::None`]).
    pub destination: Option<String>,
    /// Volume name (volume mounts), else empty.
    pub volume: String,
    /// Volume driver (volume mounts), else empty.
    pub driver: String,
    /// Host path of a bind mount, else empty.
    pub source: String,
    /// Writable.
    pub rw: bool,
}

/// Normalises an absolute container path (`//a/./b/../c/` → `/a/c`); relative → `None`.
pub fn normalize_path(p: &str) -> Option<String> {
    if !p.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    Some(format!("/{}", parts.join("/")))
}

fn covers(mount: &str, path: &str) -> bool {
    mount == "/" || path == mount || path.strip_prefix(mount).is_some_and(|r| r.starts_with('/'))
}

/// Finds the mount holding a target's data: the server's own directory when it reported
/// one (absolute), else `PGDATA` (Postgres) or the image's conventional path, flagged in
/// `path_source`. The longest mount destination covering the path wins; none → the
/// container's writable layer.
pub fn data_mount(
    target_data_dir: Option<&str>,
    fallback: DataDirSource,
    container: &ContainerInfo,
) -> DataMount {
    let (path, path_source) = match target_data_dir.and_then(normalize_path) {
        Some(p) => (p, PathSource::Server),
        None => match (
            fallback,
            container.pgdata.as_deref().and_then(normalize_path),
        ) {
            (DataDirSource::Postgres, Some(p)) => (p, PathSource::Env),
            (DataDirSource::Postgres, None) => (
                POSTGRES_CONVENTIONAL_DIR.to_string(),
                PathSource::Convention,
            ),
            (DataDirSource::Redis, _) => {
                (REDIS_CONVENTIONAL_DIR.to_string(), PathSource::Convention)
            }
        },
    };
    let best = container
        .mounts
        .iter()
        .filter_map(|m| normalize_path(&m.destination).map(|d| (d, m)))
        .filter(|(d, _)| covers(d, &path))
        .max_by_key(|(d, _)| d.len());
    match best {
        None => DataMount {
            path,
            path_source,
            mount_type: MountType::None,
            destination: None,
            volume: String::new(),
            driver: String::new(),
            source: String::new(),
            rw: !container.readonly_rootfs,
        },
        Some((dest, m)) => {
            let mount_type = match m.kind.as_str() {
                "volume" if is_anonymous_volume_name(&m.name) => MountType::AnonymousVolume,
                "volume" | "cluster" => MountType::Volume,
                "bind" => MountType::Bind,
                "tmpfs" => MountType::Tmpfs,
                other => MountType::Other(other.to_string()),
            };
            let is_volume = matches!(mount_type, MountType::Volume | MountType::AnonymousVolume);
            DataMount {
                path,
                path_source,
                destination: Some(dest),
                volume: if is_volume {
                    m.name.clone()
                } else {
                    String::new()
                },
                driver: if is_volume {
                    m.driver.clone()
                } else {
                    String::new()
                },
                source: if mount_type == MountType::Bind {
                    m.source.clone()
                } else {
                    String::new()
                },
                rw: m.rw,
                mount_type,
            }
        }
    }
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
    /// Current volumes.
    pub volumes: Vec<Volume>,
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

/// How long `/info` is reused before it is read again.
const INFO_TTL: Duration = Duration::from_secs(60);

type DiskUsageCache = Arc<Mutex<Option<Arc<DiskUsage>>>>;

/// Aborts the background refresh when the collector is dropped.
struct RefreshTask(tokio::task::JoinHandle<()>);

impl Drop for RefreshTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

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
            engine,
            self.name.clone(),
            self.interval,
            df_timeout,
            self.cache.clone(),
        ));
        self.refresher = Some(RefreshTask(task));
    }

    fn err(&self, e: EngineError) -> CollectError {
        let target = self.name.clone();
        match e {
            EngineError::Connect(cause) => CollectError::Connect { target, cause },
            EngineError::Timeout => CollectError::Timeout {
                target,
                after: self.timeout,
            },
            EngineError::Status { code, message } => CollectError::Query {
                target,
                cause: format!("HTTP {code}: {message}"),
            },
            EngineError::Protocol(cause) => CollectError::Protocol { target, cause },
        }
    }

    fn protocol(&self, cause: String) -> CollectError {
        CollectError::Protocol {
            target: self.name.clone(),
            cause,
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
                    cause: cause.clone(),
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
        let (fresh_info, volumes, containers) = tokio::join!(
            info_call,
            engine.get(&volumes_path, call_deadline()),
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
        let mut volumes = api::parse_volume_list(&volumes.map_err(|e| self.err(e))?)
            .map_err(|e| self.protocol(e))?;
        volumes.sort_by(|a, b| a.name.cmp(&b.name));
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
            volumes,
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

/// `statvfs` of `<root>/volumes` (or `<root>`), off the async threads, before `deadline`.
async fn volumes_capacity(root: &str, deadline: Instant) -> Option<FsCapacity> {
    let root = root.to_string();
    let task = tokio::task::spawn_blocking(move || {
        let volumes = Path::new(&root).join("volumes");
        statvfs(&volumes).or_else(|| statvfs(Path::new(&root)))
    });
    tokio::time::timeout_at(deadline, task).await.ok()?.ok()?
}

// The statvfs field types differ between platforms (u32 on some 32-bit targets).
#[allow(clippy::unnecessary_cast)]
fn statvfs(path: &Path) -> Option<FsCapacity> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is a valid NUL-terminated string and `st` points to writable memory of
    // the right type; statvfs fills it completely when it returns 0.
    let rc = unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: initialised by the successful call above.
    let st = unsafe { st.assume_init() };
    let unit = if st.f_frsize > 0 {
        st.f_frsize as u64
    } else {
        st.f_bsize as u64
    };
    Some(FsCapacity {
        path: path.display().to_string(),
        size_bytes: (st.f_blocks as u64).saturating_mul(unit),
        avail_bytes: (st.f_bavail as u64).saturating_mul(unit),
    })
}

/// The `/system/df` request for an API version: `type=volume` only where the Engine
/// honours it (≥ 1.42), `verbose=true` where per-volume items need it (≥ 1.52).
pub fn disk_usage_path(api: ApiVersion) -> String {
    let mut q = Vec::new();
    if api >= api::DF_TYPE_FILTER_SINCE {
        q.push("type=volume");
    }
    if api >= api::DF_VOLUME_USAGE_SINCE {
        q.push("verbose=true");
    }
    if q.is_empty() {
        format!("/v{api}/system/df")
    } else {
        format!("/v{api}/system/df?{}", q.join("&"))
    }
}

async fn refresh_once(
    engine: &Engine,
    timeout: Duration,
) -> Result<BTreeMap<String, VolumeUsage>, String> {
    let body = engine
        .get(
            "/version",
            Instant::now() + timeout.min(Duration::from_secs(30)),
        )
        .await
        .map_err(|e| format!("/version: {e}"))?;
    let v = api::parse_version(&body)?;
    let body = engine
        .get(&disk_usage_path(v.api_version), Instant::now() + timeout)
        .await
        .map_err(|e| format!("/system/df: {e}"))?;
    api::parse_disk_usage(&body)
}

/// Refreshes the disk-usage cache forever: one call at a time, first at start-up, then
/// every `interval` after the previous call finished (sooner after a failure).
async fn refresh_loop(
    engine: Engine,
    name: String,
    interval: Duration,
    timeout: Duration,
    cache: DiskUsageCache,
) {
    let mut failing = false;
    loop {
        let start = Instant::now();
        let wait = match refresh_once(&engine, timeout).await {
            Ok(volumes) => {
                let duration = start.elapsed();
                tracing::debug!(engine = %name, volumes = volumes.len(), duration_seconds = duration.as_secs_f64(), "Docker disk usage refreshed");
                *lock(&cache) = Some(Arc::new(DiskUsage {
                    volumes,
                    refreshed_at: SystemTime::now(),
                    duration,
                }));
                failing = false;
                interval
            }
            Err(e) => {
                if failing {
                    tracing::debug!(engine = %name, error = %e, "Docker disk usage refresh failed again");
                } else {
                    tracing::warn!(engine = %name, error = %e, "Docker disk usage refresh failed; serving the previous result");
                }
                failing = true;
                interval.min(DISK_USAGE_RETRY)
            }
        };
        tokio::time::sleep(wait).await;
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::PortBinding;

    fn target(host: &str, port: Option<u16>) -> MonitoredTarget {
        MonitoredTarget {
            name: "t".into(),
            kind: Kind::Redis,
            host: host.into(),
            port,
            container: None,
            log_file: false,
        }
    }

    fn container(
        id: &str,
        name: &str,
        service: Option<&str>,
        ports: &[(&str, u16)],
    ) -> ContainerSummary {
        ContainerSummary {
            id: id.into(),
            names: vec![name.into()],
            labels: service
                .map(|s| BTreeMap::from([(api::LABEL_COMPOSE_SERVICE.to_string(), s.to_string())]))
                .unwrap_or_default(),
            ports: ports
                .iter()
                .map(|(ip, p)| PortBinding {
                    ip: ip.to_string(),
                    private_port: 6379,
                    public_port: Some(*p),
                    protocol: "tcp".into(),
                })
                .collect(),
        }
    }

    #[test]
    fn addresses() {
        assert_eq!(
            redis_host_port("redis://u@10.0.0.1:6380/2"),
            ("10.0.0.1".into(), Some(6380))
        );
        assert_eq!(
            redis_host_port("rediss://cache"),
            ("cache".into(), Some(6379))
        );
        assert_eq!(
            redis_host_port("redis://[::1]:7000"),
            ("::1".into(), Some(7000))
        );
        assert_eq!(
            postgres_host_port("postgresql://u@db:5433/app?sslmode=verify-full"),
            ("db".into(), Some(5433))
        );
        assert_eq!(
            postgres_host_port("host=127.0.0.1 port=6000 user=x"),
            ("127.0.0.1".into(), Some(6000))
        );
        assert_eq!(
            postgres_host_port("postgresql:///db?host=/run/postgresql"),
            ("/run/postgresql".into(), Some(5432))
        );
    }

    #[test]
    fn container_lookup() {
        let cs = vec![
            container("a", "redis-a", Some("cache"), &[("0.0.0.0", 16379)]),
            container("b", "redis-b", Some("queue"), &[("127.0.0.1", 16380)]),
            container("c", "pg", Some("db"), &[("10.1.1.1", 5432)]),
            container("d", "twin1", Some("twin"), &[]),
            container("e", "twin2", Some("twin"), &[]),
        ];
        assert_eq!(
            find_container(&target("127.0.0.1", Some(16379)), &cs),
            Lookup::Found("a".into(), MatchedBy::PublishedPort)
        );
        assert_eq!(
            find_container(&target("localhost", Some(16380)), &cs),
            Lookup::Found("b".into(), MatchedBy::PublishedPort)
        );
        // A wildcard binding is not claimed for a remote host name.
        assert_eq!(
            find_container(&target("db.example.com", Some(16379)), &cs),
            Lookup::NotFound
        );
        assert_eq!(
            find_container(&target("10.1.1.1", Some(5432)), &cs),
            Lookup::Found("c".into(), MatchedBy::PublishedPort)
        );
        assert_eq!(
            find_container(&target("cache", Some(6379)), &cs),
            Lookup::Found("a".into(), MatchedBy::ComposeService)
        );
        assert_eq!(
            find_container(&target("pg", Some(5432)), &cs),
            Lookup::Found("c".into(), MatchedBy::ContainerName)
        );
        assert!(matches!(
            find_container(&target("twin", Some(6379)), &cs),
            Lookup::Ambiguous(ids) if ids.len() == 2
        ));
        let mut dup = cs.clone();
        dup.push(container("f", "other", None, &[("0.0.0.0", 16379)]));
        assert!(matches!(
            find_container(&target("127.0.0.1", Some(16379)), &dup),
            Lookup::Ambiguous(_)
        ));
        assert_eq!(
            find_container(&target("127.0.0.1", Some(1)), &cs),
            Lookup::NotFound
        );
    }

    fn mount(kind: &str, name: &str, dest: &str) -> MountPoint {
        MountPoint {
            kind: kind.into(),
            name: name.into(),
            source: format!("/src/{name}"),
            destination: dest.into(),
            driver: if kind == "volume" {
                "local".into()
            } else {
                String::new()
            },
            rw: true,
        }
    }

    fn info(mounts: Vec<MountPoint>, pgdata: Option<&str>) -> ContainerInfo {
        ContainerInfo {
            id: "id".into(),
            name: "c".into(),
            service: None,
            matched_by: MatchedBy::Explicit,
            mounts,
            pgdata: pgdata.map(str::to_string),
            readonly_rootfs: false,
            restart_count: 0,
            started_at: None,
            running: true,
            tty: false,
            log_line_prefix: None,
        }
    }

    #[test]
    fn data_mount_longest_prefix_and_types() {
        let anon = "f".repeat(64);
        let c = info(
            vec![
                mount("volume", &anon, "/var/lib/postgresql"),
                mount("volume", "pgdata", "/var/lib/postgresql/data"),
                mount("bind", "conf", "/etc/redis"),
                mount("tmpfs", "", "/run/tmp"),
                mount("bind", "usr", "/usr"),
            ],
            None,
        );
        // The PostgreSQL 18 trap: data_directory outside the named volume.
        let m = data_mount(
            Some("/var/lib/postgresql/18/docker"),
            DataDirSource::Postgres,
            &c,
        );
        assert_eq!(m.mount_type, MountType::AnonymousVolume);
        assert_eq!(m.volume, anon);
        assert_eq!(m.destination.as_deref(), Some("/var/lib/postgresql"));
        assert_eq!(m.path_source, PathSource::Server);
        let m = data_mount(
            Some("/var/lib/postgresql/data/"),
            DataDirSource::Postgres,
            &c,
        );
        assert_eq!(
            (m.mount_type, m.volume.as_str()),
            (MountType::Volume, "pgdata")
        );
        assert_eq!(m.path, "/var/lib/postgresql/data");
        let m = data_mount(Some("/etc/redis/data"), DataDirSource::Redis, &c);
        assert_eq!(m.mount_type, MountType::Bind);
        assert_eq!(m.source, "/src/conf");
        assert_eq!(m.volume, "");
        assert_eq!(
            data_mount(Some("/run/tmp"), DataDirSource::Redis, &c).mount_type,
            MountType::Tmpfs
        );
        // Component boundaries: /usrdata is not under /usr.
        let m = data_mount(Some("/usrdata"), DataDirSource::Redis, &c);
        assert_eq!(m.mount_type, MountType::None);
        assert!(m.rw);
        assert_eq!(m.destination, None);
    }

    #[test]
    fn data_mount_fallbacks_are_flagged() {
        let c = info(vec![mount("volume", "d", "/data")], Some("/pg/data"));
        let m = data_mount(None, DataDirSource::Redis, &c);
        assert_eq!(
            (m.path.as_str(), m.path_source),
            ("/data", PathSource::Convention)
        );
        assert_eq!(m.mount_type, MountType::Volume);
        let m = data_mount(None, DataDirSource::Postgres, &c);
        assert_eq!(
            (m.path.as_str(), m.path_source),
            ("/pg/data", PathSource::Env)
        );
        assert_eq!(m.mount_type, MountType::None);
        let m = data_mount(
            Some("relative/dir"),
            DataDirSource::Postgres,
            &info(vec![], None),
        );
        assert_eq!(
            (m.path.as_str(), m.path_source),
            (POSTGRES_CONVENTIONAL_DIR, PathSource::Convention)
        );
    }

    #[test]
    fn paths_normalise() {
        assert_eq!(normalize_path("//a/./b/../c/").as_deref(), Some("/a/c"));
        assert_eq!(normalize_path("/").as_deref(), Some("/"));
        assert_eq!(normalize_path("a"), None);
        assert!(covers("/", "/x"));
        assert!(covers("/a", "/a"));
        assert!(!covers("/a", "/ab"));
    }

    #[test]
    fn disk_usage_requests_by_version() {
        assert_eq!(disk_usage_path(ApiVersion::new(1, 41)), "/v1.41/system/df");
        assert_eq!(
            disk_usage_path(ApiVersion::new(1, 44)),
            "/v1.44/system/df?type=volume"
        );
        assert_eq!(
            disk_usage_path(ApiVersion::new(1, 52)),
            "/v1.52/system/df?type=volume&verbose=true"
        );
    }

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

    #[test]
    fn statvfs_of_root_works() {
        let c = statvfs(Path::new("/")).unwrap();
        assert!(c.size_bytes > 0 && c.avail_bytes <= c.size_bytes);
        assert!(statvfs(Path::new("/nonexistent/x")).is_none());
    }
}
