//! `persistence_exporter check`: one live audit of every configured target against its
//! profile, printed as a text table (wrapped to fit 120 columns), a Markdown verification
//! report, or JSON, and an exit code that is never 0 when a target could not be seen.

use crate::checks::{CheckResult, Status};
use crate::cli::{CheckArgs, OutputFormat};
use crate::clock::unix_now;
use crate::collectors::Kind;
use crate::config::Settings;
use crate::outcome::{ScrapeReport, ScrapeView};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::process::ExitCode;

/// Width the text table is wrapped to.
pub const TABLE_WIDTH: usize = 120;

/// Exit code: every target answered and no check failed.
pub const EXIT_OK: u8 = 0;
/// Exit code: a check failed (or, with `--fail-on-unknown`, is unknown).
pub const EXIT_FAILED: u8 = 1;
/// Exit code: usage or configuration error, or no target answered at all.
pub const EXIT_USAGE_OR_BLIND: u8 = 2;
/// Exit code: some target could not be reached, so its checks are unknown.
pub const EXIT_UNREACHABLE: u8 = 3;

/// One target as the report shows it.
#[derive(Clone, Debug)]
pub struct TargetState {
    /// Target name (the `target` label).
    pub name: String,
    /// What kind of system it is.
    pub kind: Kind,
    /// Name of its persistence profile (`None` for the Docker Engine).
    pub profile: Option<String>,
    /// `None` when it answered; otherwise the error kind (`connect`, `timeout`, ...) and
    /// the sanitised error message.
    pub error: Option<(&'static str, String)>,
}

/// Everything one `check` run found.
#[derive(Clone, Debug)]
pub struct Audit {
    /// Unix time of the audit.
    pub at: f64,
    /// Every configured target, in configuration order.
    pub targets: Vec<TargetState>,
    /// The evaluated checks.
    pub results: Vec<CheckResult>,
}

impl Audit {
    /// Builds the audit from one scrape and its check results.
    pub fn new(
        report: &ScrapeReport,
        settings: &Settings,
        results: Vec<CheckResult>,
        at: f64,
    ) -> Audit {
        let profiles = settings.profiles();
        let targets = report
            .outcomes
            .iter()
            .map(|o| TargetState {
                name: o.target.clone(),
                kind: o.kind,
                profile: profiles.get(&o.target).map(|p| p.name.clone()),
                error: o.result.as_ref().err().map(|e| (e.reason(), e.to_string())),
            })
            .collect();
        Audit {
            at,
            targets,
            results,
        }
    }

    fn count(&self, f: impl Fn(&Status) -> bool) -> usize {
        self.results.iter().filter(|r| f(&r.status)).count()
    }

    fn passed(&self) -> usize {
        self.count(|s| *s == Status::Pass)
    }

    fn failed(&self) -> usize {
        self.count(|s| *s == Status::Fail)
    }

    fn unknown(&self) -> usize {
        self.count(|s| matches!(s, Status::Unknown(_)))
    }

    fn unreachable(&self) -> impl Iterator<Item = &TargetState> {
        self.targets.iter().filter(|t| t.error.is_some())
    }

    /// The exit code of this audit (see [`crate::cli::CHECK_EXIT_CODES`]).
    pub fn exit_code(&self, fail_on_unknown: bool) -> u8 {
        let down = self.unreachable().count();
        if down == self.targets.len() {
            return EXIT_USAGE_OR_BLIND;
        }
        if self.failed() > 0 || (fail_on_unknown && self.unknown() > 0) {
            return EXIT_FAILED;
        }
        if down > 0 {
            return EXIT_UNREACHABLE;
        }
        EXIT_OK
    }

    /// Distinct profile names, in first-seen order.
    fn profiles(&self) -> Vec<&str> {
        let mut seen = BTreeSet::new();
        self.targets
            .iter()
            .filter_map(|t| t.profile.as_deref())
            .filter(|p| seen.insert(*p))
            .collect()
    }

    fn results_of<'a>(&'a self, target: &'a str) -> impl Iterator<Item = &'a CheckResult> {
        self.results.iter().filter(move |r| r.target == target)
    }

    /// The summary line shared by every format.
    fn summary(&self) -> String {
        format!(
            "{} checks: {} passed, {} failed, {} unknown",
            self.results.len(),
            self.passed(),
            self.failed(),
            self.unknown()
        )
    }

