//! The JSON documents the statements of [`super::sql`] return, into typed values.
//! Tolerant: a field of an unexpected shape is absent, never fatal; only a document that
//! is not JSON (or not an object) is an error.

use super::snapshot::{
    Activity, Archiver, InFlight, PostgresSnapshot, Privileges, STAT_DATABASE_COLUMNS, Setting,
    StatDatabase, StatementStats, Statements,
};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// Why a statement's document could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// Not JSON.
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// JSON without what we need.
    #[error("{0}")]
    Missing(&'static str),
}

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64().filter(|f| f.is_finite()),
        Value::String(s) => s.parse::<f64>().ok().filter(|f| f.is_finite()),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        _ => None,
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn rows(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or(&[])
}

fn object_nums(v: &Value) -> Vec<(String, f64)> {
    v.as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), num(v)?)))
                .collect()
        })
        .unwrap_or_default()
}

/// What the per-connection [`sql::connect_query`] statement returns.
#[derive(Clone, Debug, PartialEq)]
pub struct ConnectInfo {
    /// `server_version_num`.
    pub version_num: u32,
    /// Whether the role may execute `pg_ls_waldir()`.
    pub ls_waldir: bool,
    /// The server's `log_min_duration_statement` in ms.
    pub log_min_duration_statement: Option<f64>,
    /// Setting descriptions.
    pub help: HashMap<String, String>,
    /// `(schema, extversion)` of pg_stat_statements.
    pub pgss: Option<(String, String)>,
}

fn pgss_of(v: &Value) -> Option<(String, String)> {
    let a = v.as_array()?;
    Some((text(a.first()?)?, text(a.get(1)?)?))
}

/// Parses [`sql::connect_query`]'s document.
pub fn parse_connect(doc: &str) -> Result<ConnectInfo, ParseError> {
    let v: Value = serde_json::from_str(doc)?;
    let version_num = v
        .get("version_num")
        .and_then(num)
        .ok_or(ParseError::Missing("no server_version_num"))? as u32;
    let help = v
        .get("help")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), text(v)?)))
                .collect()
        })
        .unwrap_or_default();
    Ok(ConnectInfo {
        version_num,
        ls_waldir: v.get("ls_waldir").and_then(Value::as_bool) == Some(true),
        log_min_duration_statement: v.get("log_min_duration_statement").and_then(num),
        help,
        pgss: v.get("pgss").and_then(pgss_of),
    })
}

