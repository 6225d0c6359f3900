//! Secrets (passwords) and the sanitising of addresses that may carry them. A [`Secret`]
//! never prints its content, so it cannot leak through `Debug`, logs or error messages.

use std::fmt;

/// A password or other credential. `Debug` and `Display` print `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential read from a file, an env var or a URL.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The clear text, for handing to a client library only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Reads a password file: the first line, without its line ending (as `redis-cli` and
    /// libpq's passfile tooling expect). An empty file is an error, not an empty password.
    pub fn from_file(path: &std::path::Path) -> Result<Secret, PasswordFileError> {
        let raw = std::fs::read_to_string(path).map_err(|source| PasswordFileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let line = raw.lines().next().unwrap_or("").trim_end_matches('\r');
        if line.is_empty() {
            return Err(PasswordFileError::Empty {
                path: path.to_path_buf(),
            });
        }
        Ok(Secret(line.to_string()))
    }
}

/// Why a password file gave no password. The message names the file, never its content.
#[derive(Debug, thiserror::Error)]
pub enum PasswordFileError {
    /// The file could not be read.
    #[error("cannot read password file {}: {source}", path.display())]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file's first line is empty.
    #[error("password file {} is empty", path.display())]
    Empty {
        /// The file.
        path: std::path::PathBuf,
    },
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Removes the password from a URL-like address (`scheme://user:pass@host` →
/// `scheme://user@host`), leaving everything else as given. Used for every address that
/// reaches a label, a log line or an error message. An ambiguous URL (see
/// [`ambiguous_url`]) is shown as [`redact_unparsed_url`] shows it, so a password written
/// without percent-encoding never leaks either.
pub fn sanitize_url(url: &str) -> String {
    let Some((scheme, after)) = url.split_once("://") else {
        return sanitize_keyword_dsn(url);
    };
    if ambiguous_url(url).is_some() {
        return redact_unparsed_url(url);
    }
    let authority_end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (authority, tail) = after.split_at_checked(authority_end).unwrap_or((after, ""));
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return strip_password_param(url);
    };
    let user = userinfo.split(':').next().unwrap_or("");
    let mut out = String::with_capacity(url.len());
    out.push_str(scheme);
    out.push_str("://");
    if !user.is_empty() {
        out.push_str(user);
        out.push('@');
    }
    out.push_str(host);
    out.push_str(&strip_password_param(tail));
    out
}

/// Why a `scheme://` connection URL cannot be read the way its author most likely meant
/// (typically a password written without percent-encoding), or `None` when it is fine:
/// a `#` anywhere, a space or control character, more than one `@`, or an `@` after the
/// first `/` or `?`. (URL parsers disagree on such input: the `url` crate ends the
/// authority at the first `/?#`, tokio-postgres takes everything up to the first `@` as
/// credentials; the strict rule makes every reader agree.) The reason never quotes the URL.
pub fn ambiguous_url(url: &str) -> Option<&'static str> {
    let (_, rest) = url.split_once("://")?;
    if rest.contains('#') {
        return Some("it contains '#', which would start a URL fragment");
    }
    if rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("it contains a space or a control character");
    }
    let mut ats = rest.match_indices('@').map(|(i, _)| i);
    let first_at = ats.next()?;
    if ats.next().is_some() {
        return Some("it contains more than one '@'");
    }
    if rest.find(['/', '?']).is_some_and(|end| end < first_at) {
        return Some("it contains an '@' after a '/' or '?'");
    }
    None
}

