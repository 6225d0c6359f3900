//! Docker Engine API response shapes, parsed tolerantly: every field is optional, `null`
//! reads as empty, unknown fields are ignored, and a reply that is not what we asked for
//! is an error (never a panic, never a silently empty result).

use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::fmt;

/// `null` → the type's default; used on every field because the Engine writes `null` for
/// empty maps and lists (`"Labels": null`).
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// An Engine API version such as `1.41`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiVersion {
    /// Major version (1 so far).
    pub major: u32,
    /// Minor version.
    pub minor: u32,
}

impl ApiVersion {
    /// A version from its parts.
    pub const fn new(major: u32, minor: u32) -> Self {
        ApiVersion { major, minor }
    }

    /// Parses `1.41` (a leading `v` is accepted).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let s = s.strip_prefix('v').unwrap_or(s);
        let (major, minor) = s.split_once('.')?;
        Some(ApiVersion {
            major: major.parse().ok()?,
            minor: minor.parse().ok()?,
        })
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// First API version whose `/system/df` honours `type=volume` (and tolerates concurrent calls).
pub const DF_TYPE_FILTER_SINCE: ApiVersion = ApiVersion::new(1, 42);
/// First API version with the `VolumeUsage` shape of `/system/df` (legacy arrays announced
/// for removal; per-volume `Items` only with `verbose=true`).
pub const DF_VOLUME_USAGE_SINCE: ApiVersion = ApiVersion::new(1, 52);

/// `GET /version`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineVersion {
    /// Engine release, e.g. `20.10.24+dfsg1`.
    pub server_version: String,
    /// Newest API version the Engine speaks; the one we use.
    pub api_version: ApiVersion,
    /// Oldest API version the Engine accepts, when it says.
    pub min_api_version: Option<ApiVersion>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct VersionRaw {
    #[serde(rename = "Version", deserialize_with = "null_as_default")]
    version: String,
    #[serde(rename = "ApiVersion", deserialize_with = "null_as_default")]
    api_version: String,
    #[serde(rename = "MinAPIVersion", deserialize_with = "null_as_default")]
    min_api_version: String,
}

/// Parses `GET /version`; an answer without a usable `ApiVersion` is an error.
pub fn parse_version(body: &[u8]) -> Result<EngineVersion, ApiError> {
    let raw: VersionRaw = json(body, "/version")?;
    let api_version = ApiVersion::parse(&raw.api_version).ok_or_else(|| {
        ApiError::Shape(format!(
            "/version: no usable ApiVersion (got {:?})",
            truncate(&raw.api_version)
        ))
    })?;
    Ok(EngineVersion {
        server_version: raw.version,
        api_version,
        min_api_version: ApiVersion::parse(&raw.min_api_version),
    })
}

/// `GET /info`, the parts we use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EngineInfo {
    /// Storage driver (`overlay2`, `vfs`, ...).
    pub storage_driver: String,
    /// Docker's data root on the Engine's host (`/var/lib/docker`).
    pub docker_root_dir: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct InfoRaw {
    #[serde(rename = "Driver", deserialize_with = "null_as_default")]
    driver: String,
    #[serde(rename = "DockerRootDir", deserialize_with = "null_as_default")]
    docker_root_dir: String,
    #[serde(rename = "ID", deserialize_with = "null_as_default")]
    id: String,
    #[serde(rename = "ServerVersion", deserialize_with = "null_as_default")]
    server_version: String,
}

/// Parses `GET /info`. An object with none of the fields we know is an error (a proxy's
/// answer, not the Engine's).
pub fn parse_info(body: &[u8]) -> Result<EngineInfo, ApiError> {
    let raw: InfoRaw = json(body, "/info")?;
    if raw.driver.is_empty()
        && raw.docker_root_dir.is_empty()
        && raw.id.is_empty()
        && raw.server_version.is_empty()
    {
        return Err(ApiError::Shape(
            "/info: not an Engine info object".to_string(),
        ));
    }
    Ok(EngineInfo {
        storage_driver: raw.driver,
        docker_root_dir: raw.docker_root_dir,
    })
}

/// One volume of `GET /volumes`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Volume {
    /// Volume name (64 hex characters for an anonymous volume).
    pub name: String,
    /// Volume driver (`local`, or a plugin).
    pub driver: String,
    /// `local` or `global`.
    pub scope: String,
    /// Where the volume lives on the Engine's host.
    pub mountpoint: String,
    /// Volume labels (compose sets `com.docker.compose.project` / `.volume`).
    pub labels: BTreeMap<String, String>,
}

