//! Rendering: pure functions from snapshots to the Prometheus text exposition. This is
//! the only module that touches the `prometheus` crate; every family is built fresh per
//! scrape, so nothing about a target outlives the response that reported it.

mod checks;
mod docker;
mod postgres;
mod redis;
mod restarts;

use crate::checks::CheckResult;
use crate::collectors::{CollectError, Kind, Snapshot};
use crate::outcome::{ReloadStatus, ScrapeView};
use prometheus::proto::{self, MetricType};
use prometheus::{Encoder, TextEncoder};
use std::collections::BTreeMap;
use std::sync::OnceLock;

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

enum Value {
    Scalar(f64),
    Histogram {
        /// `(upper bound, cumulative count)`, ascending, without `+Inf`.
        buckets: Vec<(f64, u64)>,
        count: u64,
        sum: f64,
    },
}

struct Family {
    help: String,
    kind: MetricKind,
    samples: Vec<(Vec<(String, String)>, Value)>,
}

/// Metric families under construction for one response.
#[derive(Default)]
pub struct Families {
    map: BTreeMap<String, Family>,
}

impl Families {
    /// Adds a gauge sample.
    pub fn gauge(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        self.push(name, help, MetricKind::Gauge, labels, Value::Scalar(value));
    }

    /// Adds a counter sample (the name must end in `_total`).
    pub fn counter(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
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
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
        buckets: &[(f64, u64)],
        count: u64,
        sum: f64,
    ) {
        let value = Value::Histogram {
            buckets: buckets.to_vec(),
            count,
            sum,
        };
        self.push(name, help, MetricKind::Histogram, labels, value);
    }

    /// Declares a family even if it ends up without samples (it is then omitted).
    fn push(
        &mut self,
        name: &str,
        help: &str,
        kind: MetricKind,
        labels: &[(&str, &str)],
        value: Value,
    ) {
        let fam = self.map.entry(name.to_string()).or_insert_with(|| Family {
            help: help.to_string(),
            kind,
            samples: Vec::new(),
        });
        debug_assert_eq!(fam.kind, kind, "metric {name} registered with two types");
        let labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        fam.samples.push((labels, value));
    }

    /// Encodes all non-empty families, followed by the extra (process) families.
    pub fn encode(self, extra: Vec<proto::MetricFamily>) -> String {
        let mut families: Vec<proto::MetricFamily> =
            Vec::with_capacity(self.map.len() + extra.len());
        for (name, fam) in self.map {
            if fam.samples.is_empty() {
                continue;
            }
            let mut mf = proto::MetricFamily::default();
            mf.set_name(name);
            mf.set_help(fam.help);
            mf.set_field_type(match fam.kind {
                MetricKind::Gauge => MetricType::GAUGE,
                MetricKind::Counter => MetricType::COUNTER,
                MetricKind::Histogram => MetricType::HISTOGRAM,
            });
            let metrics = fam
                .samples
                .into_iter()
                .map(|(labels, value)| {
                    let mut m = proto::Metric::default();
                    m.set_label(
                        labels
                            .into_iter()
                            .map(|(k, v)| {
                                let mut lp = proto::LabelPair::default();
                                lp.set_name(k);
                                lp.set_value(v);
                                lp
                            })
                            .collect(),
                    );
                    match (fam.kind, value) {
                        (MetricKind::Gauge, Value::Scalar(v)) => {
                            let mut g = proto::Gauge::default();
                            g.set_value(v);
                            m.set_gauge(g);
                        }
                        (MetricKind::Counter, Value::Scalar(v)) => {
                            let mut c = proto::Counter::default();
                            c.set_value(v);
                            m.set_counter(c);
                        }
                        (
                            _,
                            Value::Histogram {
                                buckets,
                                count,
                                sum,
                            },
                        ) => {
                            let mut h = proto::Histogram::default();
                            h.set_sample_count(count);
                            h.set_sample_sum(sum);
                            h.set_bucket(
                                buckets
                                    .into_iter()
                                    .map(|(le, c)| {
                                        let mut b = proto::Bucket::default();
                                        b.set_upper_bound(le);
                                        b.set_cumulative_count(c);
                                        b
                                    })
                                    .collect(),
                            );
                            m.set_histogram(h);
                        }
                        (_, Value::Scalar(v)) => {
                            let mut g = proto::Gauge::default();
                            g.set_value(v);
                            m.set_gauge(g);
                        }
                    }
                    m
                })
                .collect();
            mf.set_metric(metrics);
            families.push(mf);
        }
        families.extend(extra);
        let mut buf = Vec::with_capacity(16 * 1024);
        // Encoding into a Vec cannot fail for well-formed families; an error here would be
        // a bug in this module, reported in the body rather than as a panic.
        if let Err(e) = TextEncoder::new().encode(&families, &mut buf) {
            tracing::error!(error = %e, "Encoding metrics failed");
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// How long the `process_*` metrics are reused: reading them opens `/proc/self/stat`,
/// `/proc/self/limits` and lists every open file descriptor, which costs more than a
/// whole Redis scrape.
const PROCESS_METRICS_TTL: std::time::Duration = std::time::Duration::from_secs(1);

/// The exporter's own `process_*` metrics (CPU, RSS, open fds, start time), read from
/// `/proc` at most once per [`PROCESS_METRICS_TTL`].
fn process_families() -> Vec<proto::MetricFamily> {
    static COLLECTOR: OnceLock<prometheus::process_collector::ProcessCollector> = OnceLock::new();
    type Cached = Option<(std::time::Instant, Vec<proto::MetricFamily>)>;
    static CACHE: std::sync::Mutex<Cached> = std::sync::Mutex::new(None);
    use prometheus::core::Collector as _;
    let mut cache = CACHE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((at, families)) = cache.as_ref()
        && at.elapsed() < PROCESS_METRICS_TTL
    {
        return families.clone();
    }
    let families = COLLECTOR
        .get_or_init(prometheus::process_collector::ProcessCollector::for_self)
        .collect();
    *cache = Some((std::time::Instant::now(), families.clone()));
    families
}

/// Renders one `/metrics` response from the view of a scrape and its check results.
pub fn render(
    view: &ScrapeView<'_>,
    checks: &[CheckResult],
    reload: Option<&ReloadStatus>,
) -> String {
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
    for t in &view.targets {
        let o = t.outcome;
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
                postgres::render(&o.target, Some((s, t.slow_log)), &mut f)
            }
            (Err(_), Kind::Postgres) => postgres::render(&o.target, None, &mut f),
            (Ok(Snapshot::Docker(s)), _) => docker::render(Some(s), &view.targets, &mut f),
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
    f.encode(process_families())
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
        let text = f.encode(Vec::new());
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

    #[test]
    fn label_values_are_escaped() {
        let mut f = Families::default();
        f.gauge("x", "X.", &[("v", "a\"b\\c\nd")], 1.0);
        let text = f.encode(Vec::new());
        assert!(text.contains(r#"x{v="a\"b\\c\nd"} 1"#), "{text}");
    }
}
