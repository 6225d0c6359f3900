//! The documentation served as HTML: `/docs/checks` (one section per check, anchored by
//! its id: `/docs/checks#redis_aof_enabled`), `/docs/runbook` (one section per alert,
//! anchored by its name: `/docs/runbook#PersistenceExporterDown`) and `/docs/verify`.
//! The Markdown is embedded at compile time and rendered with `pulldown-cmark`; raw HTML
//! in it is escaped like text, links between the documents point at their served pages.

use super::landing::escape;
use pulldown_cmark::{CowStr, Event, HeadingLevel, Options, Parser, Tag, TagEnd};

/// A served document: its path under `/docs/`, its title and its Markdown.
struct Doc {
    name: &'static str,
    title: &'static str,
    markdown: &'static str,
}

/// Every served document.
const DOCS: &[Doc] = &[
    Doc {
        name: "checks",
        title: "Persistence checks",
        markdown: include_str!("../../docs/checks.md"),
    },
    Doc {
        name: "runbook",
        title: "Runbook",
        markdown: include_str!("../../docs/runbook.md"),
    },
    Doc {
        name: "verify",
        title: "The verify command",
        markdown: include_str!("../../docs/verify.md"),
    },
];

/// The raw Markdown of `docs/checks.md` (still served at `/docs/checks.md`).
pub const CHECKS_MARKDOWN: &str = include_str!("../../docs/checks.md");

