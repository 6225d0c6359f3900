//! The landing page: version, every target with its last scrape result, and links. Plain
//! HTML without JavaScript; every value from a target is escaped.

use super::Runtime;
use crate::checks::Status;
use crate::clock::unix_now;
use crate::outcome::TargetOutcome;
use crate::outcome::view::target_views;
use std::fmt::Write as _;
use std::time::SystemTime;

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn status_cell(o: Option<&TargetOutcome>) -> (String, &'static str, String) {
    match o {
        None => ("not scraped yet".into(), "unknown", String::new()),
        Some(o) => {
            let ago = SystemTime::now()
                .duration_since(o.finished_at)
                .map(|d| format!("{:.0}s ago", d.as_secs_f64()))
                .unwrap_or_default();
            match &o.result {
                Ok(_) => (
                    format!("up ({:.1} ms, {ago})", o.duration.as_secs_f64() * 1000.0),
                    "up",
                    String::new(),
                ),
                Err(e) => (format!("down ({ago})"), "down", e.to_string()),
            }
        }
    }
}

/// The persistence-check table of every target, from the views of the last outcomes.
fn checks_section(state: &Runtime) -> String {
    let outcomes: Vec<_> = state
        .scraper
        .last_outcomes()
        .into_iter()
        .filter_map(|(_, _, o)| o)
        .collect();
    let results =
        crate::checks::evaluate_scrape(&target_views(&outcomes), &state.profiles, unix_now());
    if results.is_empty() {
        return "<p>No check results yet: they appear after the first scrape.</p>\n".to_string();
    }
    let mut out = String::from(
        "<table>\n<tr><th>Target</th><th>Requirement</th><th>Severity</th><th>Expected</th><th>Observed</th><th>Status</th></tr>\n",
    );
    for r in &results {
        let (class, status, observed) = match &r.status {
            Status::Pass => ("up", "PASS", r.observed.clone()),
            Status::Fail => ("down", "FAIL", r.observed.clone()),
            Status::Unknown(reason) => ("unknown", "UNKNOWN", reason.clone()),
        };
        let _ = writeln!(
            out,
            "<tr class=\"{class}\"><td>{}</td><td><a href=\"/docs/checks.md#{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{status}</td></tr>",
            escape(&r.target),
            r.check,
            escape(r.requirement),
            r.severity.as_str(),
            escape(&r.expected),
            escape(&observed),
        );
    }
    out.push_str("</table>\n");
    out
}

/// Renders the page from the last outcomes (no scrape is triggered by viewing it).
pub fn page(state: &Runtime) -> String {
    let path = escape(&state.settings.web.telemetry_path);
    let mut rows = String::new();
    for (kind, name, last) in state.scraper.last_outcomes() {
        let (status, class, error) = status_cell(last.as_deref());
        let _ = writeln!(
            rows,
            "<tr class=\"{class}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            kind.as_str(),
            escape(&name),
            escape(&status),
            escape(&error)
        );
    }
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>persistence_exporter</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; }}
td, th {{ border: 1px solid #999; padding: 0.3em 0.6em; text-align: left; }}
tr.up td {{ background: #d9f2d9; }}
tr.down td {{ background: #f7d4d4; }}
tr.unknown td {{ background: #e6e6e6; }}
</style></head>
<body>
<h1>persistence_exporter</h1>
<p>Version {version} (revision {revision}). Exports the live persistence state of PostgreSQL, Redis and Docker volumes.</p>
<ul>
<li><a href="{path}">Metrics</a></li>
<li><a href="/-/healthy">Health</a></li>
<li><a href="/-/ready">Readiness</a></li>
<li><a href="/docs/checks.md">What each check means</a></li>
</ul>
<h2>Targets</h2>
<table>
<tr><th>Collector</th><th>Target</th><th>Last scrape</th><th>Error</th></tr>
{rows}</table>
<h2>Persistence checks</h2>
{checks}
</body></html>
"#,
        checks = checks_section(state),
        version = escape(crate::VERSION),
        revision = escape(crate::REVISION),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_html() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
