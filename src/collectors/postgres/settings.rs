//! `pg_settings` in postgres_exporter's scheme: each numeric or boolean setting becomes
//! `pg_settings_<name>` with its value converted to seconds or bytes (the unit then in the
//! name) and the setting's description as help. Settings are read again only after a
//! reload, so this conversion runs once per read, not on every scrape.

use super::snapshot::{Setting, SettingMetric};
use std::collections::HashMap;

/// postgres_exporter's unit normalisation of a numeric setting: the value in seconds or
/// bytes and the suffix (`seconds`, `bytes`, or none). `-1` (off) is kept as is. `None`
/// for a unit it does not know (the setting is then skipped, where postgres_exporter
/// panics) or a value that is not a number.
pub fn normalise_unit(setting: &str, unit: &str) -> Option<(f64, &'static str)> {
    let v: f64 = setting.trim().parse().ok()?;
    let (factor, suffix) = match unit {
        "" => (1.0, ""),
        "ms" => (1e-3, "seconds"),
        "s" => (1.0, "seconds"),
        "min" => (60.0, "seconds"),
        "h" => (3600.0, "seconds"),
        "d" => (86400.0, "seconds"),
        "B" => (1.0, "bytes"),
        "kB" => (1024.0, "bytes"),
        "MB" => (1024.0 * 1024.0, "bytes"),
        "GB" => (1024.0 * 1024.0 * 1024.0, "bytes"),
        "TB" => (1024.0 * 1024.0 * 1024.0 * 1024.0, "bytes"),
        "1kB" => (1024.0, "bytes"),
        "2kB" => (2048.0, "bytes"),
        "4kB" => (4096.0, "bytes"),
        "8kB" => (8192.0, "bytes"),
        "16kB" => (16384.0, "bytes"),
        "32kB" => (32768.0, "bytes"),
        "64kB" => (65536.0, "bytes"),
        "16MB" => (16.0 * 1024.0 * 1024.0, "bytes"),
        "32MB" => (32.0 * 1024.0 * 1024.0, "bytes"),
        "64MB" => (64.0 * 1024.0 * 1024.0, "bytes"),
        _ => return None,
    };
    if v == -1.0 {
        return Some((v, suffix));
    }
    Some((v * factor, suffix))
}

/// A metric-name-safe version of a setting name (`pg_stat_statements.max` →
/// `pg_stat_statements_max`).
pub fn sanitize_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// The `pg_settings_*` metric for one setting: `(name, help suffix, value)`.
fn metric_of(s: &Setting) -> Option<(String, &'static str, f64)> {
    let base = format!("pg_settings_{}", sanitize_name(&s.name));
    match s.vartype.as_str() {
        "bool" => Some((base, "", if s.setting == "on" { 1.0 } else { 0.0 })),
        "integer" | "real" => {
            let (v, suffix) = normalise_unit(&s.setting, &s.unit)?;
            if !v.is_finite() {
                return None;
            }
            match suffix {
                "" => Some((base, "", v)),
                "seconds" => Some((
                    format!("{base}_seconds"),
                    " [Units converted to seconds.]",
                    v,
                )),
                _ => Some((format!("{base}_bytes"), " [Units converted to bytes.]", v)),
            }
        }
        _ => None,
    }
}

/// The `pg_settings_*` sample of a setting (name, help text from `help`, the setting's
/// description, and converted value); `None` for a setting postgres_exporter does not
/// export (enum and string types, unknown units, values that are not numbers).
pub fn setting_metric(s: &Setting, help: &HashMap<String, String>) -> Option<SettingMetric> {
    let (name, help_suffix, value) = metric_of(s)?;
    let help = match help.get(&s.name) {
        Some(h) => format!("{h}{help_suffix}"),
        None => format!("Server Parameter: {}{help_suffix}", s.name),
    };
    Some(SettingMetric { name, help, value })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting(name: &str, value: &str, unit: &str, vartype: &str) -> Setting {
        Setting {
            name: name.into(),
            setting: value.into(),
            unit: unit.into(),
            vartype: vartype.into(),
            metric: None,
        }
    }

    #[test]
    fn unit_conversions_match_postgres_exporter() {
        let m = |n, v, u, t| metric_of(&setting(n, v, u, t)).map(|(n, _, v)| (n, v));
        assert_eq!(
            m("log_min_duration_statement", "1000", "ms", "integer"),
            Some(("pg_settings_log_min_duration_statement_seconds".into(), 1.0))
        );
        assert_eq!(
            m("log_min_duration_statement", "-1", "ms", "integer"),
            Some((
                "pg_settings_log_min_duration_statement_seconds".into(),
                -1.0
            ))
        );
        assert_eq!(
            m("checkpoint_timeout", "300", "s", "integer"),
            Some(("pg_settings_checkpoint_timeout_seconds".into(), 300.0))
        );
        assert_eq!(
            m("log_rotation_age", "1440", "min", "integer"),
            Some(("pg_settings_log_rotation_age_seconds".into(), 86400.0))
        );
        assert_eq!(
            m("shared_buffers", "16384", "8kB", "integer"),
            Some(("pg_settings_shared_buffers_bytes".into(), 134217728.0))
        );
        assert_eq!(
            m("work_mem", "4096", "kB", "integer"),
            Some(("pg_settings_work_mem_bytes".into(), 4194304.0))
        );
        assert_eq!(
            m("max_wal_size", "1024", "MB", "integer"),
            Some(("pg_settings_max_wal_size_bytes".into(), 1073741824.0))
        );
        assert_eq!(
            m("wal_segment_size", "16777216", "B", "integer"),
            Some(("pg_settings_wal_segment_size_bytes".into(), 16777216.0))
        );
        assert_eq!(
            m("autovacuum_vacuum_cost_delay", "2", "ms", "real"),
            Some((
                "pg_settings_autovacuum_vacuum_cost_delay_seconds".into(),
                0.002
            ))
        );
        assert_eq!(
            m("max_connections", "20", "", "integer"),
            Some(("pg_settings_max_connections".into(), 20.0))
        );
        assert_eq!(
            m("fsync", "on", "", "bool"),
            Some(("pg_settings_fsync".into(), 1.0))
        );
        assert_eq!(
            m("full_page_writes", "off", "", "bool"),
            Some(("pg_settings_full_page_writes".into(), 0.0))
        );
        assert_eq!(
            m("pg_stat_statements.max", "5000", "", "integer"),
            Some(("pg_settings_pg_stat_statements_max".into(), 5000.0))
        );
        // Unknown units, enum/string types and non-numbers are skipped, never guessed.
        assert_eq!(m("x", "1", "furlongs", "integer"), None);
        assert_eq!(m("wal_level", "replica", "", "enum"), None);
        assert_eq!(m("x", "abc", "", "real"), None);
    }

    #[test]
    fn help_is_the_description_with_the_unit_note() {
        let help = HashMap::from([(
            "work_mem".to_string(),
            "Sets the maximum memory.".to_string(),
        )]);
        let m = setting_metric(&setting("work_mem", "4096", "kB", "integer"), &help).unwrap();
        assert_eq!(m.name, "pg_settings_work_mem_bytes");
        assert_eq!(
            m.help,
            "Sets the maximum memory. [Units converted to bytes.]"
        );
        let m = setting_metric(&setting("fsync", "on", "", "bool"), &help).unwrap();
        assert_eq!(m.help, "Server Parameter: fsync");
        assert!(setting_metric(&setting("wal_level", "replica", "", "enum"), &help).is_none());
    }
}