    /// What the exit code means for this audit, in one sentence.
    fn verdict(&self, fail_on_unknown: bool) -> String {
        let down: Vec<&str> = self.unreachable().map(|t| t.name.as_str()).collect();
        let code = self.exit_code(fail_on_unknown);
        match code {
            EXIT_USAGE_OR_BLIND => {
                format!("No target answered: nothing was verified (exit {code}).")
            }
            EXIT_FAILED if self.failed() > 0 => {
                format!("{} check(s) failed (exit {code}).", self.failed())
            }
            EXIT_FAILED => format!(
                "{} check(s) could not be evaluated (--fail-on-unknown, exit {code}).",
                self.unknown()
            ),
            EXIT_UNREACHABLE => format!(
                "{} of {} targets could not be reached ({}): their checks are UNKNOWN, the audit is incomplete (exit {code}).",
                down.len(),
                self.targets.len(),
                down.join(", ")
            ),
            _ => format!("Every target answered and no check failed (exit {code})."),
        }
    }
}

/// Runs the audit, prints it and returns the exit code (see [`crate::cli::CHECK_EXIT_CODES`]).
pub async fn run_check(settings: &Settings, args: &CheckArgs) -> ExitCode {
    let scraper = crate::scrape::Scraper::new(crate::collectors::build(settings));
    let deadline = tokio::time::Instant::now() + settings.scrape_timeout;
    let report = scraper.scrape(deadline).await;
    let view = ScrapeView::with_settings(&report, settings);
    let now = unix_now();
    let results = crate::checks::evaluate_scrape(&view.targets, &settings.profiles(), now);
    let audit = Audit::new(&report, settings, results, now);
    // Each unreachable target was logged once by the scrape (with its error); the report
    // names it once more in its own place, and nothing else repeats it.
    let text = match args.output {
        OutputFormat::Table => text_report(&audit, args.fail_on_unknown),
        OutputFormat::Markdown => markdown_report(&audit, args.fail_on_unknown),
        OutputFormat::Json => json(&audit, args.fail_on_unknown),
    };
    print!("{text}");
    ExitCode::from(audit.exit_code(args.fail_on_unknown))
}

fn status_text(s: &Status) -> &'static str {
    match s {
        Status::Pass => "PASS",
        Status::Fail => "FAIL",
        Status::Unknown(_) => "UNKNOWN",
        Status::NotApplicable(_) => "N/A",
    }
}

fn status_icon(s: &Status) -> &'static str {
    match s {
        Status::Pass => "✅",
        Status::Fail => "❌",
        Status::Unknown(_) => "❔",
        Status::NotApplicable(_) => "➖",
    }
}

/// A result's table cells: check, requirement, severity, expected, observed, status.
fn cells(r: &CheckResult) -> [String; 6] {
    [
        r.check.to_string(),
        r.requirement.to_string(),
        r.severity.as_str().to_string(),
        r.expected.clone(),
        observed(r).to_string(),
        status_text(&r.status).to_string(),
    ]
}

/// What the server reported, or for an unknown check why it is unknown.
fn observed(r: &CheckResult) -> &str {
    match &r.status {
        Status::Unknown(reason) => reason,
        _ => &r.observed,
    }
}

fn kind_text(k: Kind) -> &'static str {
    match k {
        Kind::Redis => "Redis",
        Kind::Postgres => "PostgreSQL",
        Kind::Docker => "Docker Engine",
    }
}

/// `name (Redis, profile durable): answered` / `... unreachable (connect)`.
fn target_heading(t: &TargetState) -> String {
    let profile = t
        .profile
        .as_deref()
        .map(|p| format!(", profile {p}"))
        .unwrap_or_default();
    let state = match &t.error {
        None => "answered".to_string(),
        Some((reason, _)) => format!("UNREACHABLE ({reason})"),
    };
    format!("{} ({}{profile}): {state}", t.name, kind_text(t.kind))
}

/// Date and time in UTC, `2026-11-30 11:47:32 UTC`.
fn utc(at: f64) -> String {
    let stamp = crate::clock::rfc3339(at as i64, 0);
    let stamp = stamp.strip_suffix(".000Z").unwrap_or(&stamp);
    format!("{} UTC", stamp.replacen('T', " ", 1))
}

/// The plain-text report: one block per target, its checks in a table wrapped to
/// [`TABLE_WIDTH`] columns, then the summary and what the exit code means.
pub fn text_report(audit: &Audit, fail_on_unknown: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "persistence_exporter {} check, {}\n",
        crate::VERSION,
        utc(audit.at)
    );
    let header = [
        "Check",
        "Requirement",
        "Severity",
        "Expected",
        "Observed",
        "Status",
    ];
    for t in &audit.targets {
        let _ = writeln!(out, "{}", target_heading(t));
        let rows: Vec<[String; 6]> = audit.results_of(&t.name).map(cells).collect();
        if !rows.is_empty() {
            out.push_str(&wrapped_table(&header, &rows, TABLE_WIDTH, 2, &[1, 3, 4]));
        }
        out.push('\n');
    }
    let _ = writeln!(out, "{}", audit.summary());
    for line in wrap(&audit.verdict(fail_on_unknown), TABLE_WIDTH) {
        let _ = writeln!(out, "{line}");
    }
    out
}

