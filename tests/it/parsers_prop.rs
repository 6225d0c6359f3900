//! Property tests for every parser of outside input: durations, connection URLs and DSNs
//! (through configuration loading), Redis `INFO`, PostgreSQL slow-log records (stderr,
//! csvlog, jsonlog), Docker Engine JSON, the web configuration file, `/probe` targets
//! and query strings, and the scrape-timeout header. Each parser must turn any input into
//! a value or an error, never a panic; where a format can be written back, what is read
//! must be what was written.

use persistence_exporter::cli::Cli;
use persistence_exporter::collectors::docker::{api, logs, postgres_host_port, redis_host_port};
use persistence_exporter::collectors::postgres::slowlog;
use persistence_exporter::collectors::redis::parse_info;
use persistence_exporter::config::allow_list::ProbeTarget;
use persistence_exporter::config::{self, Env};
use persistence_exporter::duration;
use persistence_exporter::http::{probe, scrape_budget, web_config::WebConfig};
use proptest::prelude::*;
use serde_json::{Value, json};
use std::time::Duration;

struct NoEnv;
impl Env for NoEnv {
    fn var(&self, _: &str) -> Option<String> {
        None
    }
}

fn cli(args: &[&str]) -> Cli {
    use clap::Parser;
    let mut v = vec!["persistence_exporter"];
    v.extend_from_slice(args);
    Cli::try_parse_from(v).expect("flags parse")
}

/// Characters that break hand-written URL and DSN parsers.
const NASTY: &[char] = &[
    '@', '#', '/', '?', ':', '%', ' ', '\'', '\\', '=', '&', '[', ']', 'é', '✓', '\t', '\n', '"',
    '+', ',', 'a', 'Z', '0', '9',
];

fn nasty_string(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(NASTY), 0..max).prop_map(String::from_iter)
}

/// Strings that look a little like `kind` of input: pieces of it mixed with nasty chars.
fn mixed(pieces: &'static [&'static str], max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            prop::sample::select(pieces).prop_map(str::to_string),
            nasty_string(4),
            any::<String>().prop_map(|s| s.chars().take(4).collect()),
        ],
        0..max,
    )
    .prop_map(|v| v.concat())
}

// ---- durations ---------------------------------------------------------------------

const DURATION_PIECES: &[&str] = &[
    "0",
    "1",
    "5",
    "10",
    "99999999999999999999",
    ".",
    "1.5",
    "ms",
    "s",
    "m",
    "h",
    "d",
    "w",
    "y",
    "e30",
    "-",
    "1e19",
];

proptest! {
    #[test]
    fn duration_never_panics_and_stays_in_range(s in prop_oneof![any::<String>(), mixed(DURATION_PIECES, 8)]) {
        if let Ok(d) = duration::parse(&s) {
            prop_assert!(d <= duration::MAX);
        }
    }

    #[test]
    fn duration_format_round_trips(ms in 0u64..1_000_000_000_000) {
        let d = Duration::from_millis(ms);
        prop_assert_eq!(duration::parse(&duration::format(d)), Ok(d));
    }

    #[test]
    fn duration_units_add_up(h in 0u64..100_000, m in 0u64..1000, s in 0u64..1000, ms in 0u64..1000) {
        let text = format!("{h}h{m}m{s}s{ms}ms");
        let want = Duration::from_millis(((h * 60 + m) * 60 + s) * 1000 + ms);
        prop_assert_eq!(duration::parse(&text), Ok(want));
    }

    #[test]
    fn duration_without_unit_is_an_error(n in 1u64..u64::MAX, frac in proptest::option::of(0u32..1000)) {
        let text = match frac {
            Some(f) => format!("{n}.{f}"),
            None => n.to_string(),
        };
        let e = duration::parse(&text).unwrap_err();
        prop_assert!(e.contains("unit"), "{}", e);
    }
}

// ---- connection URLs and DSNs (through configuration loading) -----------------------

/// `(flag, scheme)` pairs for URL-form targets.
const URL_FLAGS: &[(&str, &str)] = &[
    ("--redis.addr", "redis"),
    ("--redis.addr", "rediss"),
    ("--postgres.dsn", "postgresql"),
    ("--postgres.dsn", "postgres"),
];

