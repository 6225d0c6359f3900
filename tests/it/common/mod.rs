//! Shared test harness: runs the exporter in-process on `127.0.0.1:0`, scrapes it over
//! real HTTP, parses the exposition with a real parser and lints it with `promtool`.
//! Server harnesses (Redis, PostgreSQL, Docker) live in the submodules.

pub mod docker;
pub mod grafana;
pub mod postgres;
pub mod prometheus;
pub mod promql;
pub mod redis;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Reads a required PE_* variable set by `scripts/setup`'s env.sh; panics with a clear
/// message when it is missing (a missing server is installed, never skipped).
pub fn env_path(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: run the tests through scripts/test, or `source /var/cache/persistence-exporter/env.sh` after scripts/setup")
    })
}

/// Where [`free_port`] keeps one lock file per port, shared by every test process (and
/// every checkout) on the machine.
const PORT_LOCK_DIR: &str = "/tmp/pe-test-ports";

/// Ports [`free_port`] hands out: below the kernel's ephemeral range (32768–60999 by
/// default), so neither `bind(…:0)` nor an outgoing connection is ever given one.
const PORT_RANGE: std::ops::Range<u16> = 20000..32000;

/// How many times a harness starts a server subprocess on a new port when the port turned
/// out to be taken (something outside the suite bound it).
pub const PORT_ATTEMPTS: usize = 3;

/// Writes a YAML config file (`config.yml`) into `dir` and returns its path.
pub fn write_config(dir: &std::path::Path, yaml: &str) -> std::path::PathBuf {
    let p = dir.join("config.yml");
    std::fs::write(&p, yaml).unwrap();
    p
}

/// Runs `cmd` (the exporter with a configuration it must reject), asserts that it exits
/// 2, as every configuration error does, and returns what it printed on stderr.
pub fn config_error(cmd: &mut std::process::Command) -> String {
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{err}");
    err
}

/// A TCP port on 127.0.0.1 that is free and stays this process's own: no other test
/// process gets it while this one runs (a `flock` on `PORT_LOCK_DIR/<port>`, held until
/// the process exits), the kernel never hands it out on its own (see [`PORT_RANGE`]), and
/// nothing listened on it when it was chosen. For a server this process starts, or for a
/// port where nothing must answer. Harnesses that start a server subprocess still retry
/// on a new port when the bind fails ([`PORT_ATTEMPTS`]).
pub fn free_port() -> u16 {
    use std::os::fd::AsRawFd as _;
    static HELD: Mutex<Vec<std::fs::File>> = Mutex::new(Vec::new());
    std::fs::create_dir_all(PORT_LOCK_DIR).unwrap();
    let span = u64::from(PORT_RANGE.end - PORT_RANGE.start);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let start = (u64::from(std::process::id()) * 7919 + u64::from(nanos)) % span;
    for i in 0..span {
        let port = PORT_RANGE.start + ((start + i) % span) as u16;
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(format!("{PORT_LOCK_DIR}/{port}"))
            .unwrap();
        // SAFETY: flock(2) on a file descriptor this function owns.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            continue;
        }
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
            continue;
        }
        HELD.lock().unwrap().push(lock);
        return port;
    }
    panic!("no free port in {PORT_RANGE:?}");
}

/// True when a server's log says it could not bind its port.
pub fn bind_failed(log: &str) -> bool {
    log.contains("Address already in use")
        || log.contains("address already in use")
        || log.contains("port is already allocated")
}

/// Everything the exporter logged during the tests of this binary, at debug level.
pub fn logs() -> String {
    String::from_utf8_lossy(&log_buffer().lock().unwrap()).into_owned()
}

fn log_buffer() -> &'static Mutex<Vec<u8>> {
    static BUF: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();
    BUF.get_or_init(|| Mutex::new(Vec::new()))
}

struct BufWriter;
impl std::io::Write for BufWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        log_buffer().lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn init_test_logging() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(|| BufWriter)
            .with_ansi(false)
            .try_init();
    });
}

/// An exporter running in this process.
pub struct Exporter {
    /// Where it listens.
    pub addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Exporter {
    /// Starts the exporter with these command-line arguments (no program name), on
    /// `127.0.0.1:0` unless the args say otherwise.
    pub async fn start(args: &[&str]) -> Exporter {
        use clap::Parser as _;
        persistence_exporter::init_crypto();
        init_test_logging();
        let mut argv = vec![
            "persistence_exporter",
            "--web.listen-address",
            "127.0.0.1:0",
        ];
        argv.extend_from_slice(args);
        let cli = persistence_exporter::cli::Cli::try_parse_from(argv).expect("valid flags");
        let settings =
            persistence_exporter::config::load(&cli, &persistence_exporter::config::ProcessEnv)
                .unwrap_or_else(|e| panic!("{e}"));
        let listener = persistence_exporter::http::bind(&settings.web.listen_address)
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            persistence_exporter::serve(listener, Some(cli), settings, async {
                let _ = rx.await;
            })
            .await
            .expect("valid runtime");
        });
        Exporter {
            addr,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// GET a path; returns the response.
    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
        http_get(self.addr, path, headers).await
    }

