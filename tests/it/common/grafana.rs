//! The Grafana dashboard lint, shared by the tests: the structural rules every dashboard
//! in `dashboards/` follows (valid JSON, `schemaVersion` >= 39, a stable `uid`, only core
//! non-Angular panel types, the `datasource` variable as the only datasource reference,
//! `job`/`instance`/`target` query variables chained by job and instance, every selector
//! filtered by `$job` and `$instance`, every panel with a title, a unit, thresholds and at
//! least one target, unique panel ids, panels that do not overlap, links to
//! the exporter's `/docs/runbook` and `/docs/checks`), and the JSON walkers they are written with.

use super::promql::selectors;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::PathBuf;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Grafana's built-in interval variables a panel query may use.
pub const BUILTIN_INTERVALS: &[&str] = &["$__rate_interval", "$__interval", "$__range"];

/// Core panel types that are not Angular (Grafana 11 disables Angular, 12 removes it).
pub const PANEL_TYPES: &[&str] = &["timeseries", "stat", "gauge", "table", "bargauge", "text"];

/// Variables a query may use, besides Grafana's built-in intervals.
pub const VARIABLES: &[&str] = &["cluster", "job", "instance", "target"];

/// The only datasource reference a dashboard may hold: the `datasource` variable.
pub fn ds() -> Value {
    json!({"type": "prometheus", "uid": "${datasource}"})
}

/// One dashboard file.
pub struct Dashboard {
    /// The file name, without `dashboards/`.
    pub file: String,
    /// Its parsed JSON.
    pub json: Value,
}

/// Every `dashboards/*.json` of the repository, parsed, in file-name order.
pub fn dashboards() -> Vec<Dashboard> {
    let dir = repo().join("dashboards");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let file = p.file_name().unwrap().to_string_lossy().into_owned();
            let json = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("dashboards/{file} is not valid JSON: {e}"));
            Dashboard { file, json }
        })
        .collect()
}

