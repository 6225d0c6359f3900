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

/// The Redis, PostgreSQL and Docker targets when they are the built-in defaults (nothing
/// configured), else `None`. Compares with the `config::DEFAULT_*` values.
// TODO(lead): once `config::Settings` records that the defaults were used, read that here.
pub fn default_targets(settings: &crate::config::Settings) -> Option<[String; 3]> {
    use crate::config::{DEFAULT_DOCKER_HOST, DEFAULT_POSTGRES_DSN, DEFAULT_REDIS_ADDR};
    let [redis] = settings.redis.as_slice() else {
        return None;
    };
    let [postgres] = settings.postgres.as_slice() else {
        return None;
    };
    let docker = settings.docker.as_ref()?;
    let default = redis.url.trim_end_matches('/') == DEFAULT_REDIS_ADDR
        && postgres.dsn == DEFAULT_POSTGRES_DSN
        && docker.host == DEFAULT_DOCKER_HOST;
    default.then(|| [redis.url.clone(), postgres.dsn.clone(), docker.host.clone()])
}

/// At start-up: says at info when the targets are the built-in defaults, and how to choose
/// others.
pub fn log_default_targets(settings: &crate::config::Settings) {
    if let Some([redis, postgres, docker]) = default_targets(settings) {
        tracing::info!(
            redis = %redis,
            postgres = %postgres,
            docker = %docker,
            change_with = "--redis.addr, --postgres.dsn, --docker.host or --config.file",
            "No target configured: watching the built-in default targets"
        );
    }
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
    rfc3339(now.as_secs() as i64, now.subsec_millis())
}

/// Formats a Unix time as RFC 3339 UTC (civil-from-days, proleptic Gregorian).
pub fn rfc3339(secs: i64, millis: u32) -> String {
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_795_962_454, 12), "2026-11-29T14:27:34.012Z");
        assert_eq!(rfc3339(951_782_400, 0), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn quotes_only_when_needed() {
        assert_eq!(quote("plain"), "plain");
        assert_eq!(quote("two words"), "\"two words\"");
        assert_eq!(quote("a\"b"), "\"a\\\"b\"");
        assert_eq!(quote(""), "\"\"");
    }
}
