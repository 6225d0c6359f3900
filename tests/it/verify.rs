//! `persistence_exporter verify` against real containers: the report's stack on named
//! volumes passes a re-creation; Redis without a volume and PostgreSQL 18 with its data on
//! the image's anonymous volume fail it and are rolled back with their data; a restart
//! passes even without a volume; nothing happens without `--confirm`; a re-created
//! container that cannot start is rolled back.

use crate::common;

use common::docker::{
    DataSetup, Net, PostgresContainer, RedisContainer, TestContainer, TestVolume, docker,
    docker_quiet, host_lib_mounts, image, unique,
};
use common::{env_path, free_port};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const DOCKER_HOST: &str = "unix:///var/run/docker.sock";
const REDIS_PW: &str = "dastern_redis_password";
/// The report's Redis command line after `redis-server`.
const REDIS_ARGS: &str = "--requirepass dastern_redis_password --maxmemory 512mb --maxmemory-policy allkeys-lru --save 60 1000 --appendonly yes --appendfsync everysec";

fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

/// One `verify` run.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}\n{}", self.stdout, self.stderr))
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

fn verify(cfg: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_persistence_exporter"))
        .arg("verify")
        .args(args)
        .args(["--config.file", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn row<'a>(doc: &'a Value, target: &str) -> &'a Value {
    doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["target"] == target)
        .unwrap_or_else(|| panic!("no row for {target}: {doc:#}"))
}

/// Removes, when dropped, the volumes a run left behind and any renamed old container of
/// these names (only there if `verify` itself was interrupted).
struct Leftovers {
    containers: Vec<String>,
    volumes: Vec<String>,
}

impl Leftovers {
    fn new(containers: &[&str]) -> Leftovers {
        Leftovers {
            containers: containers.iter().map(|s| s.to_string()).collect(),
            volumes: Vec::new(),
        }
    }

    fn take_from(&mut self, doc: &Value) {
        for r in doc["results"].as_array().into_iter().flatten() {
            for v in r["left_volumes"].as_array().into_iter().flatten() {
                self.volumes.push(v.as_str().unwrap().to_string());
            }
        }
    }

    fn old_containers(&self) -> Vec<String> {
        let mut out = Vec::new();
        for c in &self.containers {
            let names = docker(&[
                "ps",
                "-a",
                "--format",
                "{{.Names}}",
                "--filter",
                &format!("name={c}-pe-verify-old-"),
            ]);
            out.extend(names.lines().map(str::to_string));
        }
        out
    }
}

impl Drop for Leftovers {
    fn drop(&mut self) {
        for c in self.old_containers() {
            docker_quiet(&["rm", "-f", &c]);
        }
        for v in &self.volumes {
            docker_quiet(&["volume", "rm", "-f", v]);
        }
    }
}

fn redis_conn(port: u16) -> redis::Connection {
    redis::Client::open(format!("redis://:{REDIS_PW}@127.0.0.1:{port}"))
        .unwrap()
        .get_connection_with_timeout(Duration::from_secs(5))
        .unwrap()
}

async fn pg_query(port: u16, sql: &str) -> Result<Vec<String>, String> {
    let dsn = format!("host=127.0.0.1 port={port} user=postgres dbname=postgres connect_timeout=5");
    let (client, conn) = tokio_postgres::connect(&dsn, tokio_postgres::NoTls)
        .await
        .map_err(|e| e.to_string())?;
    let task = tokio::spawn(conn);
    let rows = client
        .simple_query(sql)
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
            _ => None,
        })
        .collect();
    drop(client);
    let _ = task.await;
    Ok(rows)
}

fn pg17_report(volume: &str) -> PostgresContainer {
    let data = "/var/lib/postgresql/data";
    PostgresContainer::start_with(
        &unique("verify-pg17"),
        &env_path("PE_PG17_BIN"),
        data,
        &["-v".to_string(), format!("{volume}:{data}")],
        &[
            ("max_connections", "20"),
            ("log_min_duration_statement", "1000"),
            ("timezone", "Asia/Phnom_Penh"),
        ],
    )
}