/// Aligns `rows` under `header`, indented by `indent`, two spaces between columns. When
/// the natural width exceeds `width`, the columns in `flexible` are narrowed (the widest
/// first) and their cells wrapped at word boundaries inside their column.
pub fn wrapped_table<const N: usize>(
    header: &[&str; N],
    rows: &[[String; N]],
    width: usize,
    indent: usize,
    flexible: &[usize],
) -> String {
    let mut widths: [usize; N] = header.map(|h| h.chars().count());
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let total = |w: &[usize; N]| indent + w.iter().sum::<usize>() + 2 * N.saturating_sub(1);
    const MIN_FLEX: usize = 12;
    // Narrow the widest flexible column one step at a time until the table fits.
    while total(&widths) > width {
        let widest = flexible
            .iter()
            .copied()
            .filter(|i| widths.get(*i).is_some_and(|w| *w > MIN_FLEX))
            .max_by_key(|i| widths.get(*i).copied().unwrap_or(0));
        match widest.and_then(|i| widths.get_mut(i)) {
            Some(w) => *w -= 1,
            None => break,
        }
    }
    let mut out = String::new();
    let mut emit = |cells: &[String]| {
        let wrapped: Vec<Vec<String>> = cells.iter().zip(widths).map(|(c, w)| wrap(c, w)).collect();
        let height = wrapped.iter().map(Vec::len).max().unwrap_or(1);
        for line in 0..height {
            let mut l = " ".repeat(indent);
            for (col, w) in wrapped.iter().zip(widths) {
                let cell = col.get(line).map(String::as_str).unwrap_or("");
                let _ = write!(l, "{cell:<w$}  ");
            }
            let _ = writeln!(out, "{}", l.trim_end());
        }
    };
    emit(&header.map(String::from));
    for r in rows {
        emit(r);
    }
    out
}

/// Splits `text` into lines of at most `width` characters, at spaces where possible.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let mut word: Vec<char> = word.chars().collect();
        loop {
            let used = line.chars().count();
            let sep = usize::from(used > 0);
            if used + sep + word.len() <= width {
                if sep == 1 {
                    line.push(' ');
                }
                line.extend(word.iter());
                break;
            }
            if used > 0 {
                lines.push(std::mem::take(&mut line));
                continue;
            }
            // A word longer than the column: cut it.
            let rest = word.split_off(width.min(word.len()));
            lines.push(word.into_iter().collect());
            word = rest;
            if word.is_empty() {
                break;
            }
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// Escapes a Markdown table cell.
fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The Markdown verification report: heading, date (UTC), exporter version, profiles,
/// an executive summary, then one section per target with its requirement table.
pub fn markdown_report(audit: &Audit, fail_on_unknown: bool) -> String {
    let mut out = String::new();
    let status = if audit.exit_code(fail_on_unknown) == EXIT_FAILED && audit.failed() > 0 {
        "❌ FAILED"
    } else if audit.unknown() > 0 || audit.unreachable().count() > 0 {
        "❔ INCOMPLETE"
    } else if audit.results.is_empty() {
        "❔ NOTHING CHECKED"
    } else {
        "✅ VERIFIED"
    };
    let profiles: Vec<String> = audit.profiles().iter().map(|p| format!("`{p}`")).collect();
    let _ = writeln!(out, "# Persistence Verification Report\n");
    let _ = writeln!(out, "**Date:** {}  ", utc(audit.at));
    let _ = writeln!(
        out,
        "**Checked by:** persistence_exporter {} (revision {}), live against the running servers  ",
        crate::VERSION,
        crate::REVISION
    );
    let _ = writeln!(
        out,
        "**Profile(s):** {}  ",
        if profiles.is_empty() {
            "none".to_string()
        } else {
            profiles.join(", ")
        }
    );
    let _ = writeln!(out, "**Status:** {status}\n\n---\n");
    let _ = writeln!(out, "## Executive Summary\n");
    let _ = writeln!(
        out,
        "{}. {}\n",
        audit.summary(),
        audit.verdict(fail_on_unknown)
    );
    let _ = writeln!(
        out,
        "| Target | Kind | Profile | Reached | ✅ Passed | ❌ Failed | ❔ Unknown |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    for t in &audit.targets {
        let of =
            |f: fn(&Status) -> bool| audit.results_of(&t.name).filter(|r| f(&r.status)).count();
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} | {} | {} |",
            md_cell(&t.name),
            kind_text(t.kind),
            t.profile
                .as_deref()
                .map(md_cell)
                .unwrap_or_else(|| "–".into()),
            match &t.error {
                None => "✅ yes".to_string(),
                Some((reason, _)) => format!("❌ no ({reason})"),
            },
            of(|s| *s == Status::Pass),
            of(|s| *s == Status::Fail),
            of(|s| matches!(s, Status::Unknown(_))),
        );
    }
    for t in &audit.targets {
        let _ = writeln!(
            out,
            "\n---\n\n## {}: `{}`\n",
            kind_text(t.kind),
            md_cell(&t.name)
        );
        match (&t.error, &t.profile) {
            (Some((_, e)), _) => {
                let _ = writeln!(
                    out,
                    "❌ **Unreachable:** {}. Its checks could not be evaluated.\n",
                    md_cell(e)
                );
            }
            (None, Some(p)) => {
                let _ = writeln!(out, "Answered. Profile: `{}`.\n", md_cell(p));
            }
            (None, None) => {
                let _ = writeln!(out, "Answered.");
            }
        }
        let rows: Vec<&CheckResult> = audit.results_of(&t.name).collect();
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(out, "### Requirements Verification\n");
        let _ = writeln!(
            out,
            "| Requirement | Status | Expected | Observed | Severity | Check |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|");
        for r in rows {
            let _ = writeln!(
                out,
                "| {} | {} {} | {} | {} | {} | [`{id}`](docs/checks.md#{id}) |",
                md_cell(r.requirement),
                status_icon(&r.status),
                status_text(&r.status),
                md_cell(&r.expected),
                md_cell(observed(r)),
                r.severity.as_str(),
                id = r.check,
            );
        }
    }
    let _ = writeln!(
        out,
        "\n---\n\nEach check is explained in [docs/checks.md](docs/checks.md) (the running exporter serves it at `/docs/checks.md`). ❔ UNKNOWN is never counted as a pass."
    );
    out
}

