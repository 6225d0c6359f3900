//! The binary itself: `--config.check` exit codes and messages, start-up on a real
//! port, and graceful shutdown on SIGTERM.

use crate::common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_persistence_exporter"))
}

#[test]
fn config_check_lists_every_problem_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.yml");
    std::fs::write(
        &cfg,
        "scrape_timeout: soon\nredis:\n  - name: a\n    addr: tcp://x\n    passwd_file: /x\npostgres:\n  - name: p\n    dsn: 'port=notaport'\n",
    )
    .unwrap();
    let err = common::config_error(bin().args([
        "--config.file",
        cfg.to_str().unwrap(),
        "--config.check",
    ]));
    for needle in [
        "scrape_timeout",
        "unknown key \"passwd_file\"",
        "redis://",
        "postgres DSN",
    ] {
        assert!(err.contains(needle), "{needle:?} missing from:\n{err}");
    }
}

#[test]
fn config_check_accepts_a_valid_file() {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "secret-value-123\n").unwrap();
    let cfg = dir.path().join("good.yml");
    std::fs::write(
        &cfg,
        format!(
            "scrape_timeout: 5s\nredis:\n  - name: cache\n    addr: redis://127.0.0.1:6390\n    password_file: {}\n",
            pw.display()
        ),
    )
    .unwrap();
    let out = bin()
        .args(["--config.file", cfg.to_str().unwrap(), "--config.check"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("1 redis"), "{all}");
    assert!(!all.contains("secret-value-123"));
}

#[test]
fn config_check_prints_all_ten_mistakes_naming_targets_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("ten.yml");
    std::fs::write(
        &cfg,
        "scrape_timout: 5s\n\
         redis:\n\
         \x20 - name: cache\n\
         \x20   addr: http://:hunter2-secret@cache:6379\n\
         \x20   timeout: 5 sec\n\
         \x20   profile: das-tren\n\
         \x20   checks:\n\
         \x20     redis_aof_enable: {enabled: false}\n\
         postgres:\n\
         \x20 - name: main\n\
         \x20   dsn: postgresql://exporter@127.0.0.1/postgres\n\
         \x20   password_env: PE_TEST_UNSET_PASSWORD_VAR\n\
         \x20   profile: das-tern\n\
         \x20   sslmode: verify-fulll\n\
         \x20   statements_top_n: 1000\n\
         \x20   checks:\n\
         \x20     postgres_version_min: {expect: sixteen}\n\
         \x20 - name: replica\n\
         \x20   dsn: postgresql://exporter@127.0.0.1/postgres\n\
         \x20   sslmode: verify-full\n",
    )
    .unwrap();
    let err = common::config_error(bin().env_remove("PE_TEST_UNSET_PASSWORD_VAR").args([
        "--config.file",
        cfg.to_str().unwrap(),
        "--config.check",
    ]));
    let problems: Vec<&str> = err.lines().filter(|l| l.starts_with("  - ")).collect();
    assert_eq!(problems.len(), 10, "{err}");
    for needle in [
        "config: unknown key \"scrape_timout\" (did you mean \"scrape_timeout\"?)",
        "redis[0] (name \"cache\"): addr: ",
        "redis[0] (name \"cache\"): timeout: \"5 sec\" is not a duration; write it like 5s, 1m30s or 250ms",
        "(did you mean \"das-tern\"?)",
        "redis[0] (name \"cache\"): checks.redis_aof_enable: unknown check",
        "postgres[0] (name \"main\"): sslmode: \"verify-fulll\"",
        "postgres[0] (name \"main\"): statements_top_n: 1000 is above the limit of 100",
        "postgres[0] (name \"main\"): password_env: environment variable PE_TEST_UNSET_PASSWORD_VAR is not set",
        "postgres[0] (name \"main\"): checks.postgres_version_min.expect: \"sixteen\" is not a version",
        "postgres[1] (name \"replica\"): sslmode: verify-ca and verify-full need ca_file",
    ] {
        assert!(err.contains(needle), "{needle:?} missing from:\n{err}");
    }
    assert!(!err.contains("hunter2-secret"), "{err}");
}