/// Compose project label on volumes and containers.
pub const LABEL_COMPOSE_PROJECT: &str = "com.docker.compose.project";
/// Compose volume key label.
pub const LABEL_COMPOSE_VOLUME: &str = "com.docker.compose.volume";
/// Compose service label on containers.
pub const LABEL_COMPOSE_SERVICE: &str = "com.docker.compose.service";
/// Label newer Engines (23+) put on anonymous volumes.
pub const LABEL_ANONYMOUS_VOLUME: &str = "com.docker.volume.anonymous";

impl Volume {
    /// An anonymous volume: created for a container's `VOLUME` or `-v /path` without a name.
    pub fn is_anonymous(&self) -> bool {
        self.labels.contains_key(LABEL_ANONYMOUS_VOLUME) || is_anonymous_volume_name(&self.name)
    }
}

/// True for the 64-hex-character names the Engine gives anonymous volumes.
pub fn is_anonymous_volume_name(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct VolumeRaw {
    #[serde(rename = "Name", deserialize_with = "null_as_default")]
    name: String,
    #[serde(rename = "Driver", deserialize_with = "null_as_default")]
    driver: String,
    #[serde(rename = "Scope", deserialize_with = "null_as_default")]
    scope: String,
    #[serde(rename = "Mountpoint", deserialize_with = "null_as_default")]
    mountpoint: String,
    #[serde(rename = "Labels", deserialize_with = "null_as_default")]
    labels: BTreeMap<String, String>,
    #[serde(rename = "UsageData", deserialize_with = "null_as_default")]
    usage_data: Option<UsageDataRaw>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct UsageDataRaw {
    #[serde(rename = "Size", deserialize_with = "null_as_default")]
    size: Option<i64>,
    #[serde(rename = "RefCount", deserialize_with = "null_as_default")]
    ref_count: Option<i64>,
}

/// Parses `GET /volumes` (`{"Volumes": [...], "Warnings": [...]}`); volumes without a
/// name are skipped.
pub fn parse_volume_list(body: &[u8]) -> Result<Vec<Volume>, ApiError> {
    let v: serde_json::Value = json(body, "/volumes")?;
    let Some(obj) = v.as_object() else {
        return Err(ApiError::Shape("/volumes: not an object".to_string()));
    };
    if !obj.contains_key("Volumes") {
        return Err(ApiError::Shape("/volumes: no Volumes field".to_string()));
    }
    let raw: Vec<VolumeRaw> = match obj.get("Volumes") {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(list) => Vec::<VolumeRaw>::deserialize(list).map_err(|source| ApiError::Entries {
            what: "/volumes",
            source,
        })?,
    };
    Ok(raw
        .into_iter()
        .filter(|v| !v.name.is_empty())
        .map(|v| Volume {
            name: v.name,
            driver: v.driver,
            scope: v.scope,
            mountpoint: v.mountpoint,
            labels: v.labels,
        })
        .collect())
}

/// Usage of one volume from `/system/df`; `None` where the Engine said `-1` (unknown,
/// e.g. non-`local` drivers) or said nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VolumeUsage {
    /// Bytes used.
    pub size: Option<u64>,
    /// Containers referencing the volume.
    pub ref_count: Option<u64>,
}

fn known(v: Option<i64>) -> Option<u64> {
    v.and_then(|v| u64::try_from(v).ok())
}

/// Parses `GET /system/df` into per-volume usage. Reads the `VolumeUsage.Items` shape
/// (API ≥ 1.52 with `verbose=true`; also accepted under the name `VolumesDiskUsage`) and
/// the legacy `Volumes[].UsageData` shape. A reply with neither is an error, so an Engine
/// that drops both never shows up as "no volumes".
pub fn parse_disk_usage(body: &[u8]) -> Result<BTreeMap<String, VolumeUsage>, ApiError> {
    let v: serde_json::Value = json(body, "/system/df")?;
    let Some(obj) = v.as_object() else {
        return Err(ApiError::Shape("/system/df: not an object".to_string()));
    };
    let usage = obj
        .get("VolumeUsage")
        .or_else(|| obj.get("VolumesDiskUsage"))
        .filter(|u| !u.is_null());
    let items = usage.and_then(|u| u.get("Items")).filter(|i| !i.is_null());
    let list = if let Some(items) = items {
        items
    } else if let Some(legacy) = obj.get("Volumes") {
        legacy
    } else if let Some(u) = usage {
        // Items are omitted when empty; then the counts (also omitted when zero) say so.
        let total = ["TotalVolumes", "TotalCount"]
            .iter()
            .filter_map(|k| u.get(*k).and_then(serde_json::Value::as_i64))
            .max()
            .unwrap_or(0);
        if total > 0 {
            return Err(ApiError::Shape(format!(
                "/system/df: VolumeUsage reports {total} volume(s) but no Items (verbose not honoured)"
            )));
        }
        &serde_json::Value::Null
    } else {
        return Err(ApiError::Shape(
            "/system/df: neither VolumeUsage nor Volumes in the reply".to_string(),
        ));
    };
    let raw: Vec<VolumeRaw> = if list.is_null() {
        Vec::new()
    } else {
        Vec::<VolumeRaw>::deserialize(list).map_err(|source| ApiError::Entries {
            what: "/system/df",
            source,
        })?
    };
    Ok(raw
        .into_iter()
        .filter(|v| !v.name.is_empty())
        .map(|v| {
            let usage = v.usage_data.unwrap_or_default();
            (
                v.name,
                VolumeUsage {
                    size: known(usage.size),
                    ref_count: known(usage.ref_count),
                },
            )
        })
        .collect())
}

/// A published port of `GET /containers/json`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortBinding {
    /// Host IP the port is bound to (`0.0.0.0`, `::`, `127.0.0.1`, or empty).
    pub ip: String,
    /// Port inside the container.
    pub private_port: u16,
    /// Port on the host, when published.
    pub public_port: Option<u16>,
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
}