fn config(dir: &Path, redis: &RedisContainer, pg_name: &str, pg: &PostgresContainer) -> PathBuf {
    let pw = dir.join("redis.pw");
    std::fs::write(&pw, REDIS_PW).unwrap();
    common::write_config(
        dir,
        &format!(
            "docker:\n  host: {DOCKER_HOST}\nredis:\n  - name: redis\n    addr: redis://127.0.0.1:{}\n    password_file: {}\n    container: {}\n    profile: das-tern\npostgres:\n  - name: {pg_name}\n    dsn: postgresql://postgres@127.0.0.1:{}/postgres?sslmode=disable\n    container: {}\n    profile: das-tern\n",
            redis.port,
            pw.display(),
            redis.container.name,
            pg.port,
            pg.container.name
        ),
    )
}

/// A Redis container configured as in the report (host network), its data as `data`.
fn report_redis(name: &str, data: &DataSetup) -> RedisContainer {
    RedisContainer::start_configured(
        &unique(name),
        "/data",
        data,
        &Net::Host,
        &[],
        REDIS_ARGS,
        Some(REDIS_PW),
    )
}

/// The value of the key written before `verify`.
fn redis_kept(port: u16) -> String {
    redis::cmd("GET")
        .arg("kept")
        .query(&mut redis_conn(port))
        .unwrap()
}

/// The key written before `verify` is still there and `verify` left no marker keys.
fn assert_redis_kept_without_markers(port: u16) {
    assert_eq!(redis_kept(port), "before verify");
    let markers: Vec<String> = redis::cmd("KEYS")
        .arg("persistence_exporter:verify:*")
        .query(&mut redis_conn(port))
        .unwrap();
    assert!(markers.is_empty(), "{markers:?}");
}

/// Writes the row and the key that must survive `verify`.
async fn write_kept(pg: &PostgresContainer, redis: &RedisContainer) {
    pg.sql(
        "postgres",
        "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('before verify')",
    )
    .await;
    let _: () = redis::cmd("SET")
        .arg("kept")
        .arg("before verify")
        .query(&mut blocking(|| redis_conn(redis.port)))
        .unwrap();
}