/// Parses [`sql::main_query`]'s document into a snapshot (without pg_stat_statements and
/// the log counts, which the caller adds). Also returns where pg_stat_statements is now.
pub fn parse_main(
    doc: &str,
    version_num: u32,
    help: Arc<HashMap<String, String>>,
) -> Result<(PostgresSnapshot, Option<(String, String)>), ParseError> {
    let v: Value = serde_json::from_str(doc)?;
    if !v.is_object() {
        return Err(ParseError::Missing("expected a JSON object"));
    }
    let get = |k: &str| v.get(k).unwrap_or(&Value::Null);
    let privs = get("privileges");
    let missing = |k: &str| privs.get(k).and_then(Value::as_bool) != Some(true);
    let settings = rows(get("settings"))
        .iter()
        .filter_map(|r| {
            let a = r.as_array()?;
            let mut s = Setting {
                name: text(a.first()?)?,
                setting: text(a.get(1)?)?,
                unit: a.get(2).and_then(text).unwrap_or_default(),
                vartype: text(a.get(3)?)?,
                metric: None,
            };
            s.metric = super::settings::setting_metric(&s, &help);
            Some(s)
        })
        .collect();
    let pending_restart = rows(get("pending_restart"))
        .iter()
        .filter_map(text)
        .collect();
    let info_settings = rows(get("info"))
        .iter()
        .filter_map(|r| {
            let a = r.as_array()?;
            Some((text(a.first()?)?, text(a.get(1)?)?))
        })
        .collect();
    let activity = rows(get("activity"))
        .iter()
        .filter_map(|r| {
            let a = r.as_array()?;
            Some(Activity {
                datname: text(a.first()?)?,
                state: text(a.get(1)?)?,
                count: a.get(2).and_then(num).unwrap_or(0.0),
                max_tx_duration: a.get(3).and_then(num).unwrap_or(0.0),
            })
        })
        .collect();
    let in_flight = rows(get("in_flight"))
        .iter()
        .filter_map(|r| {
            let a = r.as_array()?;
            Some(InFlight {
                datname: text(a.first()?)?,
                slow: a.get(1).and_then(num).unwrap_or(0.0),
                longest_seconds: a.get(2).and_then(num).unwrap_or(0.0),
            })
        })
        .collect();
    let databases = databases_of(get("databases"));
    let stat_database = rows(get("stat_database"))
        .iter()
        .filter_map(|r| {
            let a = r.as_array()?;
            Some(StatDatabase {
                datid: a.first().and_then(text).unwrap_or_default(),
                datname: a.get(1).and_then(text).unwrap_or_default(),
                values: STAT_DATABASE_COLUMNS
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (*c, a.get(i + 2).and_then(num)))
                    .collect(),
            })
        })
        .collect();
    let archiver = get("archiver").as_array().and_then(|a| {
        Some(Archiver {
            archived_count: num(a.first()?)?,
            failed_count: num(a.get(1)?)?,
            last_archive_age: a.get(2).and_then(num),
            last_failed_age: a.get(3).and_then(num),
        })
    });
    let snap = PostgresSnapshot {
        version_num,
        version: get("version").as_str().unwrap_or("").to_string(),
        server_version: get("server_version").as_str().unwrap_or("").to_string(),
        start_time: num(get("start_time")),
        in_recovery: get("in_recovery").as_bool(),
        privileges: Privileges {
            read_all_settings_missing: missing("pg_read_all_settings"),
            read_all_stats_missing: missing("pg_read_all_stats"),
            ls_waldir_missing: missing("pg_ls_waldir"),
            control_system_missing: missing("pg_control_system"),
        },
        settings: Arc::new(settings),
        settings_key: text(get("settings_key")),
        settings_read: get("settings_read").as_bool().unwrap_or(true),
        setting_help: help,
        info_settings: Arc::new(info_settings),
        pending_restart: Arc::new(pending_restart),
        activity,
        in_flight,
        threshold_seconds: num(get("threshold_ms")).unwrap_or(0.0) / 1000.0,
        databases,
        stat_database,
        archiver,
        checkpoints: object_nums(get("checkpoints")),
        wal: object_nums(get("wal")),
        wal_size_bytes: num(get("wal_size")),
        size_refresh_age_seconds: None,
        size_refresh_duration_seconds: None,
        statements: Statements::NotInstalled,
        slow_log: None,
        system_identifier: None,
    };
    Ok((snap, pgss_of(get("pgss"))))
}

/// `(datname, bytes)`; `None` when the role may not know it.
pub type DatabaseSizes = Vec<(String, Option<f64>)>;

/// `[[datname, bytes]]` → `(datname, size)`.
fn databases_of(v: &Value) -> DatabaseSizes {
    rows(v)
        .iter()
        .filter_map(|r| {
            let a = r.as_array()?;
            Some((text(a.first()?)?, a.get(1).and_then(num)))
        })
        .collect()
}

/// Parses [`sql::sizes_query`]'s document: every database's size and the WAL size.
pub fn parse_sizes(doc: &str) -> Result<(DatabaseSizes, Option<f64>), ParseError> {
    let v: Value = serde_json::from_str(doc)?;
    if !v.is_object() {
        return Err(ParseError::Missing("expected a JSON object"));
    }
    let null = Value::Null;
    Ok((
        databases_of(v.get("databases").unwrap_or(&null)),
        v.get("wal_size").and_then(num),
    ))
}

