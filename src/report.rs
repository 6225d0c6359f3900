//! `persistence_exporter check`: one live audit of every configured target against its
//! profile, printed as the requirement table a verification report needs.

use crate::checks::{CheckResult, Status};
use crate::cli::{CheckArgs, OutputFormat};
use crate::clock::unix_now;
use crate::config::Settings;
use crate::outcome::ScrapeView;
use std::fmt::Write as _;
use std::process::ExitCode;

/// Runs the audit and returns the exit code (0 pass, 1 fail, 2 nothing reachable).
pub async fn run_check(settings: &Settings, args: &CheckArgs) -> ExitCode {
    let scraper = crate::scrape::Scraper::new(crate::collectors::build(settings));
    let deadline = tokio::time::Instant::now() + settings.scrape_timeout;
    let report = scraper.scrape(deadline).await;
    let view = ScrapeView::new(&report);
    let results = crate::checks::evaluate_scrape(&view.targets, &settings.profiles(), unix_now());
    let reachable = report.outcomes.iter().filter(|o| o.result.is_ok()).count();
    let down: Vec<String> = report
        .outcomes
        .iter()
        .filter_map(|o| o.result.as_ref().err().map(|e| e.to_string()))
        .collect();
    let text = match args.output {
        OutputFormat::Table => table(&results, false),
        OutputFormat::Markdown => table(&results, true),
        OutputFormat::Json => json(&results, &down),
    };
    print!("{text}");
    for d in &down {
        eprintln!("unreachable: {d}");
    }
    exit_code(&results, reachable, args.fail_on_unknown)
}

/// 2 when no target answered, 1 when a check failed (or is unknown with
/// `--fail-on-unknown`), else 0.
pub fn exit_code(results: &[CheckResult], reachable: usize, fail_on_unknown: bool) -> ExitCode {
    if reachable == 0 {
        return ExitCode::from(2);
    }
    let failed = results.iter().any(|r| r.status == Status::Fail);
    let unknown = results
        .iter()
        .any(|r| matches!(r.status, Status::Unknown(_)));
    if failed || (fail_on_unknown && unknown) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn status_text(s: &Status) -> (&'static str, String) {
    match s {
        Status::Pass => ("PASS", String::new()),
        Status::Fail => ("FAIL", String::new()),
        Status::Unknown(r) => ("UNKNOWN", r.clone()),
        Status::NotApplicable(r) => ("N/A", r.clone()),
    }
}

/// The requirement table, aligned text or Markdown, with a summary line.
pub fn table(results: &[CheckResult], markdown: bool) -> String {
    let header = [
        "Target",
        "Check",
        "Requirement",
        "Severity",
        "Expected",
        "Observed",
        "Status",
    ];
    let rows: Vec<[String; 7]> = results
        .iter()
        .map(|r| {
            let (st, reason) = status_text(&r.status);
            let observed = if reason.is_empty() {
                r.observed.clone()
            } else {
                reason
            };
            [
                r.target.clone(),
                r.check.to_string(),
                r.requirement.to_string(),
                r.severity.as_str().to_string(),
                r.expected.clone(),
                observed,
                st.to_string(),
            ]
        })
        .collect();
    let mut out = String::new();
    if markdown {
        let esc = |s: &str| s.replace('|', "\\|");
        let _ = writeln!(out, "| {} |", header.join(" | "));
        let _ = writeln!(out, "|{}", " --- |".repeat(header.len()));
        for r in &rows {
            let cells: Vec<String> = r.iter().map(|c| esc(c)).collect();
            let _ = writeln!(out, "| {} |", cells.join(" | "));
        }
    } else {
        let mut widths = header.map(str::len);
        for r in &rows {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let mut l = String::new();
            for (c, width) in cells.iter().zip(widths) {
                let _ = write!(l, "{c:<width$}  ");
            }
            l.trim_end().to_string()
        };
        let _ = writeln!(out, "{}", line(&header.map(String::from)));
        for r in &rows {
            let _ = writeln!(out, "{}", line(r));
        }
    }
    let count = |f: fn(&Status) -> bool| results.iter().filter(|r| f(&r.status)).count();
    let _ = writeln!(
        out,
        "\n{} checks: {} passed, {} failed, {} unknown",
        results.len(),
        count(|s| *s == Status::Pass),
        count(|s| *s == Status::Fail),
        count(|s| matches!(s, Status::Unknown(_)))
    );
    out
}

fn json(results: &[CheckResult], unreachable: &[String]) -> String {
    let doc = serde_json::json!({
        "results": results,
        "unreachable": unreachable,
        "summary": {
            "total": results.len(),
            "passed": results.iter().filter(|r| r.status == Status::Pass).count(),
            "failed": results.iter().filter(|r| r.status == Status::Fail).count(),
            "unknown": results.iter().filter(|r| matches!(r.status, Status::Unknown(_))).count(),
        }
    });
    format!(
        "{}\n",
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    )
}
