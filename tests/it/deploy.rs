//! `deploy/prometheus-probe.example.yml` run by a real Prometheus against the
//! exporter's `/probe`, with the probe modules of `deploy/persistence_exporter.yml`:
//!
//! - the static jobs: three Redis and two PostgreSQL servers (the example's target lists
//!   rewritten to their loopback addresses) are scraped through the exporter, every
//!   series has `instance` = `target` = the server, and no credential is in any URL;
//! - the `docker_sd_configs` job: of the real containers on the Engine, exactly those
//!   with the label `persistence_exporter.module` become probe targets, named
//!   `<container>:<port>`, with `persistence_exporter.port` picking the port.
//!
//! Run: `source /var/cache/persistence-exporter/env.sh && cargo nextest run -E 'test(/^deploy::/)'`

use crate::common;

use common::docker::{TestContainer, TestNetwork, docker, unique};
use common::postgres::PgServer;
use common::prometheus::Prometheus;
use common::redis::RedisServer;
use common::{Exporter, env_path};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const REDIS_PASSWORD: &str = "probe-R3dis-S3cret-5b0e";
const SECRET_IN_CONTAINER: &str = "/run/secrets/postgres_exporter_password";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `text` with `from` replaced by `to` (every occurrence), asserting `from` is there.
fn replace(text: &str, from: &str, to: &str, file: &str) -> String {
    assert!(text.contains(from), "{file} no longer contains {from:?}");
    text.replace(from, to)
}

