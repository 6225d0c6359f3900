//! PostgreSQL collector against real servers started by the harness as an unprivileged
//! user: the das-tern report's configuration with exact values, slow queries (in flight, counted
//! exactly from the log in every format, pg_stat_statements with bounded cardinality),
//! failure modes, secrets, privileges, TLS, and the 13–18 version matrix.

use crate::common;

use common::postgres::PgServer;
use common::{Blackhole, Exporter, Metrics, free_port, logs};
use std::time::{Duration, Instant, SystemTime};

const MONITOR_PW: &str = "mon-S3cret-7f2a!x";
const APP_PW: &str = "app-S3cret-91bc";

/// The das-tern report's PostgreSQL settings (UTF8, Asia/Phnom_Penh, max_connections 20,
/// slow-query logging at 1000 ms) plus pg_stat_statements.
fn das_tern_settings() -> Vec<(&'static str, &'static str)> {
    vec![
        ("max_connections", "20"),
        ("TimeZone", "Asia/Phnom_Penh"),
        ("log_min_duration_statement", "1000"),
        ("shared_preload_libraries", "pg_stat_statements"),
    ]
}

/// `monitor` (pg_monitor, password), `app` (password, owns `shop`), the extension.
async fn create_roles(s: &PgServer) {
    s.exec(&format!(
        "CREATE EXTENSION IF NOT EXISTS pg_stat_statements; \
         CREATE ROLE monitor LOGIN PASSWORD '{MONITOR_PW}'; GRANT pg_monitor TO monitor; \
         CREATE ROLE app LOGIN PASSWORD '{APP_PW}';"
    ))
    .await;
    s.exec("CREATE DATABASE shop OWNER app").await;
}

fn password_file(dir: &tempfile::TempDir, name: &str, pw: &str) -> String {
    let p = dir.path().join(name);
    std::fs::write(&p, format!("{pw}\n")).unwrap();
    p.to_str().unwrap().to_string()
}

/// An exporter watching `s` as `role` through `--postgres.*` flags, following its log.
async fn exporter_for(s: &PgServer, role: &str, pw: &str, tmp: &tempfile::TempDir) -> Exporter {
    let pwf = password_file(tmp, "pg.pw", pw);
    Exporter::start(&[
        "--postgres.dsn",
        &s.dsn(role, "postgres"),
        "--postgres.password-file",
        &pwf,
        "--postgres.log-file",
        s.log_file.to_str().unwrap(),
    ])
    .await
}

fn with<'a>(t: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut v = vec![("target", t)];
    v.extend_from_slice(extra);
    v
}

