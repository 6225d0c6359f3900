//! Persistence checks end to end against real Redis servers: the metrics, the
//! `check` subcommand's table, JSON and exit codes, and the status page.

use crate::common;

use common::redis::RedisServer;
use common::{Exporter, free_port};
use std::process::Command;

const PW: &str = "check-test-pw-5521";

fn pw_file(dir: &tempfile::TempDir) -> String {
    let p = dir.path().join("pw");
    std::fs::write(&p, PW).unwrap();
    p.to_str().unwrap().to_string()
}

fn check(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_persistence_exporter"))
        .arg("check")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_passes_the_das_tern_redis_and_exits_0() {
    let server = RedisServer::start(&common::redis::das_tern_args(PW));
    let dir = tempfile::tempdir().unwrap();
    let pw = pw_file(&dir);
    let (code, out, err) = check(&[
        "--profile",
        "das-tern",
        "--redis.addr",
        &server.url(),
        "--redis.password-file",
        &pw,
    ]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    for line in [
        "redis_aof_enabled",
        "redis_rdb_snapshots",
        "redis_auth_required",
        "redis_maxmemory",
    ] {
        let row = out
            .lines()
            .find(|l| l.contains(line))
            .unwrap_or_else(|| panic!("{line} in\n{out}"));
        assert!(row.trim_end().ends_with("PASS"), "{row}");
    }
    // Without a Docker Engine the mount check cannot be evaluated: listed, never hidden.
    let row = out
        .lines()
        .find(|l| l.contains("redis_data_on_named_volume"))
        .unwrap();
    assert!(row.contains("UNKNOWN"), "{row}");
    assert!(out.contains("passed, 0 failed"), "{out}");
    assert!(!out.contains(PW) && !err.contains(PW));
    // The same with --fail-on-unknown fails.
    let (code, _, _) = check(&[
        "--profile",
        "das-tern",
        "--fail-on-unknown",
        "--redis.addr",
        &server.url(),
        "--redis.password-file",
        &pw,
    ]);
    assert_eq!(code, Some(1));
}

#[test]
fn check_fails_with_json_on_misconfiguration_and_2_when_unreachable() {
    let server = RedisServer::start(&["--requirepass", PW, "--appendonly", "no", "--save", ""]);
    let dir = tempfile::tempdir().unwrap();
    let pw = pw_file(&dir);
    let (code, out, err) = check(&[
        "--output",
        "json",
        "--redis.addr",
        &server.url(),
        "--redis.password-file",
        &pw,
    ]);
    assert_eq!(code, Some(1), "{out}\n{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let results = doc["results"].as_array().unwrap();
    let by_id = |id: &str| {
        results
            .iter()
            .find(|r| r["check"] == id)
            .unwrap_or_else(|| panic!("{id}"))
    };
    assert_eq!(by_id("redis_aof_enabled")["status"], "FAIL");
    assert_eq!(by_id("redis_aof_enabled")["severity"], "critical");
    assert_eq!(by_id("redis_aof_enabled")["observed"], "no");
    assert_eq!(by_id("redis_rdb_snapshots")["status"], "FAIL");
    assert_eq!(by_id("redis_auth_required")["status"], "PASS");
    assert_eq!(by_id("redis_data_on_named_volume")["status"], "UNKNOWN");
    assert!(
        by_id("redis_data_on_named_volume")["reason"]
            .as_str()
            .unwrap()
            .contains("Docker")
    );
    assert_eq!(doc["summary"]["failed"], 2);

    // Markdown for a verification report.
    let (_, md, _) = check(&[
        "--output",
        "markdown",
        "--profile",
        "cache",
        "--redis.addr",
        &server.url(),
        "--redis.password-file",
        &pw,
    ]);
    assert!(md.starts_with("# Persistence Verification Report"), "{md}");
    assert!(md.contains("](docs/checks.md#redis_auth_required)"), "{md}");

    let dead = format!("redis://127.0.0.1:{}", free_port());
    let (code, _, err) = check(&["--redis.addr", &dead]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("Target down"), "{err}");
    let (code, _, _) = check(&["--profile", "/nonexistent.yml", "--redis.addr", &dead]);
    assert_eq!(code, Some(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn check_metrics_and_status_page() {
    let off = RedisServer::start(&["--appendonly", "no", "--save", ""]);
    let cache = RedisServer::start(&["--appendonly", "no", "--save", ""]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::write_config(
        dir.path(),
        &format!(
            "redis:\n  - name: durable-redis\n    addr: {}\n  - name: cache-redis\n    addr: {}\n    profile: cache\n    checks:\n      redis_auth_required: {{enabled: false}}\n",
            off.url(),
            cache.url()
        ),
    );
    let e = Exporter::start(&["--config.file", cfg.to_str().unwrap()]).await;
    let m = e.scrape().await;
    let d = [("target", "durable-redis")];
    let ok = |check: &str, sev: &str| {
        m.get(
            "persistence_check_ok",
            &[
                ("target", "durable-redis"),
                ("check", check),
                ("severity", sev),
            ],
        )
    };
    assert_eq!(ok("redis_aof_enabled", "critical"), Some(0.0));
    assert_eq!(ok("redis_rdb_snapshots", "critical"), Some(0.0));
    assert_eq!(ok("redis_auth_required", "critical"), Some(0.0));
    assert_eq!(ok("redis_rdb_last_bgsave_ok", "critical"), Some(1.0));
    assert_eq!(
        m.get(
            "persistence_check_info",
            &[
                ("target", "durable-redis"),
                ("check", "redis_aof_enabled"),
                ("expected", "yes"),
                ("observed", "no")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        m.value(
            "persistence_check_unknown",
            &[
                ("target", "durable-redis"),
                ("check", "redis_data_on_named_volume")
            ]
        ),
        1.0
    );
    assert_eq!(
        m.value(
            "persistence_checks_failing",
            &[d[0], ("severity", "critical")]
        ),
        3.0
    );
    // The cache: persistence off raises nothing; the disabled check is gone.
    assert_eq!(
        m.value(
            "persistence_checks_failing",
            &[("target", "cache-redis"), ("severity", "critical")]
        ),
        0.0
    );
    assert!(
        m.all(
            "persistence_check_ok",
            &[("target", "cache-redis"), ("check", "redis_auth_required")]
        )
        .is_empty()
    );
    assert!(
        m.all(
            "persistence_check_ok",
            &[("target", "cache-redis"), ("check", "redis_aof_enabled")]
        )
        .is_empty()
    );

    // Fixing the config flips the check on the next scrape.
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("appendonly")
        .arg("yes")
        .query(&mut off.client())
        .unwrap();
    let m = e.scrape().await;
    assert_eq!(
        m.get(
            "persistence_check_ok",
            &[
                ("target", "durable-redis"),
                ("check", "redis_aof_enabled"),
                ("severity", "warning")
            ]
        )
        .or(m.get(
            "persistence_check_ok",
            &[
                ("target", "durable-redis"),
                ("check", "redis_aof_enabled"),
                ("severity", "critical")
            ]
        )),
        Some(1.0)
    );

    let page = e.get("/", &[]).await.body;
    assert!(page.contains("Persistence checks"));
    assert!(page.contains("<h3 id=\"target-durable-redis\">"), "{page}");
    assert!(
        page.contains(
            "<tr class=\"down\"><td>FAIL</td><td><a href=\"/docs/checks#redis_auth_required\">"
        ),
        "{page}"
    );
    assert!(page.contains("FAIL") && page.contains("PASS") && page.contains("UNKNOWN"));
    assert!(!page.contains("<script"));
    let docs = e.get("/docs/checks.md", &[]).await;
    assert_eq!(docs.status, 200);
    assert!(docs.body.contains("# "));
}

/// Runs headless Chromium without JavaScript on `url` with `extra` arguments.
async fn chromium(url: String, dir: &std::path::Path, extra: Vec<String>) -> std::process::Output {
    let chromium = common::env_path("PE_CHROMIUM");
    let profile_arg = format!("--user-data-dir={}", dir.join("profile").display());
    tokio::task::spawn_blocking(move || {
        Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-javascript",
                "--window-size=1400,1000",
                &profile_arg,
            ])
            .args(extra)
            .arg(url)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

/// The status page rendered by a real browser (headless Chromium): the summary band on
/// top in the colour of the worst result, then the failing rows first (red), passing
/// green, unknown grey, without JavaScript. The page collects by itself: nothing scrapes
/// `/metrics` first.
#[tokio::test(flavor = "multi_thread")]
async fn status_page_screenshot_in_headless_chromium() {
    let server = RedisServer::start(&["--appendonly", "no", "--save", ""]);
    let e = Exporter::start(&["--redis.addr", &server.url()]).await;
    let dir = tempfile::tempdir().unwrap();
    let shot = dir.path().join("status.png");
    let url = format!("http://{}/", e.addr);
    let out = chromium(
        url.clone(),
        dir.path(),
        vec![format!("--screenshot={}", shot.display())],
    )
    .await;
    assert!(
        shot.exists(),
        "no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (1400, 1000));
    let channels = info.color_type.samples();
    let width = info.width as usize;
    let pixels = &buf[..info.buffer_size()];
    let is = |p: &[u8], rgb: [u8; 3]| p[0] == rgb[0] && p[1] == rgb[1] && p[2] == rgb[2];
    let has = |rgb: [u8; 3]| pixels.chunks(channels).any(|p| is(p, rgb));
    const CRITICAL_BAND: [u8; 3] = [0xb3, 0x26, 0x1e];
    const FAIL: [u8; 3] = [0xf7, 0xd4, 0xd4];
    const PASS: [u8; 3] = [0xd9, 0xf2, 0xd9];
    const UNKNOWN: [u8; 3] = [0xe6, 0xe6, 0xe6];
    assert!(has(FAIL), "a red (failing) row is visible");
    assert!(has(PASS), "a green (passing) row is visible");
    assert!(has(UNKNOWN), "a grey (unknown) row is visible");
    // The first pixel row holding a band of each colour (a run of 100 pixels, so
    // anti-aliased text cannot pass for one), top to bottom.
    let first_y = |rgb: [u8; 3]| {
        pixels.chunks(width * channels).position(|line| {
            let mut run = 0;
            line.chunks(channels).any(|p| {
                run = if is(p, rgb) { run + 1 } else { 0 };
                run >= 100
            })
        })
    };
    let band = first_y(CRITICAL_BAND).expect("the critical summary band is visible");
    assert!(band < 150, "the summary band is at the top (y = {band})");
    let rows = [FAIL, PASS, UNKNOWN].map(|c| first_y(c).unwrap());
    assert!(band < rows[0], "summary above the rows: {band} {rows:?}");
    assert!(
        rows[0] < rows[1] && rows[0] < rows[2],
        "the first row band is the failing colour: {rows:?}"
    );
    let _ = std::fs::copy(
        &shot,
        std::env::temp_dir().join("persistence_exporter-status.png"),
    );

    // The DOM as the browser parsed it: summary, then failing rows, then the others.
    let out = chromium(url, dir.path(), vec!["--dump-dom".to_string()]).await;
    let dom = String::from_utf8_lossy(&out.stdout);
    let at = |needle: &str| {
        dom.find(needle)
            .unwrap_or_else(|| panic!("{needle} in the DOM:\n{dom}"))
    };
    let checks = at("<h2>Persistence checks</h2>");
    assert!(at("id=\"summary\"") < checks);
    let section = &dom[checks..];
    let pos = |class: &str| section.find(&format!("<tr class=\"{class}\">")).unwrap();
    assert!(
        pos("down") < pos("unknown") && pos("unknown") < pos("up"),
        "{section}"
    );
    assert!(dom.contains("<meta http-equiv=\"refresh\" content=\"15\">"));
}

/// `/metrics` of a server declared not to run in a container: its volume checks are N/A
/// (their own series), neither failing nor unknown.
#[tokio::test(flavor = "multi_thread")]
async fn declared_not_in_container_makes_volume_checks_not_applicable_in_metrics() {
    let server = RedisServer::start(&[]);
    let e = Exporter::start(&["--redis.addr", &server.url(), "--redis.not-in-container"]).await;
    let m = e.scrape().await;
    let target = format!("127.0.0.1:{}", server.port);
    assert_eq!(
        m.value(
            "persistence_check_not_applicable",
            &[
                ("target", target.as_str()),
                ("check", "redis_data_on_named_volume")
            ]
        ),
        1.0
    );
    assert!(
        m.all(
            "persistence_check_unknown",
            &[
                ("target", target.as_str()),
                ("check", "redis_data_on_named_volume")
            ]
        )
        .is_empty(),
        "an N/A check is not also unknown"
    );
}
