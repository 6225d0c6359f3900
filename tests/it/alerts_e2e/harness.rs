//! The harness of the end-to-end alert test: Prometheus and Alertmanager started from
//! the repository's files (with the test's rewrites), and the webhook receiver that
//! records what Alertmanager posts.

use super::*;

/// The `for:` every rule gets in the test copy.
pub(super) const TEST_FOR: &str = "2s";

/// One webhook notification as Alertmanager posted it.
#[derive(Clone, Debug)]
pub(super) struct Notification {
    /// `/page` or `/ticket`.
    pub(super) path: String,
    pub(super) body: Value,
    pub(super) at: Instant,
}

impl Notification {
    /// The alerts in it as `(status, labels, annotations)`.
    pub(super) fn alerts(&self) -> Vec<(String, Value, Value)> {
        self.body["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| {
                (
                    a["status"].as_str().unwrap_or("").to_string(),
                    a["labels"].clone(),
                    a["annotations"].clone(),
                )
            })
            .collect()
    }
}

/// A tiny HTTP server on 127.0.0.1:0 collecting the POSTs of Alertmanager's webhooks.
pub(super) struct Webhook {
    pub(super) addr: SocketAddr,
    pub(super) received: Arc<Mutex<Vec<Notification>>>,
    pub(super) task: tokio::task::JoinHandle<()>,
}

