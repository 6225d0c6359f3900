//! Where a target's data lives in its container: the server's data directory (or the
//! image's conventional one) against the container's mounts. Pure.

use super::api::is_anonymous_volume_name;
use super::snapshot::ContainerInfo;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::docker::{MatchedBy, MountPoint};

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
}
