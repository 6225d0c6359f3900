//! Restart tracking against real servers: restarts that keep the data, restarts that lose
//! it (Redis without persistence, a re-initialised PostgreSQL data directory), the state
//! file across an exporter restart, the write canary (its measured loss, a role that may
//! not write it), proof that no write happens with the canary off, and Redis in a
//! container with no volume: `docker restart` keeps its data, re-creating the container
//! loses it.

use crate::common;

use common::docker::{TestContainer, docker, host_lib_mounts, image, unique};

use common::postgres::PgServer;
use common::prometheus::Prometheus;
use common::redis::RedisServer;
use common::{Exporter, Metrics};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

fn restarts(m: &Metrics, t: &str) -> f64 {
    m.get("persistence_restarts_observed_total", &[("target", t)])
        .unwrap_or(-1.0)
}

fn lost(m: &Metrics, t: &str) -> f64 {
    m.get("persistence_data_lost_on_restart_total", &[("target", t)])
        .unwrap_or(-1.0)
}

fn check_ok(m: &Metrics, t: &str, check: &str) -> Option<f64> {
    m.get("persistence_check_ok", &[("target", t), ("check", check)])
}

/// Asserts a check's `persistence_check_ok` for the target (`ok`: 1 pass, 0 fail).
fn assert_check(m: &Metrics, t: &str, check: &str, ok: f64) {
    assert_eq!(check_ok(m, t, check), Some(ok), "{check}: {}", m.text);
}

/// The Redis target's `persistence_restart_recovered_keys_ratio`.
fn recovered_ratio(m: &Metrics, t: &str) -> f64 {
    m.value("persistence_restart_recovered_keys_ratio", &[("target", t)])
}

/// Scrapes until the target's canary has written once.
async fn until_canary_writes(e: &Exporter, t: &str) -> Metrics {
    e.scrape_until("canary writes", WAIT, |m| {
        m.get(
            "persistence_canary_last_write_timestamp_seconds",
            &[("target", t)],
        )
        .is_some()
    })
    .await
}