/// Marks a generated password so a leak can be recognised in any output.
const MARK: &str = "QxZ";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Any address string: a target or a config error, never a panic.
    #[test]
    fn target_urls_never_panic(
        flag in prop::sample::select(&["--redis.addr", "--postgres.dsn"][..]),
        s in prop_oneof![
            any::<String>(),
            mixed(&["redis://", "rediss://", "postgresql://", "host=", " port=", "password=",
                    "'", "u:", "@", "127.0.0.1", ":6379", "/0", "?sslmode=", "%", "%4", "%aé"], 10),
        ],
    ) {
        // An empty value or one made of commas only is no target at all.
        prop_assume!(!s.split(',').all(|p| p.is_empty()));
        let _ = config::load(&cli(&[&format!("{flag}={s}")]), &NoEnv);
    }

    /// A password written raw into a URL: either the URL is unambiguous and the password
    /// comes back exactly, or it is a config error; in no case does any part of it show.
    #[test]
    fn raw_password_in_url_never_leaks(
        (flag, scheme) in prop::sample::select(URL_FLAGS),
        tail in nasty_string(10),
    ) {
        let password = format!("{MARK}{tail}");
        let url = format!("{scheme}://exporter:{password}@127.0.0.1:6390/0");
        match config::load(&cli(&[flag, &url]), &NoEnv) {
            Ok(s) => {
                let shown = format!("{:?} {:?}", s.redis, s.postgres);
                prop_assert!(!shown.contains(MARK), "{}", shown);
                let names: Vec<&str> = s.redis.iter().map(|t| t.name.as_str())
                    .chain(s.postgres.iter().map(|t| t.name.as_str())).collect();
                prop_assert!(names.iter().all(|n| n.starts_with("127.0.0.1:6390")), "{:?}", names);
            }
            Err(e) => {
                let e = e.to_string();
                prop_assert!(!e.contains(MARK), "{}", e);
            }
        }
    }

    /// A percent-encoded password always loads, and decodes back to itself.
    #[test]
    fn encoded_password_round_trips(
        (flag, scheme) in prop::sample::select(URL_FLAGS),
        tail in "[^\u{0}]{0,20}",
    ) {
        let password = format!("{MARK}{tail}");
        let enc = percent_encoding::utf8_percent_encode(&password, percent_encoding::NON_ALPHANUMERIC);
        let url = format!("{scheme}://exporter:{enc}@127.0.0.1:6390/db");
        let url = if flag == "--redis.addr" { url.replace("/db", "/0") } else { url };
        let s = config::load(&cli(&[flag, &url]), &NoEnv).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let got = s.redis.first().and_then(|t| t.password.clone())
            .or_else(|| s.postgres.first().and_then(|t| t.password.clone()));
        prop_assert_eq!(got.as_ref().map(|p| p.expose()), Some(password.as_str()));
        let shown = format!("{:?}{:?}", s.redis, s.postgres);
        prop_assert!(!shown.contains(&enc.to_string()));
    }

    /// A key=value DSN with a raw password: loads with exactly that password, or is an
    /// error that does not show it.
    #[test]
    fn keyword_dsn_password_never_leaks(tail in nasty_string(10), quoted in any::<bool>()) {
        let password = format!("{MARK}{tail}");
        let value = if quoted {
            format!("'{}'", password.replace('\\', "\\\\").replace('\'', "\\'"))
        } else {
            password.clone()
        };
        let dsn = format!("host=127.0.0.1 port=6390 password={value} dbname=app");
        prop_assume!(!dsn.contains(','));
        match config::load(&cli(&["--postgres.dsn", &dsn]), &NoEnv) {
            Ok(s) => {
                let t = &s.postgres[0];
                let shown = format!("{t:?}");
                prop_assert!(!shown.contains(MARK), "{}", shown);
                if quoted {
                    prop_assert_eq!(t.password.as_ref().map(|p| p.expose()), Some(password.as_str()));
                }
            }
            Err(e) => prop_assert!(!e.to_string().contains(MARK), "{}", e),
        }
    }

    /// Any duration text in the config file: a value or an error.
    #[test]
    fn config_file_durations_never_panic(s in mixed(DURATION_PIECES, 6)) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.yml");
        let quoted = serde_json::to_string(&s).unwrap();
        std::fs::write(&p, format!(
            "scrape_timeout: {quoted}\ndocker:\n  host: unix:///x\n  disk_usage_interval: {quoted}\n  timeout: {quoted}\n"
        )).unwrap();
        if let Ok(settings) = config::load(&cli(&["--config.file", p.to_str().unwrap()]), &NoEnv) {
            prop_assert!(settings.scrape_timeout <= config::MAX_TIMEOUT);
        }
    }

    #[test]
    fn host_port_helpers_never_panic(s in prop_oneof![any::<String>(), nasty_string(20)]) {
        let _ = redis_host_port(&s);
        let _ = postgres_host_port(&s);
        let _ = config::split_sslmode(&s);
        let _ = persistence_exporter::secret::sanitize_url(&s);
        let _ = persistence_exporter::secret::ambiguous_url(&s);
    }
}

