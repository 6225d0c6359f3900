//! Docker collector against the real Docker Engine started by `scripts/setup` (Debian's
//! docker.io, API 1.41) and a fake Engine serving recorded API 1.41 / 1.44 / 1.52 replies:
//! exact volume sizes, deleted volumes, where containerised Redis and PostgreSQL keep
//! their data (volume, anonymous volume, bind mount, tmpfs, nothing, the PostgreSQL 18
//! trap), 1000 volumes (listed and sized without a listing per scrape); fake, upgraded, down,
//! missing and silent Engines are in `docker/engine.rs`.
//!
//! Run: `source /var/cache/persistence-exporter/env.sh && cargo nextest run -E 'test(/^docker::/)'`

use crate::common;

use common::docker::{
    DOCKER_HOST, DataSetup, EngineProxy, FakeEngine, Net, PostgresContainer, RedisContainer,
    SilentSocket, TestNetwork, TestVolume, VolumeSet, create_volumes, docker, unique, write_config,
};
use common::{Exporter, Metrics, env_path};
use std::collections::BTreeSet;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

mod engine;

/// Runs blocking setup (docker CLI) without stalling the exporter's runtime threads.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn label<'a>(m: &'a Metrics, name: &str, filter: &[(&str, &str)], key: &str) -> &'a str {
    let all = m.all(name, filter);
    assert_eq!(all.len(), 1, "{name}{filter:?}: {all:?}\n{}", m.text);
    all[0].labels.get(key).map(String::as_str).unwrap_or("")
}