/// A URL that may not parse, safe to print: when it has an `@`, everything before the
/// last one (where a password could be) becomes `…`; without one, any fragment is cut,
/// and a port that is not a number (perhaps the start of a password cut off by a `,`
/// list separator) hides the rest. A `password=` query parameter is removed either way.
pub fn redact_unparsed_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) if rest.contains('@') => {
            let host = rest.rsplit('@').next().unwrap_or("");
            strip_password_param(&format!("{scheme}://…@{host}"))
        }
        Some((scheme, rest)) => {
            let rest = rest.split('#').next().unwrap_or(rest);
            let authority = rest.split(['/', '?']).next().unwrap_or(rest);
            let host_end = if authority.starts_with('[') {
                authority
                    .find(']')
                    .map(|i| i + 1)
                    .unwrap_or(authority.len())
            } else {
                authority.find(':').unwrap_or(authority.len())
            };
            let (host, port) = authority
                .split_at_checked(host_end)
                .unwrap_or((authority, ""));
            let port = port.strip_prefix(':').unwrap_or(port);
            if port.chars().all(|c| c.is_ascii_digit()) {
                strip_password_param(&format!("{scheme}://{rest}"))
            } else {
                format!("{scheme}://{host}:…")
            }
        }
        None => sanitize_keyword_dsn(url),
    }
}

/// Drops a `password=` query parameter (libpq URLs accept one).
fn strip_password_param(s: &str) -> String {
    let Some((head, query)) = s.split_once('?') else {
        return s.to_string();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|kv| !kv.to_ascii_lowercase().starts_with("password="))
        .collect();
    if kept.is_empty() {
        head.to_string()
    } else {
        format!("{head}?{}", kept.join("&"))
    }
}

/// One `key=value` pair of a libpq key/value DSN, the value as written (quotes kept).
pub struct Pair<'a> {
    /// The key, e.g. `host`.
    pub key: &'a str,
    /// The value as written, quotes and escapes included.
    pub value: &'a str,
}

/// Splits a libpq key/value DSN into pairs the way libpq reads it. Returns the pairs
/// read and, when the text is not a clean list of pairs, why (a word without `=`, a
/// missing key, an unterminated quote); reading goes on after a stray word.
pub fn keyword_pairs(dsn: &str) -> (Vec<Pair<'_>>, Option<&'static str>) {
    let mut pairs = Vec::new();
    let mut problem = None;
    let mut rest = dsn.trim_start();
    while !rest.is_empty() {
        let key_end = rest
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(rest.len());
        let (key, after_key) = rest.split_at_checked(key_end).unwrap_or((rest, ""));
        let after_key = after_key.trim_start();
        let Some(after_eq) = after_key.strip_prefix('=') else {
            // A word without `=`: the tail of an unquoted value with a space, usually.
            problem.get_or_insert("a word without '=' (is a value with a space unquoted?)");
            rest = after_key;
            continue;
        };
        if key.is_empty() {
            problem.get_or_insert("a value without a key");
        }
        let after_eq = after_eq.trim_start();
        let value_end = if after_eq.starts_with('\'') {
            let mut escaped = false;
            let mut end = None;
            for (i, c) in after_eq.char_indices().skip(1) {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '\'' {
                    end = Some(i + 1);
                    break;
                }
            }
            end.unwrap_or_else(|| {
                problem.get_or_insert("an unterminated quoted value");
                after_eq.len()
            })
        } else {
            let mut escaped = false;
            after_eq
                .char_indices()
                .find(|&(_, c)| {
                    let stop = !escaped && c.is_whitespace();
                    escaped = !escaped && c == '\\';
                    stop
                })
                .map(|(i, _)| i)
                .unwrap_or(after_eq.len())
        };
        let (value, next) = after_eq
            .split_at_checked(value_end)
            .unwrap_or((after_eq, ""));
        if !key.is_empty() {
            pairs.push(Pair { key, value });
        }
        rest = next.trim_start();
    }
    (pairs, problem)
}

/// Why a libpq key/value DSN cannot be read unambiguously (a value with a space left
/// unquoted, an unterminated quote, ...), or `None`. The reason never quotes the DSN.
pub fn ambiguous_keyword_dsn(dsn: &str) -> Option<&'static str> {
    keyword_pairs(dsn).1
}