    /// Scrapes the metrics, asserts 200 and a clean `promtool check metrics`, and parses.
    pub async fn scrape(&self) -> Metrics {
        self.scrape_with(&[]).await
    }

    /// Like [`scrape`](Self::scrape) with extra request headers.
    pub async fn scrape_with(&self, headers: &[(&str, &str)]) -> Metrics {
        let r = self.get("/metrics", headers).await;
        assert_eq!(r.status, 200, "scrape failed: {}", r.body);
        promtool_check(&r.body);
        Metrics::parse(&r.body)
    }

    /// Scrapes until `cond` holds (servers change state asynchronously), for at most
    /// `timeout`; panics with the last exposition otherwise.
    pub async fn scrape_until(
        &self,
        what: &str,
        timeout: Duration,
        cond: impl Fn(&Metrics) -> bool,
    ) -> Metrics {
        let deadline = Instant::now() + timeout;
        loop {
            let m = self.scrape().await;
            if cond(&m) {
                return m;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; last scrape:\n{}",
                m.text
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(20), t).await;
        }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A raw HTTP response.
#[derive(Debug)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Header names in lower case.
    pub headers: BTreeMap<String, String>,
    /// Body, gunzipped when the server compressed it.
    pub body: String,
    /// Body bytes as received.
    pub raw_len: usize,
    /// Time until the whole response was read.
    pub elapsed: Duration,
}

/// Minimal HTTP/1.1 GET with `Connection: close`, so tests see exactly what a client sees.
pub async fn http_get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
    let start = Instant::now();
    let mut s = tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr))
        .await
        .expect("connect timeout")
        .expect("connect");
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), s.read_to_end(&mut buf))
        .await
        .expect("response within 60s")
        .unwrap();
    let elapsed = start.elapsed();
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end");
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let mut body = buf[split + 4..].to_vec();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: BTreeMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    if headers
        .get("transfer-encoding")
        .is_some_and(|v| v == "chunked")
    {
        body = dechunk(&body);
    }
    let raw_len = body.len();
    if headers.get("content-encoding").is_some_and(|v| v == "gzip") {
        let mut d = flate2::read::GzDecoder::new(&body[..]);
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut d, &mut out).expect("valid gzip");
        body = out;
    }
    HttpResponse {
        status,
        headers,
        body: String::from_utf8(body).expect("utf-8 body"),
        raw_len,
        elapsed,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(std::str::from_utf8(&b[..eol]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[eol + 2 + size + 2..];
    }
    out
}

/// The `promtool check metrics` findings accepted on purpose, each with its reason: names
/// of the peer exporters (redis_exporter, postgres_exporter) and of Docker Engine's own
/// fields, fixed as contracts (docs/contracts.md) so that existing dashboards and alerts
/// keep working. Nothing else: a new metric never needs an entry here.
pub const ACCEPTED_LINT: &[(&str, &str)] = &[
    (
        "redis_rdb_last_bgsave_duration_sec metric names should not contain abbreviated units",
        "redis_exporter's name (`_sec`), kept so its dashboards and alerts work unchanged",
    ),
    (
        "docker_volume_ref_count non-histogram and non-summary metrics should not have \"_count\" suffix",
        "Docker Engine's own field (`UsageData.RefCount`); the Docker volumes dashboard uses it",
    ),
    (
        "docker_container_restart_count non-histogram and non-summary metrics should not have \"_count\" suffix",
        "Docker Engine's own field (`RestartCount`); the Docker volumes dashboard uses it",
    ),
    (
        "pg_stat_activity_count non-histogram and non-summary metrics should not have \"_count\" suffix",
        "postgres_exporter's name (`_count` on a gauge or counter), kept so its dashboards and alerts work unchanged",
    ),
    (
        "pg_stat_archiver_archived_count counter metrics should have \"_total\" suffix",
        "postgres_exporter's counter name, without `_total`, kept so its dashboards and alerts work unchanged",
    ),
    (
        "pg_stat_archiver_archived_count non-histogram and non-summary metrics should not have \"_count\" suffix",
        "postgres_exporter's name (`_count` on a gauge or counter), kept so its dashboards and alerts work unchanged",
    ),
    (
        "pg_stat_archiver_failed_count counter metrics should have \"_total\" suffix",
        "postgres_exporter's counter name, without `_total`, kept so its dashboards and alerts work unchanged",
    ),
    (
        "pg_stat_archiver_failed_count non-histogram and non-summary metrics should not have \"_count\" suffix",
        "postgres_exporter's name (`_count` on a gauge or counter), kept so its dashboards and alerts work unchanged",
    ),
    (
        "pg_settings_tcp_keepalives_count non-histogram and non-summary metrics should not have \"_count\" suffix",
        "postgres_exporter's `pg_settings_<setting>` scheme; the setting's own name ends in `_count`",
    ),
    (
        "pg_settings_wal_summary_keep_time_seconds metric name should not include type 'summary'",
        "postgres_exporter's `pg_settings_<setting>` scheme; the setting is `wal_summary_keep_time`",
    ),
    (
        "pg_stat_database_xact_commit counter metrics should have \"_total\" suffix",
        "postgres_exporter's counter name, without `_total`, kept so its dashboards and alerts work unchanged",
    ),
    (
        "pg_stat_database_xact_rollback counter metrics should have \"_total\" suffix",
        "postgres_exporter's counter name, without `_total`, kept so its dashboards and alerts work unchanged",
    ),
    (
        "pg_stat_database_blks_read counter metrics should have \"_total\" suffix",
        "postgres_exporter's counter name, without `_total`, kept so its dashboards and alerts work unchanged",
    ),
    (
        "pg_stat_database_blks_hit counter metrics should have \"_total\" suffix",
        "postgres_exporter's counter name, without `_total`, kept so its dashboards and alerts work unchanged",
    ),
    (
        "pg_stat_database_tup_returned counter metrics should have \"_total\" suffix",
        "postgres_exporter's counter name, without `_total`, kept so its dashboards and alerts work unchanged",
    ),
    (
        "pg_stat_database_tup_fetched counter metrics should have \"_total\" suffix",
        "postgres_exporter's counter name, without `_total`, kept so its dashboards and alerts work unchanged",
    ),
    (
        "pg_stat_database_tup_inserted counter metrics should have \"_total\" suffix",
        "postgres_exporter's counter name, without `_total`, kept so its dashboards and alerts work unchanged",
    ),
    (
        "pg_stat_database_tup_updated counter metrics should have \"_total\" suffix",
        "postgres_exporter's counter name, without `_total`, kept so its dashboards and alerts work unchanged",
    ),
    (
        "pg_stat_database_tup_deleted counter metrics should have \"_total\" suffix",
        "postgres_exporter's counter name, without `_total`, kept so its dashboards and alerts work unchanged",
    ),
    (
        "pg_stat_database_conflicts counter metrics should have \"_total\" suffix",
        "postgres_exporter's counter name, without `_total`, kept so its dashboards and alerts work unchanged",
    ),
    (
        "pg_stat_database_temp_files counter metrics should have \"_total\" suffix",
        "postgres_exporter's counter name, without `_total`, kept so its dashboards and alerts work unchanged",
    ),
    (
        "pg_stat_database_temp_bytes counter metrics should have \"_total\" suffix",
        "postgres_exporter's counter name, without `_total`, kept so its dashboards and alerts work unchanged",
    ),
    (
        "pg_stat_database_deadlocks counter metrics should have \"_total\" suffix",
        "postgres_exporter's counter name, without `_total`, kept so its dashboards and alerts work unchanged",
    ),
    (
        "pg_stat_database_checksum_failures counter metrics should have \"_total\" suffix",
        "postgres_exporter's counter name, without `_total`, kept so its dashboards and alerts work unchanged",
    ),
];

/// True when `finding` is one of the [`ACCEPTED_LINT`] lines.
pub fn is_accepted_lint(finding: &str) -> bool {
    ACCEPTED_LINT.iter().any(|(f, _)| *f == finding)
}

/// Runs `promtool check metrics` on an exposition and panics on any finding other than
/// the [`ACCEPTED_LINT`] ones.
pub fn promtool_check(body: &str) {
    let promtool = env_path("PE_PROMTOOL");
    let mut child = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let findings: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !is_accepted_lint(l.trim()))
        .collect();
    assert!(
        findings.is_empty(),
        "promtool check metrics found problems:\n{text}"
    );
    // promtool exits 3 for lint findings only; anything else is a parse error.
    assert!(
        out.status.success() || (out.status.code() == Some(3) && !text.trim().is_empty()),
        "promtool check metrics failed:\n{text}"
    );
}

