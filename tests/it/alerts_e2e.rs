//! End to end: a real Prometheus (Debian `prometheus`) scrapes the exporter
//! with the rules of `alerts/` loaded, a real Alertmanager (Debian
//! `prometheus-alertmanager`) with `deploy/alertmanager.yml` routes to a webhook receiver
//! inside the test.
//!
//! - A durable Redis started with `appendonly no` (and no RDB) produces the critical
//!   check alert at the pager receiver with the right labels and annotations; fixing the
//!   config (`CONFIG SET appendonly yes`) resolves it there.
//! - Alertmanager routes critical to the pager, warning to tickets, info nowhere, and
//!   inhibits persistence-check alerts of a target that is down.
//!
//! The files are used as they are, with two mechanical rewrites so that the test takes
//! seconds, not minutes: every rule's `for:` becomes `for: 2s`, and Alertmanager's
//! `group_wait`/`group_interval` become 1s and its receiver URLs point at the webhook.
//! Intervals are 1 s. Processes run in temp dirs on free ports and are killed by PID.

use crate::common;

use common::redis::RedisServer;
use common::{Exporter, env_path, free_port, http_get};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod harness;
use harness::{
    TEST_FOR, Webhook, prometheus_alerts, spawn_prometheus, start_alertmanager, start_prometheus,
};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `CONFIG SET appendonly <value>` on a running Redis.
fn set_appendonly(redis: &RedisServer, value: &str) {
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("appendonly")
        .arg(value)
        .query(&mut redis.client())
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn appendonly_no_pages_and_config_set_appendonly_yes_resolves() {
    let tmp = tempfile::tempdir().unwrap();
    // A durable Redis as the e2e story has it: password required (so that only the
    // persistence checks fail), AOF off and RDB off (the harness' defaults).
    let redis = RedisServer::start(&["--requirepass", "e2e-secret", "--appendonly", "no"]);
    let pw = tmp.path().join("redis.pw");
    std::fs::write(&pw, "e2e-secret\n").unwrap();
    let exporter = Exporter::start(&[
        "--profile",
        "durable",
        "--redis.addr",
        &redis.url(),
        "--redis.password-file",
        pw.to_str().unwrap(),
    ])
    .await;
    let target = redis.target();
    // The exporter's own view first, so that a check change is reported as such.
    let m = exporter.scrape().await;
    assert_eq!(
        m.get(
            "persistence_check_ok",
            &[
                ("target", &target),
                ("check", "redis_aof_enabled"),
                ("severity", "critical")
            ]
        ),
        Some(0.0),
        "durable + appendonly no + save \"\" should fail redis_aof_enabled as critical:\n{}",
        m.text
    );

    let hook = Webhook::start().await;
    let am = start_alertmanager(tmp.path(), hook.addr).await;
    // The misconfiguration is live from here on: Prometheus starts watching it.
    let t0 = Instant::now();
    let prom = start_prometheus(tmp.path(), exporter.addr, am.addr).await;
    let diag = || {
        format!(
            "prometheus log:\n{}\nalertmanager log:\n{}",
            prom.log(),
            am.log()
        )
    };

    let want = [
        ("alertname", "PersistenceCheckFailingCritical"),
        ("check", "redis_aof_enabled"),
        ("target", target.as_str()),
    ];
    let (n, (_, labels, ann)) = hook
        .wait_for("/page", "firing", &want, t0, Duration::from_secs(90), &diag)
        .await;
    let to_webhook = n.at - t0;
    let instance = exporter.addr.to_string();
    for (k, v) in [
        ("severity", "critical"),
        ("expected", "yes"),
        ("job", "persistence_exporter"),
        ("instance", instance.as_str()),
    ] {
        assert_eq!(labels[k].as_str(), Some(v), "label {k} in {labels:#}");
    }
    assert!(
        labels.get("observed").is_none(),
        "observed must not be a label: {labels:#}"
    );
    assert_eq!(
        ann["summary"].as_str(),
        Some(format!("Critical persistence check redis_aof_enabled fails on {target}").as_str()),
        "{ann:#}"
    );
    assert_eq!(
        ann["description"].as_str(),
        Some(
            format!(
                "Check redis_aof_enabled on {target} is failing: expected yes, observed no. \
                 Data written to this target is not safe. What it protects and how to fix it: \
                 http://{instance}/docs/checks#redis_aof_enabled"
            )
            .as_str()
        ),
        "{ann:#}"
    );
    // The links point at the pages the exporter itself serves, at the right anchors.
    let runbook_url = format!("http://{instance}/docs/runbook#PersistenceCheckFailingCritical");
    let check_url = format!("http://{instance}/docs/checks#redis_aof_enabled");
    assert_eq!(ann["runbook_url"].as_str(), Some(runbook_url.as_str()));
    assert_eq!(ann["check_url"].as_str(), Some(check_url.as_str()));
    for (path, anchor) in [
        ("/docs/runbook", "PersistenceCheckFailingCritical"),
        ("/docs/checks", "redis_aof_enabled"),
    ] {
        let page = common::http_get(exporter.addr, path, &[]).await;
        assert_eq!(page.status, 200, "{path}");
        assert!(
            page.body.contains(&format!("id=\"{anchor}\"")),
            "{path}#{anchor}"
        );
    }
    assert_eq!(n.body["receiver"].as_str(), Some("page"));

    // Fix it at runtime.
    let t1 = Instant::now();
    set_appendonly(&redis, "yes");
    let (resolved, _) = hook
        .wait_for(
            "/page",
            "resolved",
            &want,
            t1,
            Duration::from_secs(60),
            &diag,
        )
        .await;
    let to_resolved = resolved.at - t1;

    // The same misconfiguration made at runtime on a watched, healthy Redis: the
    // steady-state latency from the change to the page.
    let t2 = Instant::now();
    set_appendonly(&redis, "no");
    let (again, _) = hook
        .wait_for("/page", "firing", &want, t2, Duration::from_secs(60), &diag)
        .await;
    let to_refire = again.at - t2;

    // Nothing critical went to the ticket receiver, nothing of severity info anywhere.
    for n in hook.all() {
        for (_, l, _) in n.alerts() {
            let sev = l["severity"].as_str().unwrap_or("");
            assert_ne!(sev, "info", "info alert routed to {}: {l:#}", n.path);
            if n.path == "/ticket" {
                assert_ne!(sev, "critical", "critical alert at /ticket: {l:#}");
            }
        }
    }
    eprintln!(
        "e2e timing: misconfiguration (Prometheus start) -> firing at webhook {:.1}s; \
         CONFIG SET appendonly yes -> resolved at webhook {:.1}s; CONFIG SET appendonly no \
         -> firing at webhook {:.1}s (rules' for: {TEST_FOR}, intervals 1s, \
         group_wait/group_interval 1s)",
        to_webhook.as_secs_f64(),
        to_resolved.as_secs_f64(),
        to_refire.as_secs_f64()
    );
    eprintln!(
        "prometheus alerts at the end: {}",
        prometheus_alerts(prom.addr).await
    );
    drop(prom);
    drop(am);
    exporter.stop().await;
}

/// POSTs JSON to a loopback HTTP server; returns the status.
async fn http_post_json(addr: SocketAddr, path: &str, body: &str) -> u16 {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .expect("answer within 10s")
        .unwrap();
    String::from_utf8_lossy(&buf)
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn alertmanager_routes_by_severity_and_inhibits_checks_of_a_down_target() {
    let tmp = tempfile::tempdir().unwrap();
    let hook = Webhook::start().await;
    let am = start_alertmanager(tmp.path(), hook.addr).await;
    let alert = |labels: &[(&str, &str)]| {
        let mut l = serde_json::Map::new();
        l.insert("job".into(), "persistence_exporter".into());
        l.insert("instance".into(), "db-host:9631".into());
        for (k, v) in labels {
            l.insert((*k).into(), (*v).into());
        }
        serde_json::json!({ "labels": l, "annotations": { "summary": "test" } })
    };
    let alerts = serde_json::json!([
        // Redis "orders" is down: its check alerts are inhibited, RedisDown pages.
        alert(&[
            ("alertname", "RedisDown"),
            ("severity", "critical"),
            ("target", "orders")
        ]),
        alert(&[
            ("alertname", "PersistenceCheckUnknown"),
            ("severity", "warning"),
            ("target", "orders"),
            ("check", "redis_aof_enabled"),
        ]),
        alert(&[
            ("alertname", "PersistenceCheckFailingCritical"),
            ("severity", "critical"),
            ("target", "orders"),
            ("check", "redis_auth_required"),
            ("expected", "yes"),
        ]),
        // The Docker Engine is unreachable: the volume checks' unknown alerts are held.
        alert(&[
            ("alertname", "DockerEngineUnreachable"),
            ("severity", "warning")
        ]),
        alert(&[
            ("alertname", "PersistenceCheckUnknown"),
            ("severity", "warning"),
            ("target", "sessions"),
            ("check", "redis_data_on_named_volume"),
        ]),
        // Target "sessions" is up: its warning tickets, its info goes nowhere.
        alert(&[
            ("alertname", "PersistenceCheckFailingWarning"),
            ("severity", "warning"),
            ("target", "sessions"),
            ("check", "redis_aof_fsync"),
            ("expected", "everysec"),
        ]),
        alert(&[
            ("alertname", "PersistenceCheckFailingInfo"),
            ("severity", "info"),
            ("target", "sessions"),
            ("check", "redis_rdb_last_bgsave_ok"),
            ("expected", "ok"),
        ]),
    ]);
    let t0 = Instant::now();
    assert_eq!(
        http_post_json(am.addr, "/api/v2/alerts", &alerts.to_string()).await,
        200,
        "{}",
        am.log()
    );
    let diag = || format!("alertmanager log:\n{}", am.log());
    let within = Duration::from_secs(30);
    hook.wait_for(
        "/page",
        "firing",
        &[("alertname", "RedisDown")],
        t0,
        within,
        &diag,
    )
    .await;
    hook.wait_for(
        "/ticket",
        "firing",
        &[
            ("alertname", "PersistenceCheckFailingWarning"),
            ("target", "sessions"),
        ],
        t0,
        within,
        &diag,
    )
    .await;
    hook.wait_for(
        "/ticket",
        "firing",
        &[("alertname", "DockerEngineUnreachable")],
        t0,
        within,
        &diag,
    )
    .await;
    // Several group intervals later, nothing else has been sent.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut delivered: Vec<(String, String, String)> = hook
        .all()
        .iter()
        .flat_map(|n| {
            n.alerts().into_iter().map(|(_, l, _)| {
                (
                    n.path.clone(),
                    l["alertname"].as_str().unwrap_or("").to_string(),
                    l["target"].as_str().unwrap_or("").to_string(),
                )
            })
        })
        .collect();
    delivered.sort();
    delivered.dedup();
    assert_eq!(
        delivered,
        [
            ("/page".into(), "RedisDown".into(), "orders".into()),
            (
                "/ticket".into(),
                "DockerEngineUnreachable".into(),
                String::new()
            ),
            (
                "/ticket".into(),
                "PersistenceCheckFailingWarning".into(),
                "sessions".into()
            ),
        ],
        "{}",
        diag()
    );
}

/// Renders the mixin (`scripts/mixin --out`) with `config` merged into its `_config`;
/// returns the directory holding `alerts/*.yml`.
fn render_mixin(out: &Path, config: &str) -> PathBuf {
    let status = Command::new(repo().join("scripts/mixin"))
        .args(["--out", out.to_str().unwrap(), "--config", config])
        .status()
        .expect("scripts/mixin (needs jsonnet: scripts/setup)");
    assert!(status.success(), "scripts/mixin --config {config} failed");
    out.join("alerts")
}

/// Alerts Prometheus has right now as `(alertname, state, labels)`.
async fn active_alerts(p: SocketAddr) -> Vec<(String, String, Value)> {
    let body: Value = serde_json::from_str(&prometheus_alerts(p).await).unwrap_or_default();
    body["data"]["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            (
                a["labels"]["alertname"].as_str().unwrap_or("").to_string(),
                a["state"].as_str().unwrap_or("").to_string(),
                a["labels"].clone(),
            )
        })
        .collect()
}

