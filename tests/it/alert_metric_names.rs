//! The alert rules in `alerts/` against the exporter they are written for:
//!
//! - every metric name a rule expression uses is produced by the real exporter, scraping
//!   real Redis, PostgreSQL and Docker Engine targets set up so that each of those
//!   metrics exists (a failing check, an unknown check, a collection error, …); a rule
//!   that names a metric we do not export fails the build;
//! - `rate()`/`increase()` only see counters and `delta()`/`deriv()`/`predict_linear()`
//!   only gauges, by the exporter's own `# TYPE` lines;
//! - the conventions: names, `severity`, annotations, `runbook_url` pointing at the
//!   exporter's `/docs/runbook#<AlertName>` (anchors that exist in `docs/runbook.md`), the
//!   check alerts' `check_url` at `/docs/checks#<check>`, a row with the same `for` in `alerts/README.md`, and a unit test
//!   in `alerts/tests/` that makes each alert fire and one that keeps it silent.

use crate::common;

use common::docker::DOCKER_HOST;
use common::postgres::PgServer;
use common::promql::{Use, metric_uses, wrong_type_uses};
use common::redis::RedisServer;
use common::{Exporter, Metrics, free_port};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One alerting rule as written in a rule file.
#[derive(Debug)]
struct Rule {
    file: String,
    alert: String,
    expr: String,
    for_: Option<String>,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .collect();
    files.sort();
    files
}

fn string_map(v: Option<&serde_yaml_ng::Value>) -> BTreeMap<String, String> {
    v.and_then(|v| v.as_mapping())
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let v = match v {
                        serde_yaml_ng::Value::String(s) => s.clone(),
                        other => serde_yaml_ng::to_string(other).unwrap().trim().to_string(),
                    };
                    (k.as_str().unwrap().to_string(), v)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Every alerting rule of every `alerts/*.yml`.
fn rules() -> Vec<Rule> {
    let mut out = Vec::new();
    for path in yaml_files(&repo().join("alerts")) {
        let text = std::fs::read_to_string(&path).unwrap();
        let doc: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let file = path.file_name().unwrap().to_str().unwrap().to_string();
        for group in doc["groups"].as_sequence().expect("groups") {
            for rule in group["rules"].as_sequence().expect("rules") {
                let Some(alert) = rule.get("alert").and_then(|a| a.as_str()) else {
                    continue;
                };
                out.push(Rule {
                    file: file.clone(),
                    alert: alert.to_string(),
                    expr: rule["expr"].as_str().expect("expr").to_string(),
                    for_: rule.get("for").and_then(|f| f.as_str()).map(str::to_string),
                    labels: string_map(rule.get("labels")),
                    annotations: string_map(rule.get("annotations")),
                });
            }
        }
    }
    assert!(out.len() >= 20, "too few alerts found: {}", out.len());
    out
}

#[test]
fn tokenizer_finds_metric_names_only() {
    let names = |e: &str| -> Vec<String> {
        let mut v: Vec<String> = metric_uses(e).into_iter().map(|u| u.metric).collect();
        v.dedup();
        v
    };
    assert_eq!(
        names(
            r#"sum by (job, instance) (rate(a_total{x="y}(", reason!~"b|c"}[5m] offset 1h)) > 1e3
                 and on(target) b unless ignoring (check) group_left(expected) c:rec == bool 0x1f"#
        ),
        ["a_total", "b", "c:rec"]
    );
    assert_eq!(
        names("absent(up{job=\"persistence_exporter\"}) or max without(reason) (d) > .5"),
        ["up", "d"]
    );
    assert_eq!(
        metric_uses("predict_linear(f[6h], 86400) < 0 and (g)"),
        [
            Use {
                metric: "f".into(),
                function: "predict_linear".into()
            },
            Use {
                metric: "g".into(),
                function: String::new()
            },
        ]
    );
}

/// Every metric used by a rule (without Prometheus' own `up`), with the alerts using it.
fn rule_metrics(rules: &[Rule]) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in rules {
        for u in metric_uses(&r.expr) {
            if u.metric != "up" {
                out.entry(u.metric).or_default().insert(r.alert.clone());
            }
        }
    }
    out
}