/// A flat requirement table of `results` (one row per check, target first), aligned text
/// or Markdown, with a summary line; `verify` appends it to its report.
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
            let [check, requirement, severity, expected, observed, status] = cells(r);
            [
                r.target.clone(),
                check,
                requirement,
                severity,
                expected,
                observed,
                status,
            ]
        })
        .collect();
    let mut out = String::new();
    if markdown {
        let _ = writeln!(out, "| {} |", header.join(" | "));
        let _ = writeln!(out, "|{}", " --- |".repeat(header.len()));
        for r in &rows {
            let cells: Vec<String> = r.iter().map(|c| md_cell(c)).collect();
            let _ = writeln!(out, "| {} |", cells.join(" | "));
        }
    } else {
        out.push_str(&wrapped_table(&header, &rows, TABLE_WIDTH, 0, &[2, 4, 5]));
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

fn json(audit: &Audit, fail_on_unknown: bool) -> String {
    let targets: Vec<serde_json::Value> = audit
        .targets
        .iter()
        .map(|t| {
            serde_json::json!({
                "name": t.name,
                "kind": t.kind.as_str(),
                "profile": t.profile,
                "reachable": t.error.is_none(),
                "reason": t.error.as_ref().map(|(r, _)| *r),
                "error": t.error.as_ref().map(|(_, e)| e),
            })
        })
        .collect();
    let unreachable: Vec<&str> = audit
        .unreachable()
        .filter_map(|t| t.error.as_ref().map(|(_, e)| e.as_str()))
        .collect();
    let doc = serde_json::json!({
        "version": crate::VERSION,
        "time": utc(audit.at),
        "profiles": audit.profiles(),
        "targets": targets,
        "results": audit.results,
        "unreachable": unreachable,
        "summary": {
            "total": audit.results.len(),
            "passed": audit.passed(),
            "failed": audit.failed(),
            "unknown": audit.unknown(),
        },
        "exit_code": audit.exit_code(fail_on_unknown),
    });
    format!(
        "{}\n",
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_at_spaces_and_cuts_long_words() {
        assert_eq!(wrap("a bb ccc", 4), ["a bb", "ccc"]);
        assert_eq!(wrap("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        assert_eq!(wrap("", 4), [""]);
    }

    #[test]
    fn a_wide_table_fits_the_width() {
        let long = "container not found: no container publishes port 6379 or is named after the target's compose service".to_string();
        let rows = [[
            "redis_data_on_named_volume".to_string(),
            "Data directory on a named volume".to_string(),
            long.clone(),
            long,
            "UNKNOWN".to_string(),
        ]];
        let t = wrapped_table(&["C", "R", "E", "O", "S"], &rows, 80, 2, &[1, 2, 3]);
        assert!(t.lines().all(|l| l.chars().count() <= 80), "{t}");
        assert!(t.lines().count() > 3, "{t}");
        let words: Vec<&str> = t.split_whitespace().collect();
        assert!(words.contains(&"compose"), "{t}");
    }
}