fn fill_redis(r: &RedisServer, n: usize) {
    let mut c = r.client();
    let mut pipe = redis::pipe();
    for i in 0..n {
        pipe.cmd("SET").arg(format!("k{i}")).arg(i).ignore();
    }
    pipe.query::<()>(&mut c).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_aof_everysec_survives_sigkill_and_the_canary_measures_the_loss() {
    let mut r = RedisServer::start(&["--appendonly", "yes", "--appendfsync", "everysec"]);
    fill_redis(&r, 1000);
    let e = Exporter::start(&[
        "--redis.addr",
        &r.url(),
        "--redis.canary",
        "--canary.interval",
        "1s",
        "--profile",
        "durable",
    ])
    .await;
    let t = r.target();
    let m = until_canary_writes(&e, &t).await;
    assert_eq!(restarts(&m, &t), 0.0);
    let pass = check_ok(&m, &t, "redis_data_survived_restart");
    assert_eq!(pass, Some(1.0), "{}", m.text);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    e.scrape().await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    r.restart(); // SIGKILL, then start on the same directory
    let m = e
        .scrape_until("the restart's verdict", WAIT, |m| {
            restarts(m, &t) == 1.0
                && m.get("persistence_canary_data_loss_seconds", &[("target", &t)])
                    .is_some()
        })
        .await;
    assert_eq!(lost(&m, &t), 0.0, "{}", m.text);
    let ratio = m.value(
        "persistence_restart_recovered_keys_ratio",
        &[("target", &t)],
    );
    assert!(ratio >= 0.99, "ratio {ratio}");
    let loss = m.value("persistence_canary_data_loss_seconds", &[("target", &t)]);
    eprintln!("measured canary loss, AOF everysec after SIGKILL: {loss} s");
    assert!((0.0..=2.0).contains(&loss), "canary loss {loss}");
    assert_check(&m, &t, "redis_data_survived_restart", 1.0);
    e.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_without_persistence_loses_its_keys_and_the_alert_fires() {
    let mut r = RedisServer::start(&[]); // save "" and appendonly no
    fill_redis(&r, 200);
    let e = Exporter::start(&["--redis.addr", &r.url(), "--profile", "durable"]).await;
    let t = r.target();
    // A real Prometheus with the shipped rule file scrapes the exporter every second.
    let dir = tempfile::tempdir().unwrap();
    let rules = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("alerts/restarts.yml");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nrule_files: [{rules:?}]\nscrape_configs:\n  - job_name: persistence_exporter\n    static_configs: [{{targets: ['{}']}}]\n",
            e.addr
        ),
    )
    .unwrap();
    let prom = Prometheus::start(&dir.path().join("prom"), &config).await;
    let m = e
        .scrape_until("a baseline", WAIT, |m| restarts(m, &t) == 0.0)
        .await;
    assert_eq!(lost(&m, &t), 0.0);
    // Prometheus has seen the counter at 0 before the restart.
    let deadline = std::time::Instant::now() + WAIT;
    let q = format!("persistence_data_lost_on_restart_total{{target=\"{t}\"}}");
    while prom.query(&q, None).await.unwrap_or_default().is_empty() {
        assert!(std::time::Instant::now() < deadline, "{}", prom.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    r.restart();
    let restarted = std::time::Instant::now();
    let m = e
        .scrape_until("the loss", WAIT, |m| lost(m, &t) == 1.0)
        .await;
    assert_eq!(restarts(&m, &t), 1.0);
    assert_eq!(recovered_ratio(&m, &t), 0.0);
    assert_check(&m, &t, "redis_data_survived_restart", 0.0);
    let body = e.get("/", &[]).await.body;
    assert!(body.contains("redis_data_survived_restart"), "status page");
    // The alert is firing within a minute of the restart.
    let firing = "ALERTS{alertname=\"PersistenceDataLostOnRestart\",alertstate=\"firing\"}";
    loop {
        let r = prom.query(firing, None).await.unwrap_or_default();
        if r.iter().any(|s| s["metric"]["target"] == t.as_str()) {
            break;
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(60),
            "not firing after a minute: {}",
            prom.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    eprintln!(
        "PersistenceDataLostOnRestart firing {:?} after the restart",
        restarted.elapsed()
    );
    e.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restart_keeps_the_cluster_and_initdb_loses_it() {
    let mut pg = PgServer::start(17, &[]);
    let e = Exporter::start(&[
        "--postgres.dsn",
        &pg.dsn("postgres", "postgres"),
        "--postgres.canary",
        "--canary.interval",
        "1s",
        "--profile",
        "durable",
    ])
    .await;
    let t = pg.target("postgres");
    let m = until_canary_writes(&e, &t).await;
    assert_eq!(
        m.get(
            "pg_exporter_privilege_missing",
            &[("target", &t), ("what", "pg_control_system")]
        ),
        Some(0.0)
    );
    assert_eq!(
        check_ok(&m, &t, "postgres_data_survived_restart"),
        Some(1.0)
    );
    pg.restart();
    let m = e
        .scrape_until("the restart", WAIT, |m| {
            restarts(m, &t) == 1.0
                && m.get("persistence_canary_data_loss_seconds", &[("target", &t)])
                    .is_some()
        })
        .await;
    assert_eq!(lost(&m, &t), 0.0, "{}", m.text);
    assert_eq!(
        m.value("persistence_canary_data_loss_seconds", &[("target", &t)]),
        0.0,
        "a clean shutdown loses no committed write"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    pg.reinitialise();
    let m = e
        .scrape_until("the loss", WAIT, |m| lost(m, &t) == 1.0)
        .await;
    assert_eq!(restarts(&m, &t), 2.0);
    assert_eq!(
        check_ok(&m, &t, "postgres_data_survived_restart"),
        Some(0.0)
    );
    e.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_state_file_carries_the_identity_across_an_exporter_restart() {
    let mut pg = PgServer::start(17, &[]);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let args = [
        "--postgres.dsn",
        &pg.dsn("postgres", "postgres"),
        "--state.file",
        state.to_str().unwrap(),
        "--profile",
        "durable",
    ];
    let t = pg.target("postgres");
    let e = Exporter::start(&args).await;
    e.scrape_until("a baseline", WAIT, |m| restarts(m, &t) == 0.0)
        .await;
    // Written within a second or so (throttled), with the identity in it.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        e.scrape().await;
        let text = std::fs::read_to_string(&state).unwrap_or_default();
        if text.contains("system_identifier") && text.contains(&t) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "state file: {text}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    e.stop().await;
    pg.reinitialise();
    let e = Exporter::start(&args).await;
    let m = e
        .scrape_until("the loss, judged from the state file", WAIT, |m| {
            lost(m, &t) == 1.0
        })
        .await;
    assert_eq!(restarts(&m, &t), 1.0);
    assert_eq!(
        check_ok(&m, &t, "postgres_data_survived_restart"),
        Some(0.0)
    );
    e.stop().await;
    // A corrupt state file is ignored, not fatal.
    std::fs::write(&state, "{garbage").unwrap();
    let e = Exporter::start(&args).await;
    let m = e
        .scrape_until("a fresh baseline", WAIT, |m| restarts(m, &t) == 0.0)
        .await;
    assert_eq!(lost(&m, &t), 0.0);
    assert!(common::logs().contains("State file ignored"));
    e.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_that_may_not_write_the_canary_is_counted_once_logged_and_scraped() {
    let pg = PgServer::start(17, &[]);
    pg.exec("CREATE ROLE reader LOGIN PASSWORD 'pw' IN ROLE pg_monitor")
        .await;
    let dsn = format!(
        "postgresql://reader:pw@127.0.0.1:{}/postgres?sslmode=disable",
        pg.port
    );
    let e = Exporter::start(&[
        "--postgres.dsn",
        &dsn,
        "--postgres.canary",
        "--canary.interval",
        "200ms",
    ])
    .await;
    let t = pg.target("postgres");
    let m = e
        .scrape_until("write errors", WAIT, |m| {
            m.get("persistence_canary_write_errors_total", &[("target", &t)])
                .unwrap_or(0.0)
                >= 5.0
        })
        .await;
    assert_eq!(m.value("pg_up", &[("target", &t)]), 1.0);
    assert!(
        m.get(
            "persistence_canary_last_write_timestamp_seconds",
            &[("target", &t)]
        )
        .is_none()
    );
    let logs = common::logs();
    let lines = logs
        .lines()
        .filter(|l| l.contains("Canary write failed") && l.contains(&t))
        .count();
    assert_eq!(lines, 1, "one log line for a persisting cause:\n{logs}");
    e.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_canary_off_nothing_is_written() {
    let r = RedisServer::start(&[]);
    let pg = PgServer::start(17, &[("log_statement", "all")]);
    pg.exec("CREATE ROLE watcher LOGIN PASSWORD 'pw' IN ROLE pg_monitor")
        .await;
    let dsn = format!(
        "postgresql://watcher:pw@127.0.0.1:{}/postgres?sslmode=disable",
        pg.port
    );
    let calls = |r: &RedisServer| r.info_field("cmdstat_set");
    let before = calls(&r);
    let e = Exporter::start(&["--redis.addr", &r.url(), "--postgres.dsn", &dsn]).await;
    for _ in 0..5 {
        e.scrape().await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let m = e.scrape().await;
    assert!(!m.has("persistence_canary_write_errors_total"));
    assert_eq!(restarts(&m, &r.target()), 0.0);
    assert_eq!(calls(&r), before, "no SET reached Redis");
    let log = pg.log();
    let from_exporter: Vec<&str> = log.lines().filter(|l| l.contains("watcher@")).collect();
    assert!(!from_exporter.is_empty(), "statements are logged:\n{log}");
    for l in &from_exporter {
        let upper = l.to_ascii_uppercase();
        assert!(
            !["INSERT INTO", ": UPDATE ", "CREATE TABLE", "DELETE FROM"]
                .iter()
                .any(|w| upper.contains(w)),
            "a write from the exporter's role: {l}"
        );
    }
    e.stop().await;
}

/// `docker run` arguments for Redis 7.0 with AOF on, its data in the container's writable
/// layer (no volume), on the host network at `port`.
fn redis_in_a_container_args(port: u16) -> Vec<String> {
    let bin = common::env_path("PE_REDIS_70_SERVER");
    let mut args = host_lib_mounts();
    args.extend([
        "-v".to_string(),
        format!("{bin}:/usr/local/bin/redis-server:ro"),
        "--network".into(),
        "host".into(),
        image(),
        "sh".into(),
        "-c".into(),
        format!(
            "mkdir -p /data && exec /usr/local/bin/redis-server --port {port} --bind 127.0.0.1 --protected-mode no --dir /data --save '' --appendonly yes --appendfsync always"
        ),
    ]);
    args
}

/// Waits (bounded) until Redis answers on `port`.
fn wait_for_redis(port: u16, c: &TestContainer) -> redis::Connection {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let conn = redis::Client::open(format!("redis://127.0.0.1:{port}"))
            .unwrap()
            .get_connection_with_timeout(Duration::from_secs(1));
        if let Ok(mut conn) = conn
            && redis::cmd("PING").query::<String>(&mut conn).is_ok()
        {
            return conn;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "redis in {} not answering:\n{}",
            c.name,
            c.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_restart_keeps_the_writable_layer_and_a_recreation_loses_it() {
    let port = common::free_port();
    let name = unique("restarts-redis");
    let args = redis_in_a_container_args(port);
    let container = tokio::task::block_in_place(|| TestContainer::run(&name, &args));
    tokio::task::block_in_place(|| {
        assert!(
            container.volume_names().is_empty(),
            "no volume: the data lives in the writable layer"
        );
        let mut conn = wait_for_redis(port, &container);
        let mut pipe = redis::pipe();
        for i in 0..300 {
            pipe.cmd("SET").arg(format!("k{i}")).arg(i).ignore();
        }
        pipe.query::<()>(&mut conn).unwrap();
    });
    let e = Exporter::start(&[
        "--redis.addr",
        &format!("redis://127.0.0.1:{port}"),
        "--profile",
        "durable",
    ])
    .await;
    let t = format!("127.0.0.1:{port}");
    let m = e
        .scrape_until("a baseline with the keys", WAIT, |m| {
            restarts(m, &t) == 0.0
                && m.get("redis_db_keys", &[("target", &t), ("db", "db0")]) == Some(300.0)
        })
        .await;
    assert_eq!(lost(&m, &t), 0.0);
    assert_check(&m, &t, "redis_data_survived_restart", 1.0);

    // `docker restart`: same container, same writable layer, the AOF is still there.
    tokio::task::block_in_place(|| {
        docker(&["restart", "-t", "5", &name]);
        wait_for_redis(port, &container);
    });
    let m = e
        .scrape_until("the restart's verdict", WAIT, |m| {
            restarts(m, &t) == 1.0
                && m.get(
                    "persistence_restart_recovered_keys_ratio",
                    &[("target", &t)],
                )
                .is_some()
        })
        .await;
    assert_eq!(lost(&m, &t), 0.0, "{}", m.text);
    assert_eq!(recovered_ratio(&m, &t), 1.0);
    assert_check(&m, &t, "redis_data_survived_restart", 1.0);

    // Re-created: `docker rm -f` then `docker run` with the same name, port and arguments.
    // The new container starts from the image with an empty writable layer.
    tokio::task::block_in_place(|| {
        docker(&["rm", "-f", &name]);
        // `container` still owns the name and removes the new one when dropped.
        std::mem::forget(TestContainer::run(&name, &args));
        wait_for_redis(port, &container);
    });
    let m = e
        .scrape_until("the loss", WAIT, |m| lost(m, &t) == 1.0)
        .await;
    assert_eq!(restarts(&m, &t), 2.0, "{}", m.text);
    assert_eq!(recovered_ratio(&m, &t), 0.0);
    assert_check(&m, &t, "redis_data_survived_restart", 0.0);
    e.stop().await;
    drop(container);
}
