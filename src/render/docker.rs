//! Docker metrics: the Engine, its volumes (sizes from the background `/system/df` cache,
//! with its age), the capacity of the filesystem holding them, and where each monitored
//! server's data really lives (from the scrape's per-target view, `outcome::view`).

use super::{Families, MemoKey, RenderMemo, Rendered, same_arc};
use crate::collectors::docker::{DiskUsage, DockerSnapshot, Volume, api};
use crate::outcome::{DataLocation, TargetView};
use std::sync::{Arc, LazyLock, Weak};

const UP_HELP: &str = "1 when the Docker Engine answered /version, /info and /volumes.";

fn bool_label(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

/// Renders one Engine; `None` when the collection failed (`docker_up 0` only). `targets`
/// are the scrape's views, for the monitored servers found in containers.
/// `volumes`: the per-volume families of the snapshot's listing, rendered earlier
/// ([`volume_families`]); `None` renders them here.
pub(super) fn render<'a>(
    s: Option<(&'a DockerSnapshot, Option<&'a Rendered>)>,
    targets: &[TargetView<'_>],
    f: &mut Families<'a>,
) {
    let Some((s, volumes)) = s else {
        f.gauge("docker_up", UP_HELP, &[], 0.0);
        return;
    };
    f.gauge("docker_up", UP_HELP, &[], 1.0);
    let api_version = s.api_version.to_string();
    f.gauge(
        "docker_info",
        "Docker Engine version, negotiated API version and storage driver.",
        &[
            ("server_version", &s.server_version),
            ("api_version", &api_version),
            ("storage_driver", &s.storage_driver),
        ],
        1.0,
    );

    let usage = s.disk_usage.as_deref();
    match volumes {
        Some(text) => f.append(text),
        None => render_volumes(&s.volumes, s.disk_usage.as_ref(), f),
    }
    if let Some(u) = usage {
        let ts = crate::clock::unix_seconds(u.refreshed_at);
        f.gauge(
            "docker_disk_usage_last_refresh_timestamp_seconds",
            "Unix time of the last successful /system/df refresh (volume sizes are this old).",
            &[],
            ts,
        );
        f.gauge(
            "docker_disk_usage_refresh_duration_seconds",
            "Duration of the last successful /system/df refresh.",
            &[],
            u.duration.as_secs_f64(),
        );
    }
    if let Some((at, took)) = s.volumes_listed {
        f.gauge(
            "docker_volumes_last_refresh_timestamp_seconds",
            "Unix time of the last successful volume listing (GET /volumes, refreshed every disk_usage_interval): the volume list is this old.",
            &[],
            crate::clock::unix_seconds(at),
        );
        f.gauge(
            "docker_volumes_refresh_duration_seconds",
            "Duration of the last successful volume listing (GET /volumes).",
            &[],
            took.as_secs_f64(),
        );
    }
    if let Some(fs) = &s.volumes_filesystem {
        f.gauge(
            "docker_volumes_filesystem_size_bytes",
            "Size of the filesystem holding Docker's volumes (only when the exporter can see Docker's data root).",
            &[],
            fs.size_bytes as f64,
        );
        f.gauge(
            "docker_volumes_filesystem_avail_bytes",
            "Bytes available to unprivileged users on the filesystem holding Docker's volumes.",
            &[],
            fs.avail_bytes as f64,
        );
    }

    for t in targets {
        let DataLocation::Found {
            container: tc,
            mount: m,
        } = &t.data
        else {
            continue;
        };
        let c = &tc.container;
        let service = c.service.as_deref().unwrap_or("");
        f.gauge(
            "docker_container_data_mount_info",
            "Where a monitored server's data directory lives in its container: mount_type volume, anonymous_volume, bind, tmpfs or none (the container's writable layer, lost when it is re-created). path_source says whether the path came from the server itself, the PGDATA env var or the image's convention.",
            &[
                ("target", &tc.target),
                ("container", &c.name),
                ("service", service),
                ("path", &m.path),
                ("path_source", m.path_source.as_str()),
                ("mount_type", m.mount_type.as_str()),
                ("volume", &m.volume),
                ("driver", &m.driver),
                ("rw", bool_label(m.rw)),
            ],
            1.0,
        );
        let l = [
            ("target", tc.target.as_str()),
            ("container", c.name.as_str()),
        ];
        // Gauge, not counter: Docker resets RestartCount when the container is re-created.
        f.gauge(
            "docker_container_restart_count",
            "Restarts of a monitored server's container by its restart policy (Docker's RestartCount; resets when the container is re-created).",
            &l,
            c.restart_count as f64,
        );
        if let Some(t) = c.started_at {
            f.gauge(
                "docker_container_start_time_seconds",
                "Unix time a monitored server's container last started.",
                &l,
                t,
            );
        }
    }
}

/// What a volume listing's families were rendered from: the listing and the
/// `/system/df` refresh.
struct VolumesKey(Weak<Vec<Volume>>, Option<Weak<DiskUsage>>);

impl MemoKey for VolumesKey {
    fn is_alive(&self) -> bool {
        self.0.strong_count() > 0
    }
}

/// The per-volume families (`docker_volume_info`, `_size_bytes`, `_ref_count`) of
/// `volumes` with the sizes of `usage`, rendered once per listing and refresh (both are
/// replaced, never changed, by their background tasks): at a thousand volumes,
/// rendering them on every scrape was most of its CPU. The text is the same as
/// rendering it anew.
pub(super) fn volume_families(
    volumes: &Arc<Vec<Volume>>,
    usage: Option<&Arc<DiskUsage>>,
) -> Arc<Rendered> {
    static MEMO: LazyLock<RenderMemo<VolumesKey>> = LazyLock::new(RenderMemo::new);
    MEMO.get_or_render(
        Arc::as_ptr(volumes) as usize,
        |VolumesKey(v, u)| {
            same_arc(v, volumes)
                && match (u, usage) {
                    (Some(u), Some(usage)) => same_arc(u, usage),
                    (None, None) => true,
                    _ => false,
                }
        },
        || VolumesKey(Arc::downgrade(volumes), usage.map(Arc::downgrade)),
        || {
            let mut f = Families::default();
            render_volumes(volumes, usage, &mut f);
            f.into_rendered()
        },
    )
}

/// Renders the per-volume families.
fn render_volumes<'a>(
    volumes: &'a [Volume],
    usage: Option<&'a Arc<DiskUsage>>,
    f: &mut Families<'a>,
) {
    let usage = usage.map(Arc::as_ref);
    for v in volumes.iter() {
        let label = |k: &str| v.labels.get(k).map(String::as_str).unwrap_or("");
        f.gauge(
            "docker_volume_info",
            "A Docker volume, with its driver, scope, compose project/volume, and whether it is anonymous (not reused when its container is re-created).",
            &[
                ("volume", &v.name),
                ("driver", &v.driver),
                ("scope", &v.scope),
                ("compose_project", label(api::LABEL_COMPOSE_PROJECT)),
                ("compose_volume", label(api::LABEL_COMPOSE_VOLUME)),
                ("anonymous", bool_label(v.is_anonymous())),
            ],
            1.0,
        );
        // Sizes come from the background cache; only volumes that exist now are reported,
        // and unknown sizes (-1 from the Engine) are never exported.
        let Some(u) = usage.and_then(|u| u.volumes.get(&v.name)) else {
            continue;
        };
        if let Some(size) = u.size {
            f.gauge(
                "docker_volume_size_bytes",
                "Bytes used by the volume, from the last /system/df refresh (see docker_disk_usage_last_refresh_timestamp_seconds).",
                &[("volume", &v.name), ("driver", &v.driver)],
                size as f64,
            );
        }
        if let Some(n) = u.ref_count {
            f.gauge(
                "docker_volume_ref_count",
                "Containers referencing the volume (Docker's RefCount), from the last /system/df refresh.",
                &[("volume", &v.name)],
                n as f64,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::docker::{
        ApiVersion, ContainerInfo, DiskUsage, FsCapacity, MatchedBy, MountPoint, TargetContainer,
        Volume, VolumeUsage,
    };
    use crate::collectors::redis::{ConfigState, RedisInfo, RedisSnapshot};
    use crate::collectors::{Kind, Snapshot};
    use crate::outcome::TargetOutcome;
    use crate::outcome::view::target_views;
    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    fn vol(name: &str, labels: &[(&str, &str)]) -> Volume {
        Volume {
            name: name.into(),
            driver: "local".into(),
            scope: "local".into(),
            mountpoint: String::new(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn snapshot() -> DockerSnapshot {
        let anon = "a".repeat(64);
        DockerSnapshot {
            server_version: "20.10.24".into(),
            api_version: ApiVersion::new(1, 41),
            storage_driver: "overlay2".into(),
            docker_root_dir: "/var/lib/docker".into(),
            volumes: Arc::new(vec![
                vol(
                    "proj_pgdata",
                    &[
                        (api::LABEL_COMPOSE_PROJECT, "proj"),
                        (api::LABEL_COMPOSE_VOLUME, "pgdata"),
                    ],
                ),
                vol(&anon, &[]),
                vol("nfs", &[]),
            ]),
            volumes_listed: Some((
                UNIX_EPOCH + Duration::from_secs(990),
                Duration::from_millis(10),
            )),
            disk_usage: Some(Arc::new(DiskUsage {
                volumes: BTreeMap::from([
                    (
                        "proj_pgdata".to_string(),
                        VolumeUsage {
                            size: Some(123000),
                            ref_count: Some(1),
                        },
                    ),
                    ("nfs".to_string(), VolumeUsage::default()),
                    (
                        "deleted".to_string(),
                        VolumeUsage {
                            size: Some(5),
                            ref_count: Some(0),
                        },
                    ),
                ]),
                refreshed_at: UNIX_EPOCH + Duration::from_secs(1000),
                duration: Duration::from_millis(250),
            })),
            volumes_filesystem: Some(FsCapacity {
                path: "/var/lib/docker/volumes".into(),
                size_bytes: 1000,
                avail_bytes: 400,
            }),
            containers: vec![TargetContainer {
                target: "cache".into(),
                kind: Kind::Redis,
                container: ContainerInfo {
                    id: "x".into(),
                    name: "redis-1".into(),
                    service: Some("redis".into()),
                    matched_by: MatchedBy::Explicit,
                    mounts: vec![MountPoint {
                        kind: "volume".into(),
                        name: "proj_redis".into(),
                        source: String::new(),
                        destination: "/srv/redis".into(),
                        driver: "local".into(),
                        rw: true,
                    }],
                    pgdata: None,
                    readonly_rootfs: false,
                    restart_count: 2,
                    started_at: Some(1500.5),
                    running: true,
                    tty: false,
                    log_line_prefix: None,
                },
            }],
            slow_logs: BTreeMap::new(),
        }
    }

    fn redis_outcome(dir: Option<&str>) -> Arc<TargetOutcome> {
        let config = match dir {
            Some(d) => ConfigState::Readable(BTreeMap::from([("dir".to_string(), d.to_string())])),
            None => ConfigState::Refused("NOPERM".into()),
        };
        Arc::new(TargetOutcome {
            target: "cache".into(),
            kind: Kind::Redis,
            finished_at: SystemTime::now(),
            duration: Duration::ZERO,
            result: Ok(Snapshot::Redis(RedisSnapshot {
                info: RedisInfo::default(),
                config,
                auth_required: None,
            })),
            restart: None,
        })
    }

    /// Renders the Engine of `snapshot()` with the views of this scrape.
    fn render_with(redis: Arc<TargetOutcome>) -> String {
        let engine = Arc::new(TargetOutcome {
            target: "docker".into(),
            kind: Kind::Docker,
            finished_at: SystemTime::now(),
            duration: Duration::ZERO,
            result: Ok(Snapshot::Docker(snapshot())),
            restart: None,
        });
        let outcomes = [redis, engine];
        let mut f = Families::default();
        let s = snapshot();
        render(Some((&s, None)), &target_views(&outcomes), &mut f);
        f.encode("")
    }

    #[test]
    fn renders_engine_volumes_and_mounts() {
        let text = render_with(redis_outcome(Some("/srv/redis/db")));
        for line in [
            "docker_up 1",
            "docker_info{server_version=\"20.10.24\",api_version=\"1.41\",storage_driver=\"overlay2\"} 1",
            "docker_volume_info{volume=\"proj_pgdata\",driver=\"local\",scope=\"local\",compose_project=\"proj\",compose_volume=\"pgdata\",anonymous=\"false\"} 1",
            "anonymous=\"true\"} 1",
            "docker_volume_size_bytes{volume=\"proj_pgdata\",driver=\"local\"} 123000",
            "docker_volume_ref_count{volume=\"proj_pgdata\"} 1",
            "docker_disk_usage_last_refresh_timestamp_seconds 1000",
            "docker_disk_usage_refresh_duration_seconds 0.25",
            "docker_volumes_last_refresh_timestamp_seconds 990",
            "docker_volumes_refresh_duration_seconds 0.01",
            "docker_volumes_filesystem_size_bytes 1000",
            "docker_volumes_filesystem_avail_bytes 400",
            "docker_container_data_mount_info{target=\"cache\",container=\"redis-1\",service=\"redis\",path=\"/srv/redis/db\",path_source=\"server\",mount_type=\"volume\",volume=\"proj_redis\",driver=\"local\",rw=\"true\"} 1",
            "docker_container_restart_count{target=\"cache\",container=\"redis-1\"} 2",
            "docker_container_start_time_seconds{target=\"cache\",container=\"redis-1\"} 1500.5",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
        // -1 (unknown) is never a size; a deleted volume still in the cache is not shown.
        assert!(
            !text.contains("volume=\"nfs\",driver=\"local\"} "),
            "{text}"
        );
        assert!(!text.contains("docker_volume_ref_count{volume=\"nfs\"}"));
        assert!(!text.contains("deleted"));
    }

    #[test]
    fn fallback_path_when_server_cannot_say() {
        let text = render_with(redis_outcome(None));
        assert!(
            text.contains("path=\"/data\",path_source=\"convention\",mount_type=\"none\",volume=\"\",driver=\"\",rw=\"true\"} 1"),
            "{text}"
        );
    }

    #[test]
    fn down_engine_is_up_zero_only() {
        let mut f = Families::default();
        render(None, &[], &mut f);
        let text = f.encode("");
        assert!(text.contains("docker_up 0"));
        assert!(!text.contains("docker_info"));
    }

    #[test]
    fn volume_families_are_rendered_once_per_listing_and_refresh() {
        let text = |s: &DockerSnapshot| {
            let mut f = Families::default();
            let volumes = volume_families(&s.volumes, s.disk_usage.as_ref());
            render(Some((s, Some(&volumes))), &[], &mut f);
            f.encode("")
        };
        let mut s = snapshot();
        let first = text(&s);
        let remembered = volume_families(&s.volumes, s.disk_usage.as_ref());
        assert!(Arc::ptr_eq(
            &remembered,
            &volume_families(&s.volumes, s.disk_usage.as_ref())
        ));
        assert_eq!(text(&s), first, "served from the memo, the same text");
        let mut direct = Families::default();
        render_volumes(&s.volumes, s.disk_usage.as_ref(), &mut direct);
        assert_eq!(*remembered, direct.into_rendered());

        // A new listing (one volume gone) and a new refresh are rendered anew.
        let mut volumes = (*s.volumes).clone();
        volumes.retain(|v| v.name != "nfs");
        s.volumes = Arc::new(volumes);
        let fewer = text(&s);
        assert!(first.contains("volume=\"nfs\""), "{first}");
        assert!(!fewer.contains("volume=\"nfs\""), "{fewer}");
        let mut usage = (**s.disk_usage.as_ref().unwrap()).clone();
        usage.volumes.get_mut("proj_pgdata").unwrap().size = Some(456000);
        s.disk_usage = Some(Arc::new(usage));
        let grown = text(&s);
        assert!(
            grown.contains(
                "docker_volume_size_bytes{volume=\"proj_pgdata\",driver=\"local\"} 456000"
            ),
            "{grown}"
        );
    }

    #[test]
    fn no_cache_yet_means_no_sizes_and_no_age() {
        let mut s = snapshot();
        s.disk_usage = None;
        s.volumes_filesystem = None;
        let mut f = Families::default();
        render(Some((&s, None)), &[], &mut f);
        let text = f.encode("");
        assert!(text.contains("docker_volume_info{"));
        assert!(!text.contains("docker_volume_size_bytes"));
        assert!(!text.contains("docker_disk_usage_last_refresh_timestamp_seconds"));
        assert!(!text.contains("docker_volumes_filesystem"));
    }
}