/// One container of `GET /containers/json`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerSummary {
    /// Full container ID.
    pub id: String,
    /// Names, without the leading `/`.
    pub names: Vec<String>,
    /// Container labels.
    pub labels: BTreeMap<String, String>,
    /// Published and exposed ports.
    pub ports: Vec<PortBinding>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ContainerSummaryRaw {
    #[serde(rename = "Id", deserialize_with = "null_as_default")]
    id: String,
    #[serde(rename = "Names", deserialize_with = "null_as_default")]
    names: Vec<String>,
    #[serde(rename = "Labels", deserialize_with = "null_as_default")]
    labels: BTreeMap<String, String>,
    #[serde(rename = "Ports", deserialize_with = "null_as_default")]
    ports: Vec<PortRaw>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PortRaw {
    #[serde(rename = "IP", deserialize_with = "null_as_default")]
    ip: String,
    #[serde(rename = "PrivatePort", deserialize_with = "null_as_default")]
    private_port: u16,
    #[serde(rename = "PublicPort", deserialize_with = "null_as_default")]
    public_port: Option<u16>,
    #[serde(rename = "Type", deserialize_with = "null_as_default")]
    protocol: String,
}

/// Parses `GET /containers/json`.
pub fn parse_container_list(body: &[u8]) -> Result<Vec<ContainerSummary>, ApiError> {
    let raw: Vec<ContainerSummaryRaw> = json(body, "/containers/json")?;
    Ok(raw
        .into_iter()
        .filter(|c| !c.id.is_empty())
        .map(|c| ContainerSummary {
            id: c.id,
            names: c
                .names
                .into_iter()
                .map(|n| n.trim_start_matches('/').to_string())
                .collect(),
            labels: c.labels,
            ports: c
                .ports
                .into_iter()
                .map(|p| PortBinding {
                    ip: p.ip,
                    private_port: p.private_port,
                    public_port: p.public_port.filter(|p| *p != 0),
                    protocol: p.protocol,
                })
                .collect(),
        })
        .collect())
}

/// One entry of a container's `Mounts[]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MountPoint {
    /// `volume`, `bind`, `tmpfs`, `npipe`, `image`, `cluster`.
    pub kind: String,
    /// Volume name (for `volume` mounts).
    pub name: String,
    /// Host path (bind) or the volume's location.
    pub source: String,
    /// Path inside the container.
    pub destination: String,
    /// Volume driver (for `volume` mounts).
    pub driver: String,
    /// Mounted read-write.
    pub rw: bool,
}