/// The integration body every version runs.
async fn matrix(version: u32) {
    let mut server = PgServer::start(version, &das_tern_settings());
    create_roles(&server).await;
    let tmp = tempfile::tempdir().unwrap();
    // Connected as a pg_monitor member, not a superuser.
    let e = exporter_for(&server, "monitor", MONITOR_PW, &tmp).await;
    let t = server.target("postgres");
    let t = t.as_str();

    // ---- the das-tern configuration, exact values -------------------------------------
    let m = e.scrape().await;
    let v = |name: &str, extra: &[(&str, &str)]| m.value(name, &with(t, extra));
    assert_eq!(v("pg_up", &[]), 1.0, "{}", m.text);
    assert_eq!(v("pg_settings_max_connections", &[]), 20.0);
    assert_eq!(v("pg_settings_superuser_reserved_connections", &[]), 3.0);
    assert_eq!(
        v("pg_settings_log_min_duration_statement_seconds", &[]),
        1.0
    );
    assert_eq!(
        v("pg_settings_shared_buffers_bytes", &[]),
        128.0 * 1024.0 * 1024.0
    );
    assert_eq!(v("pg_settings_checkpoint_timeout_seconds", &[]), 300.0);
    assert_eq!(
        v("pg_settings_fsync", &[]),
        0.0,
        "the harness runs fsync=off"
    );
    assert_eq!(v("pg_settings_log_min_duration_sample_seconds", &[]), -1.0);
    let info = |name: &str, value: &str| {
        m.value(
            "pg_settings_info",
            &with(t, &[("name", name), ("value", value)]),
        )
    };
    assert_eq!(info("TimeZone", "Asia/Phnom_Penh"), 1.0);
    assert_eq!(info("server_encoding", "UTF8"), 1.0);
    assert_eq!(info("synchronous_commit", "on"), 1.0);
    assert_eq!(info("wal_level", "replica"), 1.0);
    assert_eq!(info("archive_mode", "off"), 1.0);
    assert_eq!(info("logging_collector", "off"), 1.0);
    assert_eq!(info("log_destination", "stderr"), 1.0);
    assert_eq!(info("fsync", "off"), 1.0);
    // Superuser-only settings are visible to pg_monitor (pg_read_all_settings).
    assert_eq!(info("data_directory", server.data.to_str().unwrap()), 1.0);
    for name in ["log_timezone", "data_checksums", "wal_sync_method"] {
        assert_eq!(
            m.all("pg_settings_info", &with(t, &[("name", name)])).len(),
            1,
            "{name}"
        );
    }
    let ver = m.all("pg_version_info", &with(t, &[]));
    assert_eq!(ver.len(), 1);
    assert!(
        ver[0].labels["short_version"].starts_with(&format!("{version}.")),
        "{:?}",
        ver[0].labels
    );
    assert!(ver[0].labels["version"].starts_with(&format!("PostgreSQL {version}")));
    assert_eq!(m.all("pg_static", &with(t, &[])).len(), 1);
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let started = v("pg_postmaster_start_time_seconds", &[]);
    assert!(now - started < 300.0 && now >= started - 1.0, "{started}");
    assert_eq!(v("pg_in_recovery", &[]), 0.0);

    // Connections, sizes, durability.
    for state in [
        "active",
        "idle",
        "idle in transaction",
        "idle in transaction (aborted)",
        "fastpath function call",
        "disabled",
    ] {
        m.value(
            "pg_stat_activity_count",
            &with(t, &[("datname", "shop"), ("state", state)]),
        );
    }
    assert!(v("pg_database_size_bytes", &[("datname", "postgres")]) > 1e6);
    assert!(v("pg_database_size_bytes", &[("datname", "shop")]) > 1e6);
    assert!(v("pg_wal_size_bytes", &[]) >= 16.0 * 1024.0 * 1024.0);
    assert_eq!(v("pg_stat_archiver_archived_count", &[]), 0.0);
    assert_eq!(v("pg_stat_archiver_failed_count", &[]), 0.0);
    assert!(v("pg_stat_archiver_last_archive_age", &[]).is_nan());
    for c in [
        "pg_stat_bgwriter_checkpoints_timed_total",
        "pg_stat_bgwriter_checkpoints_req_total",
        "pg_stat_bgwriter_checkpoint_write_time_total",
        "pg_stat_bgwriter_checkpoint_sync_time_total",
        "pg_stat_bgwriter_buffers_checkpoint_total",
        "pg_stat_bgwriter_buffers_alloc_total",
    ] {
        assert!(v(c, &[]) >= 0.0, "{c}");
        assert_eq!(m.types[c], "counter", "{c}");
    }
    // Version gates: buffers_backend left pg_stat_bgwriter in 17; pg_stat_wal since 14.
    assert_eq!(
        m.has("pg_stat_bgwriter_buffers_backend_total"),
        version < 17,
        "buffers_backend"
    );
    assert_eq!(m.has("pg_stat_wal_records_total"), version >= 14);
    // (Before 15 the statistics collector publishes with a delay: checked again below.)
    assert!(v("pg_stat_database_xact_commit", &[("datname", "postgres")]) >= 0.0);
    assert!(v("pg_stat_database_xact_rollback", &[("datname", "postgres")]) >= 0.0);
    assert_eq!(
        v("pg_stat_database_deadlocks", &[("datname", "postgres")]),
        0.0
    );
    assert_eq!(m.types["pg_stat_database_xact_commit"], "counter");
    // The role sees everything: nothing is reported missing.
    for what in ["pg_read_all_settings", "pg_read_all_stats", "pg_ls_waldir"] {
        assert_eq!(
            v("pg_exporter_privilege_missing", &[("what", what)]),
            0.0,
            "{what}"
        );
    }
    assert_eq!(v("pg_stat_statements_available", &[]), 1.0);
    assert_eq!(v("pg_log_file_readable", &[]), 1.0);
    assert_eq!(v("pg_slow_queries_threshold_seconds", &[]), 1.0);
    assert_eq!(v("pg_slow_queries_total", &[("datname", "shop")]), 0.0);
    assert_eq!(v("pg_slow_queries_total", &[("datname", "postgres")]), 0.0);

    // ---- slow queries: in flight and counted exactly from the log --------------------
    // Run by another role: pg_monitor must see its sessions.
    let long = server.connect("app", Some(APP_PW), "postgres").await;
    let long = tokio::spawn(async move { long.batch_execute("SELECT pg_sleep(5)").await });
    let mut sleeps = Vec::new();
    for _ in 0..3 {
        let c = server.connect("app", Some(APP_PW), "shop").await;
        sleeps.push(tokio::spawn(async move {
            c.batch_execute("SELECT pg_sleep(1.2)").await
        }));
    }
    for s in sleeps {
        s.await.unwrap().unwrap();
    }
    let m = e
        .scrape_until("pg_sleep(5) in flight", Duration::from_secs(20), |m| {
            m.get("pg_slow_queries", &with(t, &[("datname", "postgres")])) == Some(1.0)
        })
        .await;
    assert!(
        m.value(
            "pg_stat_activity_max_query_duration_seconds",
            &with(t, &[("datname", "postgres")])
        ) >= 1.0
    );
    assert!(
        m.value(
            "pg_stat_activity_count",
            &with(t, &[("datname", "postgres"), ("state", "active")])
        ) >= 1.0
    );
    assert_eq!(
        m.value("pg_slow_queries", &with(t, &[("datname", "shop")])),
        0.0
    );
    let shop = [("datname", "shop")];
    let m = e
        .scrape_until("3 slow statements counted", Duration::from_secs(20), |m| {
            m.get("pg_slow_queries_total", &with(t, &shop))
                .is_some_and(|v| v >= 3.0)
        })
        .await;
    assert_eq!(m.value("pg_slow_queries_total", &with(t, &shop)), 3.0);
    assert_eq!(
        m.value("pg_slow_queries_duration_seconds_count", &with(t, &shop)),
        3.0
    );
    let bucket = |m: &Metrics, le: &str| {
        m.value(
            "pg_slow_queries_duration_seconds_bucket",
            &with(t, &[("datname", "shop"), ("le", le)]),
        )
    };
    assert_eq!(bucket(&m, "1"), 0.0);
    assert_eq!(bucket(&m, "2.5"), 3.0);
    assert!(m.value("pg_slow_queries_duration_seconds_sum", &with(t, &shop)) >= 3.6);
    long.await.unwrap().unwrap();
    let m = e
        .scrape_until("the 5 s statement counted", Duration::from_secs(20), |m| {
            m.get(
                "pg_slow_queries_total",
                &with(t, &[("datname", "postgres")]),
            ) >= Some(1.0)
        })
        .await;
    assert_eq!(
        m.value(
            "pg_slow_queries_total",
            &with(t, &[("datname", "postgres")])
        ),
        1.0
    );
    // Nothing is counted twice, however often it is scraped.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let m = e.scrape().await;
    assert_eq!(m.value("pg_slow_queries_total", &with(t, &shop)), 3.0);
    assert_eq!(
        m.value(
            "pg_slow_queries_total",
            &with(t, &[("datname", "postgres")])
        ),
        1.0
    );
    assert_eq!(
        m.value("pg_slow_queries", &with(t, &[("datname", "postgres")])),
        0.0
    );
    assert!(
        m.value(
            "pg_stat_database_xact_commit",
            &with(t, &[("datname", "shop")])
        ) >= 3.0
    );

    // ---- pg_stat_statements: 1000 distinct statements, bounded series ----------------
    let cols: Vec<String> = (1..=1000).map(|i| format!("c{i} int")).collect();
    server
        .exec(&format!("CREATE TABLE wide ({})", cols.join(", ")))
        .await;
    let selects: String = (1..=1000)
        .map(|i| format!("SELECT c{i} FROM wide;"))
        .collect();
    server.exec(&selects).await;
    let admin = server.admin("postgres").await;
    let entries: i64 = admin
        .query_one("SELECT count(*) FROM pg_stat_statements", &[])
        .await
        .unwrap()
        .get(0);
    assert!(entries >= 1000, "only {entries} entries");
    let m = e.scrape().await;
    let series = |name: &str| m.all(name, &with(t, &[])).len();
    assert_eq!(series("pg_stat_statements_calls_total"), 10);
    assert_eq!(series("pg_stat_statements_seconds_total"), 10);
    assert_eq!(series("pg_stat_statements_mean_seconds"), 10);
    assert_eq!(series("pg_stat_statements_max_seconds"), 10);
    let all_pgss = m
        .samples
        .iter()
        .filter(|s| s.name.starts_with("pg_stat_statements"))
        .count();
    let databases = m.all("pg_database_size_bytes", &with(t, &[])).len();
    assert!(
        all_pgss <= 4 * 10 + databases + 1,
        "{all_pgss} pg_stat_statements series"
    );
    for s in m.all("pg_stat_statements_calls_total", &with(t, &[])) {
        assert_eq!(
            s.labels.keys().collect::<Vec<_>>(),
            ["queryid", "target"],
            "queryid label only"
        );
    }
    // The 5 s statement is slower on average than the threshold.
    assert!(
        m.value(
            "pg_stat_statements_slow_statements",
            &with(t, &[("datname", "postgres")])
        ) >= 1.0
    );

    // ---- down, then restarted --------------------------------------------------------
    server.stop();
    let m = e.scrape().await;
    assert_eq!(m.value("pg_up", &with(t, &[])), 0.0);
    assert!(!m.has("pg_settings_max_connections"));
    server.start_again();
    let m = e.scrape().await;
    assert_eq!(
        m.value("pg_up", &with(t, &[])),
        1.0,
        "up on the next scrape"
    );
    assert_eq!(m.value("pg_slow_queries_total", &with(t, &shop)), 3.0);
    // Restarted between two scrapes: the kept connection is broken, the scrape notices,
    // reconnects and still answers.
    server.restart();
    let m = e.scrape().await;
    assert_eq!(m.value("pg_up", &with(t, &[])), 1.0, "{}", logs());
    assert_eq!(m.value("pg_settings_max_connections", &with(t, &[])), 20.0);
    e.stop().await;
}

