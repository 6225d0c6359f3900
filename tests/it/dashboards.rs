//! The Grafana dashboards in `dashboards/` and their provisioning in `deploy/grafana/`
//!:
//!
//! - structure: valid JSON, `schemaVersion` ≥ 39, a stable `uid`, only core non-Angular
//!   panel types, a `datasource` variable (type `datasource`, query `prometheus`) used by
//!   every panel and every target and no other datasource reference (no hard-coded uid,
//!   no `__inputs`), `cluster`/`job`/`instance`/`target` query variables chained by
//!   cluster, job and instance, every selector filtered by `$cluster`, `$job` and
//!   `$instance`, every panel with a
//!   title, a unit, thresholds and at least one target, unique panel ids, panels that do
//!   not overlap, links to the exporter's `/docs/runbook` and `/docs/checks`;
//! - live: a real Prometheus (Debian `prometheus`) scrapes the in-process exporter every
//!   2 s while it watches a well-configured Redis, a misconfigured one, a Redis in a
//!   container on a named volume, a Redis that is down, a PostgreSQL with
//!   pg_stat_statements and WAL archiving, and the real Docker Engine. Then every panel
//!   expression and every variable query, with the variables substituted as Grafana
//!   does, must return at least one series; every metric a dashboard names must be in
//!   the exporter's own scrape (with the PromQL extractor of the alert-rule test), with
//!   `rate()`-like functions on counters only and `deriv()`-like ones on gauges only, and
//!   every selector of a metric that carries a `target` label must filter on `$target`.
//!
//! - healthy: against an exporter whose targets all work, the panels built on a `> 0`
//!   filter (collection errors, sessions by state, maxmemory) still return data, the
//!   collection-errors panel a 0 per target instead of "No data".
//!
//! Run: `source /var/cache/persistence-exporter/env.sh && cargo nextest run -E 'test(/^dashboards::/)'`

use crate::common;

use common::docker::{
    DOCKER_HOST, DataSetup, Net, RedisContainer, TestVolume, unique, write_config,
};
use common::grafana::{
    Dashboard, dashboards, lint, panels, parse_label_values, variable_query, variable_refs,
    variables,
};
use common::postgres::PgServer;
use common::prometheus::{Prometheus, url_encode};
use common::promql::{metric_uses, selectors, wrong_type_uses};
use common::redis::RedisServer;
use common::{Exporter, Metrics, free_port};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod live;
use live::{activity, fixture, resolve_variables, scrape_until_all, series, start_prometheus};

/// The dashboards the issue asks for, with their stable uids.
fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const DASHBOARDS: &[(&str, &str)] = &[
    ("persistence-overview.json", "pe-overview"),
    ("postgres.json", "pe-postgres"),
    ("redis.json", "pe-redis"),
    ("docker-volumes.json", "pe-docker"),
];

/// What the live test substitutes for Grafana's built-in interval variables: Prometheus
/// scrapes every [`SCRAPE_INTERVAL`] and keeps about [`OBSERVE`] of data, so a rate
/// window sees 5 samples and `$__range` the whole run.
const BUILTINS: &[(&str, &str)] = &[
    ("$__rate_interval", "10s"),
    ("$__interval", "2s"),
    ("$__range", "30s"),
];

/// Prometheus' scrape interval and timeout. 2 s rather than 1 s: the exporter's deadline
/// is the scrape timeout minus 0.5 s, too tight for PostgreSQL and Docker on a loaded
/// 2-core machine.
const SCRAPE_INTERVAL: &str = "2s";

/// True at an evaluation time where Prometheus has at least 20 s of scrapes and the last
/// one saw every target of the fixture up (all but `redis-down`).
const READY: &str = r#"up{job="persistence_exporter"} == 1
  and on() count_over_time(up{job="persistence_exporter"}[1m]) >= 10
  and on() count(redis_up{target=~"redis-durable|redis-misconfigured|redis-container"} == 1) == 3
  and on() pg_up{target="postgres"} == 1
  and on() docker_up == 1
  and on() count(docker_volume_size_bytes) > 0"#;

/// How long Prometheus watches before the queries run.
const OBSERVE: Duration = Duration::from_secs(30);