/// The parts of `GET /containers/{id}/json` we use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerInspect {
    /// Full container ID.
    pub id: String,
    /// Name without the leading `/`.
    pub name: String,
    /// Restarts by the Engine's restart policy.
    pub restart_count: u64,
    /// `State.StartedAt` (RFC 3339), empty or the zero time when never started.
    pub started_at: String,
    /// `State.Running`.
    pub running: bool,
    /// `Config.Env` (`KEY=value`).
    pub env: Vec<String>,
    /// `Config.Labels`.
    pub labels: BTreeMap<String, String>,
    /// `HostConfig.ReadonlyRootfs`.
    pub readonly_rootfs: bool,
    /// `Mounts[]` (plus `HostConfig.Tmpfs`).
    pub mounts: Vec<MountPoint>,
    /// `Config.Tty`: the log stream is raw, not multiplexed.
    pub tty: bool,
    /// The main process's argv (`Path` followed by `Args`).
    pub argv: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct InspectRaw {
    #[serde(rename = "Id", deserialize_with = "null_as_default")]
    id: String,
    #[serde(rename = "Name", deserialize_with = "null_as_default")]
    name: String,
    #[serde(rename = "RestartCount", deserialize_with = "null_as_default")]
    restart_count: u64,
    #[serde(rename = "State", deserialize_with = "null_as_default")]
    state: StateRaw,
    #[serde(rename = "Config", deserialize_with = "null_as_default")]
    config: ConfigRaw,
    #[serde(rename = "HostConfig", deserialize_with = "null_as_default")]
    host_config: HostConfigRaw,
    #[serde(rename = "Mounts", deserialize_with = "null_as_default")]
    mounts: Vec<MountRaw>,
    #[serde(rename = "Path", deserialize_with = "null_as_default")]
    path: String,
    #[serde(rename = "Args", deserialize_with = "null_as_default")]
    args: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct StateRaw {
    #[serde(rename = "StartedAt", deserialize_with = "null_as_default")]
    started_at: String,
    #[serde(rename = "Running", deserialize_with = "null_as_default")]
    running: bool,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ConfigRaw {
    #[serde(rename = "Env", deserialize_with = "null_as_default")]
    env: Vec<String>,
    #[serde(rename = "Labels", deserialize_with = "null_as_default")]
    labels: BTreeMap<String, String>,
    #[serde(rename = "Tty", deserialize_with = "null_as_default")]
    tty: bool,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct HostConfigRaw {
    #[serde(rename = "ReadonlyRootfs", deserialize_with = "null_as_default")]
    readonly_rootfs: bool,
    /// `--tmpfs /path:opts` mounts, which `Mounts[]` does not list.
    #[serde(rename = "Tmpfs", deserialize_with = "null_as_default")]
    tmpfs: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct MountRaw {
    #[serde(rename = "Type", deserialize_with = "null_as_default")]
    kind: String,
    #[serde(rename = "Name", deserialize_with = "null_as_default")]
    name: String,
    #[serde(rename = "Source", deserialize_with = "null_as_default")]
    source: String,
    #[serde(rename = "Destination", deserialize_with = "null_as_default")]
    destination: String,
    #[serde(rename = "Driver", deserialize_with = "null_as_default")]
    driver: String,
    #[serde(rename = "RW", deserialize_with = "null_as_default")]
    rw: bool,
}

/// Parses `GET /containers/{id}/json`.
pub fn parse_container_inspect(body: &[u8]) -> Result<ContainerInspect, ApiError> {
    let raw: InspectRaw = json(body, "/containers/{id}/json")?;
    if raw.id.is_empty() {
        return Err(ApiError::Shape("/containers/{id}/json: no Id".to_string()));
    }
    let mut mounts: Vec<MountPoint> = raw
        .mounts
        .into_iter()
        .map(|m| MountPoint {
            kind: m.kind,
            name: m.name,
            source: m.source,
            destination: m.destination,
            driver: m.driver,
            rw: m.rw,
        })
        .collect();
    // `docker run --tmpfs /path` appears only in HostConfig.Tmpfs.
    for (dest, opts) in raw.host_config.tmpfs {
        if !mounts.iter().any(|m| m.destination == dest) {
            mounts.push(MountPoint {
                kind: "tmpfs".to_string(),
                rw: !opts.split(',').any(|o| o == "ro"),
                destination: dest,
                ..MountPoint::default()
            });
        }
    }
    Ok(ContainerInspect {
        id: raw.id,
        name: raw.name.trim_start_matches('/').to_string(),
        restart_count: raw.restart_count,
        started_at: raw.state.started_at,
        running: raw.state.running,
        env: raw.config.env,
        labels: raw.config.labels,
        readonly_rootfs: raw.host_config.readonly_rootfs,
        mounts,
        tty: raw.config.tty,
        argv: std::iter::once(raw.path)
            .filter(|p| !p.is_empty())
            .chain(raw.args)
            .collect(),
    })
}

/// The `message` of an Engine error reply, or the start of the body.
pub fn error_message(body: &[u8]) -> String {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct ErrorRaw {
        #[serde(deserialize_with = "null_as_default")]
        message: String,
    }
    match serde_json::from_slice::<ErrorRaw>(body) {
        Ok(e) if !e.message.is_empty() => truncate(&e.message),
        _ => truncate(String::from_utf8_lossy(body).trim()),
    }
}

/// Why an Engine reply could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Not JSON, or JSON of the wrong type.
    #[error("{what}: invalid JSON: {source}")]
    Json {
        /// The endpoint (`/version`, `/system/df`, ...).
        what: &'static str,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// A list whose entries have the wrong types.
    #[error("{what}: {}", truncate(&.source.to_string()))]
    Entries {
        /// The endpoint.
        what: &'static str,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// JSON without what we need (the text names the endpoint).
    #[error("{0}")]
    Shape(String),
}

fn json<'a, T: Deserialize<'a>>(body: &'a [u8], what: &'static str) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|source| ApiError::Json { what, source })
}

fn truncate(s: &str) -> String {
    const MAX: usize = 200;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", s.get(..end).unwrap_or_default())
}

/// Parses an RFC 3339 timestamp (`2026-11-29T15:20:32.434560693Z`, offsets allowed),
/// keeping the nanoseconds. The Engine's "never" (`0001-01-01T00:00:00Z`) and anything
/// up to the Unix epoch give `None`.
fn parse_timestamp(s: &str) -> Option<time::OffsetDateTime> {
    let t = time::OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc3339)
        .ok()?;
    (t.unix_timestamp() > 0).then_some(t)
}

/// Parses an RFC 3339 timestamp into nanoseconds since the Unix epoch, exactly (the
/// Engine's log timestamps have nanoseconds, more than an `f64` holds). Digits beyond
/// the ninth are ignored.
pub fn parse_rfc3339_nanos(s: &str) -> Option<i128> {
    parse_timestamp(s).map(time::OffsetDateTime::unix_timestamp_nanos)
}

/// Parses an RFC 3339 timestamp (`2026-11-29T15:20:32.434560693Z`, offsets allowed) into
/// Unix seconds. The Engine's "never" (`0001-01-01T00:00:00Z`) and anything before 1970
/// give `None`.
pub fn parse_rfc3339(s: &str) -> Option<f64> {
    let t = parse_timestamp(s)?;
    Some(t.unix_timestamp() as f64 + f64::from(t.nanosecond()) / 1e9)
}

#[cfg(test)]
mod tests;
