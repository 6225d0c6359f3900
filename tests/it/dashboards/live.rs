//! The live part of the dashboard test: the fixture (the servers, containers and the
//! exporter a real Prometheus watches) and the helpers that ask that Prometheus for
//! series, label values and variable values, as Grafana would.

use super::*;

const REDIS_PASSWORD: &str = "dash-S3cret-4e1d";

/// Everything the live test watches, kept alive together; dropping it stops every
/// server (by PID) and removes the container and the volume.
pub(super) struct Fixture {
    pub(super) exporter: Exporter,
    pub(super) durable: RedisServer,
    pub(super) misconfigured: RedisServer,
    pub(super) pg: PgServer,
    pub(super) _container: RedisContainer,
    pub(super) volume: TestVolume,
    pub(super) _tmp: tempfile::TempDir,
}

/// A well-configured Redis (password, AOF everysec, RDB, noeviction), a misconfigured
/// one (no password, no persistence, allkeys-lru with a tiny maxmemory: it evicts), a
/// Redis in a container on a named `pe-test=1` volume, a Redis that is down, and a
/// PostgreSQL 17 with pg_stat_statements, WAL archiving and slow-query logging, all
/// under the `durable` profile, plus the real Docker Engine. The durable Redis and the
/// PostgreSQL run the write canary and are restarted once before Prometheus watches.
pub(super) async fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let mut durable = RedisServer::start(&[
        "--requirepass",
        REDIS_PASSWORD,
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--save",
        "60",
        "1000",
        "--maxmemory",
        "64mb",
        "--maxmemory-policy",
        "noeviction",
    ]);
    let misconfigured =
        RedisServer::start(&["--maxmemory", "2mb", "--maxmemory-policy", "allkeys-lru"]);
    let (volume, container) = tokio::task::block_in_place(|| {
        let volume = TestVolume::create(&unique("dash-redis-data"), &[]);
        volume.fill(&[("filler", 200_000)]);
        let container = RedisContainer::start(
            &unique("dash-redis"),
            "/data",
            &DataSetup::Named(volume.name.clone()),
            &Net::Host,
            &[],
        );
        (volume, container)
    });
    let mut pg = PgServer::start(
        17,
        &[
            ("log_min_duration_statement", "200"),
            ("shared_preload_libraries", "pg_stat_statements"),
            ("archive_mode", "on"),
            ("archive_command", "/bin/true"),
        ],
    );
    pg.exec("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .await;
    let pw = tmp.path().join("redis.pw");
    std::fs::write(&pw, format!("{REDIS_PASSWORD}\n")).unwrap();
    let yaml = format!(
        "docker:\n  host: {DOCKER_HOST}\n  disk_usage_interval: 2s\n\
         redis:\n\
         \x20 - name: redis-durable\n    addr: redis://127.0.0.1:{}\n    password_file: {}\n    profile: durable\n    canary: {{enabled: true, interval: 1s}}\n\
         \x20 - name: redis-misconfigured\n    addr: redis://127.0.0.1:{}\n    profile: durable\n\
         \x20 - name: redis-container\n    addr: redis://127.0.0.1:{}\n    container: {}\n    profile: durable\n\
         \x20 - name: redis-down\n    addr: redis://127.0.0.1:{}\n    profile: durable\n\
         postgres:\n\
         \x20 - name: postgres\n    dsn: {}\n    log_file: {}\n    profile: durable\n    canary: {{enabled: true, interval: 1s}}\n",
        durable.port,
        pw.display(),
        misconfigured.port,
        container.port,
        container.container.name,
        free_port(),
        pg.dsn("postgres", "postgres"),
        pg.log_file.display(),
    );
    let cfg = write_config(tmp.path(), &yaml);
    let exporter = Exporter::start(&["--config.file", cfg.to_str().unwrap()]).await;
    restart_canary_targets(&exporter, &mut durable, &mut pg).await;
    Fixture {
        exporter,
        durable,
        misconfigured,
        pg,
        _container: container,
        volume,
        _tmp: tmp,
    }
}

/// Restarts the durable Redis (SIGKILL, then the same directory) and the PostgreSQL
/// (clean) once the canary has written to both, and waits for both verdicts: the restart
/// panels (recovered keys, canary data loss) then have series before Prometheus watches.
async fn restart_canary_targets(e: &Exporter, durable: &mut RedisServer, pg: &mut PgServer) {
    const BOTH: [&str; 2] = ["redis-durable", "postgres"];
    let has = |m: &Metrics, name: &str, t: &str| m.get(name, &[("target", t)]).is_some();
    tokio::task::block_in_place(|| {
        let mut c = durable.client();
        for i in 0..20 {
            let _: () = redis::cmd("SET")
                .arg(format!("before-restart:{i}"))
                .arg(i)
                .query(&mut c)
                .unwrap();
        }
    });
    let wait = Duration::from_secs(60);
    e.scrape_until("canary writes and the keys", wait, |m| {
        BOTH.iter()
            .all(|t| has(m, "persistence_canary_last_write_timestamp_seconds", t))
    })
    .await;
    // AOF everysec: the keys reach the disk within a second.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    e.scrape().await;
    tokio::task::block_in_place(|| {
        durable.restart();
        pg.restart();
    });
    let m = e
        .scrape_until("both restarts' verdicts", wait, |m| {
            BOTH.iter()
                .all(|t| has(m, "persistence_canary_data_loss_seconds", t))
                && has(
                    m,
                    "persistence_restart_recovered_keys_ratio",
                    "redis-durable",
                )
        })
        .await;
    for t in BOTH {
        assert_eq!(
            m.get("persistence_restarts_observed_total", &[("target", t)]),
            Some(1.0),
            "{t}"
        );
        assert_eq!(
            m.get("persistence_data_lost_on_restart_total", &[("target", t)]),
            Some(0.0),
            "{t}"
        );
    }
}