/// Parses [`sql::statements_query`]'s document.
pub fn parse_statements(doc: &str) -> Result<Statements, ParseError> {
    let v: Value = serde_json::from_str(doc)?;
    let top = rows(v.get("top").unwrap_or(&Value::Null))
        .iter()
        .filter_map(|r| {
            let a = r.as_array()?;
            Some(StatementStats {
                queryid: text(a.first()?)?,
                calls: a.get(1).and_then(num).unwrap_or(0.0),
                total_seconds: a.get(2).and_then(num).unwrap_or(0.0) / 1000.0,
                max_seconds: a.get(3).and_then(num).unwrap_or(0.0) / 1000.0,
            })
        })
        .collect();
    let slow_per_db = rows(v.get("slow").unwrap_or(&Value::Null))
        .iter()
        .filter_map(|r| {
            let a = r.as_array()?;
            Some((text(a.first()?)?, a.get(1).and_then(num).unwrap_or(0.0)))
        })
        .collect();
    Ok(Statements::Available {
        top,
        slow_per_db,
        hidden: v.get("hidden").and_then(num).unwrap_or(0.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAIN_DOC: &str = r#"{
        "version": "PostgreSQL 17.4 on x86_64-pc-linux-gnu",
        "server_version": "17.4",
        "start_time": 1714550000.25,
        "in_recovery": false,
        "threshold_ms": 1000,
        "privileges": {"pg_read_all_settings": true, "pg_read_all_stats": false, "pg_ls_waldir": true},
        "settings": [["max_connections", "20", null, "integer"], ["log_min_duration_statement", "1000", "ms", "integer"], ["fsync", "on", null, "bool"], ["bad"]],
        "info": [["TimeZone", "Asia/Phnom_Penh"], ["server_encoding", "UTF8"]],
        "activity": [["postgres", "active", 1, 0.5], ["postgres", "idle", 0, 0]],
        "in_flight": [["postgres", 1, 5.5], ["template1", 0, 0]],
        "databases": [["postgres", 7500000], ["secret", null]],
        "stat_database": [[0, null, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, null], [5, "postgres", 1, 100, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 0]],
        "archiver": [3, 1, null],
        "checkpoints": {"timed": 4, "req": 2, "write_time": 10.5, "buffers": 7},
        "wal": {"records": 10, "bytes": "123456"},
        "wal_size": "16777216",
        "pgss": ["public", "1.11"]
    }"#;

    #[test]
    fn parses_the_main_document() {
        let (s, pgss) = parse_main(MAIN_DOC, 170004, Arc::default()).unwrap();
        assert_eq!(pgss, Some(("public".to_string(), "1.11".to_string())));
        assert_eq!(s.short_version(), "17.4.0");
        assert_eq!(s.start_time, Some(1714550000.25));
        assert_eq!(s.in_recovery, Some(false));
        assert!(s.privileges.read_all_stats_missing);
        assert!(!s.privileges.read_all_settings_missing);
        assert_eq!(s.settings.len(), 3);
        assert_eq!(s.settings[1].unit, "ms");
        assert_eq!(s.settings[0].unit, "");
        assert_eq!(s.info("TimeZone"), Some("Asia/Phnom_Penh"));
        assert_eq!(s.threshold_seconds, 1.0);
        assert_eq!(s.databases[1], ("secret".to_string(), None));
        assert_eq!(s.stat_database[0].datname, "");
        assert_eq!(s.stat_database[0].datid, "0");
        assert_eq!(s.stat_database[1].values[1], ("xact_commit", Some(100.0)));
        assert_eq!(s.stat_database[0].values[14], ("checksum_failures", None));
        assert_eq!(
            s.archiver,
            Some(Archiver {
                archived_count: 3.0,
                failed_count: 1.0,
                last_archive_age: None,
                last_failed_age: None
            })
        );
        assert!(s.checkpoints.contains(&("write_time".to_string(), 10.5)));
        assert!(s.wal.contains(&("bytes".to_string(), 123456.0)));
        assert_eq!(s.wal_size_bytes, Some(16777216.0));
        assert_eq!(s.in_flight[0].longest_seconds, 5.5);
    }

    #[test]
    fn garbage_documents_are_errors_or_absences_never_panics() {
        assert!(parse_main("not json", 1, Arc::default()).is_err());
        assert!(parse_main("[1,2]", 1, Arc::default()).is_err());
        let (s, pgss) = parse_main(
            r#"{"settings": 5, "activity": [[1]], "archiver": ["x"], "privileges": null}"#,
            1,
            Arc::default(),
        )
        .unwrap();
        assert!(s.settings.is_empty());
        assert!(s.activity.is_empty());
        assert_eq!(s.archiver, None);
        assert_eq!(pgss, None);
        // Unknown privilege state counts as missing: never claim visibility we lack.
        assert!(s.privileges.read_all_stats_missing);
        assert!(parse_connect("{}").is_err());
        assert!(parse_statements("nope").is_err());
    }

    #[test]
    fn parses_connect_and_statements() {
        let c = parse_connect(
            r#"{"version_num": 130020, "help": {"max_connections": "Sets the maximum number of concurrent connections."}, "pgss": null}"#,
        )
        .unwrap();
        assert_eq!(c.version_num, 130020);
        assert_eq!(c.pgss, None);
        assert!(c.help["max_connections"].starts_with("Sets"));
        let s = parse_statements(
            r#"{"top": [["-9223372036854775808", 3, 4500.0, 2000.0]], "slow": [["postgres", 2]], "hidden": 1}"#,
        )
        .unwrap();
        let Statements::Available {
            top,
            slow_per_db,
            hidden,
        } = s
        else {
            panic!()
        };
        assert_eq!(top[0].queryid, "-9223372036854775808");
        assert_eq!(top[0].total_seconds, 4.5);
        assert_eq!(top[0].max_seconds, 2.0);
        assert_eq!(slow_per_db, vec![("postgres".to_string(), 2.0)]);
        assert_eq!(hidden, 1.0);
    }
}
