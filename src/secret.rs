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
    pub fn from_file(path: &std::path::Path) -> Result<Secret, String> {
        let raw = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read password file {}: {e}", path.display()))?;
        let line = raw.lines().next().unwrap_or("").trim_end_matches('\r');
        if line.is_empty() {
            return Err(format!("password file {} is empty", path.display()));
        }
        Ok(Secret(line.to_string()))
    }
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
/// reaches a label, a log line or an error message.
pub fn sanitize_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return sanitize_keyword_dsn(url);
    };
    let after = &url[scheme_end + 3..];
    let authority_end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let authority = &after[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return strip_password_param(url);
    };
    let userinfo = &authority[..at];
    let user = userinfo.split(':').next().unwrap_or("");
    let mut out = String::with_capacity(url.len());
    out.push_str(&url[..scheme_end + 3]);
    if !user.is_empty() {
        out.push_str(user);
        out.push('@');
    }
    out.push_str(&authority[at + 1..]);
    out.push_str(&strip_password_param(&after[authority_end..]));
    out
}

/// Drops a `password=` query parameter (libpq URLs accept one).
fn strip_password_param(s: &str) -> String {
    let Some(q) = s.find('?') else {
        return s.to_string();
    };
    let (head, query) = s.split_at(q + 1);
    let kept: Vec<&str> = query
        .split('&')
        .filter(|kv| !kv.to_ascii_lowercase().starts_with("password="))
        .collect();
    if kept.is_empty() {
        head.trim_end_matches('?').to_string()
    } else {
        format!("{head}{}", kept.join("&"))
    }
}

/// Removes `password=...` from a libpq key/value DSN (`host=x password='y z' user=u`).
fn sanitize_keyword_dsn(dsn: &str) -> String {
    let mut out = Vec::new();
    let mut rest = dsn.trim();
    while !rest.is_empty() {
        let key_end = rest.find('=').unwrap_or(rest.len());
        let key = rest[..key_end].trim();
        let mut value_rest = rest.get(key_end + 1..).unwrap_or("").trim_start();
        let value;
        if let Some(stripped) = value_rest.strip_prefix('\'') {
            let mut end = stripped.len();
            let mut escaped = false;
            for (i, c) in stripped.char_indices() {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '\'' {
                    end = i;
                    break;
                }
            }
            value = &value_rest[..(end + 2).min(value_rest.len())];
            value_rest = stripped.get(end + 1..).unwrap_or("");
        } else {
            let end = value_rest
                .find(char::is_whitespace)
                .unwrap_or(value_rest.len());
            value = &value_rest[..end];
            value_rest = &value_rest[end..];
        }
        if !key.eq_ignore_ascii_case("password") && !key.is_empty() {
            out.push(format!("{key}={value}"));
        }
        rest = value_rest.trim_start();
    }
    out.join(" ")
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
