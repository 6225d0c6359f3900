//! `log_line_prefix` templates: where a stderr line's prefix ends and what `%d` (the
//! database) printed, plus a heuristic for lines read before the prefix is known.

/// One token of a `log_line_prefix`.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Literal(String),
    Escape(char),
}

/// A parsed `log_line_prefix`, used to find `%d` (the database) in stderr lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrefixTemplate {
    raw: String,
    tokens: Vec<Token>,
}

impl PrefixTemplate {
    /// Parses a `log_line_prefix` value. `%q` is dropped (duration lines always come from
    /// sessions, for which the whole prefix is printed); padding (`%-10u`) is accepted.
    pub fn parse(prefix: &str) -> PrefixTemplate {
        let mut tokens = Vec::new();
        let mut lit = String::new();
        let mut chars = prefix.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '%' {
                lit.push(c);
                continue;
            }
            // Optional padding: '-' and digits.
            if chars.peek() == Some(&'-') {
                chars.next();
            }
            while chars.peek().is_some_and(|c| c.is_ascii_digit()) {
                chars.next();
            }
            match chars.next() {
                Some('%') => lit.push('%'),
                Some('q') => {}
                Some(e) => {
                    if !lit.is_empty() {
                        tokens.push(Token::Literal(std::mem::take(&mut lit)));
                    }
                    tokens.push(Token::Escape(e));
                }
                None => lit.push('%'),
            }
        }
        if !lit.is_empty() {
            tokens.push(Token::Literal(lit));
        }
        PrefixTemplate {
            raw: prefix.to_string(),
            tokens,
        }
    }

    /// The `log_line_prefix` this was parsed from.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// True when the prefix prints the database (`%d`).
    pub fn has_database(&self) -> bool {
        self.tokens.contains(&Token::Escape('d'))
    }

    /// Matches a `LOG` line: returns the database (when the prefix has `%d`) and the
    /// message after `LOG:  `. `None` when the line does not fit the prefix or is not a
    /// `LOG` line.
    pub(super) fn match_log_line<'a>(&self, line: &'a str) -> Option<(Option<String>, &'a str)> {
        const SEVERITY: &str = "LOG:  ";
        let mut pos = 0;
        let mut db = None;
        let n = self.tokens.len();
        let mut i = 0;
        while let Some(token) = self.tokens.get(i) {
            let rest = line.get(pos..)?;
            match token {
                Token::Literal(s) => {
                    if !rest.starts_with(s.as_str()) {
                        return None;
                    }
                    pos += s.len();
                }
                Token::Escape(e) => {
                    // The value runs to the next literal; when that literal ends the
                    // prefix, to that literal followed by the severity, so values with
                    // spaces (timestamps, database names) are taken whole.
                    let (term, consumed_lit) = match self.tokens.get(i + 1) {
                        Some(Token::Literal(s)) if i + 2 == n => (format!("{s}{SEVERITY}"), true),
                        Some(Token::Literal(s)) => (s.clone(), true),
                        Some(Token::Escape(_)) => return None,
                        None => (SEVERITY.to_string(), false),
                    };
                    let len = rest.find(term.as_str())?;
                    let value = rest.get(..len)?.trim();
                    if *e == 'd' {
                        db = Some(if value == "[unknown]" {
                            String::new()
                        } else {
                            value.to_string()
                        });
                    }
                    pos += len;
                    if consumed_lit {
                        if let Some(Token::Literal(s)) = self.tokens.get(i + 1) {
                            pos += s.len();
                        }
                        i += 1;
                    }
                }
            }
            i += 1;
        }
        let msg = line.get(pos..)?.strip_prefix(SEVERITY)?;
        Some((db, msg))
    }
}

/// Finds a `db=NAME` (or `database=NAME`) field in a prefix, for lines read before the
/// server's `log_line_prefix` is known.
pub(super) fn heuristic_db(prefix: &str) -> Option<String> {
    for key in ["database=", "db="] {
        for (at, _) in prefix.match_indices(key) {
            let (before, after) = prefix.split_at_checked(at)?;
            let boundary = before
                .chars()
                .next_back()
                .is_none_or(|c| !c.is_alphanumeric() && c != '_');
            if boundary {
                let rest = after.get(key.len()..)?;
                let value = rest
                    .split(|c: char| c.is_whitespace() || matches!(c, ',' | ']' | ')' | ';'))
                    .next()
                    .unwrap_or_default();
                return Some(value.to_string());
            }
        }
    }
    None
}