#[test]
fn rules_follow_the_conventions() {
    let rules = rules();
    let runbook = std::fs::read_to_string(repo().join("docs/runbook.md")).unwrap();
    let readme = std::fs::read_to_string(repo().join("alerts/README.md")).unwrap();
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for r in &rules {
        let a = &r.alert;
        if !seen.insert(a.clone()) {
            problems.push(format!("{a}: defined twice"));
        }
        let prefix_ok = [
            "PersistenceCheck",
            "PersistenceExporter",
            "PersistenceDataLost",
            "Redis",
            "Postgres",
            "Docker",
        ]
        .iter()
        .any(|p| a.starts_with(p) && a.len() > p.len());
        if !prefix_ok || !a.chars().all(|c| c.is_ascii_alphanumeric()) {
            problems.push(format!("{a}: not CamelCase with a system prefix"));
        }
        match r.labels.get("severity").map(String::as_str) {
            Some("critical" | "warning" | "info") => {}
            // The profile decides: the severity label comes from persistence_check_ok.
            None if r.expr.contains("group_left(severity)") => {}
            other => problems.push(format!("{a}: severity {other:?}")),
        }
        for key in ["summary", "description"] {
            if r.annotations.get(key).is_none_or(|s| s.trim().is_empty()) {
                problems.push(format!("{a}: no {key} annotation"));
            }
        }
        // The runbook page the exporter the alert is about serves; the one alert without an
        // `instance` label (absent()) links to the repository's file.
        let want = if a == "PersistenceExporterAbsent" {
            format!("docs/runbook.md#{}", a.to_lowercase())
        } else {
            format!("http://{{{{ $labels.instance }}}}/docs/runbook#{a}")
        };
        if a.starts_with("PersistenceCheck") {
            let check = "http://{{ $labels.instance }}/docs/checks#{{ $labels.check }}";
            if r.annotations.get("check_url").map(String::as_str) != Some(check) {
                problems.push(format!(
                    "{a}: check_url {:?}, want {check}",
                    r.annotations.get("check_url")
                ));
            }
            if !r
                .annotations
                .get("description")
                .is_some_and(|d| d.contains(check))
            {
                problems.push(format!("{a}: the description does not link {check}"));
            }
        }
        if r.annotations.get("runbook_url") != Some(&want) {
            problems.push(format!(
                "{a}: runbook_url {:?}, want {want}",
                r.annotations.get("runbook_url")
            ));
        }
        if !runbook.lines().any(|l| l.trim() == format!("## {a}")) {
            problems.push(format!("{a}: no `## {a}` section in docs/runbook.md"));
        }
        let row = readme
            .lines()
            .find(|l| l.starts_with(&format!("| `{a}` |")));
        match row {
            None => problems.push(format!(
                "{a}: no row in the alerts/README.md threshold table"
            )),
            Some(row) => {
                let cells: Vec<&str> = row.split('|').map(str::trim).collect();
                let documented = cells.get(4).copied().unwrap_or("");
                let actual = r.for_.as_deref().unwrap_or("none");
                if !documented.starts_with(actual) {
                    problems.push(format!(
                        "{a}: alerts/README.md documents `for` {documented:?}, {} has {actual:?}",
                        r.file
                    ));
                }
            }
        }
    }

    // Every alert is unit-tested both ways in alerts/tests/.
    let mut fires = BTreeSet::new();
    let mut silent = BTreeSet::new();
    for path in yaml_files(&repo().join("alerts/tests")) {
        let doc: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for t in doc["tests"].as_sequence().into_iter().flatten() {
            for case in t["alert_rule_test"].as_sequence().into_iter().flatten() {
                let name = case["alertname"].as_str().unwrap().to_string();
                match case.get("exp_alerts").and_then(|e| e.as_sequence()) {
                    Some(v) if !v.is_empty() => fires.insert(name),
                    _ => silent.insert(name),
                };
            }
        }
    }
    for r in &rules {
        if !fires.contains(&r.alert) {
            problems.push(format!(
                "{}: no unit test in alerts/tests/ makes it fire",
                r.alert
            ));
        }
        if !silent.contains(&r.alert) {
            problems.push(format!(
                "{}: no unit test in alerts/tests/ keeps it silent",
                r.alert
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "alert rule problems:\n{}",
        problems.join("\n")
    );
}

/// Scrapes until every name is there (some need a second collection: the error counter,
/// the credential-less auth probe), bounded; returns the last scrape.
async fn scrape_until_all(e: &Exporter, names: &BTreeSet<&str>) -> Metrics {
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let m = e.scrape().await;
        if names.iter().all(|n| m.has(n)) || Instant::now() > until {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_metric_named_in_a_rule_is_exported() {
    let rules = rules();
    let used = rule_metrics(&rules);
    eprintln!(
        "metrics used by the rules: {:?}",
        used.keys().collect::<Vec<_>>()
    );

    // Redis with RDB on (`redis_config_key_value{key="save"}` non-empty) and AOF off:
    // durable fails redis_aof_enabled, so checks pass and fail.
    let redis = RedisServer::start(&["--save", "60", "1000"]);
    // A Redis that does not exist: connect errors (persistence_exporter_scrape_errors_total)
    // and unknown checks (persistence_check_unknown).
    let dead = format!("redis://127.0.0.1:{}", free_port());
    // PostgreSQL as the superuser (pg_ls_waldir for pg_wal_size_bytes), following its log
    // (pg_slow_queries_total).
    let pg = PgServer::start(17, &[("log_min_duration_statement", "1000")]);
    let e = Exporter::start(&[
        "--profile",
        "durable",
        "--redis.addr",
        &redis.url(),
        "--redis.addr",
        &dead,
        "--postgres.dsn",
        &pg.dsn("postgres", "postgres"),
        "--postgres.log-file",
        pg.log_file.to_str().unwrap(),
        "--docker.host",
        DOCKER_HOST,
    ])
    .await;

    let names: BTreeSet<&str> = used.keys().map(String::as_str).collect();
    let m = scrape_until_all(&e, &names).await;
    let missing: Vec<String> = used
        .iter()
        .filter(|(name, _)| !m.has(name))
        .map(|(name, alerts)| {
            format!(
                "{name} (used by {})",
                alerts.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        })
        .collect();
    assert!(
        missing.is_empty(),
        "rules name metrics the exporter does not produce:\n{}\n\nexposition:\n{}",
        missing.join("\n"),
        m.text
    );

    // rate() on a gauge, or delta() on a counter, is a rule that cannot work.
    let wrong: Vec<String> = rules
        .iter()
        .flat_map(|r| {
            wrong_type_uses(&r.expr, &m.types)
                .into_iter()
                .map(move |w| format!("{}: {w}", r.alert))
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "functions applied to the wrong metric type:\n{}",
        wrong.join("\n")
    );

    // The checks the persistence-check rules join on carry the labels they join on.
    let ok = m.all("persistence_check_ok", &[("check", "redis_aof_enabled")]);
    assert!(!ok.is_empty(), "{}", m.text);
    for l in ["target", "check", "severity"] {
        assert!(
            ok[0].labels.contains_key(l),
            "persistence_check_ok without {l}"
        );
    }
    let info = m.all("persistence_check_info", &[("check", "redis_aof_enabled")]);
    for l in ["target", "check", "expected", "observed"] {
        assert!(
            info[0].labels.contains_key(l),
            "persistence_check_info without {l}"
        );
    }
    e.stop().await;
}