/// The report's stack on named volumes: without `--confirm` nothing is touched; with it
/// both containers are re-created, both pass, the old containers are gone, the volumes and
/// the data stay.
#[tokio::test(flavor = "multi_thread")]
async fn report_stack_on_named_volumes_survives_recreation() {
    let (pg_vol, redis_vol) = blocking(|| {
        (
            TestVolume::create(&unique("postgres_data"), &[]),
            TestVolume::create(&unique("redis_data"), &[]),
        )
    });
    let (pg, redis) = blocking(|| {
        let pg = pg17_report(&pg_vol.name);
        let redis = report_redis("verify-redis", &DataSetup::Named(redis_vol.name.clone()));
        (pg, redis)
    });
    let mut leftovers = Leftovers::new(&[&pg.container.name, &redis.container.name]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &redis, "postgres", &pg);
    write_kept(&pg, &redis).await;
    let state = |c: &TestContainer| c.inspect("{{.Id}} {{.State.StartedAt}}");
    let before = blocking(|| (state(&pg.container), state(&redis.container)));

    // No --confirm: the plan, exit 2, nothing restarted.
    let run = blocking(|| verify(&cfg, &[]));
    assert_eq!(run.code, Some(2), "{run}");
    assert!(run.stderr.contains("verify plan"), "{run}");
    assert!(run.stderr.contains("--confirm"), "{run}");
    assert!(run.stdout.is_empty(), "{run}");
    assert!(!run.stderr.contains(REDIS_PW), "{run}");
    assert_eq!(
        blocking(|| (state(&pg.container), state(&redis.container))),
        before
    );

    let started = Instant::now();
    let run = blocking(|| verify(&cfg, &["--confirm", "--output", "json"]));
    let took = started.elapsed();
    let doc = run.json();
    leftovers.take_from(&doc);
    assert_eq!(run.code, Some(0), "{run}");
    assert!(!run.stdout.contains(REDIS_PW) && !run.stderr.contains(REDIS_PW));
    for (t, c) in [("redis", &redis.container), ("postgres", &pg.container)] {
        let r = row(&doc, t);
        assert_eq!(r["status"], "PASS", "{r:#}");
        assert_eq!(r["mode"], "recreate");
        assert_eq!(r["container"], c.name.as_str());
        assert_eq!(r["marker_written"], true);
        assert_eq!(r["recreated"], true);
        assert_eq!(r["marker_found"], true);
        assert_eq!(r["rolled_back"], false);
        assert!(r["ready_seconds"].as_f64().unwrap() >= 0.0, "{r:#}");
        assert!(
            r["reason"]
                .as_str()
                .unwrap()
                .starts_with("the marker survived re-creation"),
            "{r:#}"
        );
        eprintln!(
            "{t}: ready {:.2}s after the start, {:.2}s after the stop",
            r["ready_seconds"].as_f64().unwrap(),
            r["downtime_seconds"].as_f64().unwrap()
        );
    }
    eprintln!("verify --confirm took {took:?}");
    assert!(doc["checks"].as_array().unwrap().len() >= 20, "{doc:#}");
    assert!(doc["engine_version"].as_str().unwrap().len() > 2);
    blocking(|| {
        // New containers under the old names; the old ones are gone, the volumes stay.
        let after = (state(&pg.container), state(&redis.container));
        assert_ne!(after.0.split(' ').next(), before.0.split(' ').next());
        assert_ne!(after.1.split(' ').next(), before.1.split(' ').next());
        assert_eq!(pg.container.inspect("{{.State.Running}}"), "true");
        assert!(leftovers.old_containers().is_empty());
        for v in [&pg_vol.name, &redis_vol.name] {
            assert_eq!(docker(&["volume", "inspect", "-f", "{{.Name}}", v]), *v);
        }
        assert_eq!(redis.container.volume_names(), vec![redis_vol.name.clone()]);
        assert_redis_kept_without_markers(redis.port);
    });
    assert_eq!(
        pg_query(pg.port, "SELECT v FROM kept").await.unwrap(),
        vec!["before verify"]
    );
    // The marker table was created by verify, so it is gone again.
    assert_eq!(
        pg_query(
            pg.port,
            "SELECT to_regclass('persistence_exporter_verify') IS NULL"
        )
        .await
        .unwrap(),
        vec!["t"]
    );

    // The Markdown report carries versions, images and the check table.
    let run = blocking(|| verify(&cfg, &["--confirm", "--output", "markdown"]));
    assert_eq!(run.code, Some(0), "{run}");
    for want in [
        "# Persistence verification",
        "Docker Engine ",
        "| redis | recreate |",
        "sha256:",
        "## Configuration checks",
        "postgres_data_on_named_volume",
    ] {
        assert!(run.stdout.contains(want), "{want}: {run}");
    }
    drop(leftovers);
    drop((pg, redis));
    drop((pg_vol, redis_vol));
}