async fn docker_exporter(host: &str, interval: &str) -> Exporter {
    Exporter::start(&[
        "--docker.host",
        host,
        "--docker.disk-usage-interval",
        interval,
    ])
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn volume_sizes_are_exact_after_a_refresh() {
    let (sized, empty) = blocking(|| {
        let sized = TestVolume::create(
            &unique("sized"),
            &[
                ("com.docker.compose.project", "peproj"),
                ("com.docker.compose.volume", "data"),
            ],
        );
        sized.fill(&[("a", 123_000), ("b", 4_567)]);
        (sized, TestVolume::create(&unique("empty"), &[]))
    });
    let started = now_secs();
    let e = docker_exporter(DOCKER_HOST, "300ms").await;
    let m = e
        .scrape_until(
            "the first disk-usage refresh",
            Duration::from_secs(60),
            |m| {
                m.get("docker_volume_size_bytes", &[("volume", &sized.name)])
                    .is_some()
                    && m.get("docker_volume_size_bytes", &[("volume", &empty.name)])
                        .is_some()
            },
        )
        .await;
    assert_eq!(m.value("docker_up", &[]), 1.0);
    assert_eq!(
        m.value(
            "docker_volume_size_bytes",
            &[("volume", &sized.name), ("driver", "local")]
        ),
        127_567.0
    );
    assert_eq!(
        m.value("docker_volume_size_bytes", &[("volume", &empty.name)]),
        0.0
    );
    assert_eq!(
        m.value("docker_volume_ref_count", &[("volume", &sized.name)]),
        0.0
    );
    assert_eq!(
        m.value(
            "docker_volume_info",
            &[
                ("volume", &sized.name),
                ("driver", "local"),
                ("scope", "local"),
                ("compose_project", "peproj"),
                ("compose_volume", "data"),
                ("anonymous", "false"),
            ]
        ),
        1.0
    );
    let refreshed = m.value("docker_disk_usage_last_refresh_timestamp_seconds", &[]);
    assert!(
        refreshed >= started - 1.0 && refreshed <= now_secs() + 1.0,
        "{refreshed}"
    );
    let took = m.value("docker_disk_usage_refresh_duration_seconds", &[]);
    assert!(took > 0.0 && took < 60.0, "{took}");
    // The exporter runs on the Engine's host: the volumes' filesystem is visible.
    let size = m.value("docker_volumes_filesystem_size_bytes", &[]);
    let avail = m.value("docker_volumes_filesystem_avail_bytes", &[]);
    assert!(size > 0.0 && avail > 0.0 && avail <= size, "{size} {avail}");
    let (server, driver) = blocking(|| {
        (
            docker(&["version", "-f", "{{.Server.Version}}"]),
            docker(&["info", "-f", "{{.Driver}}"]),
        )
    });
    assert_eq!(
        m.value(
            "docker_info",
            &[
                ("server_version", &server),
                ("api_version", "1.41"),
                ("storage_driver", &driver)
            ]
        ),
        1.0
    );

    // The background refresh keeps going: more bytes show up without restarting anything.
    blocking(|| sized.fill(&[("c", 10_000)]));
    e.scrape_until("the grown size", Duration::from_secs(60), |m| {
        m.get("docker_volume_size_bytes", &[("volume", &sized.name)]) == Some(137_567.0)
    })
    .await;
    e.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_volume_disappears_with_the_next_listing() {
    let v = blocking(|| {
        let v = TestVolume::create(&unique("doomed"), &[]);
        v.fill(&[("x", 1000)]);
        v
    });
    let e = docker_exporter(DOCKER_HOST, "300ms").await;
    e.scrape_until("the volume's size", Duration::from_secs(60), |m| {
        m.get("docker_volume_size_bytes", &[("volume", &v.name)]) == Some(1000.0)
    })
    .await;
    let name = v.name.clone();
    blocking(|| docker(&["volume", "rm", &name]));
    // The volume list is refreshed in the background every disk_usage_interval (300 ms
    // here): the volume is gone once a listing newer than its removal is served.
    let removed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let m = e
        .scrape_until(
            "a listing after the removal",
            Duration::from_secs(10),
            |m| {
                m.get("docker_volumes_last_refresh_timestamp_seconds", &[])
                    .is_some_and(|t| t > removed)
            },
        )
        .await;
    for metric in [
        "docker_volume_info",
        "docker_volume_size_bytes",
        "docker_volume_ref_count",
    ] {
        assert!(
            m.all(metric, &[("volume", &name)]).is_empty(),
            "{metric} still reports {name}:\n{}",
            m.text
        );
    }
    assert_eq!(m.value("docker_up", &[]), 1.0);
    drop(v);
    e.stop().await;
}

/// One containerised Redis per data set-up; the exporter finds each by `container:`.
#[tokio::test(flavor = "multi_thread")]
async fn redis_in_containers_reports_each_mount_type() {
    let bind_dir = tempfile::tempdir().unwrap();
    let (named, servers) = blocking(|| {
        let named = TestVolume::create(&unique("redis-named"), &[]);
        let setups = [
            ("r-volume", DataSetup::Named(named.name.clone()), vec![]),
            ("r-anonymous", DataSetup::Anonymous, vec![]),
            (
                "r-bind",
                DataSetup::Bind(bind_dir.path().to_path_buf()),
                vec![],
            ),
            (
                "r-tmpfs",
                DataSetup::Nothing,
                vec!["--tmpfs".to_string(), "/data".to_string()],
            ),
            ("r-none", DataSetup::Nothing, vec![]),
        ];
        let servers: Vec<(&str, RedisContainer)> = setups
            .into_iter()
            .map(|(target, data, extra)| {
                let r = RedisContainer::start(&unique(target), "/data", &data, &Net::Host, &extra);
                (target, r)
            })
            .collect();
        (named, servers)
    });
    let mut yaml = format!("docker:\n  host: {DOCKER_HOST}\n  disk_usage_interval: 1m\nredis:\n");
    for (target, r) in &servers {
        yaml.push_str(&format!(
            "  - name: {target}\n    addr: redis://127.0.0.1:{}\n    container: {}\n",
            r.port, r.container.name
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &yaml);
    let started = now_secs();
    let e = Exporter::start(&["--config.file", cfg.to_str().unwrap()]).await;
    let m = e
        .scrape_until("all five containers", Duration::from_secs(30), |m| {
            m.all("docker_container_data_mount_info", &[]).len() == 5
        })
        .await;
    let anon_name = blocking(|| servers[1].1.container.volume_names()).remove(0);
    let expect = [
        ("r-volume", "volume", named.name.as_str(), "local"),
        (
            "r-anonymous",
            "anonymous_volume",
            anon_name.as_str(),
            "local",
        ),
        ("r-bind", "bind", "", ""),
        ("r-tmpfs", "tmpfs", "", ""),
        ("r-none", "none", "", ""),
    ];
    for ((target, r), (t2, mount_type, volume, driver)) in servers.iter().zip(expect) {
        assert_eq!(*target, t2);
        // The server itself reported its directory...
        assert_eq!(
            m.value(
                "redis_config_key_value",
                &[("target", target), ("key", "dir"), ("value", "/data")]
            ),
            1.0
        );
        // ...and that directory is on the expected mount.
        assert_eq!(
            m.value(
                "docker_container_data_mount_info",
                &[
                    ("target", target),
                    ("container", &r.container.name),
                    ("service", ""),
                    ("path", "/data"),
                    ("path_source", "server"),
                    ("mount_type", mount_type),
                    ("volume", volume),
                    ("driver", driver),
                    ("rw", "true"),
                ]
            ),
            1.0,
            "{target}:\n{}",
            m.all("docker_container_data_mount_info", &[("target", target)])
                .iter()
                .map(|s| format!("{:?}", s.labels))
                .collect::<Vec<_>>()
                .join("\n")
        );
        let l = [
            ("target", *target),
            ("container", r.container.name.as_str()),
        ];
        assert_eq!(m.value("docker_container_restart_count", &l), 0.0);
        let t = m.value("docker_container_start_time_seconds", &l);
        assert!(
            t > started - 120.0 && t <= now_secs() + 1.0,
            "{target}: {t}"
        );
    }
    assert_eq!(
        label(
            &m,
            "docker_volume_info",
            &[("volume", &anon_name)],
            "anonymous"
        ),
        "true"
    );
    e.stop().await;
    drop(servers);
}

/// No `container:`: found through the published port; the compose service is reported.
#[tokio::test(flavor = "multi_thread")]
async fn redis_container_is_found_by_its_published_port() {
    let (net, vol, r) = blocking(|| {
        let net = TestNetwork::create(&unique("net"));
        let vol = TestVolume::create(&unique("cache-data"), &[]);
        let labels = [
            "--label",
            "com.docker.compose.project=peproj",
            "--label",
            "com.docker.compose.service=cache",
        ]
        .map(str::to_string);
        let r = RedisContainer::start(
            &unique("cache"),
            "/data",
            &DataSetup::Named(vol.name.clone()),
            &Net::Published(net.name.clone()),
            &labels,
        );
        (net, vol, r)
    });
    let addr = format!("redis://127.0.0.1:{}", r.port);
    let e = Exporter::start(&["--redis.addr", &addr, "--docker.host", DOCKER_HOST]).await;
    let target = format!("127.0.0.1:{}", r.port);
    let m = e
        .scrape_until("the container", Duration::from_secs(30), |m| {
            !m.all("docker_container_data_mount_info", &[("target", &target)])
                .is_empty()
        })
        .await;
    assert_eq!(
        m.value(
            "docker_container_data_mount_info",
            &[
                ("target", &target),
                ("container", &r.container.name),
                ("service", "cache"),
                ("path", "/data"),
                ("path_source", "server"),
                ("mount_type", "volume"),
                ("volume", &vol.name),
            ]
        ),
        1.0
    );
    e.stop().await;
    drop((r, vol, net));
}

/// Containerised PostgreSQL (the host's PG 15; PG 18 for the image trap), data set up four
/// ways, plus the PostgreSQL 18 image trap: a named volume at `/var/lib/postgresql/data`
/// while PGDATA (and so `data_directory`) is `/var/lib/postgresql/18/docker`, under the
/// image's anonymous `VOLUME /var/lib/postgresql`.
#[tokio::test(flavor = "multi_thread")]
async fn postgres_in_containers_reports_each_mount_type_and_the_pg18_trap() {
    let pg15 = env_path("PE_PG15_BIN");
    let pg18 = env_path("PE_PG18_BIN");
    let bind_dir = tempfile::tempdir().unwrap();
    let (named, trap_vol, servers) = blocking(|| {
        let named = TestVolume::create(&unique("pg-named"), &[]);
        let trap_vol = TestVolume::create(&unique("pg18-data"), &[]);
        let data = "/var/lib/postgresql/data";
        let setups: Vec<(&str, &str, &str, Vec<String>)> = vec![
            (
                "p-volume",
                &pg15,
                data,
                vec!["-v".into(), format!("{}:{data}", named.name)],
            ),
            ("p-anonymous", &pg15, data, vec!["-v".into(), data.into()]),
            (
                "p-bind",
                &pg15,
                data,
                vec!["-v".into(), format!("{}:{data}", bind_dir.path().display())],
            ),
            ("p-none", &pg15, data, vec![]),
            (
                "p-pg18-trap",
                &pg18,
                "/var/lib/postgresql/18/docker",
                vec![
                    "-v".into(),
                    "/var/lib/postgresql".into(),
                    "-v".into(),
                    format!("{}:{data}", trap_vol.name),
                ],
            ),
        ];
        let servers: Vec<(&str, PostgresContainer)> = setups
            .into_iter()
            .map(|(target, bin, pgdata, mounts)| {
                (
                    target,
                    PostgresContainer::start(&unique(target), bin, pgdata, &mounts),
                )
            })
            .collect();
        (named, trap_vol, servers)
    });
    let mut yaml =
        format!("docker:\n  host: {DOCKER_HOST}\n  disk_usage_interval: 1m\npostgres:\n");
    for (target, p) in &servers {
        yaml.push_str(&format!(
            "  - name: {target}\n    dsn: postgresql://postgres@127.0.0.1:{}/postgres?sslmode=disable\n    container: {}\n",
            p.port, p.container.name
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &yaml);
    let e = Exporter::start(&["--config.file", cfg.to_str().unwrap()]).await;
    let m = e
        .scrape_until("all five containers", Duration::from_secs(30), |m| {
            m.all(
                "docker_container_data_mount_info",
                &[("path_source", "server")],
            )
            .len()
                == 5
        })
        .await;
    let anon = |i: usize| -> String {
        blocking(|| servers[i].1.container.volume_names())
            .into_iter()
            .find(|n| n.len() == 64)
            .expect("an anonymous volume")
    };
    let (anon1, anon_trap) = (anon(1), anon(4));
    let data = "/var/lib/postgresql/data";
    let expect = [
        ("p-volume", data, "volume", named.name.clone()),
        ("p-anonymous", data, "anonymous_volume", anon1),
        ("p-bind", data, "bind", String::new()),
        ("p-none", data, "none", String::new()),
        (
            "p-pg18-trap",
            "/var/lib/postgresql/18/docker",
            "anonymous_volume",
            anon_trap,
        ),
    ];
    for ((target, p), (t2, path, mount_type, volume)) in servers.iter().zip(expect) {
        assert_eq!(*target, t2);
        let got = m.all("docker_container_data_mount_info", &[("target", target)]);
        assert_eq!(got.len(), 1, "{target}: {got:?}");
        let l = &got[0].labels;
        let want = [
            ("container", p.container.name.as_str()),
            ("path", path),
            ("path_source", "server"),
            ("mount_type", mount_type),
            ("volume", volume.as_str()),
            ("rw", "true"),
        ];
        for (k, v) in want {
            assert_eq!(l.get(k).map(String::as_str), Some(v), "{target} {k}: {l:?}");
        }
    }
    // The trap, said plainly: the named volume the user meant to keep holds no data.
    let trap = m.all(
        "docker_container_data_mount_info",
        &[("target", "p-pg18-trap")],
    );
    assert_ne!(trap[0].labels["volume"], trap_vol.name);
    e.stop().await;
    drop(servers);
}

/// `/system/df` that takes 3 s: scrapes answer at once, first without sizes, then from the
/// cache (with its unchanged timestamp) while the next refresh runs.
#[tokio::test(flavor = "multi_thread")]
async fn no_scrape_waits_for_disk_usage() {
    let fake = FakeEngine::start("1.41", Duration::from_secs(3)).await;
    let e = docker_exporter(&fake.host(), "200ms").await;
    let r = e.get("/metrics", &[]).await;
    assert_eq!(r.status, 200);
    assert!(r.elapsed < Duration::from_millis(1000), "{:?}", r.elapsed);
    let m = Metrics::parse(&r.body);
    assert_eq!(m.value("docker_up", &[]), 1.0);
    assert!(!m.all("docker_volume_info", &[]).is_empty());
    assert!(!m.has("docker_volume_size_bytes"), "{}", m.text);
    assert!(!m.has("docker_disk_usage_last_refresh_timestamp_seconds"));

    let m = e
        .scrape_until("the slow refresh", Duration::from_secs(20), |m| {
            m.has("docker_volume_size_bytes")
        })
        .await;
    let first = m.value("docker_disk_usage_last_refresh_timestamp_seconds", &[]);
    let took = m.value("docker_disk_usage_refresh_duration_seconds", &[]);
    assert!(took >= 2.9, "{took}");
    // The next refresh starts 200 ms later and takes 3 s: scrape through it.
    let mut slowest = Duration::ZERO;
    for _ in 0..10 {
        let r = e.get("/metrics", &[]).await;
        assert_eq!(r.status, 200);
        slowest = slowest.max(r.elapsed);
        let m = Metrics::parse(&r.body);
        assert_eq!(
            m.value(
                "docker_volume_size_bytes",
                &[("volume", "pe-fixture_pgdata")]
            ),
            123_000.0
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(slowest < Duration::from_millis(1000), "{slowest:?}");
    let m = e.scrape().await;
    assert!(m.value("docker_disk_usage_last_refresh_timestamp_seconds", &[]) >= first);
    // One call at a time: the df requests never overlapped, even though every scrape
    // came while one was running.
    assert_eq!(
        fake.max_concurrent_df
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    assert!(
        fake.requests()
            .iter()
            .filter(|r| r.contains("/system/df"))
            .count()
            >= 2
    );
    e.stop().await;
}

/// 1000 volumes on the real Engine, seen through a recording proxy: every one is listed
/// and sized from the background `/system/df` refresh, and a scrape costs one
/// `GET /volumes` whatever the count (no call per volume). What the volumes cost in time
/// is measured by the benchmark (`scripts/bench`), not here.
#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_volumes_are_listed_and_sized_without_a_listing_per_scrape() {
    let prefix = unique("many");
    let proxy = EngineProxy::start();
    let e = docker_exporter(&proxy.host(), "1s").await;
    let ours = |m: &Metrics, name: &str| {
        m.all(name, &[])
            .iter()
            .filter(|s| s.labels["volume"].starts_with(&prefix))
            .count()
    };
    e.scrape().await;
    let created = VolumeSet(blocking(|| create_volumes(&prefix, 0..1000, 8)));
    assert_eq!(created.0.len(), 1000);
    let since = now_secs();
    let m = e
        .scrape_until(
            "every new volume listed and sized by a refresh",
            Duration::from_secs(120),
            |m| {
                ours(m, "docker_volume_info") == 1000
                    && ours(m, "docker_volume_size_bytes") == 1000
                    && m.get("docker_disk_usage_last_refresh_timestamp_seconds", &[])
                        .is_some_and(|t| t > since)
            },
        )
        .await;
    // Empty volumes of the local driver: the refresh measured each of them.
    for s in m.all("docker_volume_size_bytes", &[]) {
        if s.labels["volume"].starts_with(&prefix) {
            assert_eq!(s.value, 0.0, "{s:?}");
        }
    }

    // Scrapes after the listing grew: every volume served from the background listing,
    // no `GET /volumes` per scrape and nothing per volume. The background refreshes
    // (`/version`, then `/volumes` or `/system/df`, every second here) are the only
    // listings: at most one per second elapsed, plus one.
    const SCRAPES: usize = 20;
    let before = proxy.requests().len();
    let started = Instant::now();
    for _ in 0..SCRAPES {
        let m = e.scrape().await;
        assert_eq!(ours(&m, "docker_volume_info"), 1000);
        assert!(
            m.get("docker_volumes_last_refresh_timestamp_seconds", &[])
                .is_some()
        );
    }
    let elapsed = started.elapsed();
    let during: Vec<String> = proxy.requests().split_off(before);
    let listings = during
        .iter()
        .filter(|r| r.starts_with("GET /v") && r.ends_with("/volumes"))
        .count();
    let background_bound = elapsed.as_secs() as usize + 2;
    assert!(
        listings <= background_bound && listings < SCRAPES,
        "{listings} listings in {elapsed:?} for {SCRAPES} scrapes: {during:#?}"
    );
    let scrape_calls: Vec<&String> = during
        .iter()
        .filter(|r| {
            !r.contains("/system/df") && !r.ends_with("/version") && !r.ends_with("/volumes")
        })
        .collect();
    assert!(
        scrape_calls
            .iter()
            .all(|r| r.ends_with("/_ping") || r.ends_with("/info")),
        "a scrape made another Engine call: {scrape_calls:#?}"
    );
    assert!(
        !during.iter().any(|r| r.contains(&prefix)),
        "a call named a volume: {during:#?}"
    );
    e.stop().await;
    blocking(|| drop(created));
}

/// A PostgreSQL in a container logging to stderr, no log file configured: slow statements
/// are counted from the container's log stream, each exactly once, also across a restart
/// of the container (the stream ends and is re-opened from where it stopped).
#[tokio::test(flavor = "multi_thread")]
async fn slow_queries_are_counted_once_from_the_container_log_stream() {
    let pg15 = env_path("PE_PG15_BIN");
    let (vol, pg) = blocking(|| {
        let vol = TestVolume::create(&unique("pg-log"), &[]);
        let data = "/var/lib/postgresql/data";
        let pg = PostgresContainer::start_with(
            &unique("pg-log"),
            &pg15,
            data,
            &["-v".to_string(), format!("{}:{data}", vol.name)],
            &[
                ("log_min_duration_statement", "250"),
                ("log_line_prefix", "%m [%p] db=%d "),
            ],
        );
        (vol, pg)
    });
    // Slow statements run in their own database, so nothing the exporter itself does on
    // `postgres` can be counted there.
    pg.sql("postgres", "CREATE DATABASE slowdb").await;
    let yaml = format!(
        "docker:\n  host: {DOCKER_HOST}\n  disk_usage_interval: 1m\npostgres:\n  - name: p-log\n    dsn: postgresql://postgres@127.0.0.1:{}/postgres?sslmode=disable\n    container: {}\n",
        pg.port, pg.container.name
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &yaml);
    let e = Exporter::start(&["--config.file", cfg.to_str().unwrap()]).await;
    let slow = |m: &Metrics| {
        m.get(
            "pg_slow_queries_total",
            &[("target", "p-log"), ("datname", "slowdb")],
        )
    };
    // The stream is attached (and counting starts) once the container has been found.
    let m = e
        .scrape_until("the log stream", Duration::from_secs(30), |m| {
            m.get("pg_log_file_readable", &[("target", "p-log")]) == Some(1.0)
                && slow(m) == Some(0.0)
        })
        .await;
    let started = m.value(
        "docker_container_start_time_seconds",
        &[("target", "p-log"), ("container", &pg.container.name)],
    );

    pg.sql("slowdb", "SELECT pg_sleep(0.4)").await;
    e.scrape_until("the first slow statement", Duration::from_secs(20), |m| {
        slow(m) == Some(1.0)
    })
    .await;

    // Restart the container: the stream ends, the follower reconnects from its cursor.
    let name = pg.container.name.clone();
    blocking(|| {
        docker(&["restart", "-t", "10", &name]);
        pg.wait_ready();
    });
    pg.sql("slowdb", "SELECT pg_sleep(0.4)").await;
    let m = e
        .scrape_until("the second slow statement", Duration::from_secs(30), |m| {
            slow(m).is_some_and(|v| v >= 2.0)
        })
        .await;
    assert_eq!(slow(&m), Some(2.0), "counted twice?\n{}", m.text);
    assert!(
        m.value(
            "docker_container_start_time_seconds",
            &[("target", "p-log"), ("container", &pg.container.name)],
        ) > started
    );
    // Several reconnect cycles later: still exactly two.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let m = e.scrape().await;
    assert_eq!(slow(&m), Some(2.0), "{}", m.text);
    assert_eq!(
        m.value(
            "pg_slow_queries_duration_seconds_count",
            &[("target", "p-log"), ("datname", "slowdb")]
        ),
        2.0
    );
    e.stop().await;
    drop((pg, vol));
}
