//! `pg_slow_queries_total` is exact against a real PostgreSQL writing its log: across a
//! `copytruncate` whose file regrew past the follower's offset before it looked, across
//! rotation by rename (the server keeps writing to the renamed file until restarted), and
//! across configuration reloads, which keep the counters (slow queries and
//! `persistence_exporter_scrape_errors_total`) of unchanged targets and reset only the
//! changed ones.
//!
//! The reload test runs the exporter in-process through the library API
//! (`Runtime::build`, `AppState::new`, `http::serve`) and reloads with
//! `AppState::reload()`, the function `POST /-/reload` and SIGHUP both call; so it depends
//! on neither the HTTP reload endpoint's gating nor signals.

use crate::common;

use common::postgres::PgServer;
use common::{Exporter, Metrics, free_port, http_get, promtool_check};
use persistence_exporter::http::{AppState, Runtime};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const VERSION: u32 = 17;

fn slow_server() -> PgServer {
    PgServer::start(VERSION, &[("log_min_duration_statement", "1000")])
}

async fn follow(s: &PgServer) -> Exporter {
    Exporter::start(&[
        "--postgres.dsn",
        &s.dsn("postgres", "postgres"),
        "--postgres.log-file",
        s.log_file.to_str().unwrap(),
    ])
    .await
}

fn slow_labels(s: &PgServer) -> Vec<(String, String)> {
    vec![
        ("target".into(), s.target("postgres")),
        ("datname".into(), "postgres".into()),
    ]
}

fn borrow(l: &[(String, String)]) -> Vec<(&str, &str)> {
    l.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// Scrapes until the counter reaches `want`, then twice more a little later: it must stay
/// at exactly `want` (no late double count).
async fn assert_exact(e: &Exporter, labels: &[(String, String)], want: f64) {
    let l = borrow(labels);
    e.scrape_until(
        &format!("{want} slow statements"),
        Duration::from_secs(20),
        |m| m.get("pg_slow_queries_total", &l) >= Some(want),
    )
    .await;
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(600)).await;
        let m = e.scrape().await;
        assert_eq!(m.value("pg_slow_queries_total", &l), want, "{}", m.text);
    }
}

async fn sleep_slowly(s: &PgServer) {
    s.admin("postgres")
        .await
        .batch_execute("SELECT pg_sleep(1.1)")
        .await
        .unwrap();
}

