//! The `check` command as a user meets it: exit codes when targets cannot be reached
//! (never 0 when blind), each unreachable target reported once, the 120-column table, the
//! Markdown report, `check --help`; the log lines (state changes, built-in defaults, the
//! same keys in logfmt and JSON); and the README's flag table against clap's defaults.

use crate::common;

use common::free_port;
use common::redis::RedisServer;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const DOCKER: &str = "unix:///var/run/docker.sock";

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_persistence_exporter"));
    for v in [
        "DOCKER_HOST",
        "DATA_SOURCE_NAME",
        "REDIS_PASSWORD",
        "PERSISTENCE_EXPORTER_REDIS_ADDR",
        "PERSISTENCE_EXPORTER_POSTGRES_DSN",
        "PERSISTENCE_EXPORTER_DOCKER_HOST",
        "PERSISTENCE_EXPORTER_LOG_FORMAT",
        "PERSISTENCE_EXPORTER_LOG_LEVEL",
        "PERSISTENCE_EXPORTER_CHECK_OUTPUT",
        "PERSISTENCE_EXPORTER_CHECK_FAIL_ON_UNKNOWN",
    ] {
        c.env_remove(v);
    }
    c
}

fn check(args: &[&str]) -> (Option<i32>, String, String) {
    let out = bin().arg("check").args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn dead_redis() -> String {
    format!("redis://127.0.0.1:{}", free_port())
}

fn dead_pg() -> String {
    format!("postgresql://postgres@127.0.0.1:{}/postgres", free_port())
}

#[test]
fn defaults_with_nothing_listening_never_exit_0() {
    // The new user's first run: nothing on 6379/5432, Docker answering.
    for port in [6379, 5432] {
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "this test needs port {port} free"
        );
    }
    let (code, out, err) = check(&[]);
    assert_eq!(code, Some(3), "{out}\n{err}");
    assert!(
        out.contains("19 checks: 0 passed, 0 failed, 19 unknown"),
        "{out}"
    );
    assert!(out.contains("(exit 3)"), "{out}");
    // The start-up line says the targets are the built-in defaults and how to change them.
    let line = err
        .lines()
        .find(|l| l.contains("built-in default targets"))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(line.contains("level=info"), "{line}");
    assert!(line.contains("redis=redis://localhost:6379"), "{line}");
    assert!(line.contains("--config.file"), "{line}");
    // With --fail-on-unknown it stays 1, as documented.
    let (code, _, _) = check(&["--fail-on-unknown"]);
    assert_eq!(code, Some(1));
}