/// Every panel, including those nested in a row's `panels`.
pub fn panels(d: &Value) -> Vec<&Value> {
    fn walk<'a>(list: &'a Value, out: &mut Vec<&'a Value>) {
        for p in list.as_array().into_iter().flatten() {
            out.push(p);
            if let Some(inner) = p.get("panels") {
                walk(inner, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(&d["panels"], &mut out);
    out
}

/// The dashboard's template variables.
pub fn variables(d: &Value) -> Vec<&Value> {
    d["templating"]["list"]
        .as_array()
        .map(|l| l.iter().collect())
        .unwrap_or_default()
}

/// The query text of a query variable (a plain string or `{"query": …}`).
pub fn variable_query(v: &Value) -> Option<&str> {
    v["query"].as_str().or_else(|| v["query"]["query"].as_str())
}

/// `label_values(selector, label)` → `(Some(selector), label)`; `label_values(label)` →
/// `(None, label)`.
pub fn parse_label_values(q: &str) -> Option<(Option<String>, String)> {
    let inner = q.trim().strip_prefix("label_values(")?.strip_suffix(')')?;
    match inner.rsplit_once(',') {
        Some((sel, label)) => Some((Some(sel.trim().to_string()), label.trim().to_string())),
        None => Some((None, inner.trim().to_string())),
    }
}

/// Every `$name` / `${name}` / `${name:fmt}` in a query.
pub fn variable_refs(expr: &str) -> Vec<String> {
    let c: Vec<char> = expr.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        if c[i] == '$' {
            let braced = c.get(i + 1) == Some(&'{');
            let start = if braced { i + 2 } else { i + 1 };
            let mut j = start;
            while j < c.len() && (c[j].is_ascii_alphanumeric() || c[j] == '_') {
                j += 1;
            }
            out.push(c[start..j].iter().collect());
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

/// Walks every object of a JSON value with its path.
pub fn walk_json<'a>(v: &'a Value, path: String, f: &mut dyn FnMut(&str, &'a Value)) {
    f(&path, v);
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                walk_json(x, format!("{path}.{k}"), f);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                walk_json(x, format!("{path}[{i}]"), f);
            }
        }
        _ => {}
    }
}

/// The structural problems of one dashboard (empty when it follows every rule).
pub fn lint(d: &Dashboard, expected_uid: Option<&str>) -> Vec<String> {
    let mut problems = Vec::new();
    let f = &d.file;
    let j = &d.json;
    let mut p = |s: String| problems.push(format!("{f}: {s}"));

    for key in ["__inputs", "__requires", "__elements"] {
        if j.get(key).is_some() {
            p(format!(
                "has `{key}`: use the `datasource` variable, not import placeholders"
            ));
        }
    }
    match j["schemaVersion"].as_u64() {
        Some(v) if v >= 39 => {}
        other => p(format!("schemaVersion {other:?}, want >= 39")),
    }
    let uid = j["uid"].as_str().unwrap_or("");
    if uid.is_empty() || uid.len() > 40 {
        p(format!("uid {uid:?} is empty or longer than 40 characters"));
    }
    if let Some(want) = expected_uid
        && uid != want
    {
        p(format!("uid {uid:?}, want the stable {want:?}"));
    }
    if j["title"].as_str().is_none_or(|t| t.trim().is_empty()) {
        p("no title".into());
    }

    // Every datasource reference anywhere is the variable; nothing names a datasource uid.
    walk_json(j, String::new(), &mut |path, v| {
        if let Value::Object(m) = v
            && let Some(dsv) = m.get("datasource")
            && *dsv != ds()
        {
            problems.push(format!("{f}: {path}.datasource is {dsv}, want {}", ds()));
        }
        if let Value::String(s) = v
            && (s.contains("${DS_") || s.contains("$DS_"))
        {
            problems.push(format!("{f}: {path} uses an import placeholder: {s:?}"));
        }
    });
    let mut p = |s: String| problems.push(format!("{f}: {s}"));

    // Variables.
    let vars = variables(j);
    let var = |name: &str| vars.iter().find(|v| v["name"] == name).copied();
    match var("datasource") {
        Some(v) if v["type"] == "datasource" && v["query"] == "prometheus" => {}
        Some(v) => p(format!(
            "variable datasource must be type datasource, query prometheus: {v}"
        )),
        None => p("no `datasource` variable".into()),
    }
    for (name, needs) in [
        ("job", &["$cluster"][..]),
        ("instance", &["$job"][..]),
        ("target", &["$job", "$instance"][..]),
    ] {
        let Some(v) = var(name) else {
            p(format!("no `{name}` variable"));
            continue;
        };
        if v["type"] != "query" {
            p(format!("variable {name} is not a query variable"));
        }
        let q = variable_query(v).unwrap_or("");
        match parse_label_values(q) {
            Some((Some(sel), label)) if label == name => {
                for n in needs {
                    if !sel.contains(n) {
                        p(format!("variable {name} ({q}) is not chained by {n}"));
                    }
                }
                for s in selectors(&sel) {
                    if !s.matchers.contains("job=~\"$job\"") && name != "job" {
                        p(format!(
                            "variable {name}: {} not filtered by $job",
                            s.metric
                        ));
                    }
                }
            }
            _ => p(format!(
                "variable {name}: query {q:?} is not label_values(<metric selector>, {name})"
            )),
        }
    }
    for v in &vars {
        let name = v["name"].as_str().unwrap_or("");
        if !["datasource", "cluster", "job", "instance", "target"].contains(&name) {
            p(format!("unexpected variable {name}"));
        }
    }

    // The cluster variable (the mixin's clusterLabel): "All" must match series without
    // the label too.
    match var("cluster") {
        Some(v) if v["type"] == "query" && v["includeAll"] == true && v["allValue"] == ".*" => {}
        Some(v) => p(format!(
            "variable cluster must be a query variable with includeAll and allValue \".*\": {v}"
        )),
        None => p("no `cluster` variable".into()),
    }

    // Links to the runbook and the check reference the exporter serves (from these files
    // of the repository), on the exporter of the `instance` variable.
    let links: Vec<&str> = j["links"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["url"].as_str())
        .collect();
    for (page, doc) in [
        ("/docs/runbook", "docs/runbook.md"),
        ("/docs/checks", "docs/checks.md"),
    ] {
        let want = format!("http://${{instance}}{page}");
        if !links.contains(&want.as_str()) {
            p(format!("no dashboard link to {want}"));
        }
        if !repo().join(doc).exists() {
            p(format!("{doc} does not exist"));
        }
    }

    // Panels.
    let all = panels(j);
    if all.is_empty() {
        p("no panels".into());
    }
    let mut ids = BTreeSet::new();
    let mut boxes: Vec<(String, [i64; 4])> = Vec::new();
    for panel in &all {
        let title = panel["title"].as_str().unwrap_or("");
        let here = format!("panel {} {title:?}", panel["id"]);
        match panel["id"].as_u64() {
            Some(id) if ids.insert(id) => {}
            Some(id) => p(format!("{here}: duplicate panel id {id}")),
            None => p(format!("{here}: no numeric id")),
        }
        if title.trim().is_empty() {
            p(format!("{here}: no title"));
        }
        let ty = panel["type"].as_str().unwrap_or("");
        if !PANEL_TYPES.contains(&ty) {
            p(format!(
                "{here}: panel type {ty:?} is not one of {PANEL_TYPES:?}"
            ));
        }
        if panel["datasource"] != ds() {
            p(format!("{here}: panel datasource is not the variable"));
        }
        let defaults = &panel["fieldConfig"]["defaults"];
        if defaults["unit"]
            .as_str()
            .is_none_or(|u| u.trim().is_empty())
        {
            p(format!("{here}: no unit"));
        }
        let steps = defaults["thresholds"]["steps"].as_array();
        match steps {
            Some(s)
                if !s.is_empty()
                    && s[0]["value"].is_null()
                    && s.iter().all(|x| x["color"].is_string())
                    && s[1..].iter().all(|x| x["value"].is_number()) => {}
            _ => p(format!(
                "{here}: thresholds must be steps with a base (value null) and numeric values"
            )),
        }
        let targets = panel["targets"].as_array().cloned().unwrap_or_default();
        if targets.is_empty() {
            p(format!("{here}: no target"));
        }
        let mut refs = BTreeSet::new();
        for t in &targets {
            let r = t["refId"].as_str().unwrap_or("");
            if r.is_empty() || !refs.insert(r.to_string()) {
                p(format!("{here}: missing or duplicate refId {r:?}"));
            }
            if t["datasource"] != ds() {
                p(format!("{here} target {r}: datasource is not the variable"));
            }
            let expr = t["expr"].as_str().unwrap_or("");
            if expr.trim().is_empty() {
                p(format!("{here} target {r}: no expr"));
            }
            for name in variable_refs(expr) {
                if !VARIABLES.contains(&name.as_str())
                    && !BUILTIN_INTERVALS
                        .iter()
                        .any(|b| b.strip_prefix('$') == Some(name.as_str()))
                {
                    p(format!("{here} target {r}: unknown variable ${name}"));
                }
            }
            for s in selectors(expr) {
                for (label, value) in [
                    ("cluster", "$cluster"),
                    ("job", "$job"),
                    ("instance", "$instance"),
                ] {
                    if !s.matchers.contains(&format!("{label}=~\"{value}\"")) {
                        p(format!(
                            "{here} target {r}: {} is not filtered by {label}=~\"{value}\"",
                            s.metric
                        ));
                    }
                }
            }
        }
        let g = &panel["gridPos"];
        let b = ["x", "y", "w", "h"].map(|k| g[k].as_i64().unwrap_or(-1));
        if b.iter().any(|v| *v < 0) || b[2] == 0 || b[3] == 0 || b[0] + b[2] > 24 {
            p(format!("{here}: bad gridPos {g}"));
        } else {
            for (other, o) in &boxes {
                let overlap = b[0] < o[0] + o[2]
                    && o[0] < b[0] + b[2]
                    && b[1] < o[1] + o[3]
                    && o[1] < b[1] + b[3];
                if overlap {
                    p(format!("{here}: overlaps {other}"));
                }
            }
            boxes.push((here.clone(), b));
        }
    }
    problems
}