impl Webhook {
    pub(super) async fn start() -> Webhook {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = received.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = listener.accept().await else {
                    return;
                };
                let sink = sink.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 8192];
                    // Reads more of the request; false on EOF, error or 10 s of silence.
                    async fn more(
                        s: &mut tokio::net::TcpStream,
                        chunk: &mut [u8],
                        buf: &mut Vec<u8>,
                    ) -> bool {
                        match tokio::time::timeout(Duration::from_secs(10), s.read(chunk)).await {
                            Ok(Ok(n)) if n > 0 => {
                                buf.extend_from_slice(&chunk[..n]);
                                true
                            }
                            _ => false,
                        }
                    }
                    let (head_end, len) = loop {
                        if !more(&mut s, &mut chunk, &mut buf).await {
                            return;
                        }
                        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..p]).to_ascii_lowercase();
                            let len = head
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .and_then(|v| v.trim().parse::<usize>().ok())
                                .unwrap_or(0);
                            break (p + 4, len);
                        }
                    };
                    while buf.len() < head_end + len {
                        if !more(&mut s, &mut chunk, &mut buf).await {
                            return;
                        }
                    }
                    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
                    let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
                    let body = serde_json::from_slice(&buf[head_end..head_end + len])
                        .unwrap_or(Value::Null);
                    sink.lock().unwrap().push(Notification {
                        path,
                        body,
                        at: Instant::now(),
                    });
                    let _ = s
                        .write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        )
                        .await;
                    let _ = s.shutdown().await;
                });
            }
        });
        Webhook {
            addr,
            received,
            task,
        }
    }

    pub(super) fn all(&self) -> Vec<Notification> {
        self.received.lock().unwrap().clone()
    }

    /// Waits (bounded) for a notification on `path`, received after `after`, with an
    /// alert of `status` whose labels include `labels`; returns it and that alert.
    pub(super) async fn wait_for(
        &self,
        path: &str,
        status: &str,
        labels: &[(&str, &str)],
        after: Instant,
        within: Duration,
        diag: &dyn Fn() -> String,
    ) -> (Notification, (String, Value, Value)) {
        let until = Instant::now() + within;
        loop {
            for n in self.all() {
                if n.path != path || n.at < after {
                    continue;
                }
                for a in n.alerts() {
                    if a.0 == status && labels.iter().all(|(k, v)| a.1[*k].as_str() == Some(*v)) {
                        return (n, a);
                    }
                }
            }
            if Instant::now() > until {
                panic!(
                    "no {status} alert {labels:?} at {path} within {within:?}; received:\n{:#?}\n{}",
                    self.all()
                        .iter()
                        .map(|n| (n.path.clone(), n.alerts()))
                        .collect::<Vec<_>>(),
                    diag()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A child process (Prometheus, Alertmanager) with its stderr in a file, killed by PID
/// when dropped.
pub(super) struct Proc {
    pub(super) name: &'static str,
    pub(super) child: Child,
    pub(super) log: PathBuf,
    pub(super) addr: SocketAddr,
}

impl Proc {
    pub(super) fn spawn(
        name: &'static str,
        bin: &str,
        args: &[String],
        dir: &Path,
        addr: SocketAddr,
    ) -> Proc {
        let log = dir.join(format!("{name}.log"));
        let child = Command::new(bin)
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.join(format!("{name}.out"))).unwrap())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("{name} ({bin}) does not start: {e}"));
        Proc {
            name,
            child,
            log,
            addr,
        }
    }

    pub(super) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (bounded) for `/-/ready`.
    pub(super) async fn wait_ready(&mut self) {
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("{} exited with {status}:\n{}", self.name, self.log());
            }
            if tokio::net::TcpStream::connect(self.addr).await.is_ok()
                && http_get(self.addr, "/-/ready", &[]).await.status == 200
            {
                return;
            }
            assert!(
                Instant::now() < until,
                "{} not ready within 30s:\n{}",
                self.name,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(super) fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

/// `text` with `from` replaced by `to`, asserting that `from` is there (so that a change
/// of the shipped file cannot silently turn a rewrite into a no-op).
pub(super) fn replace_once(text: &str, from: &str, to: &str, file: &str) -> String {
    assert!(text.contains(from), "{file} no longer contains {from:?}");
    text.replace(from, to)
}

/// Starts Alertmanager with `deploy/alertmanager.yml`, receivers pointed at `hook`.
pub(super) async fn start_alertmanager(tmp: &Path, hook: SocketAddr) -> Proc {
    let file = "deploy/alertmanager.yml";
    let mut cfg = std::fs::read_to_string(repo().join(file)).unwrap();
    cfg = replace_once(
        &cfg,
        "http://pager.example.invalid/persistence-exporter",
        &format!("http://{hook}/page"),
        file,
    );
    cfg = replace_once(
        &cfg,
        "http://tickets.example.invalid/persistence-exporter",
        &format!("http://{hook}/ticket"),
        file,
    );
    cfg = replace_once(&cfg, "group_wait: 30s", "group_wait: 1s", file);
    cfg = replace_once(&cfg, "group_interval: 5m", "group_interval: 1s", file);
    let dir = tmp.join("alertmanager");
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::write(dir.join("alertmanager.yml"), cfg).unwrap();
    spawn_ready("alertmanager", "PE_ALERTMANAGER", &dir, |addr| {
        vec![
            "--config.file=alertmanager.yml".into(),
            "--storage.path=data".into(),
            format!("--web.listen-address={addr}"),
            "--cluster.listen-address=".into(),
            "--log.level=warn".into(),
        ]
    })
    .await
}

/// Starts the binary named by the environment variable `bin_env` in `dir` on a free
/// loopback address with the flags `args(address)`, and waits until it answers.
async fn spawn_ready(
    name: &'static str,
    bin_env: &str,
    dir: &Path,
    args: impl FnOnce(SocketAddr) -> Vec<String>,
) -> Proc {
    let addr = loopback();
    let mut p = Proc::spawn(name, &env_path(bin_env), &args(addr), dir, addr);
    p.wait_ready().await;
    p
}

/// Starts Prometheus in `dir` (created) with `cfg` as its `prometheus.yml`.
pub(super) async fn spawn_prometheus(dir: &Path, cfg: &str) -> Proc {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("prometheus.yml"), cfg).unwrap();
    spawn_ready("prometheus", "PE_PROMETHEUS", dir, |addr| {
        vec![
            "--config.file=prometheus.yml".into(),
            "--storage.tsdb.path=data".into(),
            format!("--web.listen-address={addr}"),
            "--log.level=warn".into(),
        ]
    })
    .await
}

/// Copies `alerts/*.yml` into `dir`, every `for:` rewritten to [`TEST_FOR`]; returns how
/// many were rewritten.
pub(super) fn copy_rules(dir: &Path) -> usize {
    std::fs::create_dir_all(dir).unwrap();
    let mut rewritten = 0;
    for entry in std::fs::read_dir(repo().join("alerts")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|x| x != "yml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let out: Vec<String> = text
            .lines()
            .map(|l| {
                let t = l.trim_start();
                if t.starts_with("for: ") {
                    rewritten += 1;
                    format!("{}for: {TEST_FOR}", &l[..l.len() - t.len()])
                } else {
                    l.to_string()
                }
            })
            .collect();
        std::fs::write(dir.join(path.file_name().unwrap()), out.join("\n") + "\n").unwrap();
    }
    rewritten
}

/// Starts Prometheus scraping `exporter` every second with the rules loaded, sending to
/// `alertmanager`.
pub(super) async fn start_prometheus(
    tmp: &Path,
    exporter: SocketAddr,
    alertmanager: SocketAddr,
) -> Proc {
    let dir = tmp.join("prometheus");
    let rewritten = copy_rules(&dir.join("rules"));
    eprintln!("rule copy: {rewritten} `for:` durations rewritten to {TEST_FOR}");
    let cfg = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
         rule_files:\n  - rules/*.yml\n\
         alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{alertmanager}']\n\
         scrape_configs:\n  - job_name: persistence_exporter\n    static_configs:\n      - targets: ['{exporter}']\n"
    );
    spawn_prometheus(&dir, &cfg).await
}

/// Prometheus' view of its alerts, for failure messages.
pub(super) async fn prometheus_alerts(p: SocketAddr) -> String {
    http_get(p, "/api/v1/alerts", &[]).await.body
}
