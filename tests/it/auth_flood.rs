//! Basic auth under a flood of wrong passwords, against the real exporter over HTTP:
//! a scrape with valid credentials stays fast, an unknown user is rejected no faster
//! than a known one with a wrong password, and a reload forgets remembered credentials.
//! The flood is bounded (300 requests, 50 at a time, loopback only).

use crate::common;

use common::redis::RedisServer;
use common::{Exporter, HttpResponse, http_get};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// bcrypt cost of the test users: slow enough (tens of ms or more in a debug build) that
/// running it inline would show, cheap enough to keep the test short.
const COST: u32 = 8;

fn basic(user: &str, pass: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}

fn write_web_config(dir: &std::path::Path, users: &[(&str, &str)]) -> String {
    let mut text = String::from("basic_auth_users:\n");
    for (u, pw) in users {
        text.push_str(&format!("  {u}: '{}'\n", bcrypt::hash(pw, COST).unwrap()));
    }
    let p = dir.join("web.yml");
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

async fn get_as(addr: SocketAddr, path: &str, user: &str, pass: &str) -> HttpResponse {
    let auth = basic(user, pass);
    http_get(addr, path, &[("Authorization", auth.as_str())]).await
}

/// Minimal authenticated `POST` with an empty body; returns (status, raw response).
async fn post(addr: SocketAddr, path: &str, auth: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {auth}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut buf))
        .await
        .expect("reload answers within 30s")
        .unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn valid_scrapes_stay_fast_during_a_wrong_password_flood() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_web_config(dir.path(), &[("prometheus", "right-pw")]);
    let redis = RedisServer::start(&[]);
    let e = Exporter::start(&["--web.config.file", &cfg, "--redis.addr", &redis.url()]).await;
    let addr = e.addr;
    // The first scrape pays bcrypt once; later ones are remembered.
    let r = get_as(addr, "/metrics", "prometheus", "right-pw").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut before = Vec::new();
    for _ in 0..20 {
        let r = get_as(addr, "/metrics", "prometheus", "right-pw").await;
        assert_eq!(r.status, 200);
        assert!(r.body.contains("redis_up 1"), "{}", r.body);
        before.push(r.elapsed);
    }

    // The flood: 300 distinct wrong passwords (so nothing is remembered), 50 at a time.
    let total = 300;
    let next = Arc::new(AtomicUsize::new(0));
    let flood_done = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..50 {
        let (next, flood_done) = (next.clone(), flood_done.clone());
        workers.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= total {
                    break;
                }
                let r = get_as(addr, "/metrics", "prometheus", &format!("wrong-{i}")).await;
                if r.status == 503 {
                    assert_eq!(r.headers.get("retry-after").map(String::as_str), Some("1"));
                }
                statuses.push(r.status);
            }
            flood_done.fetch_add(1, Ordering::SeqCst);
            statuses
        }));
    }
    let mut during = Vec::new();
    let started = Instant::now();
    while flood_done.load(Ordering::SeqCst) < 50 && during.len() < 200 {
        let r = get_as(addr, "/metrics", "prometheus", "right-pw").await;
        assert_eq!(r.status, 200, "valid scrape refused during the flood");
        during.push(r.elapsed);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut statuses = Vec::new();
    for w in workers {
        statuses.extend(
            tokio::time::timeout(Duration::from_secs(120), w)
                .await
                .expect("flood finishes within 2 minutes")
                .unwrap(),
        );
    }
    let flood_time = started.elapsed();
    let unauthorized = statuses.iter().filter(|s| **s == 401).count();
    let busy = statuses.iter().filter(|s| **s == 503).count();
    assert_eq!(statuses.len(), total);
    assert_eq!(unauthorized + busy, total, "only 401 or 503: {statuses:?}");
    assert!(
        unauthorized > 0,
        "some wrong passwords were actually checked"
    );
    assert!(
        during.len() >= 3,
        "only {} valid scrapes during a {flood_time:?} flood",
        during.len()
    );
    let (p50_before, p50_during) = (median(before), median(during.clone()));
    let bound = (p50_before * 10).max(Duration::from_millis(250));
    eprintln!(
        "valid scrape p50 before {p50_before:?}, during {p50_during:?} ({} scrapes, max {:?}); flood {flood_time:?}: {unauthorized}×401 {busy}×503",
        during.len(),
        during.iter().max()
    );
    assert!(
        p50_during < bound,
        "valid scrapes slowed from {p50_before:?} to {p50_during:?} during the flood"
    );
    e.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_users_are_not_rejected_faster() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_web_config(dir.path(), &[("alice", "alice-pw"), ("bob", "bob-pw")]);
    let redis = RedisServer::start(&[]);
    let e = Exporter::start(&["--web.config.file", &cfg, "--redis.addr", &redis.url()]).await;
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    // Distinct passwords so no failure is remembered; interleaved so that machine load
    // affects both alike.
    for i in 0..10 {
        let r = get_as(e.addr, "/-/healthy", "alice", &format!("guess-{i}")).await;
        assert_eq!(r.status, 401);
        known.push(r.elapsed);
        let r = get_as(e.addr, "/-/healthy", "mallory", &format!("guess-{i}")).await;
        assert_eq!(r.status, 401);
        assert!(r.headers.contains_key("www-authenticate"));
        unknown.push(r.elapsed);
    }
    let (k, u) = (median(known), median(unknown));
    eprintln!("median rejection: known user {k:?}, unknown user {u:?}");
    assert!(u * 2 >= k, "unknown user rejected in {u:?}, known in {k:?}");
    // A remembered wrong guess is answered without bcrypt, still 401.
    let r = get_as(e.addr, "/-/healthy", "mallory", "guess-0").await;
    assert_eq!(r.status, 401);
    assert_eq!(
        get_as(e.addr, "/-/healthy", "bob", "bob-pw").await.status,
        200
    );
    e.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_forgets_remembered_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_web_config(dir.path(), &[("prometheus", "old-pw")]);
    let redis = RedisServer::start(&[]);
    let e = Exporter::start(&[
        "--web.config.file",
        &cfg,
        "--web.enable-lifecycle",
        "--redis.addr",
        &redis.url(),
    ])
    .await;
    assert_eq!(
        get_as(e.addr, "/-/healthy", "prometheus", "old-pw")
            .await
            .status,
        200
    );
    assert_eq!(
        get_as(e.addr, "/-/healthy", "prometheus", "new-pw")
            .await
            .status,
        401
    );
    // Rotate the password, reload (authenticated with the old one).
    write_web_config(dir.path(), &[("prometheus", "new-pw")]);
    let old = basic("prometheus", "old-pw");
    let (status, body) = post(e.addr, "/-/reload", &old).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        get_as(e.addr, "/-/healthy", "prometheus", "old-pw")
            .await
            .status,
        401,
        "a remembered old password outlived the reload"
    );
    assert_eq!(
        get_as(e.addr, "/-/healthy", "prometheus", "new-pw")
            .await
            .status,
        200,
        "a remembered failure outlived the reload"
    );
    e.stop().await;
}
