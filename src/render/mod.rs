//! Rendering: pure functions from snapshots to the Prometheus text exposition. This is
//! the only module that touches the `prometheus` crate (for the `process_*` metrics);
//! every family is built per scrape from that scrape's snapshots, so nothing about a
//! target outlives the response that reported it. One exception, for the same text: the
//! per-volume Docker families are rendered once per volume listing and reused while the
//! scrape's snapshot holds that same listing (`docker::volume_families`).
//!
//! Decisions: samples are written straight into the text exposition format (0.0.4) as
//! they are added, instead of building the `prometheus` crate's protobuf structs and
//! text-encoding them. Profiles of a scrape showed that building those structs (a
//! `String` per label name and value, a struct per sample) and encoding them was most
//! of the exporter's own CPU per scrape. The writer below produces byte for byte what
//! `prometheus::TextEncoder` wrote for the same families (the tests compare the two),
//! and `promtool check metrics` keeps checking the result.

mod checks;
mod docker;
mod postgres;
mod redis;
mod restarts;

use crate::checks::CheckResult;
use crate::collectors::{CollectError, Kind, Snapshot};
use crate::outcome::{ReloadStatus, ScrapeView};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::OnceLock;
use std::sync::{Arc, Mutex, Weak};

/// Metric type of a family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    /// A value that goes up and down.
    Gauge,
    /// A monotonically increasing value (name ends in `_total`).
    Counter,
    /// Cumulative buckets, sum and count.
    Histogram,
}

impl MetricKind {
    /// The word of the `# TYPE` line.
    fn as_str(self) -> &'static str {
        match self {
            MetricKind::Gauge => "gauge",
            MetricKind::Counter => "counter",
            MetricKind::Histogram => "histogram",
        }
    }
}

enum Value<'a> {
    Scalar(f64),
    Histogram {
        /// `(upper bound, cumulative count)`, ascending, without `+Inf`.
        buckets: &'a [(f64, u64)],
        count: u64,
        sum: f64,
    },
}

struct Family<'a> {
    help: Cow<'a, str>,
    kind: MetricKind,
    /// The family's sample lines, already in the exposition format (borrowed when they
    /// were appended from text rendered earlier and nothing was added since).
    body: Cow<'a, str>,
}

/// Families rendered once and appended as text to later responses while their input is
/// the same: `(name, help, type, sample lines)`.
pub(crate) type Rendered = Vec<(Cow<'static, str>, Cow<'static, str>, MetricKind, String)>;

/// What a [`RenderMemo`] entry was rendered from, by identity.
pub(crate) trait MemoKey {
    /// Whether the input is still held by someone (a snapshot that may be rendered again).
    fn is_alive(&self) -> bool;
}

/// Text rendered once per input and remembered by that input's identity: the address
/// of its `Arc`, kept valid by a `Weak` in the key (which keeps the allocation from being
/// reused while the entry exists). For inputs that are replaced, never changed: a
/// settings read, a volume listing. Entries whose input is gone are dropped.
pub(crate) struct RenderMemo<K> {
    entries: Mutex<HashMap<usize, (K, Arc<Rendered>)>>,
}

impl<K: MemoKey> RenderMemo<K> {
    /// An empty memo.
    pub(crate) fn new() -> Self {
        RenderMemo {
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The text remembered for the input at `addr` if `same` accepts its key, else
    /// `render()`, remembered under `key()`.
    pub(crate) fn get_or_render(
        &self,
        addr: usize,
        same: impl Fn(&K) -> bool,
        key: impl FnOnce() -> K,
        render: impl FnOnce() -> Rendered,
    ) -> Arc<Rendered> {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((k, text)) = entries.get(&addr)
            && same(k)
        {
            return text.clone();
        }
        let text = Arc::new(render());
        entries.retain(|_, (k, _)| k.is_alive());
        entries.insert(addr, (key(), text.clone()));
        text
    }
}

/// Whether `weak` points to the allocation of `arc`.
pub(crate) fn same_arc<T>(weak: &Weak<T>, arc: &Arc<T>) -> bool {
    std::ptr::eq(weak.as_ptr(), Arc::as_ptr(arc))
}

/// Metric families under construction for one response. Names and help texts are
/// borrowed (most are `'static`) or owned when built for this response.
#[derive(Default)]
pub struct Families<'a> {
    map: BTreeMap<Cow<'a, str>, Family<'a>>,
}

impl<'a> Families<'a> {
    /// Adds a gauge sample.
    pub fn gauge(
        &mut self,
        name: impl Into<Cow<'a, str>>,
        help: impl Into<Cow<'a, str>>,
        labels: &[(&str, &str)],
        value: f64,
    ) {
        self.push(name, help, MetricKind::Gauge, labels, Value::Scalar(value));
    }

