//! A small PromQL-aware tokenizer shared by the alert-rule and dashboard tests: which
//! metric names an expression uses (and inside which function), and the label matchers
//! written on each of them. Not a parser: it knows functions (a word followed by `(`),
//! keywords, label names (inside `{…}` or a `by (…)`-style list), strings, durations
//! (`[5m]`) and numbers (`1e3`, `0x1f`), which is all the rule and dashboard expressions
//! need.

/// PromQL words that are not metric names when they are not followed by `(`.
pub const KEYWORDS: &[&str] = &[
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "sum",
    "min",
    "max",
    "avg",
    "count",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
    "group",
    "inf",
    "nan",
    "atan2",
    "start",
    "end",
];

/// Keywords followed by a parenthesised list of label names.
pub const LABEL_LISTS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// A metric name used in an expression, with the innermost function it is an argument
/// of (`rate`, `delta`, …; empty at the top level or inside plain parentheses).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Use {
    /// The metric name.
    pub metric: String,
    /// The innermost enclosing function or aggregation, or empty.
    pub function: String,
}

/// A metric selector: the name and the text between its `{` and `}` (empty when it has
/// no matchers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selector {
    /// The metric name.
    pub metric: String,
    /// The matchers as written, without the braces.
    pub matchers: String,
}

/// Every metric name used in `expr`, in order (see the module documentation).
pub fn metric_uses(expr: &str) -> Vec<Use> {
    scan(expr).into_iter().map(|(u, _)| u).collect()
}

/// Every metric selector of `expr` with its matchers, in order.
pub fn selectors(expr: &str) -> Vec<Selector> {
    scan(expr)
        .into_iter()
        .map(|(u, matchers)| Selector {
            metric: u.metric,
            matchers,
        })
        .collect()
}

fn scan(expr: &str) -> Vec<(Use, String)> {
    let c: Vec<char> = expr.chars().collect();
    let mut out: Vec<(Use, String)> = Vec::new();
    let mut stack: Vec<String> = Vec::new();
    let mut label_list_next = false;
    // The metric name just read, whose `{…}` (if any) belongs to it.
    let mut last_metric: Option<usize> = None;
    let mut i = 0;
    let skip_string = |mut i: usize| -> usize {
        let q = c[i];
        i += 1;
        while i < c.len() && c[i] != q {
            if c[i] == '\\' && q != '`' {
                i += 1;
            }
            i += 1;
        }
        i + 1
    };
    while i < c.len() {
        let ch = c[i];
        if ch == '"' || ch == '\'' || ch == '`' {
            i = skip_string(i);
            last_metric = None;
        } else if ch == '#' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '{' || ch == '[' {
            let close = if ch == '{' { '}' } else { ']' };
            let start = i + 1;
            while i < c.len() && c[i] != close {
                if c[i] == '"' || c[i] == '\'' || c[i] == '`' {
                    i = skip_string(i);
                } else {
                    i += 1;
                }
            }
            if ch == '{'
                && let Some(m) = last_metric.take()
            {
                out[m].1 = c[start..i.min(c.len())].iter().collect();
            }
            i += 1;
        } else if ch == '(' {
            if label_list_next {
                while i < c.len() && c[i] != ')' {
                    i += 1;
                }
                label_list_next = false;
            } else {
                stack.push(String::new());
            }
            last_metric = None;
            i += 1;
        } else if ch == ')' {
            stack.pop();
            last_metric = None;
            i += 1;
        } else if ch.is_ascii_digit()
            || (ch == '.' && c.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            while i < c.len() && (c[i].is_ascii_alphanumeric() || c[i] == '.' || c[i] == '_') {
                i += 1;
            }
            last_metric = None;
        } else if ch.is_ascii_alphabetic() || ch == '_' || ch == ':' {
            let start = i;
            while i < c.len() && (c[i].is_ascii_alphanumeric() || c[i] == '_' || c[i] == ':') {
                i += 1;
            }
            let word: String = c[start..i].iter().collect();
            let mut j = i;
            while j < c.len() && c[j].is_whitespace() {
                j += 1;
            }
            let lower = word.to_ascii_lowercase();
            last_metric = None;
            if ["and", "or", "unless", "bool"].contains(&lower.as_str()) {
                // Binary operators: a `(` after them opens a plain group.
            } else if LABEL_LISTS.contains(&lower.as_str()) {
                label_list_next = c.get(j) == Some(&'(');
            } else if c.get(j) == Some(&'(') {
                // A function call (or an aggregation written `sum(…)`).
                stack.push(word);
                i = j + 1;
            } else if !KEYWORDS.contains(&lower.as_str()) {
                out.push((
                    Use {
                        metric: word,
                        function: stack.last().cloned().unwrap_or_default(),
                    },
                    String::new(),
                ));
                last_metric = Some(out.len() - 1);
            }
        } else {
            if !ch.is_whitespace() {
                last_metric = None;
            }
            i += 1;
        }
    }
    out
}

/// Uses in `expr` of a function on the wrong metric type (`rate()` on a gauge, `deriv()`
/// on a counter), as `f(metric) but metric is a <type>`, given the exporter's `# TYPE`s.
pub fn wrong_type_uses(
    expr: &str,
    types: &std::collections::BTreeMap<String, String>,
) -> Vec<String> {
    metric_uses(expr)
        .into_iter()
        .filter_map(|u| {
            let ty = types.get(&u.metric)?;
            let want = match u.function.as_str() {
                "rate" | "irate" | "increase" | "resets" => "counter",
                "delta" | "idelta" | "deriv" | "predict_linear" => "gauge",
                _ => return None,
            };
            (ty != want).then(|| format!("{}({}) but {} is a {ty}", u.function, u.metric, u.metric))
        })
        .collect()
}
