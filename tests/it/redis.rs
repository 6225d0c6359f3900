//! Redis collector against real `redis-server` processes: exact values for the das-tern report's
//! configuration, persistence off, ACL without CONFIG, evictions, failing saves, failure
//! modes, secrets, single-flight, and the Redis 6.2 / 7.0 / Valkey 8.1 matrix.

use crate::common;

use common::redis::{Flavor, RedisServer};
use common::{Blackhole, Exporter, free_port, logs};
use std::time::{Duration, Instant};

const DAS_TERN_PASSWORD: &str = "dastern_redis_password-Zq81";

fn password_file(dir: &tempfile::TempDir, pw: &str) -> String {
    let p = dir.path().join("redis.pw");
    std::fs::write(&p, format!("{pw}\n")).unwrap();
    p.to_str().unwrap().to_string()
}

/// The body shared by the das-tern configuration test and the version matrix.
async fn das_tern_configuration_exact(flavor: Flavor) {
    let server =
        RedisServer::start_flavor(flavor, &common::redis::das_tern_args(DAS_TERN_PASSWORD));
    let mut c = server.client();
    for i in 0..10 {
        let _: () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg("v")
            .query(&mut c)
            .unwrap();
    }
    let _: () = redis::cmd("SELECT").arg(1).query(&mut c).unwrap();
    let _: () = redis::cmd("SET").arg("a").arg("1").query(&mut c).unwrap();
    let _: () = redis::cmd("SETEX")
        .arg("b")
        .arg(600)
        .arg("1")
        .query(&mut c)
        .unwrap();
    drop(c);
    let tmp = tempfile::tempdir().unwrap();
    let pw = password_file(&tmp, DAS_TERN_PASSWORD);
    let url = server.url();
    let e = Exporter::start(&["--redis.addr", &url, "--redis.password-file", &pw]).await;
    // Wait until a possible start-up AOF rewrite is over, so the status fields are final.
    let m = e
        .scrape_until("no rewrite in progress", Duration::from_secs(20), |m| {
            m.get("redis_aof_rewrite_in_progress", &[]) == Some(0.0)
        })
        .await;
    let t = server.target();
    let t = [("target", t.as_str())];
    fn join<'a>(a: &[(&'a str, &'a str)], b: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        a.iter().chain(b).copied().collect()
    }
    macro_rules! with {
        ($e:expr) => {
            join(&t, $e)
        };
    }

    assert_eq!(m.value("redis_up", &t), 1.0);
    let version = server.info_field("redis_version").unwrap();
    let info = m.all("redis_instance_info", &t);
    assert_eq!(info.len(), 1);
    let l = &info[0].labels;
    assert_eq!(l["redis_version"], version);
    assert_eq!(l["role"], "master");
    assert_eq!(l["redis_mode"], "standalone");
    assert_eq!(l["maxmemory_policy"], "allkeys-lru");
    assert_eq!(l["tcp_port"], server.port.to_string());
    assert_eq!(m.value("redis_memory_max_bytes", &t), 536_870_912.0);
    assert_eq!(m.value("redis_config_maxmemory", &t), 536_870_912.0);
    assert!(m.value("redis_memory_used_bytes", &t) > 100_000.0);
    assert!(m.value("redis_uptime_in_seconds", &t) >= 0.0);
    assert_eq!(m.value("redis_evicted_keys_total", &t), 0.0);
    assert_eq!(m.value("redis_expired_keys_total", &t), 0.0);
    assert!(m.value("redis_connected_clients", &t) >= 1.0);
    assert_eq!(m.value("redis_db_keys", &with!(&[("db", "db0")])), 10.0);
    assert_eq!(m.value("redis_db_keys", &with!(&[("db", "db1")])), 2.0);
    assert_eq!(m.value("redis_db_keys", &with!(&[("db", "db15")])), 0.0);
    assert_eq!(
        m.value("redis_db_keys_expiring", &with!(&[("db", "db1")])),
        1.0
    );
    assert_eq!(m.value("redis_aof_enabled", &t), 1.0);
    assert_eq!(m.value("redis_aof_rewrite_in_progress", &t), 0.0);
    assert_eq!(m.value("redis_aof_last_write_status", &t), 1.0);
    assert_eq!(m.value("redis_aof_last_bgrewrite_status", &t), 1.0);
    assert_eq!(m.value("redis_rdb_bgsave_in_progress", &t), 0.0);
    assert_eq!(m.value("redis_rdb_last_bgsave_status", &t), 1.0);
    assert_eq!(
        m.value("redis_aof_current_size_bytes", &t),
        server
            .info_field("aof_current_size")
            .unwrap()
            .parse::<f64>()
            .unwrap()
    );
    assert_eq!(
        m.value("redis_aof_delayed_fsync", &t),
        server
            .info_field("aof_delayed_fsync")
            .unwrap()
            .parse::<f64>()
            .unwrap()
    );
    assert_eq!(
        m.value("redis_rdb_changes_since_last_save", &t),
        server
            .info_field("rdb_changes_since_last_save")
            .unwrap()
            .parse::<f64>()
            .unwrap()
    );
    assert_eq!(
        m.value("redis_rdb_last_save_timestamp_seconds", &t),
        server
            .info_field("rdb_last_save_time")
            .unwrap()
            .parse::<f64>()
            .unwrap()
    );
    assert_eq!(
        m.value("redis_rdb_last_bgsave_duration_sec", &t),
        server
            .info_field("rdb_last_bgsave_time_sec")
            .unwrap()
            .parse::<f64>()
            .unwrap()
    );
    let dir = server.dir.to_str().unwrap().to_string();
    let dir = dir.as_str();
    for (key, value) in [
        ("maxmemory-policy", "allkeys-lru"),
        ("save", "60 1000"),
        ("appendonly", "yes"),
        ("appendfsync", "everysec"),
        ("dir", dir),
        ("dbfilename", "dump.rdb"),
        ("appendfilename", "appendonly.aof"),
    ] {
        assert_eq!(
            m.get(
                "redis_config_key_value",
                &with!(&[("key", key), ("value", value)])
            ),
            Some(1.0),
            "config {key}={value} in\n{}",
            m.text
        );
    }
    // appenddirname exists since Redis 7.0 only: present where the server has it.
    let has_dirname = server.info_field("redis_version").unwrap().as_str() >= "7";
    assert_eq!(
        m.get(
            "redis_config_key_value",
            &with!(&[("key", "appenddirname"), ("value", "appendonlydir")])
        )
        .is_some(),
        has_dirname
    );
    assert_eq!(m.value("redis_config_readable", &t), 1.0);
    assert_eq!(m.value("redis_auth_required", &t), 1.0);
    assert_eq!(m.types["redis_evicted_keys_total"], "counter");
    assert_eq!(m.types["redis_up"], "gauge");
    assert!(!m.text.contains(DAS_TERN_PASSWORD));
    e.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn das_tern_configuration_redis_70() {
    das_tern_configuration_exact(Flavor::Redis70).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn das_tern_configuration_redis_62() {
    das_tern_configuration_exact(Flavor::Redis62).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn das_tern_configuration_valkey_81() {
    das_tern_configuration_exact(Flavor::Valkey81).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn persistence_off_without_password() {
    let server = RedisServer::start(&["--save", "", "--appendonly", "no"]);
    let e = Exporter::start(&["--redis.addr", &server.url()]).await;
    let m = e.scrape().await;
    let t = server.target();
    let t = t.as_str();
    assert_eq!(m.value("redis_up", &[("target", t)]), 1.0);
    assert_eq!(m.value("redis_aof_enabled", &[("target", t)]), 0.0);
    assert_eq!(
        m.get("redis_aof_current_size_bytes", &[("target", t)]),
        None
    );
    assert_eq!(
        m.value(
            "redis_config_key_value",
            &[("target", t), ("key", "save"), ("value", "")]
        ),
        1.0
    );
    assert_eq!(
        m.value(
            "redis_config_key_value",
            &[("target", t), ("key", "appendonly"), ("value", "no")]
        ),
        1.0
    );
    assert_eq!(m.value("redis_memory_max_bytes", &[("target", t)]), 0.0);
    assert_eq!(m.value("redis_auth_required", &[("target", t)]), 0.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn acl_user_without_config_permission_keeps_info() {
    let server = RedisServer::start(&[]);
    let _: () = redis::cmd("ACL")
        .arg(&[
            "SETUSER",
            "limited",
            "on",
            ">limited-pw-4417",
            "~*",
            "+@all",
            "-config",
        ])
        .query(&mut server.client())
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let pw = password_file(&tmp, "limited-pw-4417");
    let url = format!("redis://limited@127.0.0.1:{}", server.port);
    let e = Exporter::start(&["--redis.addr", &url, "--redis.password-file", &pw]).await;
    let m = e.scrape().await;
    let t = [("target", &*server.target())];
    assert_eq!(m.value("redis_up", &t), 1.0);
    assert_eq!(m.value("redis_config_readable", &t), 0.0);
    assert!(m.all("redis_config_key_value", &t).is_empty());
    assert!(m.get("redis_config_maxmemory", &t).is_none());
    // Everything from INFO is still there.
    assert!(m.value("redis_memory_used_bytes", &t) > 0.0);
    assert_eq!(m.value("redis_aof_enabled", &t), 0.0);
    assert_eq!(m.value("redis_memory_max_bytes", &t), 0.0);
    // The default user has no password: a credential-less connection is accepted.
    assert_eq!(m.value("redis_auth_required", &t), 0.0);
    let landing = e.get("/", &[]).await;
    assert!(!landing.body.contains("limited-pw-4417"));
}

#[tokio::test(flavor = "multi_thread")]
async fn real_evictions_are_counted() {
    let server = RedisServer::start(&["--maxmemory", "2mb", "--maxmemory-policy", "allkeys-lru"]);
    let mut c = server.client();
    let value = "x".repeat(1024);
    for i in 0..4000 {
        let _: () = redis::cmd("SET")
            .arg(format!("key:{i}"))
            .arg(&value)
            .query(&mut c)
            .unwrap();
    }
    let e = Exporter::start(&["--redis.addr", &server.url()]).await;
    // Redis keeps evicting in the background for a moment: bracket the scrape.
    let evicted_now = || {
        server
            .info_field("evicted_keys")
            .unwrap()
            .parse::<f64>()
            .unwrap()
    };
    let before = evicted_now();
    let m = e.scrape().await;
    let after = evicted_now();
    let t = [("target", &*server.target())];
    let evicted = m.value("redis_evicted_keys_total", &t);
    assert!(before > 0.0, "expected evictions");
    assert!(
        (before..=after).contains(&evicted),
        "{before} <= {evicted} <= {after}"
    );
    assert_eq!(m.value("redis_memory_max_bytes", &t), 2.0 * 1024.0 * 1024.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn failing_bgsave_is_reported() {
    let server = RedisServer::start(&["--save", "60 1000"]);
    let e = Exporter::start(&["--redis.addr", &server.url()]).await;
    let t = server.target();
    let t = [("target", t.as_str())];
    assert_eq!(
        e.scrape().await.value("redis_rdb_last_bgsave_status", &t),
        1.0
    );
    // Root ignores permissions, so make the save fail by removing its directory: the
    // forked child cannot create its temp file in a directory that no longer exists.
    std::fs::remove_dir_all(&server.dir).unwrap();
    let _: String = redis::cmd("BGSAVE").query(&mut server.client()).unwrap();
    let m = e
        .scrape_until("bgsave to fail", Duration::from_secs(20), |m| {
            m.get("redis_rdb_last_bgsave_status", &t) == Some(0.0)
                && m.get("redis_rdb_bgsave_in_progress", &t) == Some(0.0)
        })
        .await;
    assert_eq!(m.value("redis_up", &t), 1.0);
    std::fs::create_dir_all(&server.dir).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn down_target_is_data() {
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}");
    let e = Exporter::start(&["--redis.addr", &url]).await;
    let r = e.get("/metrics", &[]).await;
    assert_eq!(r.status, 200);
    common::promtool_check(&r.body);
    let m = common::Metrics::parse(&r.body);
    let target = format!("127.0.0.1:{port}");
    assert_eq!(m.value("redis_up", &[("target", &target)]), 0.0);
    assert_eq!(
        m.value(
            "persistence_exporter_scrape_errors_total",
            &[
                ("collector", "redis"),
                ("target", &target),
                ("reason", "connect")
            ]
        ),
        1.0
    );
    assert!(!m.has("redis_memory_used_bytes"));
}

#[tokio::test(flavor = "multi_thread")]
async fn unresponsive_target_answers_within_prometheus_timeout() {
    let hole = Blackhole::start();
    let url = format!("redis://{}", hole.addr);
    let healthy = RedisServer::start(&[]);
    let e = Exporter::start(&[
        "--redis.addr",
        &url,
        "--redis.addr",
        &healthy.url(),
        "--scrape.timeout",
        "30s",
    ])
    .await;
    let start = Instant::now();
    let r = e
        .get("/metrics", &[("X-Prometheus-Scrape-Timeout-Seconds", "2")])
        .await;
    let elapsed = start.elapsed();
    assert_eq!(r.status, 200);
    assert!(elapsed < Duration::from_millis(2500), "took {elapsed:?}");
    let m = common::Metrics::parse(&r.body);
    assert_eq!(
        m.value("redis_up", &[("target", &hole.addr.to_string())]),
        0.0
    );
    // The healthy target is not held hostage by the dead one.
    assert_eq!(
        m.value("redis_up", &[("target", &*healthy.target())]),
        1.0,
        "{}",
        m.text
    );
    assert_eq!(
        m.value(
            "persistence_exporter_scrape_errors_total",
            &[
                ("collector", "redis"),
                ("target", &hole.addr.to_string()),
                ("reason", "timeout")
            ]
        ),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn restarted_server_is_up_on_next_scrape() {
    let mut server = RedisServer::start(&[]);
    let e = Exporter::start(&["--redis.addr", &server.url()]).await;
    let t = server.target();
    let t = [("target", t.as_str())];
    assert_eq!(e.scrape().await.value("redis_up", &t), 1.0);
    server.kill();
    assert_eq!(e.scrape().await.value("redis_up", &t), 0.0);
    server.restart();
    assert_eq!(e.scrape().await.value("redis_up", &t), 1.0);
    // And once more across a restart while the kept connection looked healthy.
    server.restart();
    assert_eq!(e.scrape().await.value("redis_up", &t), 1.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn password_never_leaks() {
    let secret = "Leak-Canary-9f3b7c1e";
    let server = RedisServer::start(&["--requirepass", secret]);
    let tmp = tempfile::tempdir().unwrap();
    // Good password from a file, a wrong one in a URL, and one in REDIS_PASSWORD style URL.
    let good = password_file(&tmp, secret);
    let wrong_url = format!("redis://:{secret}-wrong@127.0.0.1:{}", server.port);
    let e1 = Exporter::start(&[
        "--redis.addr",
        &server.url(),
        "--redis.password-file",
        &good,
    ])
    .await;
    let e2 = Exporter::start(&["--redis.addr", &wrong_url, "--log.level", "debug"]).await;
    let m1 = e1.scrape().await;
    assert_eq!(m1.value("redis_up", &[("target", &*server.target())]), 1.0);
    let m2 = e2.scrape().await;
    assert_eq!(m2.value("redis_up", &[("target", &*server.target())]), 0.0);
    assert_eq!(
        m2.value(
            "persistence_exporter_scrape_errors_total",
            &[
                ("collector", "redis"),
                ("target", &*server.target()),
                ("reason", "auth")
            ]
        ),
        1.0
    );
    let landing1 = e1.get("/", &[]).await.body;
    let landing2 = e2.get("/", &[]).await.body;
    assert!(landing2.contains("authentication failed"), "{landing2}");
    for (what, text) in [
        ("metrics", m1.text.as_str()),
        ("metrics (wrong password)", m2.text.as_str()),
        ("landing page", landing1.as_str()),
        ("landing page (wrong password)", landing2.as_str()),
        ("logs", logs().as_str()),
    ] {
        assert!(
            !text.contains(secret),
            "password leaked into {what}:\n{text}"
        );
    }
    // The first failure of a target is logged as its change of state ("Target down"),
    // later ones as "Collection failed".
    let logged = logs();
    assert!(
        logged.contains("Target down") || logged.contains("Collection failed"),
        "the failure was logged"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_scrapes_share_one_collection() {
    let server = RedisServer::start(&[]);
    let e = std::sync::Arc::new(Exporter::start(&["--redis.addr", &server.url()]).await);
    e.scrape().await;
    let calls = || -> u64 {
        let text: String = redis::cmd("INFO")
            .arg("commandstats")
            .query(&mut server.client())
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("cmdstat_info:calls="))
            .and_then(|r| r.split(',').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let before = calls();
    let scrapes: Vec<_> = (0..20)
        .map(|_| {
            let e = e.clone();
            tokio::spawn(async move { e.get("/metrics", &[]).await })
        })
        .collect();
    for s in scrapes {
        let r = s.await.unwrap();
        assert_eq!(r.status, 200);
        assert!(r.body.contains("redis_up{target="));
    }
    // Minus 1: the `INFO commandstats` of `before` itself.
    let used = calls() - before - 1;
    assert!(used >= 1, "at least one collection ran");
    assert!(used <= 5, "20 concurrent scrapes cost {used} INFO calls");
}

#[tokio::test(flavor = "multi_thread")]
async fn gzip_landing_and_probes() {
    let server = RedisServer::start(&[]);
    let e = Exporter::start(&["--redis.addr", &server.url()]).await;
    let plain = e.get("/metrics", &[]).await;
    let zipped = e.get("/metrics", &[("Accept-Encoding", "gzip")]).await;
    assert_eq!(
        zipped.headers.get("content-encoding").map(String::as_str),
        Some("gzip")
    );
    assert!(zipped.raw_len * 3 < zipped.body.len(), "gzip compresses");
    assert!(!plain.headers.contains_key("content-encoding"));
    assert!(zipped.body.contains("redis_up{target="));
    assert!(plain.headers["content-type"].starts_with("text/plain; version=0.0.4"));
    let landing = e.get("/", &[]).await;
    assert_eq!(landing.status, 200);
    assert!(landing.body.contains(&server.target()));
    assert!(landing.body.contains("up ("), "{}", landing.body);
    assert!(landing.body.contains("href=\"/metrics\""));
    assert!(landing.body.contains(persistence_exporter::VERSION));
    assert_eq!(e.get("/-/healthy", &[]).await.status, 200);
    assert_eq!(e.get("/-/ready", &[]).await.status, 200);
    assert_eq!(e.get("/nope", &[]).await.status, 404);
    let m = Exporter::scrape(&e).await;
    assert_eq!(
        m.value(
            "persistence_exporter_build_info",
            &[("version", persistence_exporter::VERSION)]
        ),
        1.0
    );
    assert!(m.has("process_resident_memory_bytes"));
    assert!(
        m.get(
            "persistence_exporter_scrape_duration_seconds",
            &[("collector", "redis")]
        )
        .is_some()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_scrape_cap_answers_503() {
    let hole = Blackhole::start();
    let url = format!("redis://{}", hole.addr);
    let e = std::sync::Arc::new(
        Exporter::start(&[
            "--redis.addr",
            &url,
            "--web.max-requests",
            "1",
            "--scrape.timeout",
            "2s",
        ])
        .await,
    );
    let slow = {
        let e = e.clone();
        tokio::spawn(async move { e.get("/metrics", &[]).await })
    };
    // Let the first scrape take the only slot (it waits for the dead target).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = e.get("/metrics", &[]).await;
    assert_eq!(second.status, 503);
    // Health checks are not scrapes and are never refused.
    assert_eq!(e.get("/-/healthy", &[]).await.status, 200);
    assert_eq!(slow.await.unwrap().status, 200);
    assert_eq!(
        e.get("/metrics", &[]).await.status,
        200,
        "the slot is free again"
    );
}
