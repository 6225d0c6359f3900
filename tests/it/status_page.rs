//! The status page `/` is live against a real Redis: a configuration change shows on the
//! next load after two seconds without anyone scraping `/metrics`; the page has the
//! summary, failing rows first, the profile, when it was collected and a self-refresh.
//! The documentation is served as HTML with an anchor for every check and every alert.

use crate::common;

use common::Exporter;
use common::redis::RedisServer;
use persistence_exporter::check_id::CheckId;
use std::time::Duration;

const PW: &str = "status-page-pw-7731";

/// The `<tr>` of check `id` on the page.
fn row<'a>(page: &'a str, id: &str) -> &'a str {
    let link = format!("/docs/checks#{id}\"");
    let at = page
        .find(&link)
        .unwrap_or_else(|| panic!("no row for {id} in\n{page}"));
    let start = page.get(..at).and_then(|p| p.rfind("<tr")).unwrap();
    let end = at + page.get(at..).and_then(|p| p.find("</tr>")).unwrap();
    page.get(start..end).unwrap()
}

/// The text of the page's `<time>` element (when the results were collected).
fn collected(page: &str) -> String {
    let start = page.find("<time>").expect("collected time") + "<time>".len();
    let end = page.find("</time>").unwrap();
    page.get(start..end).unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_status_page_collects_when_stale_without_a_metrics_scrape() {
    let server = RedisServer::start(&common::redis::das_tern_args(PW));
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, PW).unwrap();
    let e = Exporter::start(&[
        "--profile",
        "das-tern",
        "--redis.addr",
        &server.url(),
        "--redis.password-file",
        pw.to_str().unwrap(),
    ])
    .await;

    // The first load collects by itself: nothing was scraped before.
    let first = e.get("/", &[]).await;
    assert_eq!(first.status, 200);
    assert!(
        first.headers["content-type"].starts_with("text/html"),
        "{:?}",
        first.headers
    );
    let page = first.body;
    assert!(
        row(&page, "redis_aof_enabled").contains("<td>PASS</td>"),
        "{page}"
    );
    assert!(page.contains("<meta http-equiv=\"refresh\" content=\"15\">"));
    assert!(page.contains("(redis, profile das-tern)"), "{page}");
    let t1 = collected(&page);
    assert!(
        t1.ends_with(" UTC") && t1.len() == "2025-01-01 00:00:00 UTC".len(),
        "{t1}"
    );
    assert!(page.contains("s ago)"), "{page}");
    // Sizes read alike on both sides.
    assert!(
        row(&page, "redis_maxmemory").contains("<td>= 512 MiB</td><td>512 MiB</td>"),
        "{}",
        row(&page, "redis_maxmemory")
    );
    assert!(!page.contains(PW));

    // The server changes; only the page is loaded again, after the results went stale.
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("appendonly")
        .arg("no")
        .query(&mut server.client())
        .unwrap();
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let page = e.get("/", &[]).await.body;
    let aof = row(&page, "redis_aof_enabled");
    assert!(aof.contains("<td>FAIL</td>"), "{page}");
    assert!(aof.contains("<td>= yes</td><td>no</td>"), "{aof}");
    assert_ne!(collected(&page), t1, "collected again");

    // The summary comes first and counts the failure; the failing row is the first row.
    let summary = page.find("id=\"summary\"").unwrap();
    assert!(page.contains("class=\"summary band-critical\""), "{page}");
    assert!(
        page.contains("1 failing critical · 0 failing warning · 2 unknown"),
        "{page}"
    );
    let checks = page.find("<h2>Persistence checks</h2>").unwrap();
    assert!(summary < checks);
    let first_row = page
        .get(checks..)
        .and_then(|p| p.split("<tr class=").nth(1))
        .unwrap();
    assert!(
        first_row.starts_with("\"down\"><td>FAIL</td>")
            && first_row.contains("/docs/checks#redis_aof_enabled"),
        "{first_row}"
    );
    // Rows are ordered FAIL, UNKNOWN, PASS.
    let section = page.get(checks..).unwrap();
    let pos = |class: &str| section.find(&format!("<tr class=\"{class}\">")).unwrap();
    assert!(pos("down") < pos("unknown") && pos("unknown") < pos("up"));
    // Without Docker the volume check says how to monitor it.
    assert!(
        row(&page, "redis_data_on_named_volume").contains("--docker.host"),
        "{page}"
    );
    e.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_documentation_is_html_with_an_anchor_per_check_and_alert() {
    let e = Exporter::start(&["--redis.addr", "redis://127.0.0.1:1"]).await;
    let checks = e.get("/docs/checks", &[]).await;
    assert_eq!(checks.status, 200);
    assert!(checks.headers["content-type"].starts_with("text/html"));
    assert!(checks.body.starts_with("<!DOCTYPE html>"));
    for id in CheckId::ALL {
        assert!(
            checks.body.contains(&format!("id=\"{id}\"")),
            "no anchor for {id}"
        );
    }
    // Markdown is rendered, not shown.
    assert!(!checks.body.contains("\n## ") && checks.body.contains("<table>"));

    let runbook = e.get("/docs/runbook", &[]).await;
    assert_eq!(runbook.status, 200);
    assert!(runbook.headers["content-type"].starts_with("text/html"));
    let alerts: Vec<&str> = include_str!("../../docs/runbook.md")
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .filter(|h| h.chars().all(|c| c.is_ascii_alphanumeric()))
        .collect();
    assert!(alerts.len() > 10, "{alerts:?}");
    for a in alerts.iter().chain(&["PersistenceExporterDown"]) {
        assert!(
            runbook.body.contains(&format!("id=\"{a}\"")),
            "no anchor for {a}"
        );
    }
    // The raw Markdown stays where it was; unknown documents are 404.
    let raw = e.get("/docs/checks.md", &[]).await;
    assert_eq!(raw.status, 200);
    assert!(raw.body.starts_with("# Persistence checks"));
    assert_eq!(e.get("/docs/nope", &[]).await.status, 404);
    assert_eq!(e.get("/docs/../Cargo.toml", &[]).await.status, 404);
    e.stop().await;
}
