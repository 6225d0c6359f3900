//! Shipping features with real clients: `--web.config.file` (TLS, client certificates,
//! basic auth) with curl and a real Prometheus, `/probe` against several real Redis and
//! PostgreSQL servers, and live reload (`POST /-/reload`, SIGHUP).

use crate::common;

use common::postgres::PgServer;
use common::prometheus::Prometheus;
use common::redis::RedisServer;
use common::{Exporter, free_port};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let run = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(d)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=pe-test-ca",
        ]);
        std::fs::write(
            d.join("san.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .unwrap();
        for name in ["server", "client"] {
            run(&[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
                "-subj",
                &format!("/CN={name}"),
            ]);
            run(&[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &format!("{name}.crt"),
                "-days",
                "2",
                "-extfile",
                "san.ext",
            ]);
        }
        Pki { dir }
    }
    fn path(&self, f: &str) -> String {
        self.dir.path().join(f).to_str().unwrap().to_string()
    }
}

fn web_config(dir: &Path, content: &str) -> String {
    let p = dir.join("web.yml");
    std::fs::write(&p, content).unwrap();
    p.to_str().unwrap().to_string()
}

/// Runs curl; returns (exit code, HTTP status or 0, body).
fn curl(args: &[&str]) -> (i32, u16, String) {
    let out = Command::new("curl")
        .args(["-s", "-m", "10", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (
        out.status.code().unwrap_or(-1),
        code.trim().parse().unwrap_or(0),
        body.to_string(),
    )
}

async fn curl_async(args: Vec<String>) -> (i32, u16, String) {
    tokio::task::spawn_blocking(move || curl(&args.iter().map(String::as_str).collect::<Vec<_>>()))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_only() {
    let pki = Pki::new();
    let redis = RedisServer::start(&[]);
    let cfg = web_config(
        pki.dir.path(),
        &format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
            pki.path("server.crt"),
            pki.path("server.key")
        ),
    );
    let e = Exporter::start(&["--web.config.file", &cfg, "--redis.addr", &redis.url()]).await;
    let url = format!("https://127.0.0.1:{}/metrics", e.addr.port());
    let (rc, status, body) = curl_async(vec!["--cacert".into(), pki.path("ca.crt"), url]).await;
    assert_eq!((rc, status), (0, 200));
    assert!(body.contains("redis_up{target="));
    // Plain HTTP to the TLS listener is refused.
    let (rc, status, _) =
        curl_async(vec![format!("http://127.0.0.1:{}/metrics", e.addr.port())]).await;
    assert!(
        rc != 0 || status != 200,
        "plain HTTP got through: {rc} {status}"
    );
    // And a client that does not trust the CA fails the handshake.
    let (rc, _, _) = curl_async(vec![format!("https://127.0.0.1:{}/metrics", e.addr.port())]).await;
    assert_ne!(rc, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn basic_auth_only() {
    let dir = tempfile::tempdir().unwrap();
    let hash = bcrypt::hash("s3cret-web-pw", 6).unwrap();
    let cfg = web_config(
        dir.path(),
        &format!("basic_auth_users:\n  prometheus: '{hash}'\n"),
    );
    let redis = RedisServer::start(&[]);
    let e = Exporter::start(&["--web.config.file", &cfg, "--redis.addr", &redis.url()]).await;
    let url = format!("http://127.0.0.1:{}/metrics", e.addr.port());
    let (_, status, body) = curl_async(vec![
        "-u".into(),
        "prometheus:s3cret-web-pw".into(),
        url.clone(),
    ])
    .await;
    assert_eq!(status, 200);
    assert!(body.contains("redis_up"));
    let (_, status, _) =
        curl_async(vec!["-u".into(), "prometheus:wrong".into(), url.clone()]).await;
    assert_eq!(status, 401);
    let (_, status, _) = curl_async(vec![
        "-u".into(),
        "someone:s3cret-web-pw".into(),
        url.clone(),
    ])
    .await;
    assert_eq!(status, 401);
    let (_, status, _) = curl_async(vec![url.clone()]).await;
    assert_eq!(status, 401);
    let (_, status, _) = curl_async(vec![format!("http://127.0.0.1:{}/", e.addr.port())]).await;
    assert_eq!(status, 401, "the landing page is protected too");
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_with_client_certificates_and_basic_auth() {
    let pki = Pki::new();
    let hash = bcrypt::hash("pw-both", 6).unwrap();
    let cfg = web_config(
        pki.dir.path(),
        &format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\nbasic_auth_users:\n  prom: '{hash}'\n"
        ),
    );
    let redis = RedisServer::start(&[]);
    let e = Exporter::start(&["--web.config.file", &cfg, "--redis.addr", &redis.url()]).await;
    let url = format!("https://127.0.0.1:{}/metrics", e.addr.port());
    let with_cert = |auth: &str| {
        vec![
            "--cacert".to_string(),
            pki.path("ca.crt"),
            "--cert".into(),
            pki.path("client.crt"),
            "--key".into(),
            pki.path("client.key"),
            "-u".into(),
            auth.to_string(),
            url.clone(),
        ]
    };
    let (rc, status, _) = curl_async(with_cert("prom:pw-both")).await;
    assert_eq!((rc, status), (0, 200));
    let (_, status, _) = curl_async(with_cert("prom:nope")).await;
    assert_eq!(status, 401);
    // No client certificate: the handshake is refused.
    let (rc, status, _) = curl_async(vec![
        "--cacert".into(),
        pki.path("ca.crt"),
        "-u".into(),
        "prom:pw-both".into(),
        url.clone(),
    ])
    .await;
    assert!(rc != 0 || status != 200, "{rc} {status}");

    // A real Prometheus scrapes it with basic_auth and tls_config.
    let prom_dir = tempfile::tempdir().unwrap();
    let prom_cfg = prom_dir.path().join("prometheus.yml");
    std::fs::write(
        &prom_cfg,
        format!(
            "global: {{scrape_interval: 1s}}\nscrape_configs:\n  - job_name: persistence_exporter\n    scheme: https\n    basic_auth: {{username: prom, password: pw-both}}\n    tls_config: {{ca_file: {}, cert_file: {}, key_file: {}}}\n    static_configs: [{{targets: ['127.0.0.1:{}']}}]\n",
            pki.path("ca.crt"), pki.path("client.crt"), pki.path("client.key"), e.addr.port()
        ),
    )
    .unwrap();
    let prom = Prometheus::start(prom_dir.path(), &prom_cfg).await;
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let up = prom
            .query("up{job=\"persistence_exporter\"}", None)
            .await
            .unwrap_or_default();
        if up.first().is_some_and(|s| s["value"][1] == "1") {
            break;
        }
        assert!(
            Instant::now() < until,
            "Prometheus did not scrape successfully: {up:?}\n{}",
            prom.log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[test]
fn bad_web_config_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = web_config(
        dir.path(),
        "basic_auth_users:\n  alice: not-a-hash\ntls_server_config:\n  cert_file: /nonexistent.crt\n  key_file: /nonexistent.key\n",
    );
    let err = common::config_error(
        Command::new(env!("CARGO_BIN_EXE_persistence_exporter")).args([
            "--web.config.file",
            &cfg,
            "--redis.addr",
            "redis://127.0.0.1:1",
            "--config.check",
        ]),
    );
    assert!(
        err.contains("not a bcrypt hash") && err.contains("cert_file"),
        "{err}"
    );
}

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

#[tokio::test(flavor = "multi_thread")]
async fn probe_many_targets_with_credentials_in_modules() {
    let redis_pw = "probe-redis-pw-771";
    let r1 = RedisServer::start(&["--requirepass", redis_pw]);
    let r2 = RedisServer::start(&["--requirepass", redis_pw]);
    let r3 = RedisServer::start(&["--requirepass", redis_pw, "--appendonly", "yes"]);
    let pg1 = PgServer::start(17, &[]);
    let pg2 = PgServer::start(16, &[]);
    let dir = tempfile::tempdir().unwrap();
    let pwf = write(dir.path(), "redis.pw", redis_pw);
    let cfg = write(
        dir.path(),
        "c.yml",
        &format!(
            "probe:\n  allowed_targets: ['127.0.0.1:*']\n  modules:\n    redis_prod:\n      kind: redis\n      password_file: {}\n      profile: cache\n    pg_monitor:\n      kind: postgres\n      user: postgres\n      database: postgres\n      sslmode: disable\n",
            pwf.display()
        ),
    );
    let e = Exporter::start(&["--config.file", cfg.to_str().unwrap()]).await;
    // No configured targets: /metrics has only the exporter's own metrics.
    let own = e.scrape().await;
    assert!(!own.has("redis_up"));
    for r in [&r1, &r2, &r3] {
        let resp = e
            .get(
                &format!("/probe?target=127.0.0.1:{}&module=redis_prod", r.port),
                &[],
            )
            .await;
        assert_eq!(resp.status, 200);
        common::promtool_check(&resp.body);
        let m = common::Metrics::parse(&resp.body);
        assert_eq!(m.value("redis_up", &[("target", &r.target())]), 1.0);
        assert!(!resp.body.contains(redis_pw));
        assert_eq!(
            m.value(
                "persistence_checks_failing",
                &[("target", &r.target()), ("severity", "critical")]
            ),
            0.0
        );
    }
    let m3 = common::Metrics::parse(
        &e.get(
            &format!("/probe?target=127.0.0.1:{}&module=redis_prod", r3.port),
            &[],
        )
        .await
        .body,
    );
    assert_eq!(m3.value("redis_aof_enabled", &[]), 1.0);
    for pg in [&pg1, &pg2] {
        let resp = e
            .get(
                &format!("/probe?target=127.0.0.1:{}&module=pg_monitor", pg.port),
                &[],
            )
            .await;
        assert_eq!(resp.status, 200, "{}", resp.body);
        let m = common::Metrics::parse(&resp.body);
        assert_eq!(
            m.value("pg_up", &[("target", &format!("127.0.0.1:{}", pg.port))]),
            1.0,
            "{}",
            resp.body
        );
    }
    // Refusals.
    let unknown = e
        .get(
            &format!("/probe?target=127.0.0.1:{}&module=nope", r1.port),
            &[],
        )
        .await;
    assert_eq!(unknown.status, 400);
    let outside = e
        .get("/probe?target=10.1.2.3:6379&module=redis_prod", &[])
        .await;
    assert_eq!(outside.status, 403);
    let creds = e
        .get(
            &format!(
                "/probe?target=user:pw@127.0.0.1:{}&module=redis_prod",
                r1.port
            ),
            &[],
        )
        .await;
    assert_eq!(creds.status, 400);
    let missing = e.get("/probe?module=redis_prod", &[]).await;
    assert_eq!(missing.status, 400);
    let landing = e.get("/", &[]).await;
    assert!(!landing.body.contains(redis_pw));
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_over_http_needs_the_lifecycle_flag() {
    let b = RedisServer::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let cfg_path = dir.path().join("c.yml");
    std::fs::write(
        &cfg_path,
        "probe: {allowed_targets: ['127.0.0.1:*'], modules: {}}\n",
    )
    .unwrap();
    let e = Exporter::start(&["--config.file", cfg_path.to_str().unwrap()]).await;
    std::fs::write(
        &cfg_path,
        format!("redis:\n  - name: b\n    addr: {}\n", b.url()),
    )
    .unwrap();
    for method in ["POST", "PUT"] {
        let url = format!("http://{}/-/reload", e.addr);
        let (_, status, body) = curl_async(vec!["-X".into(), method.into(), url]).await;
        assert_eq!(status, 403, "{method}: {body}");
        assert!(body.contains("--web.enable-lifecycle"), "{body}");
    }
    let m = e.scrape().await;
    assert_eq!(
        m.get("redis_up", &[("target", "b")]),
        None,
        "reloaded anyway"
    );
    assert_eq!(
        m.value("persistence_exporter_config_last_reload_successful", &[]),
        1.0
    );
}

/// The exporter binary on a free port with a config of no targets (probe only), `env`
/// set and stderr discarded; the caller waits for it and kills it.
fn spawn_binary(dir: &std::path::Path, env: &[(&str, &str)]) -> (std::process::Child, u16) {
    let cfg = common::write_config(
        dir,
        "probe: {allowed_targets: ['127.0.0.1:*'], modules: {}}\n",
    );
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_persistence_exporter"))
        .args([
            "--web.listen-address",
            &format!("127.0.0.1:{port}"),
            "--config.file",
            cfg.to_str().unwrap(),
        ])
        .envs(env.iter().copied())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    (child, port)
}

/// The env var turns the endpoint on for the binary, too.
#[test]
fn lifecycle_env_var_enables_reload() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, port) = spawn_binary(
        dir.path(),
        &[("PERSISTENCE_EXPORTER_WEB_ENABLE_LIFECYCLE", "true")],
    );
    let url = format!("http://127.0.0.1:{port}/-/reload");
    let until = Instant::now() + Duration::from_secs(10);
    let status = loop {
        let s = curl(&["-X", "POST", &url]).1;
        if s != 0 || Instant::now() > until {
            break s;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_scrape_timeout_headers_still_get_a_scrape() {
    let redis = RedisServer::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "c.yml",
        &format!(
            "redis:\n  - name: r\n    addr: {}\nprobe:\n  allowed_targets: ['127.0.0.1']\n  modules:\n    r: {{kind: redis}}\n",
            redis.url()
        ),
    );
    let e = Exporter::start(&["--config.file", cfg.to_str().unwrap()]).await;
    let header = "X-Prometheus-Scrape-Timeout-Seconds";
    for h in [
        "1e300",
        "1.8e19",
        "18446744073709551616",
        "inf",
        "NaN",
        "-5",
        "0",
        "x",
    ] {
        let m = e.scrape_with(&[(header, h)]).await;
        assert_eq!(m.value("redis_up", &[("target", "r")]), 1.0, "{h}");
        let resp = e
            .get(
                &format!("/probe?module=r&target={}", redis.target()),
                &[(header, h)],
            )
            .await;
        assert_eq!(resp.status, 200, "{h}: {}", resp.body);
        assert_eq!(
            common::Metrics::parse(&resp.body).value("redis_up", &[]),
            1.0,
            "{h}"
        );
    }
    // A tiny one still answers (within the budget, whatever the outcome).
    let r = e.get("/metrics", &[(header, "1e-300")]).await;
    assert_eq!(r.status, 200);
}

async fn post(e: &Exporter, path: &str) -> (u16, String) {
    let url = format!("http://{}{path}", e.addr);
    let (_, status, body) = curl_async(vec!["-X".into(), "POST".into(), url]).await;
    (status, body)
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_good_bad_and_rotated_password() {
    let pw1 = "reload-pw-one";
    let pw2 = "reload-pw-two";
    let a = RedisServer::start(&["--requirepass", pw1]);
    let b = RedisServer::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let pwf = write(dir.path(), "a.pw", pw1);
    let cfg_path = dir.path().join("c.yml");
    let only_a = format!(
        "redis:\n  - name: a\n    addr: {}\n    password_file: {}\n",
        a.url(),
        pwf.display()
    );
    std::fs::write(&cfg_path, &only_a).unwrap();
    let e = Exporter::start(&[
        "--config.file",
        cfg_path.to_str().unwrap(),
        "--web.enable-lifecycle",
    ])
    .await;
    let m = e.scrape().await;
    assert_eq!(m.value("redis_up", &[("target", "a")]), 1.0);
    assert_eq!(
        m.value("persistence_exporter_config_last_reload_successful", &[]),
        1.0
    );
    let t0 = m.value(
        "persistence_exporter_config_last_reload_success_timestamp_seconds",
        &[],
    );

    // A good new config: a new target appears.
    std::fs::write(
        &cfg_path,
        format!("{only_a}  - name: b\n    addr: {}\n", b.url()),
    )
    .unwrap();
    let (status, _) = post(&e, "/-/reload").await;
    assert_eq!(status, 200);
    let m = e.scrape().await;
    assert_eq!(m.value("redis_up", &[("target", "b")]), 1.0);
    assert!(
        m.value(
            "persistence_exporter_config_last_reload_success_timestamp_seconds",
            &[]
        ) >= t0
    );

    // A bad one: rejected, the running one stays, the metric says so.
    std::fs::write(
        &cfg_path,
        "redis:\n  - name: broken\n    addr: http://nope\n    colour: red\n",
    )
    .unwrap();
    let (status, body) = post(&e, "/-/reload").await;
    assert_eq!(status, 500);
    // The caller learns only that it failed; the details are in the log.
    assert!(body.contains("see the exporter's log"), "{body}");
    assert!(
        !body.contains("colour") && !body.contains("http://nope") && !body.contains("broken"),
        "the reply echoes the config errors: {body}"
    );
    assert!(common::logs().contains("colour"));
    let m = e.scrape().await;
    assert_eq!(m.value("redis_up", &[("target", "a")]), 1.0);
    assert_eq!(m.value("redis_up", &[("target", "b")]), 1.0);
    assert_eq!(
        m.value("persistence_exporter_config_last_reload_successful", &[]),
        0.0
    );
    assert!(common::logs().contains("Reload rejected"));

    // A rotated password: the server changes it, the file follows, a reload picks it up.
    std::fs::write(&cfg_path, &only_a).unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg(pw2)
        .query(&mut a.client())
        .unwrap();
    std::fs::write(&pwf, pw2).unwrap();
    let (status, _) = post(&e, "/-/reload").await;
    assert_eq!(status, 200);
    let m = e.scrape().await;
    assert_eq!(m.value("redis_up", &[("target", "a")]), 1.0);
    assert_eq!(
        m.get("redis_up", &[("target", "b")]),
        None,
        "b left the config"
    );
    assert_eq!(
        m.value("persistence_exporter_config_last_reload_successful", &[]),
        1.0
    );
    assert!(!m.text.contains(pw1) && !m.text.contains(pw2));
    let (_, status, _) = curl_async(vec![format!("http://{}/-/reload", e.addr)]).await;
    assert_eq!(status, 405, "GET does not reload");
}

#[test]
fn sighup_reloads_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let b = RedisServer::start(&[]);
    let (mut child, port) = spawn_binary(dir.path(), &[]);
    let url = format!("http://127.0.0.1:{port}/metrics");
    let until = Instant::now() + Duration::from_secs(10);
    while curl(&[&url]).1 != 200 {
        assert!(Instant::now() < until, "exporter did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!curl(&[&url]).2.contains("redis_up"));
    // Without --web.enable-lifecycle the HTTP endpoint is off; SIGHUP still works.
    let reload_url = format!("http://127.0.0.1:{port}/-/reload");
    assert_eq!(curl(&["-X", "POST", &reload_url]).1, 403);
    common::write_config(
        dir.path(),
        &format!("redis:\n  - name: b\n    addr: {}\n", b.url()),
    );
    assert!(
        Command::new("kill")
            .args(["-HUP", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        if curl(&[&url]).2.contains("redis_up{target=\"b\"} 1") {
            break;
        }
        assert!(Instant::now() < until, "SIGHUP did not reload");
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}
