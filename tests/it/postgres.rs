//! PostgreSQL collector against real servers started by the harness as an unprivileged
//! user: the das-tern report's configuration with exact values, slow queries (in flight, counted
//! exactly from the log in every format, pg_stat_statements with bounded cardinality),
//! failure modes, secrets, privileges, TLS, and the 13–18 version matrix.

use crate::common;

use common::postgres::PgServer;
use common::{Blackhole, Exporter, Metrics, free_port, logs};
use std::time::{Duration, Instant, SystemTime};

mod matrix;
use matrix::matrix;

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