/// Redis without a volume and PostgreSQL 18 with PGDATA on the image's anonymous volume
/// (a named volume at the old `/var/lib/postgresql/data`): both lose the marker on a
/// re-creation, exit 1 with the reason, and are rolled back: the original containers run
/// again under their names with their data. A restart of the same Redis passes.
#[tokio::test(flavor = "multi_thread")]
async fn writable_layer_and_pg18_anonymous_volume_fail_and_roll_back() {
    let trap_vol = blocking(|| TestVolume::create(&unique("pg18_data"), &[]));
    let (pg, redis) = blocking(|| {
        let pg = PostgresContainer::start(
            &unique("verify-pg18"),
            &env_path("PE_PG18_BIN"),
            "/var/lib/postgresql/18/docker",
            &[
                "-v".into(),
                "/var/lib/postgresql".into(),
                "-v".into(),
                format!("{}:/var/lib/postgresql/data", trap_vol.name),
            ],
        );
        let redis = report_redis("verify-redis-nov", &DataSetup::Nothing);
        (pg, redis)
    });
    let mut leftovers = Leftovers::new(&[&pg.container.name, &redis.container.name]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &redis, "postgres18", &pg);
    write_kept(&pg, &redis).await;
    let ids = blocking(|| {
        (
            pg.container.inspect("{{.Id}}"),
            redis.container.inspect("{{.Id}}"),
        )
    });

    let run = blocking(|| verify(&cfg, &["--confirm", "--output", "json"]));
    let doc = run.json();
    leftovers.take_from(&doc);
    assert_eq!(run.code, Some(1), "{run}");
    let r = row(&doc, "redis");
    assert_eq!(r["status"], "FAIL", "{r:#}");
    assert_eq!(r["marker_written"], true);
    assert_eq!(r["recreated"], true);
    assert_eq!(r["marker_found"], false);
    assert_eq!(r["rolled_back"], true);
    assert_eq!(
        r["reason"],
        "data directory /data is in the container's writable layer (no volume); a re-created container starts empty"
    );
    let p = row(&doc, "postgres18");
    assert_eq!(p["status"], "FAIL", "{p:#}");
    assert_eq!(p["marker_found"], false);
    assert_eq!(p["rolled_back"], true);
    assert_eq!(p["data_dir"], "/var/lib/postgresql/18/docker");
    let reason = p["reason"].as_str().unwrap();
    assert!(
        reason
            .starts_with("data directory /var/lib/postgresql/18/docker is on an anonymous volume")
            && reason.ends_with("a re-created container starts empty"),
        "{reason}"
    );
    for r in [r, p] {
        let notes = r["notes"].to_string();
        assert!(
            notes.contains("runs again and still has the marker"),
            "{r:#}"
        );
    }
    // The re-created PostgreSQL initialised a new anonymous volume; it is reported, not
    // removed.
    assert_eq!(p["left_volumes"].as_array().unwrap().len(), 1, "{p:#}");

    blocking(|| {
        assert_eq!(pg.container.inspect("{{.Id}}"), ids.0);
        assert_eq!(redis.container.inspect("{{.Id}}"), ids.1);
        assert_eq!(pg.container.inspect("{{.State.Running}}"), "true");
        assert_eq!(redis.container.inspect("{{.State.Running}}"), "true");
        assert!(leftovers.old_containers().is_empty());
        assert_redis_kept_without_markers(redis.port);
    });
    assert_eq!(
        pg_query(pg.port, "SELECT v FROM kept").await.unwrap(),
        vec!["before verify"]
    );

    // A restart keeps the writable layer: it passes, and says why that is not enough.
    let run = blocking(|| {
        verify(
            &cfg,
            &[
                "--confirm",
                "--mode",
                "restart",
                "--target",
                "redis",
                "--output",
                "json",
            ],
        )
    });
    let doc = run.json();
    assert_eq!(run.code, Some(0), "{run}");
    assert_eq!(doc["results"].as_array().unwrap().len(), 1);
    let r = row(&doc, "redis");
    assert_eq!(r["status"], "PASS", "{r:#}");
    assert_eq!(r["mode"], "restart");
    assert_eq!(r["marker_found"], true);
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .contains("a re-created container would start empty"),
        "{r:#}"
    );
    assert_eq!(blocking(|| redis.container.inspect("{{.Id}}")), ids.1);
    drop(leftovers);
    drop((pg, redis));
    drop(trap_vol);
}

