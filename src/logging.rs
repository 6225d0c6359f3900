//! Logging set-up: `logfmt` (as Prometheus and the Go exporters log) or JSON lines, on
//! stderr, filtered by `--log.level`. Both formats use the same keys: `ts`, `level`,
//! `msg`, `source` (the Rust module that logged), then the event's own fields, so a
//! `target` field is always the exporter's target, never a module path.

use crate::cli::{LogFormat, LogLevel};
use std::fmt::Write as _;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Installs the global subscriber. Calling it twice (tests) is harmless.
pub fn init(level: LogLevel, format: LogFormat) {
    let level = match level {
        LogLevel::Debug => tracing::Level::DEBUG,
        LogLevel::Info => tracing::Level::INFO,
        LogLevel::Warn => tracing::Level::WARN,
        LogLevel::Error => tracing::Level::ERROR,
    };
    let filter = tracing_subscriber::filter::Targets::new()
        .with_target("persistence_exporter", level)
        .with_default(tracing::Level::WARN.min(level));
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let registry = tracing_subscriber::registry().with(filter);
    let _ = match format {
        LogFormat::Logfmt => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .event_format(Logfmt),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .event_format(JsonLine),
            )
            .try_init(),
    };
}

/// `ts=... level=... msg="..." key=value ...`
struct Logfmt;

impl<S, N> FormatEvent<S, N> for Logfmt
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let meta = event.metadata();
        let mut v = LogfmtVisitor::default();
        event.record(&mut v);
        write!(
            w,
            "ts={} level={} msg={}",
            rfc3339_now(),
            meta.level().as_str().to_ascii_lowercase(),
            quote(&v.message)
        )?;
        write!(w, " source={}", quote(meta.target()))?;
        writeln!(w, "{}", v.fields)
    }
}

#[derive(Default)]
struct LogfmtVisitor {
    message: String,
    fields: String,
}

impl Visit for LogfmtVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_string();
        } else {
            let _ = write!(self.fields, " {}={}", field.name(), quote(value));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.record_str(field, &format!("{value:?}"));
    }
}

/// `{"ts":"...","level":"info","msg":"...","source":"...", <fields>}`, one object a line.
struct JsonLine;

/// Keys every line starts with; an event field of the same name is written as
/// `field.<name>` so that it cannot shadow them.
const RESERVED: [&str; 4] = ["ts", "level", "msg", "source"];

impl<S, N> FormatEvent<S, N> for JsonLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let meta = event.metadata();
        let mut v = JsonVisitor::default();
        event.record(&mut v);
        let mut line = String::from("{");
        for (key, value) in [
            ("ts".to_string(), serde_json::Value::from(rfc3339_now())),
            (
                "level".to_string(),
                meta.level().as_str().to_ascii_lowercase().into(),
            ),
            ("msg".to_string(), v.message.into()),
            ("source".to_string(), meta.target().into()),
        ]
        .into_iter()
        .chain(v.fields)
        {
            if line.len() > 1 {
                line.push(',');
            }
            line.push_str(&serde_json::to_string(&key).map_err(|_| std::fmt::Error)?);
            line.push(':');
            line.push_str(&serde_json::to_string(&value).map_err(|_| std::fmt::Error)?);
        }
        line.push('}');
        writeln!(w, "{line}")
    }
}

#[derive(Default)]
struct JsonVisitor {
    message: String,
    fields: Vec<(String, serde_json::Value)>,
}

impl JsonVisitor {
    fn push(&mut self, field: &Field, value: serde_json::Value) {
        let name = field.name();
        if name == "message" {
            self.message = match value {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
        } else if RESERVED.contains(&name) {
            self.fields.push((format!("field.{name}"), value));
        } else {
            self.fields.push((name.to_string(), value));
        }
    }
}

impl Visit for JsonVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, value.into());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, value.into());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.push(field, format!("{value:?}").into());
    }
}

/// At start-up: says at info when the targets are the built-in defaults (read from
/// [`crate::config::Settings::defaults_used`]), and how to choose others.
pub fn log_default_targets(settings: &crate::config::Settings) {
    use crate::config::DefaultKind;
    if settings.defaults_used.is_empty() {
        return;
    }
    let address = |kind: DefaultKind| {
        settings
            .defaults_used
            .iter()
            .find(|d| d.kind == kind)
            .map(|d| d.address.as_str())
    };
    tracing::info!(
        redis = address(DefaultKind::Redis),
        postgres = address(DefaultKind::Postgres),
        docker = address(DefaultKind::Docker),
        change_with = "--redis.addr, --postgres.dsn, --docker.host or --config.file",
        "No target configured: watching the built-in default targets"
    );
}

/// Quotes a logfmt value when it needs it.
fn quote(s: &str) -> String {
    if !s.is_empty()
        && !s.contains(|c: char| c.is_whitespace() || c == '"' || c == '=' || c.is_control())
    {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Current UTC time as RFC 3339 with milliseconds.
fn rfc3339_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    crate::clock::rfc3339(
        i64::try_from(now.as_secs()).unwrap_or(i64::MAX),
        now.subsec_millis(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_when_needed() {
        assert_eq!(quote("plain"), "plain");
        assert_eq!(quote("two words"), "\"two words\"");
        assert_eq!(quote("a\"b"), "\"a\\\"b\"");
        assert_eq!(quote(""), "\"\"");
    }
}
