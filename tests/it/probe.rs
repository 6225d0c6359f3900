//! `/probe` against hostile input: the allow-list checks addresses, not strings. Names
//! resolve only through lines this file adds to /etc/hosts (and removes again, also when
//! a test fails); nothing here resolves a name anywhere else.

use crate::common;

use common::Exporter;
use common::redis::RedisServer;
use std::io::{Read, Seek, SeekFrom, Write};
use std::process::Command;

/// Lines appended to /etc/hosts, removed exactly (and only them) on drop.
struct HostsGuard {
    lines: Vec<String>,
}

impl HostsGuard {
    fn add(entries: &[(&str, &str)]) -> HostsGuard {
        let lines: Vec<String> = entries
            .iter()
            .map(|(ip, name)| format!("{ip} {name}"))
            .collect();
        let existing = std::fs::read_to_string("/etc/hosts").unwrap();
        let mut text = String::new();
        if !existing.is_empty() && !existing.ends_with('\n') {
            text.push('\n');
        }
        for l in &lines {
            text.push_str(l);
            text.push('\n');
        }
        std::fs::OpenOptions::new()
            .append(true)
            .open("/etc/hosts")
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        HostsGuard { lines }
    }
}

impl Drop for HostsGuard {
    fn drop(&mut self) {
        // Rewrite in place, never truncating first, so the file is never empty for the
        // other processes reading it.
        let Ok(mut f) = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/etc/hosts")
        else {
            return;
        };
        let mut text = String::new();
        if f.read_to_string(&mut text).is_err() {
            return;
        }
        let kept: String = text
            .split_inclusive('\n')
            .filter(|l| !self.lines.iter().any(|ours| l.trim_end() == ours))
            .collect();
        let _ = f
            .seek(SeekFrom::Start(0))
            .and_then(|_| f.write_all(kept.as_bytes()))
            .and_then(|()| f.set_len(kept.len() as u64));
    }
}

fn name(role: &str) -> String {
    format!("pe-probe-{role}-{}.test", std::process::id())
}

fn write_config(dir: &std::path::Path, allowed: &[String]) -> std::path::PathBuf {
    let list = allowed
        .iter()
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let p = dir.join("c.yml");
    std::fs::write(
        &p,
        format!("probe:\n  allowed_targets: [{list}]\n  modules:\n    r:\n      kind: redis\n"),
    )
    .unwrap();
    p
}