// ---- Redis INFO ----------------------------------------------------------------------

proptest! {
    #[test]
    fn redis_info_never_panics(s in prop_oneof![
        any::<String>(),
        mixed(&["# Server\r\n", "db0:", "keys=", "expires=", ",", ":", "\r\n", "\n", "1", "-1", "db", "x"], 20),
    ]) {
        let info = parse_info(&s);
        for (k, _) in info.fields() {
            let _ = info.num(k);
            let _ = info.status(k);
        }
    }

    #[test]
    fn redis_info_round_trips(
        fields in prop::collection::btree_map("[a-z_]{1,12}", "[ -~&&[^\r\n]]{0,20}", 0..20),
        dbs in prop::collection::btree_map(0u32..16, (0u64..u64::MAX, 0u64..u64::MAX), 0..4),
    ) {
        let mut text = String::from("# Server\r\n");
        let fields: std::collections::BTreeMap<_, _> = fields.into_iter()
            .filter(|(k, _)| !k.starts_with("db")).collect();
        for (k, v) in &fields {
            text.push_str(&format!("{k}:{v}\r\n"));
        }
        text.push_str("\r\n# Keyspace\r\n");
        for (db, (keys, expires)) in &dbs {
            text.push_str(&format!("db{db}:keys={keys},expires={expires},avg_ttl=0\r\n"));
        }
        let info = parse_info(&text);
        for (k, v) in &fields {
            prop_assert_eq!(info.get(k), Some(v.as_str()));
        }
        let got: Vec<_> = info.keyspace.iter().map(|d| (d.db, (d.keys, d.expires))).collect();
        let want: Vec<_> = dbs.into_iter().collect();
        prop_assert_eq!(got, want);
    }
}

// ---- PostgreSQL slow log ---------------------------------------------------------------

const LOG_PIECES: &[&str] = &[
    "2024-05-01 12:00:00.123 UTC",
    ",",
    "\"",
    "\"\"",
    "[123] ",
    "LOG:  ",
    "duration: ",
    "12.5",
    " ms  ",
    "statement: ",
    "select 1",
    "{",
    "}",
    "\"message\":",
    "\"error_severity\":\"LOG\"",
    "db=app ",
    "%d",
    "%m",
    "%-10u",
    "%",
    "\n",
];