/// Removes `password=...` from a libpq key/value DSN (`host=x password='y z' user=u`);
/// anything that is not a `key=value` pair is dropped too, as it may be part of a password.
fn sanitize_keyword_dsn(dsn: &str) -> String {
    keyword_pairs(dsn)
        .0
        .iter()
        .filter(|p| !p.key.eq_ignore_ascii_case("password"))
        .map(|p| format!("{}={}", p.key, p.value))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "<redacted> <redacted>");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn sanitizes_urls() {
        assert_eq!(sanitize_url("redis://:pw@h:6379/0"), "redis://h:6379/0");
        assert_eq!(
            sanitize_url("rediss://alice:pw@h:6380"),
            "rediss://alice@h:6380"
        );
        assert_eq!(
            sanitize_url("postgresql://u:p%40ss@db/postgres?sslmode=require&password=x"),
            "postgresql://u@db/postgres?sslmode=require"
        );
        assert_eq!(sanitize_url("redis://h:1"), "redis://h:1");
        assert_eq!(
            sanitize_url("postgres://h/db?password=x"),
            "postgres://h/db"
        );
    }

    #[test]
    fn sanitizes_keyword_dsn() {
        assert_eq!(
            sanitize_keyword_dsn("host=db password='a b\\' c' user=u"),
            "host=db user=u"
        );
        assert_eq!(sanitize_keyword_dsn("host=db password=x"), "host=db");
        // An unquoted password with a space: the stray word is dropped, not shown.
        assert_eq!(
            sanitize_keyword_dsn("host=db password=my secretword user=u"),
            "host=db user=u"
        );
        assert!(ambiguous_keyword_dsn("host=db password=my secretword").is_some());
        assert!(ambiguous_keyword_dsn("host=db password='unterminated x").is_some());
        assert_eq!(
            ambiguous_keyword_dsn("host=db password='a b' user = u"),
            None
        );
        assert_eq!(
            sanitize_keyword_dsn("host=db password='a b\\' c"),
            "host=db"
        );
    }

    #[test]
    fn ambiguous_urls_are_detected_and_shown_without_password() {
        let leaky = "postgresql://exporter:P@ss#w0rd:/!@127.0.0.1:22955/postgres";
        assert!(ambiguous_url(leaky).is_some());
        let shown = sanitize_url(leaky);
        assert_eq!(shown, "postgresql://…@127.0.0.1:22955/postgres");
        for bad in [
            "redis://:a@b@h:1",
            "redis://:a b@h:1",
            "redis://:a/b@h:1",
            "redis://:ab@h:1/0#x",
            "redis://:pa?ss@h:1",
        ] {
            assert!(ambiguous_url(bad).is_some(), "{bad}");
            assert!(!sanitize_url(bad).contains(":a"), "{bad}");
        }
        // A password cut off by a `,` list separator: no `@` left, the "port" is hidden.
        assert_eq!(redact_unparsed_url("redis://u:secret"), "redis://u:…");
        assert_eq!(redact_unparsed_url("redis://[::1]:x/0"), "redis://[::1]:…");
        assert_eq!(redact_unparsed_url("redis://h:1/0#f"), "redis://h:1/0");
        // tokio-postgres would read `h/db?application_name=a` as credentials here.
        assert!(ambiguous_url("postgresql://h/db?application_name=a@b").is_some());
        assert!(ambiguous_url("postgresql://u:pw?=@h/db").is_some());
        for good in [
            "redis://:a%40b@h:1/0",
            "postgresql://h/db?application_name=a%40b",
            "postgresql://u:p@h/db?options=-c%20x",
            "redis://h",
        ] {
            assert_eq!(ambiguous_url(good), None, "{good}");
        }
    }

    #[test]
    fn reads_first_line_of_password_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pw");
        std::fs::write(&p, "s3cret\nignored\n").unwrap();
        assert_eq!(Secret::from_file(&p).unwrap().expose(), "s3cret");
        std::fs::write(&p, "\n").unwrap();
        assert!(Secret::from_file(&p).is_err());
    }
}
