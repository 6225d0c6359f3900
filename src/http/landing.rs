//! The status page `/`: live persistence verdicts. Opening it collects again when the
//! last results are older than [`FRESH_FOR`] (sharing any collection in flight with the
//! scrapes, under the scrape deadline and the concurrency cap), says when the results
//! were collected, and refreshes itself every [`REFRESH_SECONDS`] without JavaScript.
//! A summary per target comes first, then the checks grouped by target, failing rows
//! first. Every value from a target is escaped.

use super::{AppState, Runtime};
use crate::checks::{CheckResult, Status, Summary};
use crate::clock::unix_seconds;
use crate::collectors::Kind;
use crate::config::profile::Severity;
use crate::config::{DefaultKind, Settings};
use crate::outcome::TargetOutcome;
use crate::outcome::view::{declared_not_in_container, target_views_declared};
use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Results younger than this are shown as they are; older ones are collected again.
pub const FRESH_FOR: Duration = Duration::from_secs(2);
/// The page reloads itself after this many seconds.
pub const REFRESH_SECONDS: u32 = 15;

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

/// Serves `/`: collects when the last results are stale, then renders them.
pub(super) async fn handle(
    state: &AppState,
    rt: &Runtime,
    req: &Request<Incoming>,
) -> Response<Full<Bytes>> {
    let last = rt.scraper.last_outcomes();
    let now = SystemTime::now();
    let stale = last.iter().any(|(_, _, o)| {
        o.as_ref().is_none_or(|o| {
            now.duration_since(o.finished_at)
                .is_ok_and(|age| age > FRESH_FOR)
        })
    });
    let (outcomes, note) = if stale {
        match super::scrape_permit(state) {
            Ok(_permit) => {
                let report = rt.scraper.scrape(super::request_deadline(rt, req)).await;
                (report.outcomes, None)
            }
            Err(_) => (
                last.into_iter().filter_map(|(_, _, o)| o).collect(),
                Some(
                    "Not collected again: too many scrapes in progress. These are the last results.",
                ),
            ),
        }
    } else {
        (last.into_iter().filter_map(|(_, _, o)| o).collect(), None)
    };
    let body = page(rt, &outcomes, SystemTime::now(), note);
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = StatusCode::OK;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// A point in time as `2025-06-01 12:00:03 UTC`.
pub fn utc(t: SystemTime) -> String {
    crate::clock::utc(t)
}

/// `3s ago` (0 when `t` is in the future).
fn age(now: SystemTime, t: SystemTime) -> String {
    let secs = now.duration_since(t).map(|d| d.as_secs()).unwrap_or(0);
    format!("{secs}s ago")
}

/// When the targets are the built-in defaults (nothing configured), what the page says
/// about it; `None` otherwise. Read from [`Settings::defaults_used`].
pub fn defaults_note(settings: &Settings) -> Option<String> {
    if settings.defaults_used.is_empty() {
        return None;
    }
    let parts: Vec<String> = settings
        .defaults_used
        .iter()
        .map(|d| {
            let system = match d.kind {
                DefaultKind::Redis => "Redis",
                DefaultKind::Postgres => "PostgreSQL",
                DefaultKind::Docker => "the Docker Engine",
            };
            format!("{system} at <code>{}</code>", escape(&d.address))
        })
        .collect();
    let listed = match parts.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    };
    Some(format!(
        "Nothing is configured: these are the built-in default targets, {listed}. To watch \
         your own servers, start the exporter with <code>--redis.addr</code>, \
         <code>--postgres.dsn</code> and <code>--docker.host</code> (or their \
         <code>PERSISTENCE_EXPORTER_*</code> environment variables), or with a configuration \
         file: <code>--config.file</code>."
    ))
}

/// Sort rank of a result: failing (most severe first), unknown, passing, N/A.
fn rank(r: &CheckResult) -> u8 {
    match (&r.status, r.severity) {
        (Status::Fail, Severity::Critical) => 0,
        (Status::Fail, Severity::Warning) => 1,
        (Status::Fail, Severity::Info) => 2,
        (Status::Unknown(_), _) => 3,
        (Status::Pass, _) => 4,
        (Status::NotApplicable(_), _) => 5,
    }
}