macro_rules! version_matrix {
    ($($name:ident => $v:expr),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread")]
            async fn $name() {
                matrix($v).await;
            }
        )*
    };
}

version_matrix! {
    matrix_postgres_13 => 13,
    matrix_postgres_14 => 14,
    matrix_postgres_15 => 15,
    matrix_postgres_16 => 16,
    matrix_postgres_17 => 17,
    matrix_postgres_18 => 18,
}

#[test]
fn matrix_covers_every_version() {
    assert_eq!(common::postgres::VERSIONS, &[13, 14, 15, 16, 17, 18]);
}

#[tokio::test(flavor = "multi_thread")]
async fn down_target_is_data() {
    let port = free_port();
    let dsn = format!("postgresql://monitor@127.0.0.1:{port}/postgres?sslmode=disable");
    let e = Exporter::start(&["--postgres.dsn", &dsn]).await;
    let t = format!("127.0.0.1:{port}/postgres");
    let m = e.scrape().await;
    assert_eq!(m.value("pg_up", &[("target", &t)]), 0.0);
    assert_eq!(
        m.value(
            "persistence_exporter_scrape_errors_total",
            &[
                ("collector", "postgres"),
                ("target", &t),
                ("reason", "connect")
            ]
        ),
        1.0
    );
    e.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unresponsive_target_answers_within_prometheus_timeout() {
    let hole = Blackhole::start();
    let dsn = format!(
        "postgresql://monitor@127.0.0.1:{}/postgres?sslmode=disable",
        hole.addr.port()
    );
    let e = Exporter::start(&["--postgres.dsn", &dsn]).await;
    let t = format!("127.0.0.1:{}/postgres", hole.addr.port());
    for _ in 0..2 {
        let start = Instant::now();
        let r = e
            .get("/metrics", &[("X-Prometheus-Scrape-Timeout-Seconds", "2")])
            .await;
        let took = start.elapsed();
        assert_eq!(r.status, 200);
        assert!(took < Duration::from_millis(2500), "took {took:?}");
        common::promtool_check(&r.body);
        let m = Metrics::parse(&r.body);
        assert_eq!(m.value("pg_up", &[("target", &t)]), 0.0);
    }
    let m = e
        .scrape_with(&[("X-Prometheus-Scrape-Timeout-Seconds", "2")])
        .await;
    assert!(
        m.value(
            "persistence_exporter_scrape_errors_total",
            &[
                ("collector", "postgres"),
                ("target", &t),
                ("reason", "timeout")
            ]
        ) >= 2.0
    );
    e.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn password_never_leaks() {
    let server = PgServer::start(17, &[]);
    create_roles(&server).await;
    let wrong = "wr0ng-Passw0rd-unique-4711";
    let tmp = tempfile::tempdir().unwrap();
    let wrong_file = password_file(&tmp, "wrong.pw", wrong);
    let config = tmp.path().join("config.yml");
    // Right password inline in a URL, in key/value form, and a wrong one from a file.
    std::fs::write(
        &config,
        format!(
            "postgres:\n\
             \x20 - name: url\n\
             \x20   dsn: postgresql://monitor:{pw_url}@127.0.0.1:{port}/postgres?sslmode=disable\n\
             \x20 - name: kv\n\
             \x20   dsn: host=127.0.0.1 port={port} user=monitor password={pw} dbname=postgres sslmode=disable\n\
             \x20 - name: wrong\n\
             \x20   dsn: postgresql://monitor@127.0.0.1:{port}/postgres\n\
             \x20   password_file: {wrong_file}\n\
             \x20   sslmode: disable\n",
            pw_url = MONITOR_PW.replace('!', "%21"),
            pw = MONITOR_PW,
            port = server.port,
        ),
    )
    .unwrap();
    let e = Exporter::start(&["--config.file", config.to_str().unwrap()]).await;
    let m = e.scrape().await;
    assert_eq!(m.value("pg_up", &[("target", "url")]), 1.0, "{}", logs());
    assert_eq!(m.value("pg_up", &[("target", "kv")]), 1.0);
    assert_eq!(m.value("pg_up", &[("target", "wrong")]), 0.0);
    assert_eq!(
        m.value(
            "persistence_exporter_scrape_errors_total",
            &[
                ("collector", "postgres"),
                ("target", "wrong"),
                ("reason", "auth")
            ]
        ),
        1.0
    );
    let landing = e.get("/", &[]).await;
    assert_eq!(landing.status, 200);
    let everything = format!("{}\n{}\n{}", m.text, landing.body, logs());
    assert!(
        everything.contains("password authentication failed"),
        "the auth failure is reported:\n{everything}"
    );
    for secret in [MONITOR_PW, "mon-S3cret-7f2a%21x", wrong] {
        assert!(
            !everything.contains(secret),
            "{secret} leaked:\n{everything}"
        );
    }
    e.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn role_without_pg_monitor_reports_what_it_cannot_see() {
    // pg_stat_statements installed but not preloaded: readable never, reported, retried
    // rarely (each try is an ERROR in the server's log).
    let server = PgServer::start(16, &[("log_min_duration_statement", "-1")]);
    create_roles(&server).await;
    server
        .exec("CREATE ROLE plain LOGIN PASSWORD 'plain-pw-31337'")
        .await;
    let tmp = tempfile::tempdir().unwrap();
    let pwf = password_file(&tmp, "plain.pw", "plain-pw-31337");
    let e = Exporter::start(&[
        "--postgres.dsn",
        &server.dsn("plain", "postgres"),
        "--postgres.password-file",
        &pwf,
        "--postgres.slow-query-threshold",
        "500ms",
    ])
    .await;
    let t = server.target("postgres");
    let t = t.as_str();
    let m = e.scrape().await;
    assert_eq!(m.value("pg_up", &with(t, &[])), 1.0, "{}", logs());
    for what in ["pg_read_all_settings", "pg_read_all_stats", "pg_ls_waldir"] {
        assert_eq!(
            m.value("pg_exporter_privilege_missing", &with(t, &[("what", what)])),
            1.0,
            "{what}"
        );
    }
    // What it cannot know is absent, never zero.
    assert!(!m.has("pg_wal_size_bytes"));
    assert!(
        m.all("pg_settings_info", &with(t, &[("name", "data_directory")]))
            .is_empty()
    );
    assert_eq!(m.value("pg_settings_max_connections", &with(t, &[])), 100.0);
    // log_min_duration_statement is off: the configured default applies.
    assert_eq!(
        m.value(
            "pg_settings_log_min_duration_statement_seconds",
            &with(t, &[])
        ),
        -1.0
    );
    assert_eq!(
        m.value("pg_slow_queries_threshold_seconds", &with(t, &[])),
        0.5
    );
    // No log file configured: no counter pretending to be zero.
    assert!(!m.has("pg_slow_queries_total"));
    assert!(!m.has("pg_log_file_readable"));
    assert_eq!(m.value("pg_stat_statements_available", &with(t, &[])), 0.0);
    assert!(logs().contains("lacks privileges"), "{}", logs());
    assert!(logs().contains("pg_stat_statements"));
    for _ in 0..3 {
        let m = e.scrape().await;
        assert_eq!(m.value("pg_up", &with(t, &[])), 1.0);
    }
    let errors = server
        .log()
        .matches("pg_stat_statements must be loaded")
        .count();
    assert_eq!(errors, 1, "retried every scrape:\n{}", server.log());
    e.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn csvlog_and_jsonlog_are_counted() {
    // jsonlog exists since 15; one server writes all three formats (into data/log/).
    let server = PgServer::start(
        17,
        &[
            ("log_min_duration_statement", "1000"),
            ("logging_collector", "on"),
            ("log_destination", "stderr,csvlog,jsonlog"),
            ("log_filename", "pg.log"),
            ("log_directory", "log"),
        ],
    );
    create_roles(&server).await;
    let logdir = server.data.join("log");
    let tmp = tempfile::tempdir().unwrap();
    let pwf = password_file(&tmp, "m.pw", MONITOR_PW);
    let config = tmp.path().join("config.yml");
    let mut yaml = String::from("postgres:\n");
    for (name, file) in [("stderr", "pg.log"), ("csv", "pg.csv"), ("json", "pg.json")] {
        yaml.push_str(&format!(
            "  - name: {name}\n    dsn: {dsn}\n    password_file: {pwf}\n    log_file: {log}\n",
            dsn = server.dsn("monitor", "postgres"),
            log = logdir.join(file).display(),
        ));
    }
    std::fs::write(&config, yaml).unwrap();
    let e = Exporter::start(&["--config.file", config.to_str().unwrap()]).await;
    // Logged after the exporter started but before its first scrape (so before it knows
    // the server's log_line_prefix): still counted, and attributed to the database.
    let mut sleeps = Vec::new();
    for _ in 0..2 {
        let c = server.connect("app", Some(APP_PW), "shop").await;
        sleeps.push(tokio::spawn(async move {
            // A multi-line statement: csvlog quotes the newline, stderr continues with a tab.
            c.batch_execute("SELECT pg_sleep(1.1),\n  'a \"quoted\" text, with commas'")
                .await
        }));
    }
    for s in sleeps {
        s.await.unwrap().unwrap();
    }
    let m = e.scrape().await;
    for t in ["stderr", "csv", "json"] {
        assert_eq!(
            m.value("pg_log_file_readable", &[("target", t)]),
            1.0,
            "{t}"
        );
    }
    let m = e
        .scrape_until(
            "2 slow statements in every format",
            Duration::from_secs(20),
            |m| {
                ["stderr", "csv", "json"].iter().all(|t| {
                    m.get(
                        "pg_slow_queries_total",
                        &[("target", t), ("datname", "shop")],
                    ) >= Some(2.0)
                })
            },
        )
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let m2 = e.scrape().await;
    for t in ["stderr", "csv", "json"] {
        for m in [&m, &m2] {
            assert_eq!(
                m.value(
                    "pg_slow_queries_total",
                    &[("target", t), ("datname", "shop")]
                ),
                2.0,
                "{t}"
            );
        }
    }
    e.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn truncated_log_and_prefix_without_database() {
    // No %d in the prefix: counts go to datname="". copytruncate in between.
    let server = PgServer::start(
        15,
        &[
            ("log_min_duration_statement", "1000"),
            ("log_line_prefix", "%m [%p] "),
        ],
    );
    create_roles(&server).await;
    let tmp = tempfile::tempdir().unwrap();
    let e = exporter_for(&server, "monitor", MONITOR_PW, &tmp).await;
    let t = server.target("postgres");
    let unattributed = [("target", t.as_str()), ("datname", "")];
    let m = e.scrape().await;
    assert_eq!(m.value("pg_slow_queries_total", &unattributed), 0.0);
    let c = server.connect("app", Some(APP_PW), "shop").await;
    c.batch_execute("SELECT pg_sleep(1.1)").await.unwrap();
    e.scrape_until("1 slow statement", Duration::from_secs(20), |m| {
        m.get("pg_slow_queries_total", &unattributed) == Some(1.0)
    })
    .await;
    // logrotate copytruncate: the server keeps appending to the same (emptied) file.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&server.log_file)
        .unwrap()
        .set_len(0)
        .unwrap();
    e.scrape().await;
    c.batch_execute("SELECT pg_sleep(1.1)").await.unwrap();
    c.batch_execute("SELECT pg_sleep(1.1)").await.unwrap();
    let m = e
        .scrape_until("3 slow statements", Duration::from_secs(20), |m| {
            m.get("pg_slow_queries_total", &unattributed) >= Some(3.0)
        })
        .await;
    assert_eq!(m.value("pg_slow_queries_total", &unattributed), 3.0);
    assert_eq!(
        m.value(
            "pg_slow_queries_total",
            &[("target", t.as_str()), ("datname", "shop")]
        ),
        0.0
    );
    e.stop().await;
}

/// A CA and a server certificate for `localhost` (not for 127.0.0.1).
fn certificates() -> (String, String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let ca = |cn: &str| {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, cn);
        CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap()
    };
    let good = ca("pe test CA");
    let other = ca("some other CA");
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    p.distinguished_name.push(DnType::CommonName, "localhost");
    let cert = p.signed_by(&key, &good).unwrap();
    (good.pem(), other.pem(), cert.pem(), key.serialize_pem())
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_modes() {
    let (ca, other_ca, cert, key) = certificates();
    let server = PgServer::start_with(
        17,
        &[
            ("ssl", "on"),
            ("ssl_cert_file", "server.crt"),
            ("ssl_key_file", "server.key"),
        ],
        |s| {
            s.write_private("data/server.crt", cert.as_bytes(), 0o644);
            s.write_private("data/server.key", key.as_bytes(), 0o600);
            // The exporter's role may only come in over TLS.
            std::fs::write(
                s.data.join("pg_hba.conf"),
                "local all all trust\n\
                 host all postgres 127.0.0.1/32 trust\n\
                 hostssl all monitor 127.0.0.1/32 scram-sha-256\n\
                 hostnossl all monitor 127.0.0.1/32 reject\n\
                 host all all 127.0.0.1/32 scram-sha-256\n",
            )
            .unwrap();
        },
    );
    create_roles(&server).await;
    let tmp = tempfile::tempdir().unwrap();
    let ca_file = tmp.path().join("ca.pem");
    std::fs::write(&ca_file, &ca).unwrap();
    let other_file = tmp.path().join("other.pem");
    std::fs::write(&other_file, &other_ca).unwrap();
    let pwf = password_file(&tmp, "m.pw", MONITOR_PW);
    let port = server.port;
    // (name, host, sslmode, CA file, expected pg_up)
    let cases: &[(&str, &str, &str, Option<&std::path::Path>, f64)] = &[
        ("disable", "127.0.0.1", "disable", None, 0.0),
        ("prefer", "127.0.0.1", "prefer", None, 1.0),
        ("require", "127.0.0.1", "require", None, 1.0),
        ("require-ca", "127.0.0.1", "require", Some(&ca_file), 1.0),
        (
            "require-other-ca",
            "127.0.0.1",
            "require",
            Some(&other_file),
            0.0,
        ),
        ("verify-ca", "127.0.0.1", "verify-ca", Some(&ca_file), 1.0),
        (
            "verify-ca-other",
            "127.0.0.1",
            "verify-ca",
            Some(&other_file),
            0.0,
        ),
        (
            "verify-full",
            "localhost",
            "verify-full",
            Some(&ca_file),
            1.0,
        ),
        (
            "verify-full-ip",
            "127.0.0.1",
            "verify-full",
            Some(&ca_file),
            0.0,
        ),
    ];
    let mut yaml = String::from("postgres:\n");
    for (name, host, mode, ca, _) in cases {
        yaml.push_str(&format!(
            "  - name: {name}\n    dsn: postgresql://monitor@{host}:{port}/postgres\n    password_file: {pwf}\n    sslmode: {mode}\n    timeout: 3s\n"
        ));
        if let Some(ca) = ca {
            yaml.push_str(&format!("    ca_file: {}\n", ca.display()));
        }
    }
    let config = tmp.path().join("config.yml");
    std::fs::write(&config, yaml).unwrap();
    let e = Exporter::start(&["--config.file", config.to_str().unwrap()]).await;
    let m = e.scrape().await;
    for (name, _, _, _, up) in cases {
        assert_eq!(
            m.value("pg_up", &[("target", name)]),
            *up,
            "{name}:\n{}",
            logs()
        );
    }
    // The connections really are encrypted.
    let admin = server.admin("postgres").await;
    let ssl: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.usename = 'monitor' AND s.ssl",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(ssl >= 5, "{ssl} TLS sessions");
    e.stop().await;
}

/// Database sizes leave the scrape path: the first scrape reads them itself, later scrapes
/// serve the background refresh (so a database created since is sized only by the next
/// refresh), with its age and duration; a dropped database disappears at once.
#[tokio::test(flavor = "multi_thread")]
async fn database_sizes_are_refreshed_in_the_background() {
    let server = PgServer::start(16, &[]);
    create_roles(&server).await;
    let tmp = tempfile::tempdir().unwrap();
    let pwf = password_file(&tmp, "pg.pw", MONITOR_PW);
    let e = Exporter::start(&[
        "--postgres.dsn",
        &server.dsn("monitor", "postgres"),
        "--postgres.password-file",
        &pwf,
        "--postgres.size-interval",
        "4s",
    ])
    .await;
    let m = e.scrape().await;
    let target = m
        .all("pg_up", &[])
        .first()
        .map(|s| s.labels.get("target").cloned().unwrap_or_default())
        .unwrap();
    let l = |d: &'static str| vec![("target", target.as_str()), ("datname", d)];
    assert!(
        m.value("pg_database_size_bytes", &l("shop")) > 0.0,
        "{}",
        logs()
    );
    let age = "persistence_exporter_postgres_size_refresh_age_seconds";
    let took = "persistence_exporter_postgres_size_refresh_duration_seconds";
    let t1 = [("target", target.as_str())];
    assert!(m.value(age, &t1) < 4.0);
    assert!(m.value(took, &t1) > 0.0);

    server.exec("CREATE DATABASE fresh").await;
    let m = e.scrape().await;
    assert!(
        m.get("pg_database_size_bytes", &l("fresh")).is_none(),
        "the scrape served the refresh, not pg_database_size():\n{}",
        m.text
    );
    assert!(m.value("pg_database_size_bytes", &l("shop")) > 0.0);

    // The background refresh sizes it within the interval (plus one refresh).
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let m = e.scrape().await;
        assert!(
            m.value(age, &t1) <= 4.0 + 5.0,
            "never older than the interval plus one refresh"
        );
        if m.get("pg_database_size_bytes", &l("fresh")).is_some() {
            assert!(m.value(age, &t1) < 4.0, "{}", m.text);
            break;
        }
        assert!(Instant::now() < until, "never refreshed: {}", logs());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    server.exec("DROP DATABASE fresh").await;
    let m = e.scrape().await;
    assert!(m.get("pg_database_size_bytes", &l("fresh")).is_none());
    assert!(m.value("pg_database_size_bytes", &l("shop")) > 0.0);
}

/// Settings are kept between scrapes and read again after a reload: a changed setting and
/// the slow-query threshold derived from `log_min_duration_statement` both follow.
#[tokio::test(flavor = "multi_thread")]
async fn settings_follow_a_reload() {
    let server = PgServer::start(13, &[]);
    create_roles(&server).await;
    let tmp = tempfile::tempdir().unwrap();
    let e = exporter_for(&server, "monitor", MONITOR_PW, &tmp).await;
    let m = e.scrape().await;
    let target = m
        .all("pg_up", &[])
        .first()
        .map(|s| s.labels.get("target").cloned().unwrap_or_default())
        .unwrap();
    let t = [("target", target.as_str())];
    assert_eq!(
        m.value("pg_settings_work_mem_bytes", &t),
        4.0 * 1024.0 * 1024.0
    );
    assert_eq!(m.value("pg_slow_queries_threshold_seconds", &t), 1.0);
    let again = e.scrape().await;
    assert_eq!(
        again.value("pg_settings_work_mem_bytes", &t),
        4.0 * 1024.0 * 1024.0
    );
    assert!(again.has("pg_settings_info"), "kept settings are served");
    assert_eq!(again.value("pg_settings_pending_restart", &t), 0.0);

    server.exec("ALTER SYSTEM SET work_mem = '7MB'").await;
    // Takes effect only at a restart: the reload marks it pending.
    server.exec("ALTER SYSTEM SET max_connections = 90").await;
    server
        .exec("ALTER SYSTEM SET log_min_duration_statement = 250")
        .await;
    server.exec("SELECT pg_reload_conf()").await;
    let until = Instant::now() + Duration::from_secs(15);
    loop {
        let m = e.scrape().await;
        if m.value("pg_settings_work_mem_bytes", &t) == 7.0 * 1024.0 * 1024.0 {
            // The threshold is written into the statement from the previous scrape's
            // settings: it follows one scrape later.
            let m = e.scrape().await;
            assert_eq!(
                m.value("pg_slow_queries_threshold_seconds", &t),
                0.25,
                "{}",
                m.text
            );
            assert_eq!(m.value("pg_settings_pending_restart", &t), 1.0);
            assert_eq!(
                m.value(
                    "pg_settings_pending_restart_info",
                    &[("target", target.as_str()), ("name", "max_connections")]
                ),
                1.0
            );
            break;
        }
        assert!(Instant::now() < until, "settings never re-read: {}", m.text);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