proptest! {
    #[test]
    fn slowlog_parsers_never_panic(
        rec in prop_oneof![any::<String>(), mixed(LOG_PIECES, 24)],
        prefix in prop_oneof![any::<String>(), mixed(LOG_PIECES, 6)],
    ) {
        let tpl = slowlog::PrefixTemplate::parse(&prefix);
        let _ = (tpl.raw(), tpl.has_database());
        let _ = slowlog::parse_stderr_line(&rec, None);
        let _ = slowlog::parse_stderr_line(&rec, Some(&tpl));
        let _ = slowlog::parse_csv_record(&rec);
        let _ = slowlog::parse_csv_line(&rec);
        let _ = slowlog::parse_json_line(&rec);
        let _ = slowlog::parse_record(&rec, Some(&tpl));
        let _ = slowlog::looks_like_csv_start(rec.as_bytes());
        let _ = slowlog::parse_duration_message(&rec);
    }

    #[test]
    fn slowlog_split_records_never_panics(chunks in prop::collection::vec(
        prop_oneof![prop::collection::vec(any::<u8>(), 0..64), mixed(LOG_PIECES, 8).prop_map(String::into_bytes)],
        0..8,
    )) {
        let mut buf = Vec::new();
        for c in chunks {
            buf.extend_from_slice(&c);
            for r in slowlog::split_records(&mut buf) {
                let _ = slowlog::parse_record(&r, None);
            }
        }
    }

    #[test]
    fn csv_record_round_trips(fields in prop::collection::vec(any::<String>(), 1..20)) {
        let rec = fields.iter()
            .map(|f| format!("\"{}\"", f.replace('"', "\"\"")))
            .collect::<Vec<_>>()
            .join(",");
        prop_assert_eq!(slowlog::parse_csv_record(&rec), Some(fields));
    }

    #[test]
    fn slow_statement_is_read_in_every_format(
        ms in 0.0f64..1e9,
        db in "[a-z][a-z0-9_]{0,15}",
        stmt in "[ -~]{0,40}",
    ) {
        let ms = (ms * 1000.0).round() / 1000.0;
        let msg = format!("duration: {ms:.3} ms  statement: {stmt}");
        prop_assert_eq!(slowlog::parse_duration_message(&msg), Some(ms));
        let json = json!({"timestamp": "2024-05-01 12:00:00.123 UTC", "dbname": db,
                          "error_severity": "LOG", "message": msg}).to_string();
        let e = slowlog::parse_record(&json, None).unwrap();
        prop_assert_eq!((e.datname.as_deref(), e.duration_ms), (Some(db.as_str()), ms));
        let mut csv = vec![String::new(); 23];
        csv[0] = "2024-05-01 12:00:00.123 UTC".into();
        csv[2] = db.clone();
        csv[11] = "LOG".into();
        csv[13] = msg.clone();
        let csv = csv.iter().map(|f| format!("\"{}\"", f.replace('"', "\"\""))).collect::<Vec<_>>().join(",");
        let csv = csv.replacen("\"2024-05-01 12:00:00.123 UTC\"", "2024-05-01 12:00:00.123 UTC", 1);
        let e = slowlog::parse_record(&csv, None).unwrap();
        prop_assert_eq!((e.datname.as_deref(), e.duration_ms), (Some(db.as_str()), ms));
        let tpl = slowlog::PrefixTemplate::parse("%m [%p] db=%d ");
        let line = format!("2024-05-01 12:00:00.123 UTC [42] db={db} LOG:  {msg}");
        let e = slowlog::parse_record(&line, Some(&tpl)).unwrap();
        prop_assert_eq!((e.datname.as_deref(), e.duration_ms), (Some(db.as_str()), ms));
    }
}

// ---- Docker Engine JSON: `parsers_prop/docker.rs` ----------------------------------

mod docker;

// ---- web configuration -------------------------------------------------------------------

const WEB_PIECES: &[&str] = &[
    "tls_server_config:\n",
    "  cert_file: /nonexistent/c.pem\n",
    "  key_file: /nonexistent/k.pem\n",
    "  client_auth_type: RequireAndVerifyClientCert\n",
    "  client_ca_file: x\n",
    "  min_version: TLS13\n",
    "basic_auth_users:\n",
    "  alice: $2y$04$abcdefghijklmnopqrstuu\n",
    "  bob: plain\n",
    "http_server_config:\n",
    "  headers:\n",
    "    X-Frame-Options: deny\n",
    "  ",
    ": ",
    "- ",
    "[",
    "{",
    "~",
    "&a ",
    "*a",
    "!!binary ",
    "\n",
    "'",
    "\"",
];