    /// Adds a counter sample (the name must end in `_total`).
    pub fn counter(
        &mut self,
        name: impl Into<Cow<'a, str>>,
        help: impl Into<Cow<'a, str>>,
        labels: &[(&str, &str)],
        value: f64,
    ) {
        let name = name.into();
        debug_assert!(
            name.ends_with("_total"),
            "counter {name} must end in _total"
        );
        self.push(
            name,
            help,
            MetricKind::Counter,
            labels,
            Value::Scalar(value),
        );
    }

    /// Adds a histogram sample from cumulative `(upper bound, count)` buckets.
    pub fn histogram(
        &mut self,
        name: impl Into<Cow<'a, str>>,
        help: impl Into<Cow<'a, str>>,
        labels: &[(&str, &str)],
        buckets: &[(f64, u64)],
        count: u64,
        sum: f64,
    ) {
        let value = Value::Histogram {
            buckets,
            count,
            sum,
        };
        self.push(name, help, MetricKind::Histogram, labels, value);
    }

    /// Adds one sample to its family (created with this help and type on first use) as
    /// exposition text.
    fn push(
        &mut self,
        name: impl Into<Cow<'a, str>>,
        help: impl Into<Cow<'a, str>>,
        kind: MetricKind,
        labels: &[(&str, &str)],
        value: Value<'_>,
    ) {
        let name = name.into();
        if let Some(fam) = self.map.get_mut(&*name) {
            debug_assert_eq!(fam.kind, kind, "metric {name} registered with two types");
            write_value(fam.body.to_mut(), &name, labels, value);
            return;
        }
        let mut body = String::new();
        write_value(&mut body, &name, labels, value);
        let fam = Family {
            help: help.into(),
            kind,
            body: Cow::Owned(body),
        };
        self.map.insert(name, fam);
    }

    /// Appends families rendered earlier ([`Families::into_rendered`]) as they are;
    /// nothing is copied until another sample joins one of them.
    pub fn append(&mut self, rendered: &'a Rendered) {
        for (name, help, kind, lines) in rendered {
            if let Some(fam) = self.map.get_mut(&**name) {
                debug_assert_eq!(fam.kind, *kind, "metric {name} registered with two types");
                fam.body.to_mut().push_str(lines);
                continue;
            }
            let fam = Family {
                help: Cow::Borrowed(help),
                kind: *kind,
                body: Cow::Borrowed(lines),
            };
            self.map.insert(Cow::Borrowed(name), fam);
        }
    }

    /// Every family as text, owned, to be appended to later responses.
    pub fn into_rendered(self) -> Rendered {
        self.map
            .into_iter()
            .map(|(name, fam)| {
                (
                    Cow::Owned(name.into_owned()),
                    Cow::Owned(fam.help.into_owned()),
                    fam.kind,
                    fam.body.into_owned(),
                )
            })
            .collect()
    }