/// `query`'s instant vector as (labels, value).
async fn values(p: &Prometheus, query: &str) -> Vec<(Value, f64)> {
    p.query(query, None)
        .await
        .unwrap_or_else(|e| panic!("{query}: {e}"))
        .iter()
        .map(|s| {
            (
                s["metric"].clone(),
                s["value"][1].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect()
}

/// Active targets of a job.
async fn targets(p: &Prometheus, job: &str) -> Vec<Value> {
    let v = p
        .api("/api/v1/targets?state=active")
        .await
        .unwrap_or_else(|e| panic!("targets: {e}"));
    v["activeTargets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["labels"]["job"] == job)
        .cloned()
        .collect()
}

/// The exporter's config: the probe modules of deploy/persistence_exporter.yml as shipped
/// (the secret path pointing at the repo's copy of the compose secret), allowing this
/// host's loopback.
fn exporter_config(dir: &Path) -> PathBuf {
    let file = "deploy/persistence_exporter.yml";
    let shipped: serde_yaml_ng::Value = serde_yaml_ng::from_str(&read(&repo().join(file))).unwrap();
    let secret = repo().join("deploy/secrets/postgres_exporter_password");
    let modules = serde_yaml_ng::to_string(&shipped["probe"]["modules"]).unwrap();
    let modules = replace(
        &modules,
        SECRET_IN_CONTAINER,
        secret.to_str().unwrap(),
        file,
    );
    let mut yaml = String::from("probe:\n  allowed_targets: [\"127.0.0.1:*\"]\n  modules:\n");
    for line in modules.lines() {
        yaml.push_str("    ");
        yaml.push_str(line);
        yaml.push('\n');
    }
    let p = dir.join("exporter.yml");
    std::fs::write(&p, yaml).unwrap();
    p
}

/// PostgreSQL 17 with the exporter role of deploy/postgres-init/ (psql, like the image's
/// entrypoint).
fn postgres_with_exporter_role(dir: &Path) -> PgServer {
    let pg = PgServer::start(17, &[]);
    let secret = repo().join("deploy/secrets/postgres_exporter_password");
    let sql = replace(
        &read(&repo().join("deploy/postgres-init/01-exporter-role.sql")),
        SECRET_IN_CONTAINER,
        secret.to_str().unwrap(),
        "deploy/postgres-init/01-exporter-role.sql",
    );
    let file = dir.join(format!("init-{}.sql", pg.port));
    std::fs::write(&file, sql).unwrap();
    let out = Command::new(PathBuf::from(env_path("PE_PG15_BIN")).join("psql"))
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "--no-password"])
        .args(["-h", "127.0.0.1", "-p", &pg.port.to_string()])
        .args(["-U", "postgres", "-d", "postgres", "-f"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "init script: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    pg
}

#[tokio::test(flavor = "multi_thread")]
async fn probe_example_scrapes_static_and_docker_discovered_targets_through_the_exporter() {
    let tmp = tempfile::tempdir().unwrap();
    // The Redis module reads `password_env: REDIS_PASSWORD`, as in the compose stack.
    // SAFETY: set before any thread of this test reads the environment; nextest runs each
    // test in its own process.
    unsafe { std::env::set_var("REDIS_PASSWORD", REDIS_PASSWORD) };

    let redis: Vec<RedisServer> = (0..3)
        .map(|_| RedisServer::start(&["--requirepass", REDIS_PASSWORD]))
        .collect();
    let pgs: Vec<PgServer> = tokio::task::block_in_place(|| {
        (0..2)
            .map(|_| postgres_with_exporter_role(tmp.path()))
            .collect()
    });
    let exporter_cfg = exporter_config(tmp.path());
    let exporter = Exporter::start(&["--config.file", exporter_cfg.to_str().unwrap()]).await;

    // Containers for docker_sd_configs: two opt in, one does not.
    let (net, sd_redis, sd_pg, _sd_other) = tokio::task::block_in_place(|| {
        let net = TestNetwork::create(&unique("probe-sd"));
        let busybox = env_path("PE_DOCKER_IMAGE");
        let start = |what: &str, extra: &[&str]| {
            let name = unique(what);
            let mut args: Vec<String> = vec!["--network".into(), net.name.clone()];
            args.extend(extra.iter().map(|s| s.to_string()));
            args.extend([busybox.clone(), "sleep".into(), "600".into()]);
            (TestContainer::run(&name, &args), name)
        };
        let sd_redis = start(
            "sd-redis",
            &[
                "--label",
                "persistence_exporter.module=redis_das_tern",
                "--expose",
                "6379",
            ],
        );
        let sd_pg = start(
            "sd-postgres",
            &[
                "--label",
                "persistence_exporter.module=postgres_das_tern",
                "--label",
                "persistence_exporter.port=5432",
                "--expose",
                "5432",
                "--expose",
                "8080",
            ],
        );
        let other = start("sd-other", &["--expose", "6379"]);
        (net, sd_redis, sd_pg, other)
    });

    // The example, with its placeholders pointed at this test's servers and exporter.
    let file = "deploy/prometheus-probe.example.yml";
    let mut cfg = read(&repo().join(file));
    cfg = replace(
        &cfg,
        "persistence_exporter:9631",
        &exporter.addr.to_string(),
        file,
    );
    for (i, r) in redis.iter().enumerate() {
        let from = format!("dastern-redis-{}:6379", i + 1);
        cfg = replace(&cfg, &from, &format!("127.0.0.1:{}", r.port), file);
    }
    for (i, p) in pgs.iter().enumerate() {
        let from = format!("dastern-postgres-{}:5432", i + 1);
        cfg = replace(&cfg, &from, &format!("127.0.0.1:{}", p.port), file);
    }
    cfg = replace(&cfg, "scrape_interval: 30s", "scrape_interval: 1s", file);
    cfg = replace(&cfg, "scrape_timeout: 10s", "scrape_timeout: 1s", file);
    cfg = replace(&cfg, "refresh_interval: 30s", "refresh_interval: 1s", file);
    // Same layout as the repo, so `../alerts/*.yml` loads the rules.
    std::fs::create_dir_all(tmp.path().join("deploy")).unwrap();
    std::os::unix::fs::symlink(repo().join("alerts"), tmp.path().join("alerts")).unwrap();
    let cfg_path = tmp.path().join("deploy/prometheus-probe.yml");
    std::fs::write(&cfg_path, cfg).unwrap();
    let prom = Prometheus::start(tmp.path(), &cfg_path).await;

    // ---- Static jobs: every server up through /probe, instance = target = the server.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (redis_up, pg_up) = loop {
        let r = values(&prom, "redis_up{job=\"persistence_probe_redis\"} == 1").await;
        let p = values(&prom, "pg_up{job=\"persistence_probe_postgres\"} == 1").await;
        if r.len() == redis.len() && p.len() == pgs.len() {
            break (r, p);
        }
        assert!(
            Instant::now() < deadline,
            "not every probed server is up: redis {r:?}, postgres {p:?}\ntargets: {:#?}\n{:#?}",
            targets(&prom, "persistence_probe_redis").await,
            targets(&prom, "persistence_probe_postgres").await
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let mut instances: Vec<String> = Vec::new();
    for (labels, _) in redis_up.iter().chain(pg_up.iter()) {
        assert_eq!(
            labels["instance"], labels["target"],
            "instance = target: {labels}"
        );
        instances.push(labels["instance"].as_str().unwrap().to_string());
    }
    instances.sort();
    let mut expected: Vec<String> = redis
        .iter()
        .map(|r| format!("127.0.0.1:{}", r.port))
        .chain(pgs.iter().map(|p| format!("127.0.0.1:{}", p.port)))
        .collect();
    expected.sort();
    assert_eq!(instances, expected);
    // The das-tern profile of the modules is applied to probed targets.
    let checks = values(
        &prom,
        "count by (job) (persistence_check_ok{job=~\"persistence_probe_.*\"})",
    )
    .await;
    assert_eq!(checks.len(), 2, "checks of both probe jobs: {checks:?}");
    for job in ["persistence_probe_redis", "persistence_probe_postgres"] {
        for t in targets(&prom, job).await {
            let url = t["scrapeUrl"].as_str().unwrap();
            assert!(url.contains("/probe?"), "{url}");
            assert!(
                !url.contains(REDIS_PASSWORD) && !url.contains("password"),
                "credentials in {url}"
            );
        }
    }
    // The exporter's own job, which the health alerts watch.
    let own = targets(&prom, "persistence_exporter").await;
    assert_eq!(own.len(), 1, "{own:?}");

    // ---- docker_sd_configs: exactly the labelled containers, with the right port.
    let ours = |t: &Value| {
        let target = t["discoveredLabels"]["__meta_docker_container_name"]
            .as_str()
            .unwrap_or("");
        target == format!("/{}", sd_redis.1)
            || target == format!("/{}", sd_pg.1)
            || target.contains("sd-other")
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let docker_targets = loop {
        let all: Vec<Value> = targets(&prom, "persistence_probe_docker")
            .await
            .into_iter()
            .filter(ours)
            .collect();
        if all.len() >= 2 || Instant::now() > deadline {
            break all;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let mut got: Vec<(String, String, String)> = docker_targets
        .iter()
        .map(|t| {
            let url = t["scrapeUrl"].as_str().unwrap().to_string();
            (
                t["labels"]["instance"].as_str().unwrap().to_string(),
                url.split("module=")
                    .nth(1)
                    .map(|m| m.split('&').next().unwrap().to_string())
                    .unwrap_or_default(),
                url,
            )
        })
        .collect();
    got.sort();
    let mut want = vec![
        (format!("{}:6379", sd_redis.1), "redis_das_tern".to_string()),
        (format!("{}:5432", sd_pg.1), "postgres_das_tern".to_string()),
    ];
    want.sort();
    assert_eq!(
        got.iter()
            .map(|(i, m, _)| (i.clone(), m.clone()))
            .collect::<Vec<_>>(),
        want,
        "docker-discovered probe targets: {got:#?}"
    );
    for (instance, _, url) in &got {
        let encoded = instance.replace(':', "%3A");
        assert!(
            url.starts_with(&format!("http://{}/probe?", exporter.addr))
                && url.contains(&format!("target={encoded}")),
            "{url}"
        );
    }
    let services = docker(&["ps", "-q", "--filter", &format!("network={}", net.name)]);
    assert_eq!(services.lines().count(), 3, "the three test containers run");

    exporter.stop().await;
}