/// Base64 (standard alphabet, padded) for the basic-auth header.
fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn web_config_never_panics(text in prop_oneof![any::<String>(), mixed(WEB_PIECES, 12)]) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("web.yml");
        std::fs::write(&p, &text).unwrap();
        if let Ok(w) = WebConfig::load(&p) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let _ = w.authorize(None).await;
                let _ = w.authorize(Some("Basic !!!")).await;
            });
        }
    }

    #[test]
    fn basic_auth_header_never_panics_and_only_the_password_opens(
        header in prop_oneof![
            any::<String>(),
            mixed(&["Basic ", "YWxpY2U6", "=", "==", "alice:", ":", "\u{0}"], 6),
            any::<Vec<u8>>().prop_map(|b| format!("Basic {}", base64(&b))),
        ],
        user in "[a-z]{1,8}",
        password in any::<String>(),
    ) {
        let hash = web_hash();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("web.yml");
        std::fs::write(&p, format!("basic_auth_users:\n  alice: {hash}\n")).unwrap();
        let w = WebConfig::load(&p).unwrap();
        use persistence_exporter::http::web_config::AuthResult;
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        prop_assert!(matches!(rt.block_on(w.authorize(Some(&header))), AuthResult::Denied));
        let right = format!("Basic {}", base64(b"alice:pw-right"));
        prop_assert!(matches!(rt.block_on(w.authorize(Some(&right))), AuthResult::Allowed));
        prop_assume!(!(user == "alice" && password == "pw-right"));
        let wrong = format!("Basic {}", base64(format!("{user}:{password}").as_bytes()));
        prop_assert!(matches!(rt.block_on(w.authorize(Some(&wrong))), AuthResult::Denied));
    }
}

/// One bcrypt hash of `pw-right` (cost 4) for all cases.
fn web_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| bcrypt::hash("pw-right", 4).unwrap())
}

// ---- /probe targets and query strings -------------------------------------------------------

proptest! {
    #[test]
    fn probe_target_validation_never_panics_and_is_strict(t in prop_oneof![
        any::<String>(),
        mixed(&["127.0.0.1", "[::1]", ":", "6379", "0", "99999", "@", "/", "?", "#", "u:p@", "é", ","], 6),
    ]) {
        if let Ok(parsed) = ProbeTarget::parse(&t) {
            prop_assert!(parsed.port > 0);
            let (host, port) = t.rsplit_once(':').unwrap();
            prop_assert!(!host.is_empty());
            prop_assert!(port.parse::<u16>().is_ok_and(|p| p > 0));
            prop_assert!(t.len() <= 255);
            prop_assert!(t.chars().all(|c| c.is_ascii_graphic() && !"@/?#,\\".contains(c)));
        }
    }

    #[test]
    fn probe_query_never_panics(q in prop_oneof![
        any::<String>(),
        mixed(&["target=", "module=", "&", "=", "%", "%4", "%3A", "%aé", "%ff", "+", "é"], 10),
    ], name in prop_oneof![Just("target".to_string()), Just("module".to_string()), any::<String>()]) {
        let _ = probe::query_param(&q, &name);
    }

    #[test]
    fn probe_query_round_trips(target in any::<String>(), module in any::<String>()) {
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let q = format!("module={}&target={}", enc(&module), enc(&target));
        prop_assert_eq!(probe::query_param(&q, "target"), Some(target));
        prop_assert_eq!(probe::query_param(&q, "module"), Some(module));
    }
}

// ---- the scrape-timeout header ---------------------------------------------------------------

proptest! {
    /// Within the range a real Prometheus sends (its scrape timeouts are seconds to
    /// minutes), the budget never exceeds the configured timeout and is never zero.
    #[test]
    fn scrape_budget_is_bounded(secs in 0.000_001f64..1e6, configured_ms in 1u64..86_400_000) {
        let configured = Duration::from_millis(configured_ms);
        let b = scrape_budget(configured, Some(&secs.to_string()));
        prop_assert!(b <= configured);
        prop_assert!(!b.is_zero());
    }

    #[test]
    fn scrape_budget_never_panics_on_any_header(
        h in prop_oneof![
            any::<String>(),
            any::<f64>().prop_map(|f| f.to_string()),
            Just("1e300".to_string()),
            Just("1e20".to_string()),
            Just("-1".to_string()),
            Just("NaN".to_string()),
            Just("inf".to_string()),
        ],
        configured_ms in 1u64..86_400_000,
    ) {
        let configured = Duration::from_millis(configured_ms);
        prop_assert!(scrape_budget(configured, Some(&h)) <= configured);
    }

    #[test]
    fn scrape_budget_ignores_non_numbers(h in "[^0-9.eEinfINFa]*") {
        let configured = Duration::from_secs(10);
        prop_assert_eq!(scrape_budget(configured, Some(&h)), configured);
    }
}
