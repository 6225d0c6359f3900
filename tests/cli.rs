//! The binary itself: `--config.check` exit codes and messages, start-up on a real
//! port, and graceful shutdown on SIGTERM.

mod common;

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
    let out = bin()
        .args(["--config.file", cfg.to_str().unwrap(), "--config.check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
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
    assert_eq!(first["message"], "Listening");
    assert!(logs.contains("Shutting down"));
}