#[derive(Clone, Debug)]
struct Query {
    /// `redis.json: panel 7 "Persistence status" target B`, or `… variable $target`.
    place: String,
    /// The expression as written (a panel expr or a `label_values(...)` query).
    expr: String,
    /// `Some(var)` for a variable query.
    variable: Option<String>,
}

impl Query {
    /// The PromQL in it: the expression, or the selector of a `label_values(...)`.
    fn promql(&self) -> String {
        match &self.variable {
            None => self.expr.clone(),
            Some(_) => parse_label_values(&self.expr)
                .and_then(|(sel, _)| sel)
                .unwrap_or_default(),
        }
    }
}

fn queries(d: &Dashboard) -> Vec<Query> {
    let mut out = Vec::new();
    for v in variables(&d.json) {
        if v["type"] == "query" {
            let name = v["name"].as_str().unwrap_or("?").to_string();
            out.push(Query {
                place: format!("{}: variable ${name}", d.file),
                expr: variable_query(v).unwrap_or("").to_string(),
                variable: Some(name),
            });
        }
    }
    for p in panels(&d.json) {
        for t in p["targets"].as_array().into_iter().flatten() {
            out.push(Query {
                place: format!(
                    "{}: panel {} {:?} target {}",
                    d.file,
                    p["id"],
                    p["title"].as_str().unwrap_or(""),
                    t["refId"].as_str().unwrap_or("?")
                ),
                expr: t["expr"].as_str().unwrap_or("").to_string(),
                variable: None,
            });
        }
    }
    out
}

/// Every `$name` / `${name}` / `${name:fmt}` in a query.
fn regex_escape(v: &str) -> String {
    let mut out = String::new();
    for ch in v.chars() {
        if "\\^$*+?.()|[]{}/'".contains(ch) {
            out.push_str("\\\\");
        }
        out.push(ch);
    }
    out
}

/// A multi-value selection as Grafana renders it for a regex matcher.
fn multi(values: &[String]) -> String {
    match values {
        [one] => regex_escape(one),
        many => format!(
            "({})",
            many.iter()
                .map(|v| regex_escape(v))
                .collect::<Vec<_>>()
                .join("|")
        ),
    }
}

/// `expr` with the dashboard variables (already rendered) and Grafana's built-in
/// intervals substituted; panics on a variable it does not know.
fn substitute(expr: &str, vars: &BTreeMap<&str, String>) -> String {
    let mut out = expr.to_string();
    for (name, value) in BUILTINS {
        out = out.replace(name, value);
    }
    for (name, value) in vars {
        out = out
            .replace(&format!("${{{name}}}"), value)
            .replace(&format!("${name}"), value);
    }
    assert!(
        !out.contains('$'),
        "unknown variable left in {out:?} (from {expr:?})"
    );
    out
}