#[test]
fn check_flags_have_env_vars() {
    let dead = dead_redis();
    let run = |envs: &[(&str, &str)]| {
        let out = bin()
            .arg("check")
            .args(["--redis.addr", &dead, "--docker.host", DOCKER])
            .envs(envs.iter().copied())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    // An unreachable target while Docker answers: 3, or 1 with fail-on-unknown.
    let (code, out) = run(&[]);
    assert_eq!(code, Some(3), "{out}");
    let (code, out) = run(&[("PERSISTENCE_EXPORTER_CHECK_FAIL_ON_UNKNOWN", "true")]);
    assert_eq!(code, Some(1), "{out}");
    let (_, out) = run(&[("PERSISTENCE_EXPORTER_CHECK_OUTPUT", "json")]);
    let doc: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert!(doc["summary"]["unknown"].as_u64().unwrap() > 0, "{doc:#}");
}

#[test]
fn an_unreachable_redis_with_docker_answering_exits_3_and_is_reported_once() {
    let dead = dead_redis();
    let name = dead.trim_start_matches("redis://").to_string();
    let (code, out, err) = check(&["--redis.addr", &dead, "--docker.host", DOCKER]);
    assert_eq!(code, Some(3), "{out}\n{err}");
    assert!(out.contains(&format!(
        "{name} (Redis, profile durable): UNREACHABLE (connect)"
    )));
    // The error itself is printed exactly once, in the log line naming the target.
    let all = format!("{out}{err}");
    assert_eq!(all.matches("Connection refused").count(), 1, "{all}");
    let down: Vec<&str> = err.lines().filter(|l| l.contains(&name)).collect();
    assert_eq!(down.len(), 1, "{err}");
    assert!(down[0].contains("msg=\"Target down\""), "{err}");
    assert!(!err.contains("built-in default"), "{err}");
    for l in out.lines() {
        assert!(
            l.chars().count() <= 120,
            "{} columns: {l}",
            l.chars().count()
        );
    }
    // Only the configured Redis, unreachable: nothing answered at all.
    let (code, _, _) = check(&["--redis.addr", &dead]);
    assert_eq!(code, Some(2));
}

#[test]
fn redis_up_postgres_down_exits_3_and_the_report_shows_both() {
    let redis = RedisServer::start(&["--appendonly", "yes"]);
    let pg = dead_pg();
    let args = [
        "--redis.addr",
        &redis.url(),
        "--postgres.dsn",
        &pg,
        "--docker.host",
        DOCKER,
    ];
    let (code, out, err) = check(&[&["--output", "json"], &args[..]].concat());
    let doc: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert!(doc["summary"]["unknown"].as_u64().unwrap() >= 6, "{out}");
    let failed = doc["summary"]["failed"].as_u64().unwrap();
    // Redis without a password fails redis_auth_required: a failure outranks blindness.
    assert_eq!(code, Some(if failed > 0 { 1 } else { 3 }), "{out}\n{err}");
    assert_eq!(doc["exit_code"], code.unwrap());
    let targets = doc["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 3, "{out}");
    assert_eq!(targets[0]["reachable"], true);
    assert_eq!(targets[1]["reachable"], false);
    assert_eq!(targets[1]["reason"], "connect");

    // With the failing check switched off by a profile where Redis passes, an unreachable
    // PostgreSQL alone decides: 3, never 0.
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("p.yml");
    std::fs::write(
        &profile,
        "name: lenient\ndescription: test\nchecks:\n  redis_aof_enabled: {expect: \"yes\", severity: warning}\n  postgres_fsync: {expect: \"on\", severity: critical}\n",
    )
    .unwrap();
    let (code, out, err) = check(&[&["--profile", profile.to_str().unwrap()], &args[..]].concat());
    assert_eq!(code, Some(3), "{out}\n{err}");
    assert!(
        out.contains("2 checks: 1 passed, 0 failed, 1 unknown"),
        "{out}"
    );

    // The Markdown report: heading, UTC date, version, profile, one section per target.
    let (_, md, _) = check(
        &[
            &[
                "--output",
                "markdown",
                "--profile",
                profile.to_str().unwrap(),
            ],
            &args[..],
        ]
        .concat(),
    );
    assert!(
        md.starts_with("# Persistence Verification Report\n"),
        "{md}"
    );
    assert!(md.contains(" UTC"), "{md}");
    assert!(md.contains(&format!(
        "persistence_exporter {}",
        env!("CARGO_PKG_VERSION")
    )));
    assert!(md.contains("**Profile(s):** `lenient`"), "{md}");
    assert!(md.contains("## Executive Summary"), "{md}");
    assert!(md.contains("**Status:** ❔ INCOMPLETE"), "{md}");
    assert!(
        md.contains(&format!("## Redis: `{}`", redis.target())),
        "{md}"
    );
    assert!(md.contains("## PostgreSQL: `127.0.0.1:"), "{md}");
    assert!(md.contains("❌ **Unreachable:**"), "{md}");
    assert!(
        md.contains("## Docker Engine: `unix:///var/run/docker.sock`"),
        "{md}"
    );
    assert!(
        md.contains("| Append-only file (appendonly) | ✅ PASS | = yes | yes | warning | [`redis_aof_enabled`](docs/checks.md#redis_aof_enabled) |"),
        "{md}"
    );
    assert!(md.contains("| fsync | ❔ UNKNOWN |"), "{md}");
}

#[test]
fn check_help_lists_the_check_flags_and_the_exit_codes_only() {
    let out = bin().args(["check", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    for absent in [
        "--web.listen-address",
        "--web.telemetry-path",
        "--web.config.file",
        "--web.max-requests",
        "--web.enable-lifecycle",
    ] {
        assert!(!help.contains(absent), "{absent} in check --help:\n{help}");
    }
    for present in [
        "--output",
        "--fail-on-unknown",
        "--redis.addr",
        "--postgres.dsn",
        "--docker.host",
        "--config.file",
        "--profile",
        "Exit codes:",
        "  3  ",
        "[env: PERSISTENCE_EXPORTER_CHECK_OUTPUT=]",
        "[env: PERSISTENCE_EXPORTER_CHECK_FAIL_ON_UNKNOWN=]",
    ] {
        assert!(help.contains(present), "{present} missing:\n{help}");
    }
    // `verify --help` lists its exit codes the same way, and says why --confirm has no
    // environment variable.
    let out = bin().args(["verify", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    for present in [
        "Exit codes:",
        "  0  ",
        "  1  ",
        "  2  ",
        "--confirm has no environment variable",
    ] {
        assert!(help.contains(present), "{present} missing:\n{help}");
    }
    let top = bin().arg("--help").output().unwrap();
    assert!(String::from_utf8_lossy(&top.stdout).contains("--web.listen-address"));
    // A server flag after `check` is a usage error (exit 2), not silently ignored.
    let (code, _, err) = check(&["--web.listen-address", ":1"]);
    assert_eq!(code, Some(2), "{err}");
}

/// Runs the exporter as a server, waits for its port, and returns it.
fn serve(args: &[&str], port: u16) -> std::process::Child {
    let child = bin()
        .args(["--web.listen-address", &format!("127.0.0.1:{port}")])
        .args(args)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < until, "exporter did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// SIGTERM (by PID), wait, and return stderr.
fn stop(child: std::process::Child) -> String {
    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn scrape(port: u16) -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let r = rt.block_on(common::http_get(
        format!("127.0.0.1:{port}").parse().unwrap(),
        "/metrics",
        &[],
    ));
    assert_eq!(r.status, 200);
    r.body
}

#[test]
fn state_changes_are_logged_once_with_the_same_keys_in_both_formats() {
    for format in ["logfmt", "json"] {
        let mut redis = RedisServer::start(&[]);
        let name = redis.target();
        let port = free_port();
        let child = serve(
            &["--redis.addr", &redis.url(), "--log.format", format],
            port,
        );
        assert!(scrape(port).contains(&format!("redis_up{{target=\"{name}\"}} 1")));
        redis.kill();
        assert!(scrape(port).contains(&format!("redis_up{{target=\"{name}\"}} 0")));
        scrape(port); // still down: "Collection failed", not another state change
        redis.restart();
        let until = Instant::now() + Duration::from_secs(10);
        while !scrape(port).contains(&format!("redis_up{{target=\"{name}\"}} 1")) {
            assert!(Instant::now() < until, "redis did not come back");
            std::thread::sleep(Duration::from_millis(100));
        }
        let logs = stop(child);
        let lines: Vec<serde_json::Map<String, serde_json::Value>> =
            logs.lines().map(|l| parse_line(format, l)).collect();
        for l in &lines {
            for key in ["ts", "level", "msg", "source"] {
                assert!(l.contains_key(key), "{format}: {key} missing in {l:?}");
            }
            assert!(l["ts"].as_str().unwrap().ends_with('Z'), "{l:?}");
            assert!(
                l["source"]
                    .as_str()
                    .unwrap()
                    .starts_with("persistence_exporter"),
                "{l:?}"
            );
            for gone in ["timestamp", "message"] {
                assert!(!l.contains_key(gone), "{format}: {l:?}");
            }
        }
        let of_target: Vec<(&str, &str)> = lines
            .iter()
            .filter(|l| l.get("target").and_then(|t| t.as_str()) == Some(name.as_str()))
            .map(|l| (l["level"].as_str().unwrap(), l["msg"].as_str().unwrap()))
            .collect();
        assert_eq!(
            of_target,
            [
                ("info", "Target up"),
                ("warn", "Target down"),
                ("warn", "Collection failed"),
                ("info", "Target up"),
            ],
            "{format}:\n{logs}"
        );
        let down = lines.iter().find(|l| l["msg"] == "Target down").unwrap();
        assert_eq!(down["kind"], "redis");
        assert_eq!(down["reason"], "connect");
    }
}

/// One log line as key → value: JSON as is, logfmt parsed (quoted values unescaped).
fn parse_line(format: &str, line: &str) -> serde_json::Map<String, serde_json::Value> {
    if format == "json" {
        return serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    }
    let mut map = serde_json::Map::new();
    let mut rest = line;
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=').unwrap_or_else(|| panic!("{line}"));
        let (value, after) = if let Some(q) = after.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = q.char_indices();
            let mut end = q.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => v.push(chars.next().map(|(_, c)| c).unwrap_or('\\')),
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => v.push(c),
                }
            }
            (v, &q[end..])
        } else {
            let (v, a) = after.split_once(' ').unwrap_or((after, ""));
            (v.to_string(), a)
        };
        assert!(!map.contains_key(key), "duplicate key {key} in {line}");
        map.insert(key.to_string(), value.into());
        rest = after.trim_start();
    }
    map
}

#[test]
fn readme_flag_table_agrees_with_clap() {
    use clap::CommandFactory;
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme
        .find("| Flag | Default | Meaning |")
        .expect("flag table");
    let rows: Vec<(String, String)> = readme[start..]
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells[1].trim_matches('`').to_string(), cells[2].to_string())
        })
        .collect();
    let cmd = persistence_exporter::cli::Cli::command();
    let mut flags = Vec::new();
    for arg in cmd.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        if ["help", "version"].contains(&long) {
            continue;
        }
        let flag = format!("--{long}");
        let defaults: Vec<String> = arg
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        let row = rows
            .iter()
            .find(|(f, _)| *f == flag)
            .unwrap_or_else(|| panic!("{flag} is not in the README flag table"));
        match defaults.as_slice() {
            // A boolean flag (clap's implicit `false`) is "off" in the README.
            [d] if d == "false" => assert_eq!(row.1, "off", "{flag}: a switch is off by default"),
            [d] => assert_eq!(row.1, format!("`{d}`"), "{flag}: README vs clap default"),
            [] => assert!(
                row.1.is_empty() || row.1 == "off" || row.1.starts_with("none"),
                "{flag}: clap has no default, the README says {:?}",
                row.1
            ),
            many => panic!("{flag}: several defaults {many:?}"),
        }
        flags.push(flag);
    }
    for (f, _) in &rows {
        assert!(
            flags.contains(f),
            "README lists {f}, which clap does not know"
        );
    }
}