    /// The exposition text of all families (sorted by name), followed by `extra`, text
    /// already in the exposition format (the process families).
    pub fn encode(self, extra: &str) -> String {
        let len: usize = self
            .map
            .iter()
            .map(|(name, fam)| 2 * name.len() + fam.help.len() + fam.body.len() + 32)
            .sum();
        let mut out = String::with_capacity(len + extra.len());
        for (name, fam) in &self.map {
            if fam.body.is_empty() {
                continue;
            }
            if !fam.help.is_empty() {
                out.push_str("# HELP ");
                out.push_str(name);
                out.push(' ');
                escape_into(&mut out, &fam.help, false);
                out.push('\n');
            }
            out.push_str("# TYPE ");
            out.push_str(name);
            out.push(' ');
            out.push_str(fam.kind.as_str());
            out.push('\n');
            out.push_str(&fam.body);
        }
        out.push_str(extra);
        out
    }
}

/// The sample lines of one value: one line, or a histogram's buckets, sum and count.
fn write_value(out: &mut String, name: &str, labels: &[(&str, &str)], value: Value<'_>) {
    match value {
        Value::Scalar(v) => write_sample(out, name, "", labels, None, v),
        Value::Histogram {
            buckets,
            count,
            sum,
        } => {
            let mut le = String::new();
            let mut inf_seen = false;
            for &(bound, cumulative) in buckets {
                le.clear();
                let _ = write!(le, "{bound}");
                write_sample(out, name, "_bucket", labels, Some(&le), cumulative as f64);
                inf_seen |= bound.is_sign_positive() && bound.is_infinite();
            }
            if !inf_seen {
                write_sample(out, name, "_bucket", labels, Some("+Inf"), count as f64);
            }
            write_sample(out, name, "_sum", labels, None, sum);
            write_sample(out, name, "_count", labels, None, count as f64);
        }
    }
}

/// One sample line: `name[suffix]{labels[,le="…"]} value`.
fn write_sample(
    out: &mut String,
    name: &str,
    suffix: &str,
    labels: &[(&str, &str)],
    le: Option<&str>,
    value: f64,
) {
    out.push_str(name);
    out.push_str(suffix);
    let mut sep = '{';
    for (k, v) in labels.iter().copied().chain(le.map(|le| ("le", le))) {
        out.push(sep);
        out.push_str(k);
        out.push_str("=\"");
        escape_into(out, v, true);
        out.push('"');
        sep = ',';
    }
    if sep == ',' {
        out.push('}');
    }
    // Display of f64 is what the text format expects: shortest round-trip decimal,
    // `NaN`, `inf` (Prometheus parses both spellings of infinity).
    let _ = writeln!(out, " {value}");
}

/// Appends `s` with `\` → `\\`, newline → `\n`, and (in label values) `"` → `\"`.
fn escape_into(out: &mut String, s: &str, quote: bool) {
    let found = if quote {
        memchr::memchr3(b'\\', b'\n', b'"', s.as_bytes())
    } else {
        memchr::memchr2(b'\\', b'\n', s.as_bytes())
    };
    if found.is_none() {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

/// How long the `process_*` metrics are reused: reading them opens `/proc/self/stat`,
/// `/proc/self/limits` and lists every open file descriptor, which costs more than a
/// whole Redis scrape.
const PROCESS_METRICS_TTL: std::time::Duration = std::time::Duration::from_secs(1);

/// The exporter's own `process_*` metrics (CPU, RSS, open fds, start time) as exposition
/// text, read from `/proc` and encoded at most once per [`PROCESS_METRICS_TTL`].
fn process_text() -> String {
    use prometheus::Encoder as _;
    use prometheus::core::Collector as _;
    static COLLECTOR: OnceLock<prometheus::process_collector::ProcessCollector> = OnceLock::new();
    type Cached = Option<(std::time::Instant, String)>;
    static CACHE: std::sync::Mutex<Cached> = std::sync::Mutex::new(None);
    let mut cache = CACHE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((at, text)) = cache.as_ref()
        && at.elapsed() < PROCESS_METRICS_TTL
    {
        return text.clone();
    }
    let families = COLLECTOR
        .get_or_init(prometheus::process_collector::ProcessCollector::for_self)
        .collect();
    let mut buf = Vec::with_capacity(1024);
    // Encoding into a Vec fails only for a family without samples; the process
    // collector's are never empty, and an error is logged rather than a panic.
    if let Err(e) = prometheus::TextEncoder::new().encode(&families, &mut buf) {
        tracing::error!(error = %e, "Encoding process metrics failed");
    }
    let text = String::from_utf8(buf).unwrap_or_default();
    *cache = Some((std::time::Instant::now(), text.clone()));
    text
}

/// Renders one `/metrics` response from the view of a scrape and its check results.
pub fn render(
    view: &ScrapeView<'_>,
    checks: &[CheckResult],
    reload: Option<&ReloadStatus>,
) -> String {
    // Text rendered once per settings read or volume listing, held for this response
    // (its families borrow it).
    let remembered: Vec<Option<Arc<Rendered>>> = view
        .targets
        .iter()
        .map(|t| match &t.outcome.result {
            Ok(Snapshot::Postgres(s)) => Some(postgres::settings_families(&t.outcome.target, s)),
            Ok(Snapshot::Docker(s)) => {
                Some(docker::volume_families(&s.volumes, s.disk_usage.as_ref()))
            }
            _ => None,
        })
        .collect();
    let mut f = Families::default();
    if let Some(r) = reload {
        f.gauge(
            "persistence_exporter_config_last_reload_successful",
            "1 when the last configuration (re)load succeeded; 0 means a bad config was rejected and the previous one is in force.",
            &[],
            if r.success { 1.0 } else { 0.0 },
        );
        f.gauge(
            "persistence_exporter_config_last_reload_success_timestamp_seconds",
            "Unix time of the last successful configuration (re)load.",
            &[],
            r.success_timestamp,
        );
    }
    checks::render(checks, &mut f);
    f.gauge(
        "persistence_exporter_build_info",
        "A metric with a constant '1' value labeled by version and revision of persistence_exporter.",
        &[("version", crate::VERSION), ("revision", crate::REVISION)],
        1.0,
    );
    for (t, text) in view.targets.iter().zip(&remembered) {
        let o = t.outcome;
        let text = text.as_deref();
        f.gauge(
            "persistence_exporter_scrape_duration_seconds",
            "Duration of the last collection of a target.",
            &[("collector", o.kind.as_str()), ("target", &o.target)],
            o.duration.as_secs_f64(),
        );
        match (&o.result, o.kind) {
            (Ok(Snapshot::Redis(s)), _) => redis::render(&o.target, Some(s), &mut f),
            (Err(_), Kind::Redis) => redis::render(&o.target, None, &mut f),
            (Ok(Snapshot::Postgres(s)), _) => {
                postgres::render(&o.target, Some((s, t.slow_log, text)), &mut f)
            }
            (Err(_), Kind::Postgres) => postgres::render(&o.target, None, &mut f),
            (Ok(Snapshot::Docker(s)), _) => docker::render(Some((s, text)), &view.targets, &mut f),
            (Err(_), Kind::Docker) => docker::render(None, &view.targets, &mut f),
        }
        if let Some(r) = &o.restart {
            restarts::render(&o.target, r, &mut f);
        }
    }
    // Every target gets its error series, at 0 until the first failure, so that rate()
    // and increase() work from the first failure on.
    let mut errors = view.errors.clone();
    for t in &view.targets {
        for reason in CollectError::REASONS {
            errors
                .entry((t.kind().as_str(), t.target().to_string(), reason))
                .or_insert(0);
        }
    }
    for ((collector, target, reason), n) in &errors {
        f.counter(
            "persistence_exporter_scrape_errors_total",
            "Failed collections by collector, target and reason.",
            &[
                ("collector", collector),
                ("target", target),
                ("reason", reason),
            ],
            *n as f64,
        );
    }
    f.encode(&process_text())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_families_are_omitted_and_types_kept() {
        let mut f = Families::default();
        f.gauge("a_gauge", "A gauge.", &[("target", "t1")], 1.5);
        f.counter("b_total", "A counter.", &[], 3.0);
        f.histogram(
            "c_seconds",
            "A histogram.",
            &[("db", "x")],
            &[(0.5, 1), (1.0, 3)],
            4,
            7.5,
        );
        let text = f.encode("");
        assert!(
            text.contains("# TYPE a_gauge gauge\na_gauge{target=\"t1\"} 1.5\n"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE b_total counter\nb_total 3\n"),
            "{text}"
        );
        assert!(
            text.contains("c_seconds_bucket{db=\"x\",le=\"1\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("c_seconds_bucket{db=\"x\",le=\"+Inf\"} 4\n"),
            "{text}"
        );
        assert!(text.contains("c_seconds_count{db=\"x\"} 4\n"), "{text}");
    }

    /// The same families through `prometheus::TextEncoder`, the format's reference here.
    /// `(name, help, type, labels, value)` of one sample.
    type Sample<'a> = (&'a str, &'a str, MetricKind, Vec<(&'a str, &'a str)>, f64);

    fn reference(samples: &[Sample<'_>]) -> String {
        use prometheus::Encoder as _;
        use prometheus::proto::{self, MetricType};
        let mut by_name: BTreeMap<&str, proto::MetricFamily> = BTreeMap::new();
        for (name, help, kind, labels, v) in samples {
            let mf = by_name.entry(name).or_insert_with(|| {
                let mut mf = proto::MetricFamily::default();
                mf.set_name(name.to_string());
                mf.set_help(help.to_string());
                mf.set_field_type(match kind {
                    MetricKind::Gauge => MetricType::GAUGE,
                    MetricKind::Counter => MetricType::COUNTER,
                    MetricKind::Histogram => MetricType::HISTOGRAM,
                });
                mf
            });
            let mut m = proto::Metric::default();
            m.set_label(
                labels
                    .iter()
                    .map(|(k, v)| {
                        let mut lp = proto::LabelPair::default();
                        lp.set_name(k.to_string());
                        lp.set_value(v.to_string());
                        lp
                    })
                    .collect(),
            );
            if *kind == MetricKind::Histogram {
                let mut h = proto::Histogram::default();
                h.set_sample_count(7);
                h.set_sample_sum(*v);
                h.set_bucket(
                    [(0.005, 1), (0.5, 3), (10.0, 6)]
                        .iter()
                        .map(|(le, c)| {
                            let mut b = proto::Bucket::default();
                            b.set_upper_bound(*le);
                            b.set_cumulative_count(*c);
                            b
                        })
                        .collect(),
                );
                m.set_histogram(h);
            } else {
                let mut g = proto::Gauge::default();
                g.set_value(*v);
                let mut c = proto::Counter::default();
                c.set_value(*v);
                if *kind == MetricKind::Gauge {
                    m.set_gauge(g);
                } else {
                    m.set_counter(c);
                }
            }
            mf.mut_metric().push(m);
        }
        let families: Vec<_> = by_name.into_values().collect();
        let mut buf = Vec::new();
        prometheus::TextEncoder::new()
            .encode(&families, &mut buf)
            .unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn text_is_byte_for_byte_what_the_prometheus_encoder_writes() {
        use MetricKind::*;
        let samples: Vec<Sample<'_>> = vec![
            ("z_last", "Sorted last.", Gauge, vec![], 1.0),
            (
                "a_first",
                "Help with \\ and\nnewline and \"quotes\".",
                Gauge,
                vec![("target", "t\"1\\\n")],
                0.1,
            ),
            (
                "a_first",
                "Help with \\ and\nnewline and \"quotes\".",
                Gauge,
                vec![("target", "é ü")],
                -0.0,
            ),
            ("m_total", "", Counter, vec![("a", "1"), ("b", "")], 1e21),
            (
                "m_total",
                "",
                Counter,
                vec![("a", "2"), ("b", "x")],
                123456789.125,
            ),
            (
                "n_values",
                "Odd values.",
                Gauge,
                vec![("v", "nan")],
                f64::NAN,
            ),
            (
                "n_values",
                "Odd values.",
                Gauge,
                vec![("v", "inf")],
                f64::INFINITY,
            ),
            (
                "n_values",
                "Odd values.",
                Gauge,
                vec![("v", "-inf")],
                f64::NEG_INFINITY,
            ),
            ("n_values", "Odd values.", Gauge, vec![("v", "tiny")], 1e-7),
            (
                "n_values",
                "Odd values.",
                Gauge,
                vec![("v", "max")],
                f64::MAX,
            ),
            (
                "n_values",
                "Odd values.",
                Gauge,
                vec![("v", "u64")],
                u64::MAX as f64,
            ),
            (
                "h_seconds",
                "A histogram.",
                Histogram,
                vec![("db", "x")],
                2.5,
            ),
            ("h_seconds", "A histogram.", Histogram, vec![], 0.0),
        ];
        let mut f = Families::default();
        for (name, help, kind, labels, v) in &samples {
            if *kind == Histogram {
                f.histogram(
                    *name,
                    *help,
                    labels,
                    &[(0.005, 1), (0.5, 3), (10.0, 6)],
                    7,
                    *v,
                );
            } else {
                f.push(*name, *help, *kind, labels, Value::Scalar(*v));
            }
        }
        assert_eq!(f.encode("# extra\n"), reference(&samples) + "# extra\n");
    }

    #[test]
    fn label_values_are_escaped() {
        let mut f = Families::default();
        f.gauge("x", "X.", &[("v", "a\"b\\c\nd")], 1.0);
        let text = f.encode("");
        assert!(text.contains(r#"x{v="a\"b\\c\nd"} 1"#), "{text}");
    }
}