/// One parsed sample.
#[derive(Clone, Debug)]
pub struct Sample {
    /// Metric name (for histograms: with `_bucket`/`_sum`/`_count`).
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Value.
    pub value: f64,
}

/// A parsed exposition (parsed with the `prometheus-parse` crate).
#[derive(Clone, Debug)]
pub struct Metrics {
    /// Every sample.
    pub samples: Vec<Sample>,
    /// The text as received.
    pub text: String,
    /// `# TYPE` per family.
    pub types: BTreeMap<String, String>,
}

impl Metrics {
    /// Parses an exposition.
    pub fn parse(text: &str) -> Metrics {
        let lines = text.lines().map(|l| Ok(l.to_string()));
        let scrape = prometheus_parse::Scrape::parse(lines).expect("valid exposition");
        let mut samples = Vec::new();
        for s in scrape.samples {
            let labels: BTreeMap<String, String> = s
                .labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            match s.value {
                prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Untyped(v) => samples.push(Sample {
                    name: s.metric,
                    labels,
                    value: v,
                }),
                prometheus_parse::Value::Histogram(buckets) => {
                    for b in buckets {
                        let mut l = labels.clone();
                        l.insert("le".into(), b.less_than.to_string());
                        samples.push(Sample {
                            name: format!("{}_bucket", s.metric),
                            labels: l,
                            value: b.count,
                        });
                    }
                }
                prometheus_parse::Value::Summary(_) => {}
            }
        }
        // prometheus-parse folds _sum/_count into the histogram; read them from the text.
        for line in text.lines() {
            if line.starts_with('#') {
                continue;
            }
            let name_end = line.find(['{', ' ']).unwrap_or(line.len());
            let name = &line[..name_end];
            if name.ends_with("_sum") || name.ends_with("_count") {
                if samples.iter().any(|s| s.name == name) {
                    continue;
                }
                let value: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
                let labels = parse_labels(&line[name_end..]);
                samples.push(Sample {
                    name: name.to_string(),
                    labels,
                    value,
                });
            }
        }
        let types = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split_once(' '))
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect();
        Metrics {
            samples,
            text: text.to_string(),
            types,
        }
    }

    /// All samples of a metric whose labels include `labels`.
    pub fn all(&self, name: &str, labels: &[(&str, &str)]) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|s| s.name == name)
            .filter(|s| {
                labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .collect()
    }

    /// The single sample matching; `None` if there is none; panics if ambiguous.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let all = self.all(name, labels);
        assert!(all.len() <= 1, "{name}{labels:?} is ambiguous: {all:?}");
        all.first().map(|s| s.value)
    }

    /// Like [`get`](Self::get) but panics when absent.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels)
            .unwrap_or_else(|| panic!("{name}{labels:?} missing from:\n{}", self.text))
    }

    /// True when any sample of the family exists.
    pub fn has(&self, name: &str) -> bool {
        self.samples.iter().any(|s| s.name == name)
    }
}