fn append(p: &Path, text: &str) {
    use std::io::Write as _;
    std::fs::OpenOptions::new()
        .append(true)
        .open(p)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn copytruncate_regrown_past_the_offset_counts_exactly() {
    let s = slow_server();
    let e = follow(&s).await;
    let labels = slow_labels(&s);
    e.scrape().await;
    sleep_slowly(&s).await;
    assert_exact(&e, &labels, 1.0).await;

    // Two statements wait on a lock for over a second; while they wait, the log is
    // truncated in place; then they finish (two duration lines at the start of the emptied
    // file) and more is logged at once, so the file is longer than the follower's old
    // offset before its next look (it polls every 250 ms; this takes a few ms).
    let holder = s.admin("postgres").await;
    holder
        .batch_execute("SELECT pg_advisory_lock(42)")
        .await
        .unwrap();
    let mut waiters = Vec::new();
    for _ in 0..2 {
        let c = s.admin("postgres").await;
        waiters.push(tokio::spawn(async move {
            c.batch_execute("SELECT pg_advisory_lock_shared(42)")
                .await
                .unwrap();
            c
        }));
    }
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let old_len = std::fs::metadata(&s.log_file).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&s.log_file)
        .unwrap()
        .set_len(0)
        .unwrap();
    holder
        .batch_execute("SELECT pg_advisory_unlock(42)")
        .await
        .unwrap();
    let mut keep = Vec::new();
    for w in waiters {
        keep.push(w.await.unwrap());
    }
    let filler =
        "2030-01-01 00:00:00.000 UTC [1] postgres@postgres LOG:  checkpoint starting: time\n";
    append(
        &s.log_file,
        &filler.repeat(old_len as usize / filler.len() + 2),
    );
    assert!(std::fs::metadata(&s.log_file).unwrap().len() > old_len);
    let head = std::fs::read_to_string(&s.log_file).unwrap();
    assert_eq!(
        head.matches("LOG:  duration: ").count(),
        2,
        "both slow lines sit before the old offset:\n{}",
        &head[..head.len().min(600)]
    );
    assert_exact(&e, &labels, 3.0).await;
    sleep_slowly(&s).await;
    assert_exact(&e, &labels, 4.0).await;
    e.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rename_and_create_counts_exactly() {
    let mut s = slow_server();
    let e = follow(&s).await;
    let labels = slow_labels(&s);
    e.scrape().await;
    sleep_slowly(&s).await;
    assert_exact(&e, &labels, 1.0).await;

    // logrotate "create": the file is renamed and a new one created under the name. The
    // server (stderr redirected, never reopened) keeps writing to the renamed file.
    let rotated = s.log_file.with_extension("log.1");
    std::fs::rename(&s.log_file, &rotated).unwrap();
    std::fs::write(&s.log_file, "").unwrap();
    e.scrape().await;
    // Quiet for longer than a deleted rotated file is kept: this one still has a name,
    // so it is still followed.
    tokio::time::sleep(Duration::from_secs(11)).await;
    e.scrape().await;
    sleep_slowly(&s).await;
    sleep_slowly(&s).await;
    assert_exact(&e, &labels, 3.0).await;
    assert_eq!(
        std::fs::read_to_string(&rotated)
            .unwrap()
            .matches("LOG:  duration: ")
            .count(),
        3
    );

    // Restarted, the server writes to the new file, which is read from its start.
    s.restart();
    sleep_slowly(&s).await;
    assert_exact(&e, &labels, 4.0).await;
    assert_eq!(s.log().matches("LOG:  duration: ").count(), 1);
    e.stop().await;
}

/// The exporter in-process with a handle on its state, to reload it.
struct Reloadable {
    addr: SocketAddr,
    state: Arc<AppState>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Reloadable {
    async fn start(config: &Path) -> Reloadable {
        use clap::Parser as _;
        persistence_exporter::init_crypto();
        let cli = persistence_exporter::cli::Cli::try_parse_from([
            "persistence_exporter",
            "--web.listen-address",
            "127.0.0.1:0",
            "--config.file",
            config.to_str().unwrap(),
        ])
        .unwrap();
        let settings =
            persistence_exporter::config::load(&cli, &persistence_exporter::config::ProcessEnv)
                .unwrap_or_else(|e| panic!("{e}"));
        let listener = persistence_exporter::http::bind(&settings.web.listen_address)
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let runtime = Runtime::build(settings).unwrap();
        let state = Arc::new(AppState::new(runtime, Some(cli)));
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(persistence_exporter::http::serve(
            listener,
            state.clone(),
            async {
                let _ = rx.await;
            },
        ));
        Reloadable {
            addr,
            state,
            shutdown: Some(tx),
        }
    }

    async fn scrape(&self) -> Metrics {
        let r = http_get(self.addr, "/metrics", &[]).await;
        assert_eq!(r.status, 200, "{}", r.body);
        promtool_check(&r.body);
        Metrics::parse(&r.body)
    }
}

impl Drop for Reloadable {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn config_yaml(s: &PgServer, down_port: u16, down_timeout: &str, profile: &str) -> String {
    format!(
        "postgres:\n\
         \x20 - name: live\n    dsn: {live}\n    log_file: {log}\n    profile: {profile}\n\
         \x20 - name: down\n    dsn: postgresql://postgres@127.0.0.1:{down_port}/postgres?sslmode=disable\n    timeout: {down_timeout}\n",
        live = s.dsn("postgres", "postgres"),
        log = s.log_file.display(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_keeps_the_counters_of_unchanged_targets() {
    let s = slow_server();
    let down_port = free_port();
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config.yml");
    std::fs::write(&config, config_yaml(&s, down_port, "1s", "durable")).unwrap();
    let e = Reloadable::start(&config).await;
    let slow = [("target", "live"), ("datname", "postgres")];
    let errors = [
        ("collector", "postgres"),
        ("target", "down"),
        ("reason", "connect"),
    ];
    e.scrape().await;
    sleep_slowly(&s).await;
    sleep_slowly(&s).await;
    let mut m = e.scrape().await;
    for _ in 0..40 {
        if m.get("pg_slow_queries_total", &slow) == Some(2.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        m = e.scrape().await;
    }
    assert_eq!(m.value("pg_slow_queries_total", &slow), 2.0, "{}", m.text);
    e.scrape().await;
    let m = e.scrape().await;
    let errors_before = m.value("persistence_exporter_scrape_errors_total", &errors);
    assert!(errors_before >= 4.0, "{}", m.text);

    // Unchanged configuration: both counters go on from where they were.
    e.state.reload().await.unwrap();
    let m = e.scrape().await;
    assert_eq!(m.value("pg_slow_queries_total", &slow), 2.0, "{}", m.text);
    let errors_after = m.value("persistence_exporter_scrape_errors_total", &errors);
    assert_eq!(errors_after, errors_before + 1.0, "{}", m.text);
    // Still following the same file from the same place.
    sleep_slowly(&s).await;
    let m = e.scrape().await;
    assert_eq!(m.value("pg_slow_queries_total", &slow), 3.0, "{}", m.text);

    // Only the live target's profile changes: its collector (and count) stay too.
    std::fs::write(&config, config_yaml(&s, down_port, "1s", "cache")).unwrap();
    e.state.reload().await.unwrap();
    let m = e.scrape().await;
    assert_eq!(m.value("pg_slow_queries_total", &slow), 3.0, "{}", m.text);
    let errors_now = m.value("persistence_exporter_scrape_errors_total", &errors);
    assert_eq!(errors_now, errors_after + 2.0, "{}", m.text);

    // The down target changes: its error count starts over, the live one's count stays.
    std::fs::write(&config, config_yaml(&s, down_port, "2s", "cache")).unwrap();
    e.state.reload().await.unwrap();
    let m = e.scrape().await;
    assert_eq!(
        m.value("persistence_exporter_scrape_errors_total", &errors),
        1.0,
        "{}",
        m.text
    );
    assert_eq!(m.value("pg_slow_queries_total", &slow), 3.0, "{}", m.text);
}