/// Work that moves the counters and gauges the panels show: writes and a BGSAVE on the
/// durable Redis, evictions and expirations on the misconfigured one, slow statements,
/// an archived WAL segment and a checkpoint on PostgreSQL.
pub(super) async fn activity(f: &Fixture) {
    tokio::task::block_in_place(|| {
        let mut c = f.durable.client();
        for i in 0..200 {
            let _: () = redis::cmd("SET")
                .arg(format!("order:{i}"))
                .arg("x".repeat(100))
                .query(&mut c)
                .unwrap();
        }
        // Refused while the previous one (or an AOF rewrite) still runs: fine.
        let _: redis::RedisResult<String> = redis::cmd("BGSAVE").query(&mut c);
        let mut c = f.misconfigured.client();
        // 3 MB into a 2 MB allkeys-lru Redis: it evicts.
        for i in 0..3000 {
            let _: () = redis::cmd("SET")
                .arg(format!("session:{i}"))
                .arg("y".repeat(1000))
                .query(&mut c)
                .unwrap();
        }
        for i in 0..50 {
            let _: () = redis::cmd("SET")
                .arg(format!("ttl:{i}"))
                .arg("z")
                .arg("PX")
                .arg(50)
                .query(&mut c)
                .unwrap();
        }
    });
    f.pg.exec(
        "CREATE TABLE IF NOT EXISTS orders AS SELECT generate_series(1, 20000) AS id; \
         SELECT pg_switch_wal(); CHECKPOINT;",
    )
    .await;
    for _ in 0..2 {
        f.pg.exec("SELECT pg_sleep(0.3)").await;
    }
}

/// Scrapes until every name is there (some need a second collection: volume sizes after
/// the first disk-usage refresh, evictions), bounded; returns the last scrape.
pub(super) async fn scrape_until_all(e: &Exporter, names: &BTreeSet<String>) -> Metrics {
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let m = e.scrape().await;
        if names.iter().all(|n| m.has(n)) || Instant::now() > until {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Starts Prometheus scraping the exporter every [`SCRAPE_INTERVAL`].
pub(super) async fn start_prometheus(dir: &Path, exporter: SocketAddr) -> Prometheus {
    std::fs::create_dir_all(dir).unwrap();
    let cfg = format!(
        "global:\n  scrape_interval: {SCRAPE_INTERVAL}\n  scrape_timeout: {SCRAPE_INTERVAL}\n\
         scrape_configs:\n  - job_name: persistence_exporter\n    static_configs:\n      - targets: ['{exporter}']\n"
    );
    let path = dir.join("prometheus.yml");
    std::fs::write(&path, cfg).unwrap();
    Prometheus::start(dir, &path).await
}

/// Instant query at `time`: the number of series, or the error.
pub(super) async fn series(p: &Prometheus, expr: &str, time: f64) -> Result<usize, String> {
    p.query(expr, Some(time)).await.map(|r| r.len())
}

/// `label_values(selector, label)` the way Grafana asks for it: the label's values on the
/// series the selector matches, over the last minute before `time`.
async fn label_values(
    p: &Prometheus,
    selector: Option<&str>,
    label: &str,
    time: f64,
) -> Result<Vec<String>, String> {
    let mut path = format!(
        "/api/v1/label/{label}/values?start={}&end={time}",
        time - 60.0
    );
    if let Some(s) = selector {
        path.push_str(&format!("&match[]={}", url_encode(s)));
    }
    let data = p.api(&path).await?;
    Ok(data
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect())
}

/// The values of a dashboard's variables, resolved in order through Prometheus the way
/// Grafana does (`job`, then `instance` with `$job` set, then `target` with both), each
/// rendered as Grafana renders its default "All" selection for a regex matcher.
pub(super) async fn resolve_variables(
    prom: &Prometheus,
    d: &Dashboard,
    time: f64,
    problems: &mut Vec<String>,
) -> (BTreeMap<&'static str, String>, Vec<String>) {
    let mut vars: BTreeMap<&'static str, String> = BTreeMap::new();
    let mut targets = Vec::new();
    for name in ["cluster", "job", "instance", "target"] {
        let v = variables(&d.json)
            .into_iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("{}: no variable {name}", d.file));
        let q = variable_query(v).unwrap_or("");
        let (sel, label) =
            parse_label_values(q).unwrap_or_else(|| panic!("{}: variable {name}: {q:?}", d.file));
        let sel = sel.map(|s| substitute(&s, &vars));
        let values = match label_values(prom, sel.as_deref(), &label, time).await {
            Ok(v) => v,
            Err(e) => {
                problems.push(format!("{}: variable ${name} ({q}): {e}", d.file));
                Vec::new()
            }
        };
        if values.is_empty() && name == "cluster" {
            // No `cluster` label (a single Prometheus): "All" is ".*", which matches.
            vars.insert(name, ".*".into());
            continue;
        }
        if values.is_empty() {
            problems.push(format!(
                "{}: variable ${name} ({q}) has no values (asked with match[]={sel:?})",
                d.file
            ));
            // Keep going with a match-anything value, to report the panels too.
            vars.insert(name, ".*".into());
            continue;
        }
        if name == "target" {
            targets = values.clone();
        }
        // job and instance: the one concrete value (one exporter, one job) proves the
        // matchers; target: "All", i.e. every value the variable offers.
        vars.insert(name, multi(&values));
    }
    (vars, targets)
}