#[test]
fn config_check_says_when_default_targets_are_used() {
    let out = bin()
        .env_remove("DATA_SOURCE_NAME")
        .env_remove("PERSISTENCE_EXPORTER_REDIS_ADDR")
        .env_remove("PERSISTENCE_EXPORTER_POSTGRES_DSN")
        .env_remove("PERSISTENCE_EXPORTER_DOCKER_HOST")
        .env_remove("PERSISTENCE_EXPORTER_CONFIG_FILE")
        .env_remove("DOCKER_HOST")
        .arg("--config.check")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains(
            "(built-in default targets: redis://localhost:6379, postgresql://postgres@localhost:5432/postgres, unix:///var/run/docker.sock;"
        ),
        "{stdout}"
    );
    let out = bin()
        .args(["--redis.addr", "redis://127.0.0.1:6390", "--config.check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("default"));
}

#[test]
fn not_in_container_flags_have_env_vars() {
    let err = common::config_error(
        bin()
            .env("PERSISTENCE_EXPORTER_REDIS_NOT_IN_CONTAINER", "true")
            .args([
                "--postgres.dsn",
                "postgresql://u@127.0.0.1/db",
                "--config.check",
            ]),
    );
    assert!(
        err.contains("--redis.not-in-container: applies to the targets of --redis.addr"),
        "{err}"
    );
    let out = bin()
        .env("PERSISTENCE_EXPORTER_POSTGRES_NOT_IN_CONTAINER", "true")
        .args([
            "--postgres.dsn",
            "postgresql://u@127.0.0.1/db",
            "--config.check",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn env_vars_configure_flags() {
    let out = bin()
        .env("PERSISTENCE_EXPORTER_SCRAPE_TIMEOUT", "not-a-duration")
        .arg("--config.check")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not-a-duration"));
}

#[test]
fn serves_and_shuts_down_gracefully_on_sigterm() {
    let port = common::free_port();
    let mut child = bin()
        .args([
            "--web.listen-address",
            &format!("127.0.0.1:{port}"),
            "--redis.addr",
            &format!("redis://127.0.0.1:{}", common::free_port()),
            "--log.format",
            "json",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(10);
    let rt = tokio::runtime::Runtime::new().unwrap();
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        assert!(Instant::now() < until, "exporter did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let r = rt.block_on(common::http_get(
        format!("127.0.0.1:{port}").parse().unwrap(),
        "/metrics",
        &[],
    ));
    assert_eq!(r.status, 200);
    assert!(r.body.contains("redis_up{target="));
    let start = Instant::now();
    // SAFETY-free: kill(2) through the `kill` command, on the PID we spawned.
    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
    let mut logs = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut logs).unwrap();
    let first: serde_json::Value = serde_json::from_str(logs.lines().next().unwrap()).unwrap();
    assert_eq!(first["msg"], "Listening");
    assert!(logs.contains("Shutting down"));
}

/// Runs the binary with `args`, once with `--config.check` and once as a normal start
/// (which must refuse before listening); both must exit 2. Returns both stderrs.
fn refused_both_ways(args: &[&str]) -> Vec<String> {
    let port = common::free_port().to_string();
    let listen = format!("127.0.0.1:{port}");
    let mut out = Vec::new();
    for check in [true, false] {
        let mut cmd = bin();
        cmd.args(args).args(["--web.listen-address", &listen]);
        if check {
            cmd.arg("--config.check");
        }
        let o = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(2), "{args:?} check={check}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        out.push(err);
    }
    out
}

#[test]
fn huge_or_unitless_durations_are_config_errors() {
    for bad in ["1e30", "99999999999999999999d", "1e19", "25h"] {
        for err in refused_both_ways(&[
            "--scrape.timeout",
            bad,
            "--redis.addr",
            "redis://127.0.0.1:1",
        ]) {
            assert!(err.contains("--scrape.timeout"), "{bad}: {err}");
        }
    }
    for err in refused_both_ways(&[
        "--scrape.timeout",
        "5",
        "--redis.addr",
        "redis://127.0.0.1:1",
    ]) {
        assert!(
            err.contains("5s"),
            "a unit-less duration must show an example: {err}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::write_config(
        dir.path(),
        "scrape_timeout: 99999999999999999999d\nredis:\n  - name: r\n    addr: redis://127.0.0.1:1\n    timeout: '5'\n",
    );
    for err in refused_both_ways(&["--config.file", cfg.to_str().unwrap()]) {
        assert!(
            err.contains("scrape_timeout") && err.contains("292y"),
            "{err}"
        );
        assert!(
            err.contains("redis[0] (name \"r\"): timeout") && err.contains("5s"),
            "{err}"
        );
    }
}

#[test]
fn unencoded_password_in_a_url_is_a_config_error_that_does_not_echo_it() {
    let pg = "postgresql://exporter:P@ss#w0rd:/!@127.0.0.1:22955/postgres";
    for err in refused_both_ways(&["--postgres.dsn", pg]) {
        assert!(err.contains("ambiguous"), "{err}");
        assert!(err.contains("%40") && err.contains("%23") && err.contains("password_file"));
        for secret in ["P@ss", "ss#w0rd", "w0rd", ":/!"] {
            assert!(
                !err.contains(secret),
                "password part {secret:?} leaked: {err}"
            );
        }
    }
    for err in refused_both_ways(&["--redis.addr", "redis://:Hunter@2@127.0.0.1:1"]) {
        assert!(err.contains("ambiguous"), "{err}");
        assert!(!err.contains("Hunter"), "{err}");
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::write_config(
        dir.path(),
        "postgres:\n  - name: p\n    dsn: 'host=127.0.0.1 password=open sesame user=u'\nredis:\n  - name: r\n    addr: 'redis://:Sec ret@127.0.0.1:1'\n",
    );
    for err in refused_both_ways(&["--config.file", cfg.to_str().unwrap()]) {
        assert!(
            err.contains("postgres DSN") && err.contains("redis address"),
            "{err}"
        );
        for secret in ["sesame", "Sec ret", "Sec"] {
            assert!(!err.contains(secret), "{secret:?} leaked: {err}");
        }
    }
}

#[test]
fn odd_percent_escape_in_a_redis_url_does_not_panic() {
    let out = bin()
        .args([
            "--redis.addr",
            "redis://:%a\u{e9}@127.0.0.1:1",
            "--config.check",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    // Invalid UTF-8 once decoded: a config error, not a panic.
    for err in refused_both_ways(&["--redis.addr", "redis://:%ff%a\u{e9}@127.0.0.1:1"]) {
        assert!(err.contains("UTF-8"), "{err}");
    }
}