/// The HTML page of `/docs/<name>`, or `None` when there is no such document.
pub fn page(name: &str) -> Option<String> {
    let doc = DOCS.iter().find(|d| d.name == name)?;
    Some(format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title} — persistence_exporter</title>
<style>
body {{ font-family: sans-serif; margin: 2em auto; max-width: 60em; padding: 0 1em; line-height: 1.4; }}
table {{ border-collapse: collapse; }}
td, th {{ border: 1px solid #999; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }}
code {{ background: #f2f2f2; padding: 0 0.2em; }}
pre {{ background: #f2f2f2; padding: 0.6em; overflow-x: auto; }}
:target {{ background: #fff3c4; }}
</style></head>
<body>
<p><a href="/">Status page</a> · <a href="/docs/checks">Checks</a> · <a href="/docs/runbook">Runbook</a> · <a href="/docs/verify">Verify</a></p>
{body}</body></html>
"#,
        title = escape(doc.title),
        body = render(doc.markdown),
    ))
}

/// The anchor of a heading: the text itself when it is an identifier (a check id, an
/// alert name), else a GitHub-style slug (lowercase, spaces to `-`, punctuation dropped).
pub fn heading_id(text: &str) -> String {
    let text = text.trim();
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return text.to_string();
    }
    github_slug(text)
}

/// GitHub's anchor for a heading: lowercase, spaces to `-`, punctuation dropped.
fn github_slug(text: &str) -> String {
    text.trim()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '_' || c == '-' => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

/// Where a link in a document points once served: `checks.md#x` → `/docs/checks#x`;
/// in-page anchors stay; other relative links (files of the repository that are not
/// served) become `None`, and the link text is kept as plain text.
fn rewrite_link(dest: &str) -> Option<String> {
    if dest.starts_with('#') || dest.starts_with("http://") || dest.starts_with("https://") {
        return Some(dest.to_string());
    }
    let (file, anchor) = match dest.split_once('#') {
        Some((f, a)) => (f, Some(a)),
        None => (dest, None),
    };
    let name = file
        .strip_prefix("./")
        .unwrap_or(file)
        .strip_suffix(".md")?;
    DOCS.iter().find(|d| d.name == name)?;
    Some(match anchor {
        Some(a) => format!("/docs/{name}#{a}"),
        None => format!("/docs/{name}"),
    })
}

/// Renders Markdown to HTML: headings get ids (and a GitHub-style alias anchor when it
/// differs, so `#persistenceexporterdown` lands too), raw HTML is escaped.
pub fn render(markdown: &str) -> String {
    let mut options = Options::empty();
    options.insert(Options::ENABLE_TABLES);
    options.insert(Options::ENABLE_STRIKETHROUGH);
    let events: Vec<Event<'_>> = Parser::new_ext(markdown, options).collect();
    let mut out: Vec<Event<'_>> = Vec::with_capacity(events.len());
    // Links left out (not served): their end tags are dropped too.
    let mut dropped_links = Vec::new();
    let mut i = 0;
    while let Some(event) = events.get(i) {
        match event {
            Event::Start(Tag::Heading { level, .. }) => {
                let text = heading_text(events.get(i + 1..).unwrap_or_default());
                let id = heading_id(&text);
                let slug = github_slug(&text);
                let tag = heading_tag(*level);
                let mut html = String::new();
                if slug != id && !slug.is_empty() {
                    html.push_str(&format!("<a id=\"{}\"></a>", escape(&slug)));
                }
                html.push_str(&format!("<{tag} id=\"{}\">", escape(&id)));
                out.push(Event::Html(CowStr::from(html)));
            }
            Event::End(TagEnd::Heading(level)) => {
                out.push(Event::Html(CowStr::from(format!(
                    "</{}>\n",
                    heading_tag(*level)
                ))));
            }
            Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            }) => match rewrite_link(dest_url) {
                Some(dest) => {
                    dropped_links.push(false);
                    out.push(Event::Start(Tag::Link {
                        link_type: *link_type,
                        dest_url: CowStr::from(dest),
                        title: title.clone(),
                        id: id.clone(),
                    }));
                }
                None => dropped_links.push(true),
            },
            Event::End(TagEnd::Link) => {
                if !dropped_links.pop().unwrap_or(false) {
                    out.push(event.clone());
                }
            }
            Event::Html(raw) | Event::InlineHtml(raw) => out.push(Event::Text(raw.clone())),
            e => out.push(e.clone()),
        }
        i += 1;
    }
    let mut html = String::with_capacity(markdown.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut html, out.into_iter());
    html
}

/// The plain text of the heading that starts before `events`.
fn heading_text(events: &[Event<'_>]) -> String {
    let mut text = String::new();
    for e in events {
        match e {
            Event::End(TagEnd::Heading(_)) => break,
            Event::Text(t) | Event::Code(t) => text.push_str(t),
            _ => {}
        }
    }
    text
}

fn heading_tag(level: HeadingLevel) -> &'static str {
    match level {
        HeadingLevel::H1 => "h1",
        HeadingLevel::H2 => "h2",
        HeadingLevel::H3 => "h3",
        HeadingLevel::H4 => "h4",
        HeadingLevel::H5 => "h5",
        HeadingLevel::H6 => "h6",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check_id::CheckId;

    #[test]
    fn every_check_has_an_anchor() {
        let html = page("checks").unwrap();
        for id in CheckId::ALL {
            assert!(
                html.contains(&format!("<h2 id=\"{id}\">")),
                "no anchor for {id}"
            );
        }
        // In-page links still land.
        assert!(html.contains("href=\"#docker_volume_headroom\""));
    }

    #[test]
    fn every_runbook_alert_has_an_anchor_and_a_github_alias() {
        let html = page("runbook").unwrap();
        for line in include_str!("../../docs/runbook.md").lines() {
            let Some(name) = line.strip_prefix("## ") else {
                continue;
            };
            if name.chars().all(|c| c.is_ascii_alphanumeric()) {
                assert!(html.contains(&format!("id=\"{name}\"")), "{name}");
                assert!(
                    html.contains(&format!("<a id=\"{}\"></a>", name.to_ascii_lowercase())),
                    "{name}"
                );
            }
        }
        assert!(html.contains("id=\"PersistenceExporterDown\""));
        // Links to the other documents point at their pages; repository files are text.
        assert!(html.contains("href=\"/docs/checks\""), "checks link");
        assert!(!html.contains("href=\"../alerts/"));
    }

    #[test]
    fn raw_html_is_escaped_and_unknown_documents_are_none() {
        let html = render("# A <b>title</b>\n\n<script>alert(1)</script>\n\nx <i>y</i> `<z>`\n");
        assert!(!html.contains("<script>") && !html.contains("<b>") && !html.contains("<i>"));
        assert!(html.contains("&lt;script&gt;") && html.contains("&lt;z&gt;"));
        assert!(page("../Cargo.toml").is_none());
        assert!(page("nope").is_none());
    }

    #[test]
    fn heading_ids() {
        assert_eq!(heading_id("redis_aof_enabled"), "redis_aof_enabled");
        assert_eq!(heading_id("RedisDown"), "RedisDown");
        assert_eq!(
            heading_id("Opting a volume filesystem out"),
            "opting-a-volume-filesystem-out"
        );
        assert_eq!(heading_id("The `check` command"), "the-check-command");
    }
}
