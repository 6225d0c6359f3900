//! `verify` output: an aligned table, a Markdown report (time, exporter and Engine
//! versions, images, one row per target, the `check` results of the same targets) or
//! JSON. Rows carry names, paths and verdicts only: never a password or DSN.

use super::{Report, Row};
use crate::cli::OutputFormat;
use std::fmt::Write as _;

const HEADER: [&str; 10] = [
    "Target",
    "Mode",
    "Container",
    "Image",
    "Marker written",
    "Re-created",
    "Ready (s)",
    "Marker found",
    "Status",
    "Reason",
];

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

fn cells(r: &Row) -> [String; 10] {
    let mut reason = r.reason.clone();
    for n in &r.notes {
        reason.push_str("; ");
        reason.push_str(n);
    }
    [
        r.target.clone(),
        r.mode.to_string(),
        r.container.clone(),
        r.image.clone(),
        yes_no(r.marker_written),
        yes_no(r.recreated),
        r.ready_seconds
            .map(|s| format!("{s:.1}"))
            .unwrap_or_else(|| "-".to_string()),
        r.marker_found
            .map(yes_no)
            .unwrap_or_else(|| "-".to_string()),
        r.status.as_str().to_string(),
        reason,
    ]
}

fn summary(report: &Report) -> String {
    let n = |s: super::Verdict| report.results.iter().filter(|r| r.status == s).count();
    format!(
        "{} targets: {} passed, {} failed, {} skipped, {} errors",
        report.results.len(),
        n(super::Verdict::Pass),
        n(super::Verdict::Fail),
        n(super::Verdict::Skipped),
        n(super::Verdict::Error)
    )
}

fn left_volumes(report: &Report) -> Vec<String> {
    report
        .results
        .iter()
        .flat_map(|r| {
            r.left_volumes
                .iter()
                .map(move |v| format!("{v} (from {})", r.target))
        })
        .collect()
}

/// The aligned text table with a summary line.
pub fn table(report: &Report) -> String {
    let rows: Vec<[String; 10]> = report.results.iter().map(cells).collect();
    let mut widths = HEADER.map(str::len);
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut l = String::new();
        for (c, w) in cells.iter().zip(widths) {
            let _ = write!(l, "{c:<w$}  ");
        }
        l.trim_end().to_string()
    };
    let mut out = String::new();
    let _ = writeln!(out, "{}", line(&HEADER.map(String::from)));
    for r in &rows {
        let _ = writeln!(out, "{}", line(r));
    }
    let _ = writeln!(out, "\n{}", summary(report));
    let left = left_volumes(report);
    if !left.is_empty() {
        let _ = writeln!(
            out,
            "volumes no container uses any more (verify never removes volumes): {}",
            left.join(", ")
        );
    }
    out
}

fn md(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The Markdown verification report.
pub fn markdown(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Persistence verification\n");
    let _ = writeln!(out, "- Time: {}", report.time);
    let _ = writeln!(out, "- persistence_exporter {}", md(&report.version));
    let _ = writeln!(
        out,
        "- Docker Engine {} (API {})",
        md(&report.engine_version),
        report.api_version
    );
    let _ = writeln!(
        out,
        "- Mode: {} ({})\n",
        report.mode,
        match report.mode {
            "restart" => "`docker restart`: keeps the writable layer and anonymous volumes",
            _ => "re-created as `docker compose down` + `up` does: anonymous volumes new and empty",
        }
    );
    let _ = writeln!(out, "## Containers\n");
    let _ = writeln!(
        out,
        "| Target | Container | Image | Image ID | Data directory | Held by |\n| --- | --- | --- | --- | --- | --- |"
    );
    for r in report.results.iter().filter(|r| !r.container.is_empty()) {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            md(&r.target),
            md(&r.container),
            md(&r.image),
            md(&r.image_id),
            md(&r.data_dir),
            md(&r.data_mount)
        );
    }
    let _ = writeln!(out, "\n## Results\n");
    let _ = writeln!(out, "| {} |", HEADER.join(" | "));
    let _ = writeln!(out, "|{}", " --- |".repeat(HEADER.len()));
    for r in &report.results {
        let c: Vec<String> = cells(r).iter().map(|c| md(c)).collect();
        let _ = writeln!(out, "| {} |", c.join(" | "));
    }
    let _ = writeln!(out, "\n{}", summary(report));
    let left = left_volumes(report);
    if !left.is_empty() {
        let _ = writeln!(
            out,
            "\nVolumes no container uses any more (verify never removes volumes): {}",
            left.iter().map(|v| md(v)).collect::<Vec<_>>().join(", ")
        );
    }
    let _ = writeln!(out, "\n## Configuration checks (before the test)\n");
    out.push_str(&crate::report::table(&report.checks, true));
    out
}

/// JSON for scripts.
pub fn json(report: &Report) -> String {
    format!(
        "{}\n",
        serde_json::to_string_pretty(report).unwrap_or_default()
    )
}

/// The report in the requested format.
pub fn render(report: &Report, format: OutputFormat) -> String {
    match format {
        OutputFormat::Table => table(report),
        OutputFormat::Markdown => markdown(report),
        OutputFormat::Json => json(report),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::VerifyMode;
    use crate::collectors::Kind;

    fn report() -> Report {
        let mut pass = Row::new("redis", Kind::Redis, VerifyMode::Recreate).done(
            super::super::Verdict::Pass,
            "the marker survived | re-creation",
        );
        pass.container = "das-tern-redis".into();
        pass.image = "redis:7.4-alpine".into();
        pass.marker_written = true;
        pass.recreated = true;
        pass.ready_seconds = Some(1.25);
        pass.marker_found = Some(true);
        let mut fail = Row::new("postgres", Kind::Postgres, VerifyMode::Recreate).done(
            super::super::Verdict::Fail,
            "data directory /x is on an anonymous volume",
        );
        fail.container = "pg".into();
        fail.notes.push("rolled back".into());
        fail.left_volumes.push("abc".into());
        Report {
            time: "2026-11-30T11:00:00.000Z".into(),
            version: "0.1.0".into(),
            engine_version: "20.10.24".into(),
            api_version: "1.41".into(),
            mode: "recreate",
            results: vec![pass, fail],
            checks: Vec::new(),
        }
    }

    #[test]
    fn table_and_markdown_carry_every_row() {
        let r = report();
        let t = table(&r);
        assert!(t.contains("das-tern-redis"), "{t}");
        assert!(
            t.contains("1.2") && t.contains("PASS") && t.contains("FAIL"),
            "{t}"
        );
        assert!(t.contains("2 targets: 1 passed, 1 failed"), "{t}");
        assert!(t.contains("abc (from postgres)"), "{t}");
        let m = markdown(&r);
        assert!(m.contains("Docker Engine 20.10.24 (API 1.41)"), "{m}");
        assert!(m.contains("survived \\| re-creation"), "{m}");
        assert!(m.contains("anonymous volume; rolled back"), "{m}");
        assert!(m.contains("## Configuration checks"), "{m}");
        let j: serde_json::Value = serde_json::from_str(&json(&r)).unwrap();
        assert_eq!(j["results"][0]["status"], "PASS");
        assert_eq!(j["results"][1]["marker_found"], serde_json::Value::Null);
    }
}