async fn probe(e: &Exporter, target: &str) -> common::HttpResponse {
    e.get(&format!("/probe?module=r&target={target}"), &[])
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn allow_list_checks_resolved_addresses_and_ports() {
    let r1 = RedisServer::start(&[]);
    let r2 = RedisServer::start(&[]);
    let (inside, outside, mixed, named) = (
        name("inside"),
        name("outside"),
        name("mixed"),
        name("named"),
    );
    let _hosts = HostsGuard::add(&[
        ("127.0.0.1", &inside),
        ("192.0.2.10", &outside),
        ("127.0.0.1", &mixed),
        ("192.0.2.11", &mixed),
        ("127.0.0.1", &named),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &[
            format!("127.0.0.1/32:{}", r1.port),
            "[::1]".to_string(),
            format!("{named}:{}", r2.port),
        ],
    );
    let e = Exporter::start(&["--config.file", cfg.to_str().unwrap()]).await;

    // Allowed: the literal, and names whose every address is in the network.
    for (target, label) in [
        (
            format!("127.0.0.1:{}", r1.port),
            format!("127.0.0.1:{}", r1.port),
        ),
        (
            format!("localhost:{}", r1.port),
            format!("localhost:{}", r1.port),
        ),
        (
            format!("LOCALHOST:{}", r1.port),
            format!("localhost:{}", r1.port),
        ),
        (
            format!("{inside}:{}", r1.port),
            format!("{inside}:{}", r1.port),
        ),
        // Allowed by its exact name (any case), on its port only.
        (
            format!("{named}:{}", r2.port),
            format!("{named}:{}", r2.port),
        ),
        (
            format!("{}:{}", named.to_uppercase(), r2.port),
            format!("{named}:{}", r2.port),
        ),
    ] {
        let resp = probe(&e, &target).await;
        assert_eq!(resp.status, 200, "{target}: {}", resp.body);
        common::promtool_check(&resp.body);
        let m = common::Metrics::parse(&resp.body);
        assert_eq!(
            m.value("redis_up", &[("target", &label)]),
            1.0,
            "{target}: {}",
            resp.body
        );
    }
    // The named host on another port is still judged by its address.
    let resp = probe(&e, &format!("{named}:{}", r1.port)).await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    // Allowed, nothing listens on ::1 there: a 200 with redis_up 0.
    let v6 = format!("[::1]:{}", r1.port);
    let resp = probe(&e, &v6).await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(
        common::Metrics::parse(&resp.body).value("redis_up", &[("target", &v6)]),
        0.0
    );

    // Refused: outside the network, partly outside, wrong port, a neighbour address.
    for target in [
        format!("{outside}:{}", r1.port),
        format!("{mixed}:{}", r1.port),
        format!("127.0.0.1:{}", r2.port),
        format!("{inside}:{}", r2.port),
        format!("127.0.0.2:{}", r1.port),
        format!("[::2]:{}", r1.port),
        format!("[::ffff:127.0.0.2]:{}", r1.port),
        format!("192.0.2.10:{}", r1.port),
    ] {
        let resp = probe(&e, &target).await;
        assert_eq!(resp.status, 403, "{target}: {}", resp.body);
        assert!(!resp.body.contains("redis_up"));
    }
    assert!(common::logs().contains("Probe refused"));
}

#[tokio::test(flavor = "multi_thread")]
async fn unparseable_targets_are_400_and_take_no_cache_slot() {
    let r = RedisServer::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &["127.0.0.0/8".to_string()]);
    let e = Exporter::start(&["--config.file", cfg.to_str().unwrap()]).await;
    let good = format!("127.0.0.1:{}", r.port);
    assert_eq!(probe(&e, &good).await.status, 200);
    let mut admin = r.client();
    let connections = |c: &mut redis::Connection| -> u64 {
        let info: String = redis::cmd("INFO").arg("stats").query(c).unwrap();
        info.lines()
            .find_map(|l| l.strip_prefix("total_connections_received:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let before = connections(&mut admin);

    let long = format!("{}.example:1", "a".repeat(300));
    let bad: Vec<String> = [
        "",
        "127.0.0.1",
        "127.0.0.1:",
        "127.0.0.1:0",
        "127.0.0.1:65536",
        "127.0.0.1:%2B1",
        "127.0.0.1:1%20",
        "%20127.0.0.1:1",
        "127.0.0.1%0A:1",
        "127.0.0.1%00:1",
        "::1:6379",
        "[::1]",
        "[fe80::1%25eth0]:1",
        "user:pw@127.0.0.1:1",
        "127.0.0.1:1/db",
        "127.0.0.1:1,127.0.0.2:1",
        "127.1:1",
        "2130706433:1",
        "0x7f.0.0.1:1",
        ":1",
        long.as_str(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for b in &bad {
        let resp = probe(&e, b).await;
        assert_eq!(resp.status, 400, "{b:?}: {}", resp.body);
    }
    // More than the cache holds, of unparseable and of refused (IP literal, no lookup)
    // targets: none takes a slot, so the good target keeps its connection.
    for i in 0..300u32 {
        let resp = probe(&e, &format!("h{i}:99999")).await;
        assert_eq!(resp.status, 400);
        let resp = probe(&e, &format!("10.9.{}.{}:6379", i / 256, i % 256)).await;
        assert_eq!(resp.status, 403);
    }
    let resp = probe(&e, &good).await;
    assert_eq!(resp.status, 200);
    assert_eq!(
        common::Metrics::parse(&resp.body).value("redis_up", &[("target", &good)]),
        1.0
    );
    assert_eq!(
        connections(&mut admin),
        before,
        "the good target's collector was evicted and reconnected"
    );
}

#[test]
fn string_patterns_are_config_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::write_config(
        dir.path(),
        "probe:\n  allowed_targets: ['10.0.*:6379', '10.0.0.1/16', 'fd00::/8:5432', 'ok.internal:1-2', 'h:0']\n  modules:\n    r: {kind: redis}\n    bad: {kind: mongo}\n",
    );
    let err = common::config_error(
        Command::new(env!("CARGO_BIN_EXE_persistence_exporter")).args([
            "--config.file",
            cfg.to_str().unwrap(),
            "--config.check",
        ]),
    );
    for needle in [
        "\"10.0.*:6379\"",
        "10.0.0.0/16",
        "[fd00::/8]:5432",
        "\"h:0\"",
        "mongo",
    ] {
        assert!(err.contains(needle), "{needle} missing from:\n{err}");
    }
    assert!(!err.contains("ok.internal"), "{err}");
}
