//! Reading the YAML file leniently: each section and target entry is a mapping read field
//! by field through an [`Entry`], so one bad field (a wrong type, an unknown enum value,
//! a malformed duration) is reported and the other fields are still read and validated.
//! The keys an entry knows are the keys its reader asks for: each key is declared once,
//! where it is read, and [`Entry::finish`] reports every other key, with a suggestion.

use super::profile::{CheckOverride, Severity};
use super::{Problem, suggestion};
use serde::de::DeserializeOwned;
use serde_yaml_ng::{Mapping, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// Parses the file's text into a YAML value (`Null` when it is empty or unparsable, the
/// problem recorded).
pub(crate) fn parse_root(text: &str, origin: &str, problems: &mut Vec<Problem>) -> Value {
    match serde_yaml_ng::from_str::<Value>(text) {
        Ok(v) => v,
        Err(e) => {
            problems.push(Problem::new(format!("config file {origin}"), e.to_string()));
            Value::Null
        }
    }
}

/// One mapping of the file being read.
pub(crate) struct Entry<'a> {
    /// Where the entry is, for messages: `config`, `redis[0] (name "a")`, ...
    path: String,
    /// Prefix of the key names in messages (`checks.redis_maxmemory.` for an override).
    prefix: String,
    map: Option<&'a Mapping>,
    /// The keys read so far: the entry's known keys.
    known: Vec<&'static str>,
    problems: Vec<Problem>,
}

impl<'a> Entry<'a> {
    /// The top of the file: an empty file is an empty mapping.
    pub(crate) fn root(value: &'a Value, path: &str, problems: &mut Vec<Problem>) -> Entry<'a> {
        if value.is_null() {
            return Entry::with(None, path, "");
        }
        Entry::new(value, path, "", problems).unwrap_or_else(|| Entry::with(None, path, ""))
    }

    /// An entry; `None` (the problem recorded) when `value` is not a mapping.
    pub(crate) fn new(
        value: &'a Value,
        path: &str,
        prefix: &str,
        problems: &mut Vec<Problem>,
    ) -> Option<Entry<'a>> {
        match value.as_mapping() {
            Some(m) => Some(Entry::with(Some(m), path, prefix)),
            None => {
                let what = prefix.trim_end_matches('.');
                let message = format!(
                    "expected a mapping of keys to values, found {}",
                    kind(value)
                );
                problems.push(if what.is_empty() {
                    Problem::new(path, message)
                } else {
                    Problem::at(path, what, message)
                });
                None
            }
        }
    }