/// The CSS class of a row.
fn row_class(s: &Status) -> &'static str {
    match s {
        Status::Pass => "up",
        Status::Fail => "down",
        Status::Unknown(_) => "unknown",
        Status::NotApplicable(_) => "na",
    }
}

/// The class of the summary band: the worst result on the page.
fn band_class(s: &Summary, any_down: bool) -> &'static str {
    if s.failing(Severity::Critical) > 0 {
        "band-critical"
    } else if s.failing(Severity::Warning) > 0 {
        "band-warning"
    } else if s.unknown > 0 || any_down {
        "band-unknown"
    } else {
        "band-ok"
    }
}

/// One target of the page: its outcome, profile and check results.
struct TargetRow<'a> {
    kind: Kind,
    name: &'a str,
    outcome: Option<&'a TargetOutcome>,
    profile: Option<&'a str>,
    results: Vec<&'a CheckResult>,
}

/// Renders the page from `outcomes` (one per target that has been collected).
pub fn page(
    rt: &Runtime,
    outcomes: &[Arc<TargetOutcome>],
    now: SystemTime,
    note: Option<&str>,
) -> String {
    render(&rt.settings, &rt.scraper.targets(), outcomes, now, note)
}

/// The page for `targets` (configuration order) and their `outcomes`.
pub fn render(
    settings: &Settings,
    targets: &[(Kind, String)],
    outcomes: &[Arc<TargetOutcome>],
    now: SystemTime,
    note: Option<&str>,
) -> String {
    let profiles = settings.profiles();
    let views = target_views_declared(outcomes, &declared_not_in_container(settings));
    let results = crate::checks::evaluate_scrape(&views, &profiles, unix_seconds(now));
    let mut rows: Vec<TargetRow<'_>> = targets
        .iter()
        .map(|(kind, name)| TargetRow {
            kind: *kind,
            name,
            outcome: outcomes
                .iter()
                .find(|o| o.kind == *kind && o.target == *name)
                .map(Arc::as_ref),
            profile: match kind {
                Kind::Docker => None,
                _ => profiles.get(name).map(|p| p.name.as_str()),
            },
            results: {
                let mut rs: Vec<&CheckResult> =
                    results.iter().filter(|r| r.target == *name).collect();
                rs.sort_by_key(|r| rank(r));
                rs
            },
        })
        .collect();
    // Targets with the worst results first; configuration order otherwise.
    rows.sort_by_key(|t| {
        let down = t.outcome.is_none_or(|o| o.result.is_err());
        let worst = t.results.iter().map(|r| rank(r)).min().unwrap_or(6);
        worst.min(if down { 3 } else { 6 })
    });
    let collected = outcomes.iter().map(|o| o.finished_at).min();
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{REFRESH_SECONDS}">
<title>persistence_exporter</title>
<style>
body {{ font-family: sans-serif; margin: 0; }}
main {{ margin: 0 2em 2em 2em; }}
h1 {{ margin: 0; padding: 0.4em 2em; font-size: 1.4em; }}
table {{ border-collapse: collapse; }}
td, th {{ border: 1px solid #999; padding: 0.3em 0.6em; text-align: left; }}
tr.up td {{ background: #d9f2d9; }}
tr.down td {{ background: #f7d4d4; }}
tr.unknown td {{ background: #e6e6e6; }}
tr.na td {{ background: #eef1f6; color: #555; }}
.summary {{ padding: 0.8em 2em 1em 2em; margin-bottom: 1em; }}
.summary h2 {{ margin: 0 0 0.5em 0; font-size: 1.2em; }}
.summary td, .summary th {{ background: #ffffff; color: #000000; }}
.band-critical {{ background: #b3261e; color: #ffffff; }}
.band-warning {{ background: #e8a200; color: #000000; }}
.band-unknown {{ background: #8a8a8a; color: #ffffff; }}
.band-ok {{ background: #2e7d32; color: #ffffff; }}
.note {{ border-left: 0.4em solid #e8a200; padding: 0.3em 0.8em; background: #fff8e1; }}
</style></head>
<body>
<h1>persistence_exporter</h1>
"#
    );
    let all = Summary::of(&results);
    let any_down = rows
        .iter()
        .any(|t| t.outcome.is_none_or(|o| o.result.is_err()));
    let _ = write!(
        out,
        "<section id=\"summary\" class=\"summary {}\">\n<h2>{} failing critical · {} failing warning · {} unknown</h2>\n",
        band_class(&all, any_down),
        all.failing(Severity::Critical),
        all.failing(Severity::Warning),
        all.unknown,
    );
    out.push_str("<table>\n<tr><th>Target</th><th>Collector</th><th>Profile</th><th>State</th><th>Failing critical</th><th>Failing warning</th><th>Failing info</th><th>Unknown</th><th>Passing</th><th>N/A</th></tr>\n");
    for t in &rows {
        let s = Summary::of(t.results.iter().copied());
        let state = match t.outcome {
            None => "not collected yet".to_string(),
            Some(o) => match &o.result {
                Ok(_) => "up".to_string(),
                Err(e) => format!("down: {}", e.reason()),
            },
        };
        let _ = writeln!(
            out,
            "<tr><td><a href=\"#target-{id}\">{name}</a></td><td>{kind}</td><td>{profile}</td><td>{state}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            s.failing(Severity::Critical),
            s.failing(Severity::Warning),
            s.failing(Severity::Info),
            s.unknown,
            s.passed,
            s.not_applicable,
            id = escape(t.name),
            name = escape(t.name),
            kind = t.kind.as_str(),
            profile = escape(t.profile.unwrap_or("—")),
            state = escape(&state),
        );
    }
    out.push_str("</table>\n</section>\n<main>\n");
    match collected {
        Some(c) => {
            let _ = writeln!(
                out,
                "<p id=\"collected\">Collected at <time>{}</time> ({}). This page refreshes every {REFRESH_SECONDS}s and collects again when its results are older than {}s.</p>",
                utc(c),
                age(now, c),
                FRESH_FOR.as_secs()
            );
        }
        None => out.push_str("<p id=\"collected\">Nothing collected yet.</p>\n"),
    }
    if let Some(n) = note {
        let _ = writeln!(out, "<p class=\"note\">{}</p>", escape(n));
    }
    if let Some(n) = defaults_note(settings) {
        let _ = writeln!(out, "<p class=\"note\" id=\"defaults\">{n}</p>");
    }
    out.push_str("<h2>Persistence checks</h2>\n");
    for t in rows.iter().filter(|t| t.kind != Kind::Docker) {
        let _ = writeln!(
            out,
            "<h3 id=\"target-{}\">{} <small>({}, profile {})</small></h3>",
            escape(t.name),
            escape(t.name),
            t.kind.as_str(),
            escape(t.profile.unwrap_or("—")),
        );
        if t.results.is_empty() {
            out.push_str("<p>No checks apply to this target.</p>\n");
            continue;
        }
        out.push_str("<table class=\"checks\">\n<tr><th>Status</th><th>Requirement</th><th>Check</th><th>Severity</th><th>Expected</th><th>Observed</th></tr>\n");
        for r in &t.results {
            let observed = match r.status.reason() {
                Some(reason) => reason,
                None => r.observed.as_str(),
            };
            let _ = writeln!(
                out,
                "<tr class=\"{class}\"><td>{status}</td><td><a href=\"/docs/checks#{id}\">{req}</a></td><td><code>{id}</code></td><td>{sev}</td><td>{exp}</td><td>{obs}</td></tr>",
                class = row_class(&r.status),
                status = r.status.label(),
                id = r.check,
                req = escape(r.requirement),
                sev = r.severity.as_str(),
                exp = escape(&r.expected),
                obs = escape(observed),
            );
        }
        out.push_str("</table>\n");
    }
    out.push_str("<h2>Targets</h2>\n<table>\n<tr><th>Collector</th><th>Target</th><th>Last collection</th><th>Error</th></tr>\n");
    for (kind, name) in targets {
        let o = outcomes
            .iter()
            .find(|o| o.kind == *kind && o.target == *name);
        let (class, when, error) = match o {
            None => ("unknown", "not collected yet".to_string(), String::new()),
            Some(o) => {
                let when = format!(
                    "{:.1} ms, {}, at {}",
                    o.duration.as_secs_f64() * 1000.0,
                    age(now, o.finished_at),
                    utc(o.finished_at)
                );
                match &o.result {
                    Ok(_) => ("up", format!("up ({when})"), String::new()),
                    Err(e) => ("down", format!("down ({when})"), e.to_string()),
                }
            }
        };
        let _ = writeln!(
            out,
            "<tr class=\"{class}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            kind.as_str(),
            escape(name),
            escape(&when),
            escape(&error)
        );
    }
    let path = escape(&settings.web.telemetry_path);
    let _ = write!(
        out,
        r#"</table>
<h2>Links</h2>
<ul>
<li><a href="{path}">Metrics</a></li>
<li><a href="/docs/checks">What each check means and how to fix it</a></li>
<li><a href="/docs/runbook">Runbook (one section per alert)</a></li>
<li><a href="/-/healthy">Health</a> · <a href="/-/ready">Readiness</a></li>
</ul>
<p>Version {version} (revision {revision}). Exports the live persistence state of PostgreSQL, Redis and Docker volumes.</p>
</main>
</body></html>
"#,
        version = escape(crate::VERSION),
        revision = escape(crate::REVISION),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::redis::{ConfigState, RedisSnapshot, parse_info};
    use crate::collectors::{CollectError, Snapshot};
    use clap::Parser as _;

    struct NoEnv;
    impl crate::config::Env for NoEnv {
        fn var(&self, _: &str) -> Option<String> {
            None
        }
    }

    fn settings(args: &[&str]) -> Settings {
        let mut all = vec!["persistence_exporter"];
        all.extend_from_slice(args);
        let cli = crate::cli::Cli::try_parse_from(all).unwrap();
        crate::config::load(&cli, &NoEnv).unwrap()
    }

    fn redis_outcome(name: &str, info: &str, at: SystemTime) -> Arc<TargetOutcome> {
        Arc::new(TargetOutcome {
            target: name.into(),
            kind: Kind::Redis,
            finished_at: at,
            duration: Duration::from_millis(3),
            // Restarts tracked for a day, none observed.
            restart: Some(crate::restarts::RestartStatus::quiet_since(
                crate::clock::unix_now() - 86_400.0,
            )),
            result: Ok(Snapshot::Redis(RedisSnapshot {
                info: parse_info(info),
                config: ConfigState::Readable(
                    [("save", "3600 1"), ("appendfsync", "everysec")]
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                auth_required: Some(true),
            })),
        })
    }

    fn targets(s: &Settings) -> Vec<(Kind, String)> {
        s.redis
            .iter()
            .map(|t| (Kind::Redis, t.name.clone()))
            .chain(s.postgres.iter().map(|t| (Kind::Postgres, t.name.clone())))
            .collect()
    }

    #[test]
    fn escapes_html() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn failing_rows_and_targets_come_first_under_a_summary() {
        let s = settings(&[
            "--redis.addr",
            "redis://127.0.0.1:7001",
            "--redis.addr",
            "redis://127.0.0.1:7002",
        ]);
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_750_000_000);
        let now = t0 + Duration::from_secs(3);
        let healthy = "aof_enabled:1\naof_last_write_status:ok\naof_last_bgrewrite_status:ok\nrdb_last_bgsave_status:ok\nevicted_keys:0\nmaxmemory_policy:noeviction\n";
        let outcomes = vec![
            redis_outcome("127.0.0.1:7001", healthy, t0),
            redis_outcome(
                "127.0.0.1:7002",
                &healthy.replace("aof_enabled:1", "aof_enabled:0"),
                t0 + Duration::from_secs(1),
            ),
        ];
        let html = render(&s, &targets(&s), &outcomes, now, None);
        assert!(html.contains("<meta http-equiv=\"refresh\" content=\"15\">"));
        assert!(!html.contains("<script"));
        // Oldest collection, absolute UTC and age.
        assert!(
            html.contains("Collected at <time>2025-06-15 15:06:40 UTC</time> (3s ago)"),
            "{html}"
        );
        // Summary first: the warning band (aof off is a warning when RDB is on).
        let summary = html.find("id=\"summary\"").unwrap();
        assert!(html.contains("class=\"summary band-warning\""), "{html}");
        assert!(
            html.contains("0 failing critical · 1 failing warning · 6 unknown"),
            "{html}"
        );
        // The failing target's group comes first although it is configured second.
        let first = html.find("id=\"target-127.0.0.1:7002\"").unwrap();
        let second = html.find("id=\"target-127.0.0.1:7001\"").unwrap();
        assert!(summary < first && first < second);
        // Its first row is the failing one, with the comparison.
        let first_row = &html
            .get(first..)
            .unwrap()
            .split("<tr class=")
            .nth(1)
            .unwrap();
        assert!(
            first_row.starts_with("\"down\"><td>FAIL</td>"),
            "{first_row}"
        );
        assert!(first_row.contains("/docs/checks#redis_aof_enabled"));
        assert!(
            first_row.contains("<td>= yes</td><td>no</td>"),
            "{first_row}"
        );
        // The profile per target.
        assert!(html.contains("(redis, profile durable)"));
        // Explicit targets: no defaults note.
        assert!(!html.contains("id=\"defaults\""));
    }

    #[test]
    fn not_applicable_rows_are_shown_and_not_counted_unknown() {
        let mut s = settings(&["--redis.addr", "redis://127.0.0.1:7001"]);
        s.redis[0].not_in_container = true;
        let now = SystemTime::now();
        let outcomes = vec![redis_outcome(
            "127.0.0.1:7001",
            "aof_enabled:1\naof_last_write_status:ok\naof_last_bgrewrite_status:ok\nrdb_last_bgsave_status:ok\nevicted_keys:0\nmaxmemory_policy:noeviction\nrdb_last_save_time:0\nrdb_changes_since_last_save:0\n",
            now,
        )];
        let html = render(&s, &targets(&s), &outcomes, now, None);
        assert!(html.contains("<tr class=\"na\"><td>N/A</td>"), "{html}");
        assert!(
            html.contains("0 failing critical · 0 failing warning · 0 unknown"),
            "{html}"
        );
        assert!(html.contains("class=\"summary band-ok\""), "{html}");
        // N/A rows come last in the checks table.
        let checks = html.split("<h2>Targets</h2>").next().unwrap();
        assert!(checks.rfind("<tr class=\"up\">") < checks.find("<tr class=\"na\">"));
    }

    #[test]
    fn defaults_are_announced_with_how_to_change_them() {
        let s = settings(&[]);
        let note = defaults_note(&s).unwrap();
        assert!(note.contains("--redis.addr") && note.contains("--config.file"));
        let html = render(&s, &targets(&s), &[], SystemTime::now(), None);
        assert!(html.contains("id=\"defaults\""));
        assert!(html.contains("Nothing collected yet"));
        assert!(defaults_note(&settings(&["--redis.addr", "redis://127.0.0.1:7001"])).is_none());
        // Every default in use is named, the Docker Engine included.
        assert!(
            note.contains("Redis at <code>redis://localhost:6379</code>"),
            "{note}"
        );
        assert!(note.contains("and the Docker Engine at <code>"), "{note}");
    }

    #[test]
    fn defaults_configured_by_hand_are_not_called_defaults() {
        // The same addresses as the built-in defaults, but chosen: no note.
        let s = settings(&[
            "--redis.addr",
            "redis://localhost:6379",
            "--postgres.dsn",
            "postgresql://postgres@localhost:5432/postgres",
            "--docker.host",
            "unix:///var/run/docker.sock",
        ]);
        assert!(s.defaults_used.is_empty());
        assert!(defaults_note(&s).is_none());
    }

    #[test]
    fn down_targets_and_hostile_values_are_escaped() {
        let s = settings(&["--redis.addr", "redis://127.0.0.1:7001"]);
        let o = Arc::new(TargetOutcome {
            target: "127.0.0.1:7001".into(),
            kind: Kind::Redis,
            finished_at: SystemTime::now(),
            duration: Duration::ZERO,
            restart: None,
            result: Err(CollectError::Protocol {
                target: "127.0.0.1:7001".into(),
                cause: "<script>x</script>".into(),
            }),
        });
        let html = render(&s, &targets(&s), &[o], SystemTime::now(), Some("<b>"));
        assert!(!html.contains("<script>") && !html.contains("<b>"));
        assert!(html.contains("class=\"summary band-unknown\""), "{html}");
    }
}