#[test]
fn helpers_parse_and_substitute_like_grafana() {
    assert_eq!(
        parse_label_values(r#"label_values(up{job=~"$job"}, instance)"#),
        Some((Some(r#"up{job=~"$job"}"#.into()), "instance".into()))
    );
    assert_eq!(
        parse_label_values("label_values(job)"),
        Some((None, "job".into()))
    );
    assert_eq!(
        variable_refs(r#"rate(a{job=~"$job",x="${target}"}[$__rate_interval])"#),
        ["job", "target", "__rate_interval"]
    );
    let vars = BTreeMap::from([
        ("instance", multi(&["127.0.0.1:9631".into()])),
        ("target", multi(&["a".into(), "b.c".into()])),
    ]);
    assert_eq!(
        substitute(
            r#"rate(x{instance=~"$instance", target=~"${target}"}[$__rate_interval])"#,
            &vars
        ),
        r#"rate(x{instance=~"127\\.0\\.0\\.1:9631", target=~"(a|b\\.c)"}[10s])"#
    );
    let sel = selectors(
        r#"sum by (t) (rate(a_total{job=~"$job"}[5m])) / on(t) group_left(x) b and c{y="}"}"#,
    );
    let got: Vec<(&str, &str)> = sel
        .iter()
        .map(|s| (s.metric.as_str(), s.matchers.as_str()))
        .collect();
    assert_eq!(
        got,
        [("a_total", r#"job=~"$job""#), ("b", ""), ("c", r#"y="}""#)]
    );
}

/// Walks every object of a JSON value with its path.
#[test]
fn dashboards_follow_the_rules() {
    let all = dashboards();
    let mut problems = Vec::new();
    for (file, _) in DASHBOARDS {
        if !all.iter().any(|d| d.file == *file) {
            problems.push(format!("dashboards/{file} is missing"));
        }
    }
    let mut uids = BTreeSet::new();
    let mut titles = BTreeSet::new();
    for d in &all {
        let want = DASHBOARDS
            .iter()
            .find(|(f, _)| *f == d.file)
            .map(|(_, u)| *u);
        problems.extend(lint(d, want));
        if !uids.insert(d.json["uid"].as_str().unwrap_or("").to_string()) {
            problems.push(format!("{}: uid used twice", d.file));
        }
        if !titles.insert(d.json["title"].as_str().unwrap_or("").to_string()) {
            problems.push(format!("{}: title used twice", d.file));
        }
    }
    assert!(
        problems.is_empty(),
        "dashboard problems:\n{}",
        problems.join("\n")
    );
}

/// A change that breaks a dashboard.
type Breakage = Box<dyn Fn(&mut Value)>;

#[test]
fn the_lint_catches_what_it_should() {
    let good = &dashboards()
        .into_iter()
        .find(|d| d.file == "redis.json")
        .expect("dashboards/redis.json")
        .json;
    let broken = |f: &dyn Fn(&mut Value)| -> Vec<String> {
        let mut j = good.clone();
        f(&mut j);
        lint(
            &Dashboard {
                file: "x.json".into(),
                json: j,
            },
            Some("pe-redis"),
        )
    };
    assert!(broken(&|_| {}).is_empty(), "{:?}", broken(&|_| {}));
    let cases: Vec<(&str, Breakage)> = vec![
        (
            "schemaVersion",
            Box::new(|j| j["schemaVersion"] = json!(27)),
        ),
        ("uid", Box::new(|j| j["uid"] = json!("other"))),
        ("__inputs", Box::new(|j| j["__inputs"] = json!([]))),
        (
            "is not one of",
            Box::new(|j| j["panels"][0]["type"] = json!("graph")),
        ),
        (
            "datasource is",
            Box::new(|j| {
                j["panels"][1]["targets"][0]["datasource"] = json!({"uid": "P1809F7CD0C75ACF3"})
            }),
        ),
        (
            "no unit",
            Box::new(|j| j["panels"][0]["fieldConfig"]["defaults"]["unit"] = json!("")),
        ),
        (
            "thresholds",
            Box::new(|j| {
                j["panels"][0]["fieldConfig"]["defaults"]
                    .as_object_mut()
                    .unwrap()
                    .remove("thresholds");
            }),
        ),
        (
            "no target",
            Box::new(|j| j["panels"][0]["targets"] = json!([])),
        ),
        (
            "duplicate panel id",
            Box::new(|j| j["panels"][1]["id"] = j["panels"][0]["id"].clone()),
        ),
        (
            "no title",
            Box::new(|j| j["panels"][0]["title"] = json!(" ")),
        ),
        (
            "not filtered by instance",
            Box::new(|j| j["panels"][0]["targets"][0]["expr"] = json!("redis_up{job=~\"$job\"}")),
        ),
        (
            "not chained by $job",
            Box::new(|j| {
                j["templating"]["list"][3]["query"]["query"] =
                    json!("label_values(persistence_exporter_build_info, instance)")
            }),
        ),
        (
            "not filtered by cluster",
            Box::new(|j| {
                j["panels"][0]["targets"][0]["expr"] =
                    json!("redis_up{job=~\"$job\", instance=~\"$instance\"}")
            }),
        ),
        (
            "variable cluster must be",
            Box::new(|j| j["templating"]["list"][1]["allValue"] = json!("")),
        ),
        ("/docs/runbook", Box::new(|j| j["links"] = json!([]))),
        (
            "/docs/checks",
            Box::new(|j| j["links"][1]["url"] = json!("docs/checks.md")),
        ),
        (
            "overlaps",
            Box::new(|j| j["panels"][1]["gridPos"] = j["panels"][0]["gridPos"].clone()),
        ),
    ];
    for (want, f) in cases {
        let got = broken(&*f);
        assert!(
            got.iter().any(|m| m.contains(want)),
            "breaking {want:?} was not caught: {got:?}"
        );
    }
}

#[test]
fn provisioning_loads_these_dashboards_into_a_stock_grafana() {
    let read = |p: &str| -> serde_yaml_ng::Value {
        let text = std::fs::read_to_string(repo().join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
        serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{p}: {e}"))
    };
    let ds = read("deploy/grafana/provisioning/datasources/prometheus.yml");
    assert_eq!(ds["apiVersion"].as_u64(), Some(1));
    let list = ds["datasources"].as_sequence().expect("datasources");
    assert!(
        list.iter().any(|d| d["type"].as_str() == Some("prometheus")
            && d["url"].as_str().is_some_and(|u| u.starts_with("http"))),
        "no prometheus datasource with a url: {list:?}"
    );
    let prov = read("deploy/grafana/provisioning/dashboards/persistence_exporter.yml");
    assert_eq!(prov["apiVersion"].as_u64(), Some(1));
    let providers = prov["providers"].as_sequence().expect("providers");
    assert_eq!(providers.len(), 1, "{providers:?}");
    let p = &providers[0];
    assert_eq!(p["type"].as_str(), Some("file"));
    let path = p["options"]["path"].as_str().expect("options.path");
    assert!(Path::new(path).is_absolute(), "{path}");
    // The mount path is documented next to the files, and the dashboards are the files
    // that go there.
    let readme = std::fs::read_to_string(repo().join("deploy/grafana/README.md")).unwrap();
    assert!(
        readme.contains(path),
        "deploy/grafana/README.md does not document {path}"
    );
    let header = std::fs::read_to_string(
        repo().join("deploy/grafana/provisioning/dashboards/persistence_exporter.yml"),
    )
    .unwrap();
    assert!(
        header.contains(&format!("dashboards:{path}")),
        "the example mount of dashboards/ at {path} is missing"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_panel_and_variable_query_returns_data() {
    let all = dashboards();
    assert!(!all.is_empty(), "no dashboards");
    let mut problems: Vec<String> = Vec::new();

    // Every metric named by a panel or a variable, with where it is used.
    let mut used: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut qs: Vec<(usize, Query)> = Vec::new();
    for (i, d) in all.iter().enumerate() {
        for q in queries(d) {
            for u in metric_uses(&q.promql()) {
                // `up` is Prometheus' own, not the exporter's.
                if u.metric != "up" {
                    used.entry(u.metric).or_default().insert(q.place.clone());
                }
            }
            qs.push((i, q));
        }
    }
    eprintln!(
        "metrics used by the dashboards: {:?}",
        used.keys().collect::<Vec<_>>()
    );

    let f = fixture().await;
    activity(&f).await;
    let names: BTreeSet<String> = used.keys().cloned().collect();
    let m = scrape_until_all(&f.exporter, &names).await;

    // ---- every metric a dashboard names is produced by the exporter ----------------------
    for (name, places) in &used {
        if !m.has(name) {
            problems.push(format!(
                "{name} is not produced by the exporter (used by {})",
                places.iter().cloned().collect::<Vec<_>>().join("; ")
            ));
        }
    }
    // rate() on a gauge or deriv() on a counter cannot work; a metric with a `target`
    // label must follow the `target` variable.
    for (_, q) in &qs {
        for w in wrong_type_uses(&q.promql(), &m.types) {
            problems.push(format!("{}: {w}", q.place));
        }
        if q.variable.is_none() {
            for s in selectors(&q.expr) {
                let has_target = m
                    .all(&s.metric, &[])
                    .iter()
                    .any(|x| x.labels.contains_key("target"));
                if has_target && !s.matchers.contains("target=~\"$target\"") {
                    problems.push(format!(
                        "{}: {} has a target label but is not filtered by target=~\"$target\"",
                        q.place, s.metric
                    ));
                }
            }
        }
    }

    // ---- a real Prometheus scrapes the exporter for a while ---------------------------------
    let tmp = tempfile::tempdir().unwrap();
    let prom = start_prometheus(&tmp.path().join("prometheus"), f.exporter.addr).await;
    let started = Instant::now();
    // Keep the servers busy while Prometheus watches (evictions, expirations, slow queries).
    let mut rounds = 0;
    while started.elapsed() < OBSERVE {
        if rounds < 3 {
            activity(&f).await;
            rounds += 1;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    // One evaluation time for every query, at which the last scrape succeeded with every
    // live target up (a collection that hit the scrape deadline on a loaded machine
    // would make its series stale) and enough samples exist for the range functions.
    let until = Instant::now() + Duration::from_secs(30);
    let time = loop {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let ok = prom
            .query(READY, Some(now))
            .await
            .is_ok_and(|r| !r.is_empty());
        if ok {
            break now;
        }
        assert!(
            Instant::now() < until,
            "Prometheus has not scraped the exporter successfully:\n{}\n{}",
            prom.api("/api/v1/targets")
                .await
                .map(|v| v.to_string())
                .unwrap_or_else(|e| e),
            prom.log()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    };

    // ---- every variable and panel query returns data ---------------------------------------
    let mut checked = 0;
    for (i, d) in all.iter().enumerate() {
        let (vars, targets) = resolve_variables(&prom, d, time, &mut problems).await;
        eprintln!("{}: variables {vars:?}", d.file);
        for (_, q) in qs.iter().filter(|(j, q)| *j == i && q.variable.is_none()) {
            checked += 1;
            let expr = substitute(&q.expr, &vars);
            match series(&prom, &expr, time).await {
                Ok(0) => problems.push(format!("{}: no series for\n    {expr}", q.place)),
                Ok(_) => {}
                Err(e) => problems.push(format!("{}: {e}\n    {expr}", q.place)),
            }
            // A single target selected: some target must show data (the panel follows
            // the variable instead of ignoring or breaking on it).
            if q.expr.contains("$target") && !targets.is_empty() {
                let mut any = false;
                for t in &targets {
                    let mut one = vars.clone();
                    one.insert("target", multi(std::slice::from_ref(t)));
                    if series(&prom, &substitute(&q.expr, &one), time)
                        .await
                        .is_ok_and(|n| n > 0)
                    {
                        any = true;
                        break;
                    }
                }
                if !any {
                    problems.push(format!(
                        "{}: no data for any single $target of {targets:?}",
                        q.place
                    ));
                }
            }
        }
    }
    eprintln!("{checked} panel queries checked at time {time}");

    // What the on-call person must see first: a FAIL at the top of the checks table, with
    // the profile's expected and the server's observed value, a critical count above 0,
    // and the containerised Redis' data on its named volume.
    let overview = &all[all
        .iter()
        .position(|d| d.file == "persistence-overview.json")
        .expect("persistence-overview.json")];
    let (vars, _) = resolve_variables(&prom, overview, time, &mut problems).await;
    let panel_expr = |title: &str| -> String {
        let p = panels(&overview.json)
            .into_iter()
            .find(|p| p["title"] == title)
            .unwrap_or_else(|| panic!("overview has no panel {title:?}"));
        substitute(p["targets"][0]["expr"].as_str().unwrap(), &vars)
    };
    let rows = prom
        .query(
            &panel_expr("Persistence checks (failing first)"),
            Some(time),
        )
        .await
        .unwrap();
    let first = &rows[0];
    assert_eq!(first["value"][1], "0", "first row is not a FAIL: {rows:#?}");
    for l in ["target", "check", "severity", "expected", "observed"] {
        assert!(
            first["metric"][l].is_string(),
            "checks table row without {l}: {first}"
        );
    }
    let failing = rows.iter().filter(|r| r["value"][1] == "0").count();
    assert!(
        rows[..failing].iter().all(|r| r["value"][1] == "0") && failing < rows.len(),
        "FAIL rows are not first: {rows:#?}"
    );
    let critical = prom
        .query(&panel_expr("Failing checks: critical"), Some(time))
        .await
        .unwrap();
    let n: f64 = critical[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!(
        n >= 1.0,
        "misconfigured targets fail no critical check: {critical:?}"
    );
    let mounts = prom
        .query(
            &panel_expr("Where the data lives (data-mount type)"),
            Some(time),
        )
        .await
        .unwrap();
    assert!(
        mounts
            .iter()
            .any(|r| r["metric"]["target"] == "redis-container"
                && r["metric"]["mount_type"] == "volume"
                && r["metric"]["volume"] == f.volume.name.as_str()),
        "the containerised Redis' named volume is not in the data-mount table: {mounts:#?}"
    );
    assert!(
        problems.is_empty(),
        "dashboard queries without data or with problems:\n{}\n\nexporter scrape:\n{}",
        problems.join("\n"),
        m.text
    );
    drop(prom);
    f.exporter.stop().await;
}

/// An exporter whose every collection works (a Redis with maxmemory, a PostgreSQL, no
/// Docker): every panel query with a `> 0` filter still returns data, and the
/// collection-errors panel shows one 0 per target instead of "No data".
#[tokio::test(flavor = "multi_thread")]
async fn filtered_panels_show_zero_on_a_healthy_exporter() {
    let all = dashboards();
    let tmp = tempfile::tempdir().unwrap();
    let redis = RedisServer::start(&["--maxmemory", "64mb", "--maxmemory-policy", "noeviction"]);
    let pg = PgServer::start(17, &[]);
    let yaml = format!(
        "redis:\n  - name: redis-ok\n    addr: redis://127.0.0.1:{}\n    profile: cache\n\
         postgres:\n  - name: postgres-ok\n    dsn: {}\n    profile: cache\n",
        redis.port,
        pg.dsn("postgres", "postgres"),
    );
    let cfg = write_config(tmp.path(), &yaml);
    let exporter = Exporter::start(&["--config.file", cfg.to_str().unwrap()]).await;
    let prom = start_prometheus(&tmp.path().join("prometheus"), exporter.addr).await;
    let ready = r#"up{job="persistence_exporter"} == 1
  and on() count_over_time(up{job="persistence_exporter"}[1m]) >= 6
  and on() redis_up{target="redis-ok"} == 1
  and on() pg_up{target="postgres-ok"} == 1"#;
    let until = Instant::now() + Duration::from_secs(90);
    let time = loop {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        if prom
            .query(ready, Some(now))
            .await
            .is_ok_and(|r| !r.is_empty())
        {
            break now;
        }
        assert!(
            Instant::now() < until,
            "Prometheus has not scraped the healthy exporter:\n{}",
            prom.log()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    };

    // The targets the exporter keeps an error counter for (at 0 while healthy).
    let scrape = exporter.scrape().await;
    let error_targets: BTreeSet<String> = scrape
        .all("persistence_exporter_scrape_errors_total", &[])
        .iter()
        .filter_map(|x| x.labels.get("target").cloned())
        .collect();
    assert!(
        !error_targets.is_empty(),
        "no persistence_exporter_scrape_errors_total series:\n{}",
        scrape.text
    );
    let mut problems = Vec::new();
    let mut checked = Vec::new();
    for d in all.iter().filter(|d| d.file != "docker-volumes.json") {
        let (vars, targets) = resolve_variables(&prom, d, time, &mut problems).await;
        for q in queries(d).iter().filter(|q| q.variable.is_none()) {
            if !q.expr.contains("> 0") {
                continue;
            }
            checked.push(q.place.clone());
            let expr = substitute(&q.expr, &vars);
            match prom.query(&expr, Some(time)).await {
                Ok(rows) if rows.is_empty() => problems.push(format!(
                    "{}: no data on a healthy exporter\n    {expr}",
                    q.place
                )),
                Ok(rows) if q.place.contains("Exporter collection errors") => {
                    // Every target the `$target` variable offers that has an error counter.
                    for t in error_targets.iter().filter(|t| targets.contains(t)) {
                        if !rows
                            .iter()
                            .any(|r| r["metric"]["target"] == t.as_str() && r["value"][1] == "0")
                        {
                            problems.push(format!("{}: no 0 for {t}: {rows:?}", q.place));
                        }
                    }
                    if rows.iter().any(|r| r["value"][1] != "0") {
                        problems.push(format!(
                            "{}: errors on a healthy exporter: {rows:?}",
                            q.place
                        ));
                    }
                }
                Ok(_) => {}
                Err(e) => problems.push(format!("{}: {e}\n    {expr}", q.place)),
            }
        }
    }
    eprintln!("`> 0` panel queries checked on a healthy exporter: {checked:#?}");
    assert!(
        checked
            .iter()
            .any(|p| p.contains("Exporter collection errors")),
        "the collection-errors panel was not checked: {checked:?}"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    drop(prom);
    exporter.stop().await;
    drop(pg);
    drop(redis);
}
