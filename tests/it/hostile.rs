//! Hostile servers: scripted Redis and PostgreSQL servers on 127.0.0.1 that declare huge
//! replies and stream junk. The exporter runs as a subprocess so its peak RSS (`VmHWM`)
//! can be read; it must stay small, answer 200 within the deadline with `*_up 0` and a
//! `protocol` error. Also: the reply cap against a real Redis, pinned addresses that are
//! connected to without resolving the host, and timeout messages stating the budget used.
//!
//! `PE_HOSTILE_BIN` runs another exporter binary and `PE_HOSTILE_FLOOD_BYTES` changes how
//! much junk the servers send (default 300 MB), to compare builds:
//! `PE_HOSTILE_FLOOD_BYTES=1000000000 cargo nextest run -E 'test(/^hostile::.*flood/)'
//! --no-capture` prints each run's peak RSS.

use crate::common;

use common::postgres::PgServer;
use common::redis::RedisServer;
use common::{Metrics, free_port, http_get};
use persistence_exporter::collectors::CollectError;
use persistence_exporter::collectors::postgres::PostgresCollector;
use persistence_exporter::collectors::redis::RedisCollector;
use persistence_exporter::config::profile::Profile;
use persistence_exporter::config::{PostgresTarget, RedisTarget, RedisTls};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const RSS_LIMIT_KB: u64 = 100 * 1024;

fn flood_bytes() -> u64 {
    std::env::var("PE_HOSTILE_FLOOD_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300 * 1000 * 1000)
}

/// The exporter as a child process, killed on drop.
struct Subprocess {
    child: Child,
    addr: SocketAddr,
}

impl Subprocess {
    async fn start(args: &[&str]) -> Subprocess {
        let bin = std::env::var("PE_HOSTILE_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_persistence_exporter").to_string());
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let child = Command::new(bin)
            .args(["--web.listen-address", &addr.to_string()])
            .args(args)
            .env_remove("PERSISTENCE_EXPORTER_CONFIG_FILE")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            assert!(Instant::now() < deadline, "exporter did not listen");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Subprocess { child, addr }
    }

    /// Peak resident set size so far, in KiB.
    fn vm_hwm_kb(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc/<pid>/status")
    }
}

impl Drop for Subprocess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A scripted server: for each connection, `answer` reads what it needs and returns the
/// header to send, then junk follows fast until `limit` bytes in total or the client
/// goes away. Returns the address and the total junk sent.
async fn hostile_server(
    answer: fn(&mut tokio::net::TcpStream) -> futures_like::BoxFut<'_, Vec<u8>>,
) -> (SocketAddr, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sent = Arc::new(AtomicU64::new(0));
    let total = sent.clone();
    let limit = flood_bytes();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let total = total.clone();
            tokio::spawn(async move {
                let header = answer(&mut s).await;
                if s.write_all(&header).await.is_err() {
                    return;
                }
                let junk = vec![b'x'; 64 * 1024];
                while total.load(Ordering::Relaxed) < limit {
                    if s.write_all(&junk).await.is_err() {
                        return;
                    }
                    total.fetch_add(junk.len() as u64, Ordering::Relaxed);
                }
            });
        }
    });
    (addr, sent)
}

mod futures_like {
    pub type BoxFut<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
}

/// Redis: read the first command, answer `$999999999`.
fn redis_answer(s: &mut tokio::net::TcpStream) -> futures_like::BoxFut<'_, Vec<u8>> {
    Box::pin(async move {
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf).await;
        b"$999999999\r\n".to_vec()
    })
}

/// PostgreSQL: answer `SSLRequest` with `N`, read the startup message, then declare an
/// authentication message of almost 2 GB.
fn postgres_answer(s: &mut tokio::net::TcpStream) -> futures_like::BoxFut<'_, Vec<u8>> {
    Box::pin(async move {
        let mut len = [0u8; 4];
        loop {
            if s.read_exact(&mut len).await.is_err() {
                return Vec::new();
            }
            let n = u32::from_be_bytes(len) as usize;
            let mut body = vec![0u8; n.saturating_sub(4).min(1 << 16)];
            if s.read_exact(&mut body).await.is_err() {
                return Vec::new();
            }
            if body.get(..4) == Some(&80877103u32.to_be_bytes()[..]) {
                let _ = s.write_all(b"N").await;
                continue;
            }
            break;
        }
        let mut header = vec![b'R'];
        header.extend_from_slice(&0x7fff_fff0u32.to_be_bytes());
        header
    })
}

async fn scrape_subprocess(e: &Subprocess) -> (u16, Metrics, Duration) {
    let r = http_get(e.addr, "/metrics", &[]).await;
    (r.status, Metrics::parse(&r.body), r.elapsed)
}

fn protocol_errors(m: &Metrics, collector: &str) -> f64 {
    m.all(
        "persistence_exporter_scrape_errors_total",
        &[("collector", collector), ("reason", "protocol")],
    )
    .iter()
    .map(|s| s.value)
    .sum()
}