/// A re-created container that exits at once (its start script refuses a data volume
/// without the state kept in an anonymous volume) is rolled back: the original runs again
/// under its name with its data, and the run fails.
#[tokio::test(flavor = "multi_thread")]
async fn a_recreated_container_that_cannot_start_is_rolled_back() {
    let vol = blocking(|| TestVolume::create(&unique("redis_data"), &[]));
    let port = free_port();
    let name = unique("verify-redis-nostart");
    let bin = env_path("PE_REDIS_70_SERVER");
    let mut args = host_lib_mounts();
    args.extend([
        "-v".to_string(),
        format!("{bin}:/usr/local/bin/redis-server:ro"),
        "-v".into(),
        format!("{}:/data", vol.name),
        "-v".into(),
        "/state".into(),
        "--network".into(),
        "host".into(),
        image(),
        "sh".into(),
        "-c".into(),
        format!(
            "if [ ! -f /state/ok ]; then [ -f /data/initialised ] && exit 3; touch /state/ok /data/initialised; fi; exec /usr/local/bin/redis-server --port {port} --bind 127.0.0.1 --protected-mode no --dir /data {REDIS_ARGS}"
        ),
    ]);
    let container = blocking(|| TestContainer::run(&name, &args));
    let mut leftovers = Leftovers::new(&[&name]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut conn = loop {
        match redis::Client::open(format!("redis://:{REDIS_PW}@127.0.0.1:{port}"))
            .unwrap()
            .get_connection_with_timeout(Duration::from_secs(1))
        {
            Ok(c) => break c,
            Err(e) => {
                assert!(Instant::now() < deadline, "{e}: {}", container.logs());
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    };
    let _: () = redis::cmd("SET")
        .arg("kept")
        .arg("before verify")
        .query(&mut conn)
        .unwrap();
    let id = blocking(|| container.inspect("{{.Id}}"));
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("redis.pw");
    std::fs::write(&pw, REDIS_PW).unwrap();
    let cfg = common::write_config(
        dir.path(),
        &format!(
            "docker:\n  host: {DOCKER_HOST}\nredis:\n  - name: redis\n    addr: redis://127.0.0.1:{port}\n    password_file: {}\n    container: {name}\n",
            pw.display()
        ),
    );
    let run = blocking(|| verify(&cfg, &["--confirm", "--timeout", "20s", "--output", "json"]));
    let doc = run.json();
    leftovers.take_from(&doc);
    assert_eq!(run.code, Some(1), "{run}");
    let r = row(&doc, "redis");
    assert_eq!(r["status"], "FAIL", "{r:#}");
    assert_eq!(r["recreated"], true);
    assert_eq!(r["rolled_back"], true, "{r:#}");
    assert_eq!(r["marker_found"], Value::Null);
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .contains("the container exited (code 3)"),
        "{r:#}"
    );
    assert!(
        r["notes"].to_string().contains("still has the marker"),
        "{r:#}"
    );
    blocking(|| {
        assert_eq!(container.inspect("{{.Id}}"), id);
        assert_eq!(container.inspect("{{.State.Running}}"), "true");
        assert!(leftovers.old_containers().is_empty());
        assert_eq!(redis_kept(port), "before verify");
    });
    drop(leftovers);
    drop(container);
    drop(vol);
}

/// A Docker Engine that cannot be reached: exit 2, never a pass.
#[tokio::test(flavor = "multi_thread")]
async fn unreachable_docker_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::write_config(
        dir.path(),
        "docker:\n  host: unix:///nonexistent/docker.sock\nredis:\n  - name: redis\n    addr: redis://127.0.0.1:1\n",
    );
    let run = blocking(|| verify(&cfg, &["--confirm"]));
    assert_eq!(run.code, Some(2), "{run}");
    assert!(run.stderr.contains("cannot run"), "{run}");
    let run = blocking(|| verify(&cfg, &["--confirm", "--target", "nope"]));
    assert_eq!(run.code, Some(2), "{run}");
    assert!(run.stderr.contains("unknown target"), "{run}");
}

/// A compose-style container: on a user-defined network with an alias, its port published
/// on loopback, compose labels, found automatically by its published port. The re-created
/// container keeps all of that.
#[tokio::test(flavor = "multi_thread")]
async fn compose_style_container_keeps_network_port_and_labels() {
    let (net, vol) = blocking(|| {
        (
            common::docker::TestNetwork::create(&unique("verify-net")),
            TestVolume::create(&unique("redis_data"), &[]),
        )
    });
    let redis = blocking(|| {
        RedisContainer::start_configured(
            &unique("verify-redis-compose"),
            "/data",
            &DataSetup::Named(vol.name.clone()),
            &Net::Published(net.name.clone()),
            &[
                "--network-alias".to_string(),
                "cache".into(),
                "--label".into(),
                "com.docker.compose.project=das-tern".into(),
                "--label".into(),
                "com.docker.compose.service=redis".into(),
                "--restart".into(),
                "unless-stopped".into(),
            ],
            REDIS_ARGS,
            Some(REDIS_PW),
        )
    });
    let mut leftovers = Leftovers::new(&[&redis.container.name]);
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("redis.pw");
    std::fs::write(&pw, REDIS_PW).unwrap();
    // No `container:`: found by the port published on 127.0.0.1.
    let cfg = common::write_config(
        dir.path(),
        &format!(
            "docker:\n  host: {DOCKER_HOST}\nredis:\n  - name: redis\n    addr: redis://127.0.0.1:{}\n    password_file: {}\n",
            redis.port,
            pw.display()
        ),
    );
    let shape = "{{.HostConfig.NetworkMode}} {{json .HostConfig.PortBindings}} {{.HostConfig.RestartPolicy.Name}} {{index .Config.Labels \"com.docker.compose.service\"}} {{json (index .NetworkSettings.Networks \"NET\").Aliases}}"
        .replace("NET", &net.name);
    let before = blocking(|| redis.container.inspect(&shape));
    let old_id = blocking(|| redis.container.inspect("{{.Id}}"));
    let run = blocking(|| verify(&cfg, &["--confirm", "--output", "json"]));
    let doc = run.json();
    leftovers.take_from(&doc);
    assert_eq!(run.code, Some(0), "{run}");
    assert_eq!(row(&doc, "redis")["status"], "PASS", "{doc:#}");
    blocking(|| {
        assert_ne!(redis.container.inspect("{{.Id}}"), old_id);
        let after = redis.container.inspect(&shape);
        // The Engine adds the short ID as an alias of each container: compare without it.
        let strip = |s: &str, id: &str| s.replace(&format!(",\"{}\"", &id[..12]), "");
        let new_id = redis.container.inspect("{{.Id}}");
        assert_eq!(strip(&after, &new_id), strip(&before, &old_id));
        assert!(after.contains("\"cache\""), "{after}");
        assert!(after.contains(" unless-stopped redis "), "{after}");
        assert!(after.contains("\"HostIp\":\"127.0.0.1\""), "{after}");
        eprintln!("re-created as: {after}");
        let kept: Vec<String> = redis::cmd("KEYS")
            .arg("persistence_exporter:verify:*")
            .query(&mut redis_conn(redis.port))
            .unwrap();
        assert!(kept.is_empty());
    });
    drop(leftovers);
    drop(redis);
    drop((net, vol));
}

/// A Redis declared not to run in a container (`in_container: false`) is skipped with
/// that reason, read from the same view as `check`, and nothing is touched: exit 2 (nothing
/// passed), never 0.
#[tokio::test(flavor = "multi_thread")]
async fn a_target_declared_outside_containers_is_skipped_with_that_reason() {
    let redis = common::redis::RedisServer::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::write_config(
        dir.path(),
        &format!(
            "docker:\n  host: {DOCKER_HOST}\nredis:\n  - name: host-redis\n    addr: {}\n    in_container: false\n",
            redis.url()
        ),
    );
    let run = blocking(|| verify(&cfg, &["--confirm", "--output", "json"]));
    assert_eq!(run.code, Some(2), "{run}");
    let doc = run.json();
    let r = row(&doc, "host-redis");
    assert_eq!(r["status"], "SKIPPED", "{doc:#}");
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .contains("declared not to run in a container"),
        "{doc:#}"
    );
    assert_eq!(r["container"], "", "{doc:#}");
}