    fn with(map: Option<&'a Mapping>, path: &str, prefix: &str) -> Entry<'a> {
        Entry {
            path: path.to_string(),
            prefix: prefix.to_string(),
            map,
            known: Vec::new(),
            problems: Vec::new(),
        }
    }

    /// Where the entry is.
    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// Names the entry (once its `name` is read), for this and later messages.
    pub(crate) fn set_path(&mut self, path: String) {
        for p in &mut self.problems {
            if p.path == self.path {
                p.path.clone_from(&path);
            }
        }
        self.path = path;
    }

    /// Records a problem with `key` of this entry.
    pub(crate) fn problem(&mut self, key: &str, message: impl std::fmt::Display) {
        let key = format!("{}{key}", self.prefix);
        self.problems.push(Problem::at(&self.path, &key, message));
    }

    /// The value of `key` (a null counts as absent); `key` becomes a known key.
    fn raw(&mut self, key: &'static str) -> Option<&'a Value> {
        if !self.known.contains(&key) {
            self.known.push(key);
        }
        self.map?.get(key).filter(|v| !v.is_null())
    }

    /// The value of `key` as written, even `null` (`docker:` with nothing after it).
    pub(crate) fn present(&mut self, key: &'static str) -> Option<&'a Value> {
        if !self.known.contains(&key) {
            self.known.push(key);
        }
        self.map?.get(key)
    }

    /// `key` deserialised as `T`; a value of the wrong shape is recorded.
    pub(crate) fn get<T: DeserializeOwned>(&mut self, key: &'static str) -> Option<T> {
        let v = self.raw(key)?;
        match serde_yaml_ng::from_value(v.clone()) {
            Ok(t) => Some(t),
            Err(e) => {
                self.problem(key, e);
                None
            }
        }
    }

    /// `key` as text: strings, numbers and booleans are all taken as written.
    pub(crate) fn string(&mut self, key: &'static str) -> Option<String> {
        let v = self.raw(key)?;
        match scalar(v) {
            Some(s) => Some(s),
            None => {
                self.problem(key, format!("expected a single value, found {}", kind(v)));
                None
            }
        }
    }

    /// `key` as a duration no longer than `max`.
    pub(crate) fn duration(&mut self, key: &'static str, max: Duration) -> Option<Duration> {
        let s = self.string(key)?;
        match super::parse_bounded_duration(&s, max) {
            Ok(d) => Some(d),
            Err(e) => {
                self.problem(key, e);
                None
            }
        }
    }

    /// `key` as one of `options`, with a suggestion for a near miss.
    pub(crate) fn choice<T: Copy>(
        &mut self,
        key: &'static str,
        options: &[(&'static str, T)],
    ) -> Option<T> {
        let s = self.string(key)?;
        if let Some((_, t)) = options.iter().find(|(name, _)| *name == s) {
            return Some(*t);
        }
        let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
        let hint = suggestion(&s, names.iter().copied());
        self.problem(
            key,
            format!("{s:?} is not one of {}{hint}", names.join(", ")),
        );
        None
    }

    /// `key` as a list (absent: empty).
    pub(crate) fn list(&mut self, key: &'static str) -> Vec<&'a Value> {
        match self.raw(key) {
            None => Vec::new(),
            Some(Value::Sequence(s)) => s.iter().collect(),
            Some(v) => {
                let found = kind(v);
                self.problem(key, format!("expected a list, found {found}"));
                Vec::new()
            }
        }
    }

    /// `key` as a mapping with string keys (absent: empty).
    pub(crate) fn map(&mut self, key: &'static str) -> Vec<(String, &'a Value)> {
        match self.raw(key) {
            None => Vec::new(),
            Some(Value::Mapping(m)) => {
                let mut out = Vec::new();
                for (k, v) in m {
                    match scalar(k) {
                        Some(k) => out.push((k, v)),
                        None => self.problem(key, "keys must be strings"),
                    }
                }
                out
            }
            Some(v) => {
                let found = kind(v);
                self.problem(key, format!("expected a mapping, found {found}"));
                Vec::new()
            }
        }
    }

    /// The `checks:` overrides of a target or probe module, each read leniently.
    pub(crate) fn check_overrides(&mut self) -> BTreeMap<String, CheckOverride> {
        let mut out = BTreeMap::new();
        for (id, v) in self.map("checks") {
            let prefix = format!("checks.{id}.");
            let mut problems = Vec::new();
            if let Some(mut e) = Entry::new(v, &self.path, &prefix, &mut problems) {
                let o = CheckOverride {
                    severity: e.choice("severity", SEVERITIES),
                    expect: e.string("expect"),
                    enabled: e.get("enabled"),
                };
                e.finish(&mut problems);
                out.insert(id, o);
            }
            self.problems.extend(problems);
        }
        out
    }

    /// Reports every key that was not read (unknown keys, with the closest known one) and
    /// hands over the entry's problems.
    pub(crate) fn finish(self, problems: &mut Vec<Problem>) {
        problems.extend(self.problems);
        let Some(map) = self.map else {
            return;
        };
        let what = self.prefix.trim_end_matches('.');
        let at = |message: String| {
            if what.is_empty() {
                Problem::new(&self.path, message)
            } else {
                Problem::at(&self.path, what, message)
            }
        };
        for key in map.keys() {
            match key.as_str() {
                Some(k) if self.known.contains(&k) => {}
                Some(k) => {
                    let hint = suggestion(k, self.known.iter().copied());
                    problems.push(at(format!(
                        "unknown key {k:?}{hint} (known: {})",
                        self.known.join(", ")
                    )));
                }
                None => problems.push(at("keys must be strings".to_string())),
            }
        }
    }
}

/// The severities by name.
pub(crate) const SEVERITIES: &[(&str, Severity)] = &[
    ("critical", Severity::Critical),
    ("warning", Severity::Warning),
    ("info", Severity::Info),
];

/// A scalar as text.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// What kind of YAML value `v` is, for messages (never the value: it may be a secret).
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}