/// The mixin rendered for a scrape job named `pe` whose targets carry `cluster="eu1"`
/// (short `for` through `_config.forOverride`): while the exporter runs, Prometheus has
/// no `PersistenceExporterAbsent` (the rules select the job that exists); once it is
/// stopped, `PersistenceExporterDown` fires with the job and cluster labels, and still
/// no `PersistenceExporterAbsent`.
#[tokio::test(flavor = "multi_thread")]
async fn renamed_job_with_cluster_label_has_no_absent_and_exporter_down_fires() {
    let tmp = tempfile::tempdir().unwrap();
    let rules = render_mixin(
        &tmp.path().join("mixin"),
        &format!(r#"{{persistenceExporterSelector: 'job="pe"', forOverride: '{TEST_FOR}'}}"#),
    );
    let health = std::fs::read_to_string(rules.join("health.yml")).unwrap();
    assert!(
        health.contains(r#"absent(up{job=\"pe\"})"#)
            && health.contains(&format!("for: \"{TEST_FOR}\"")),
        "rendering did not take the config:\n{health}"
    );
    let redis = RedisServer::start(&[]);
    let exporter = Exporter::start(&["--profile", "cache", "--redis.addr", &redis.url()]).await;

    let dir = tmp.path().join("prometheus");
    let cfg = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
         rule_files:\n  - {}/*.yml\n\
         scrape_configs:\n  - job_name: pe\n    static_configs:\n      - targets: ['{}']\n        labels:\n          cluster: eu1\n",
        rules.display(),
        exporter.addr
    );
    let prom = spawn_prometheus(&dir, &cfg).await;
    let addr = prom.addr;

    // Until the first scrape, absent() is true and the alert may be pending: wait for
    // the job's `up` series. From then on, several evaluations with the exporter up are
    // long enough for a `for: 2s` absent() to fire if the rules looked for the wrong
    // job. One that fired before the first scrape (a slow start) resolves at the next
    // evaluation: after 3 s none may be left, pending or firing.
    let t0 = Instant::now();
    loop {
        let body = http_get(
            addr,
            "/api/v1/query?query=up%7Bjob%3D%22pe%22%2Ccluster%3D%22eu1%22%7D%3D%3D1",
            &[],
        )
        .await
        .body;
        if body.contains(r#""job":"pe""#) {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "Prometheus never scraped the exporter as job pe: {body}\n{}",
            prom.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let t_up = Instant::now();
    while t_up.elapsed() < Duration::from_secs(8) {
        for (name, state, labels) in active_alerts(addr).await {
            assert!(
                name != "PersistenceExporterAbsent" || t_up.elapsed() < Duration::from_secs(3),
                "{state} PersistenceExporterAbsent with job pe scraped: {labels:#}\n{}",
                prom.log()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Stop the exporter: PersistenceExporterDown fires, with job and cluster.
    exporter.stop().await;
    let t1 = Instant::now();
    let down = loop {
        let alerts = active_alerts(addr).await;
        for (name, _, labels) in &alerts {
            assert_ne!(
                name, "PersistenceExporterAbsent",
                "PersistenceExporterAbsent although job pe is still a target: {labels:#}"
            );
        }
        if let Some((_, _, labels)) = alerts
            .iter()
            .find(|(n, s, _)| n == "PersistenceExporterDown" && s == "firing")
        {
            break labels.clone();
        }
        assert!(
            t1.elapsed() < Duration::from_secs(30),
            "PersistenceExporterDown did not fire within 30s: {alerts:#?}\n{}",
            prom.log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    for (k, v) in [("job", "pe"), ("cluster", "eu1"), ("severity", "critical")] {
        assert_eq!(down[k].as_str(), Some(v), "label {k} in {down:#}");
    }
    eprintln!(
        "job pe, cluster eu1: PersistenceExporterDown firing {:.1}s after the exporter stopped",
        t1.elapsed().as_secs_f64()
    );
    drop(prom);
}