fn parse_labels(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(inner) = s
        .strip_prefix('{')
        .and_then(|r| r.split_once('}'))
        .map(|(i, _)| i)
    else {
        return out;
    };
    let mut rest = inner;
    while let Some(eq) = rest.find('=') {
        let key = rest[..eq].trim_start_matches(',').trim().to_string();
        let after = &rest[eq + 2..];
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, n)) = chars.next() {
                        value.push(match n {
                            'n' => '\n',
                            other => other,
                        });
                    }
                }
                '"' => {
                    end = i;
                    break;
                }
                c => value.push(c),
            }
        }
        out.insert(key, value);
        rest = &after[(end + 1).min(after.len())..];
    }
    out
}

/// A TCP listener that accepts connections and never answers: the worst kind of target.
pub struct Blackhole {
    /// Its address.
    pub addr: SocketAddr,
    _thread: std::thread::JoinHandle<()>,
}

impl Blackhole {
    /// Starts one on a free loopback port; it holds accepted sockets open for 2 minutes at most.
    pub fn start() -> Blackhole {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        l.set_nonblocking(true).unwrap();
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            let until = Instant::now() + Duration::from_secs(120);
            while Instant::now() < until {
                match l.accept() {
                    Ok((s, _)) => held.push(s),
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Blackhole {
            addr,
            _thread: thread,
        }
    }
}

#[test]
fn free_ports_are_distinct_bindable_and_outside_the_ephemeral_range() {
    let ports: Vec<u16> = (0..20).map(|_| free_port()).collect();
    let distinct: std::collections::BTreeSet<u16> = ports.iter().copied().collect();
    assert_eq!(distinct.len(), ports.len(), "{ports:?}");
    for p in &ports {
        assert!(PORT_RANGE.contains(p), "{p}");
        std::net::TcpListener::bind(("127.0.0.1", *p)).unwrap();
    }
    // The kernel's own choice never lands in the range.
    let kernel = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    assert!(!PORT_RANGE.contains(&kernel), "{kernel}");
}

#[test]
fn every_accepted_lint_has_a_reason_and_a_contract() {
    let contracts = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/contracts.md"),
    )
    .unwrap();
    for (finding, reason) in ACCEPTED_LINT {
        assert!(!reason.trim().is_empty(), "{finding}: no reason");
        let name = finding.split_whitespace().next().unwrap();
        assert!(
            contracts.contains(&format!("`{name}`")),
            "{name} is accepted by promtool's lint but not listed in docs/contracts.md"
        );
    }
}