/// Points an exporter at a hostile server (`flag` = `url` of its address) and checks
/// that the scrape still answers 200 in time with `up` 0 and a `protocol` error, and that
/// the exporter's peak RSS stayed bounded.
async fn assert_flood_is_capped(
    what: &str,
    answer: fn(&mut tokio::net::TcpStream) -> futures_like::BoxFut<'_, Vec<u8>>,
    flag: &str,
    url: fn(SocketAddr) -> String,
    up: &str,
) {
    let (addr, sent) = hostile_server(answer).await;
    let e = Subprocess::start(&[flag, &url(addr), "--scrape.timeout", "5s"]).await;
    let (status, m, elapsed) = scrape_subprocess(&e).await;
    let hwm = e.vm_hwm_kb();
    eprintln!(
        "{what} flood: VmHWM {hwm} kB, junk sent {} bytes, scrape {elapsed:?}",
        sent.load(Ordering::Relaxed)
    );
    assert_eq!(status, 200);
    assert_eq!(m.value(up, &[]), 0.0, "{}", m.text);
    assert!(protocol_errors(&m, what) >= 1.0, "{}", m.text);
    assert!(elapsed < Duration::from_secs(6), "scrape took {elapsed:?}");
    assert!(hwm < RSS_LIMIT_KB, "peak RSS {hwm} kB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_flood_is_capped() {
    let url = |addr| format!("redis://{addr}");
    assert_flood_is_capped("redis", redis_answer, "--redis.addr", url, "redis_up").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_flood_is_capped() {
    let url = |addr| format!("postgresql://u@{addr}/db");
    assert_flood_is_capped("postgres", postgres_answer, "--postgres.dsn", url, "pg_up").await;
}

#[tokio::test]
async fn reply_cap_applies_to_a_real_redis() {
    let server = RedisServer::start(&[]);
    let url = server.url();
    let small =
        Subprocess::start(&["--redis.addr", &url, "--collector.max-reply-bytes", "100"]).await;
    let (status, m, _) = scrape_subprocess(&small).await;
    assert_eq!(status, 200);
    assert_eq!(m.value("redis_up", &[]), 0.0, "{}", m.text);
    assert!(protocol_errors(&m, "redis") >= 1.0, "{}", m.text);
    drop(small);
    let normal = Subprocess::start(&["--redis.addr", &url]).await;
    let (status, m, _) = scrape_subprocess(&normal).await;
    assert_eq!(status, 200);
    assert_eq!(m.value("redis_up", &[]), 1.0, "{}", m.text);
    assert_eq!(protocol_errors(&m, "redis"), 0.0, "{}", m.text);
}

fn redis_target(url: String, pinned: Option<SocketAddr>, timeout: Duration) -> RedisTarget {
    RedisTarget {
        name: "t".into(),
        url,
        password: None,
        tls: RedisTls::default(),
        timeout,
        container: None,
        not_in_container: false,
        profile: Profile::load("durable").unwrap(),
        pinned_addr: pinned,
    }
}

fn postgres_target(dsn: String, pinned: Option<SocketAddr>, timeout: Duration) -> PostgresTarget {
    PostgresTarget {
        name: "t".into(),
        dsn,
        password: None,
        ssl_mode: None,
        ca_file: None,
        timeout,
        log_file: None,
        slow_query_threshold: Duration::from_secs(1),
        statements_top_n: 10,
        size_interval: Duration::from_secs(60),
        container: None,
        not_in_container: false,
        profile: Profile::load("durable").unwrap(),
        pinned_addr: pinned,
    }
}

/// `.invalid` never resolves (RFC 6761): the collection can only work by connecting to
/// the pinned address without asking a resolver.
const NEVER_RESOLVED: &str = "pe-never-resolved.invalid";

#[tokio::test]
async fn redis_pinned_address_is_used_without_resolving() {
    let server = RedisServer::start(&[]);
    let pinned: SocketAddr = format!("127.0.0.1:{}", server.port).parse().unwrap();
    let url = format!("redis://{NEVER_RESOLVED}:{}", server.port);
    let mut c = RedisCollector::new(redis_target(url, Some(pinned), Duration::from_secs(3)));
    let snap = c
        .collect(tokio::time::Instant::now() + Duration::from_secs(5))
        .await
        .expect("redis_up 1 through the pinned address");
    assert!(snap.info.get("redis_version").is_some());
    assert_eq!(
        snap.auth_required,
        Some(false),
        "the auth probe is pinned too"
    );
}

#[tokio::test]
async fn postgres_pinned_address_is_used_without_resolving() {
    let server = PgServer::start(17, &[]);
    let pinned: SocketAddr = format!("127.0.0.1:{}", server.port).parse().unwrap();
    let dsn = format!(
        "postgresql://postgres@{NEVER_RESOLVED}:{}/postgres?sslmode=disable",
        server.port
    );
    let mut c = PostgresCollector::new(postgres_target(dsn, Some(pinned), Duration::from_secs(5)));
    let snap = c
        .collect(tokio::time::Instant::now() + Duration::from_secs(10))
        .await
        .expect("pg_up 1 through the pinned address");
    assert_eq!(snap.version_num / 10000, 17);
}

/// A server that accepts and never answers.
async fn silent_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    addr
}

#[tokio::test]
async fn timeout_messages_state_the_budget_used() {
    let addr = silent_server().await;
    // The scrape deadline (2.5 s) is nearer than the target timeout (5 s).
    let deadline = || tokio::time::Instant::now() + Duration::from_millis(2500);
    let mut r = RedisCollector::new(redis_target(
        format!("redis://{addr}"),
        None,
        Duration::from_secs(5),
    ));
    let e = r.collect(deadline()).await.unwrap_err();
    assert!(matches!(e, CollectError::Timeout { .. }), "{e}");
    assert!(e.to_string().contains("within 2.5s"), "{e}");
    let mut p = PostgresCollector::new(postgres_target(
        format!("postgresql://u@{addr}/db?sslmode=disable"),
        None,
        Duration::from_secs(5),
    ));
    let e = p.collect(deadline()).await.unwrap_err();
    assert!(matches!(e, CollectError::Timeout { .. }), "{e}");
    assert!(e.to_string().contains("within 2.5s"), "{e}");
    // The target timeout is nearer: it is the budget stated.
    let mut r = RedisCollector::new(redis_target(
        format!("redis://{addr}"),
        None,
        Duration::from_millis(1500),
    ));
    let e = r
        .collect(tokio::time::Instant::now() + Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("within 1.5s"), "{e}");
}
