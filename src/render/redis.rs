//! Redis metrics, named, typed and valued as redis_exporter does wherever it has the same
//! metric (plus a `target` label), and the configuration it hides or makes opt-in.

use super::Families;
use crate::collectors::redis::{CONFIG_ALLOW_LIST, ConfigState, RedisSnapshot};

/// `(metric, INFO field, help)` for plain gauges copied from `INFO`.
const INFO_GAUGES: &[(&str, &str, &str)] = &[
    (
        "redis_uptime_in_seconds",
        "uptime_in_seconds",
        "Seconds since the server started.",
    ),
    (
        "redis_memory_used_bytes",
        "used_memory",
        "Bytes allocated by Redis (used_memory).",
    ),
    (
        "redis_memory_max_bytes",
        "maxmemory",
        "Configured memory limit in bytes (0 = none).",
    ),
    (
        "redis_connected_clients",
        "connected_clients",
        "Client connections, excluding replicas.",
    ),
    (
        "redis_loading_dump_file",
        "loading",
        "1 while the server loads its RDB/AOF at start-up.",
    ),
    (
        "redis_aof_enabled",
        "aof_enabled",
        "1 when the append-only file is on.",
    ),
    (
        "redis_aof_rewrite_in_progress",
        "aof_rewrite_in_progress",
        "1 while an AOF rewrite runs.",
    ),
    (
        "redis_aof_current_size_bytes",
        "aof_current_size",
        "Current AOF size in bytes (only with AOF on).",
    ),
    (
        "redis_aof_delayed_fsync",
        "aof_delayed_fsync",
        "Times an AOF fsync was delayed by a slow disk (only with AOF on).",
    ),
    (
        "redis_rdb_bgsave_in_progress",
        "rdb_bgsave_in_progress",
        "1 while an RDB snapshot is being written.",
    ),
    (
        "redis_rdb_changes_since_last_save",
        "rdb_changes_since_last_save",
        "Writes since the last successful RDB save: what a crash would lose without AOF.",
    ),
    (
        "redis_rdb_last_save_timestamp_seconds",
        "rdb_last_save_time",
        "Unix time of the last successful RDB save.",
    ),
    (
        "redis_rdb_last_bgsave_duration_sec",
        "rdb_last_bgsave_time_sec",
        "Duration of the last RDB save in seconds (-1 = none yet).",
    ),
];

/// `(metric, INFO field, help)` for `ok`/`err` fields exported as 1/0.
const INFO_STATUSES: &[(&str, &str, &str)] = &[
    (
        "redis_aof_last_write_status",
        "aof_last_write_status",
        "1 when the last write to the AOF succeeded.",
    ),
    (
        "redis_aof_last_bgrewrite_status",
        "aof_last_bgrewrite_status",
        "1 when the last AOF rewrite succeeded.",
    ),
    (
        "redis_rdb_last_bgsave_status",
        "rdb_last_bgsave_status",
        "1 when the last RDB save succeeded.",
    ),
];

/// `(metric, INFO field, help)` for counters.
const INFO_COUNTERS: &[(&str, &str, &str)] = &[
    (
        "redis_evicted_keys_total",
        "evicted_keys",
        "Keys evicted because of the maxmemory limit.",
    ),
    (
        "redis_expired_keys_total",
        "expired_keys",
        "Keys removed because their TTL expired.",
    ),
];

/// `INFO` fields that become labels of `redis_instance_info`, as redis_exporter does.
const INSTANCE_LABELS: &[&str] = &[
    "redis_version",
    "redis_build_id",
    "redis_mode",
    "os",
    "role",
    "run_id",
    "tcp_port",
    "process_id",
    "maxmemory_policy",
];

/// Allow-listed parameters exported as `redis_config_key_value` (text settings).
const KEY_VALUE_PARAMS: &[&str] = &[
    "maxmemory-policy",
    "save",
    "appendonly",
    "appendfsync",
    "dir",
    "dbfilename",
    "appendfilename",
    "appenddirname",
];

/// Allow-listed parameters that are numbers, exported as `redis_config_value`.
const NUMERIC_PARAMS: &[&str] = &["maxmemory", "databases"];

/// Renders one Redis target; `None` means the target could not be scraped.
pub(super) fn render(target: &str, snap: Option<&RedisSnapshot>, f: &mut Families) {
    f.gauge(
        "redis_up",
        "1 when the Redis server answered this scrape.",
        &[("target", target)],
        if snap.is_some() { 1.0 } else { 0.0 },
    );
    let Some(s) = snap else { return };
    let t = [("target", target)];
    let info = &s.info;

    let mut labels: Vec<(&str, &str)> = vec![("target", target)];
    for l in INSTANCE_LABELS {
        let mut v = info.get(l);
        // Valkey 8 reports the mode as `server_mode`; redis_version stays the compatible one.
        if v.is_none() && *l == "redis_mode" {
            v = info.get("server_mode");
        }
        labels.push((l, v.unwrap_or("")));
    }
    f.gauge(
        "redis_instance_info",
        "Information about the Redis instance.",
        &labels,
        1.0,
    );

    for (metric, field, help) in INFO_GAUGES {
        if let Some(v) = info.num(field) {
            f.gauge(*metric, *help, &t, v);
        }
    }
    for (metric, field, help) in INFO_STATUSES {
        if let Some(v) = info.status(field) {
            f.gauge(*metric, *help, &t, v);
        }
    }
    for (metric, field, help) in INFO_COUNTERS {
        if let Some(v) = info.num(field) {
            f.counter(*metric, *help, &t, v);
        }
    }

    // Keyspace: every configured database, empty ones at 0 as redis_exporter does.
    let databases = match &s.config {
        ConfigState::Readable(m) => m.get("databases").and_then(|v| v.parse::<u32>().ok()),
        ConfigState::Refused(_) => None,
    }
    .unwrap_or(0)
    .min(1024);
    let mut dbs: std::collections::BTreeMap<u32, (u64, u64)> =
        (0..databases).map(|d| (d, (0, 0))).collect();
    for k in &info.keyspace {
        dbs.insert(k.db, (k.keys, k.expires));
    }
    for (db, (keys, expires)) in dbs {
        let name = format!("db{db}");
        let l = [("target", target), ("db", name.as_str())];
        f.gauge(
            "redis_db_keys",
            "Total number of keys by DB.",
            &l,
            keys as f64,
        );
        f.gauge(
            "redis_db_keys_expiring",
            "Total number of expiring keys by DB.",
            &l,
            expires as f64,
        );
    }

    match &s.config {
        ConfigState::Readable(m) => {
            f.gauge(
                "redis_config_readable",
                "1 when CONFIG GET worked; 0 when it was refused (ACL, renamed command, managed service) and only INFO is available.",
                &t,
                1.0,
            );
            for key in KEY_VALUE_PARAMS {
                debug_assert!(CONFIG_ALLOW_LIST.contains(key));
                if let Some(v) = m.get(*key) {
                    f.gauge(
                        "redis_config_key_value",
                        "Persistence-related configuration of the server (allow-listed, never secrets).",
                        &[("target", target), ("key", key), ("value", v)],
                        1.0,
                    );
                }
            }
            for key in NUMERIC_PARAMS {
                if let Some(v) = m.get(*key).and_then(|v| v.parse::<f64>().ok()) {
                    f.gauge(
                        "redis_config_value",
                        "Numeric configuration of the server (allow-listed).",
                        &[("target", target), ("key", key)],
                        v,
                    );
                }
            }
            if let Some(v) = m.get("maxmemory").and_then(|v| v.parse::<f64>().ok()) {
                f.gauge("redis_config_maxmemory", "maxmemory from CONFIG GET, in bytes.", &t, v);
            }
        }
        ConfigState::Refused(_) => f.gauge(
            "redis_config_readable",
            "1 when CONFIG GET worked; 0 when it was refused (ACL, renamed command, managed service) and only INFO is available.",
            &t,
            0.0,
        ),
    }
    if let Some(required) = s.auth_required {
        f.gauge(
            "redis_auth_required",
            "1 when the server refuses connections without credentials.",
            &t,
            if required { 1.0 } else { 0.0 },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::redis::parse_info;

    fn snapshot(config: ConfigState) -> RedisSnapshot {
        RedisSnapshot {
            info: parse_info(
                "redis_version:7.0.15\nrole:master\nmaxmemory_policy:allkeys-lru\nused_memory:100\nevicted_keys:5\naof_enabled:0\nrdb_last_bgsave_status:err\ndb3:keys=7,expires=1,avg_ttl=0\n",
            ),
            config,
            auth_required: Some(true),
        }
    }

    #[test]
    fn renders_info_config_and_keyspace() {
        let mut m = std::collections::BTreeMap::new();
        m.insert("appendonly".to_string(), "no".to_string());
        m.insert("databases".to_string(), "4".to_string());
        m.insert("maxmemory".to_string(), "536870912".to_string());
        let mut f = Families::default();
        render("r1", Some(&snapshot(ConfigState::Readable(m))), &mut f);
        let text = f.encode("");
        for line in [
            "redis_up{target=\"r1\"} 1",
            "redis_memory_used_bytes{target=\"r1\"} 100",
            "redis_evicted_keys_total{target=\"r1\"} 5",
            "redis_rdb_last_bgsave_status{target=\"r1\"} 0",
            "redis_aof_enabled{target=\"r1\"} 0",
            "redis_db_keys{target=\"r1\",db=\"db0\"} 0",
            "redis_db_keys{target=\"r1\",db=\"db3\"} 7",
            "redis_config_key_value{target=\"r1\",key=\"appendonly\",value=\"no\"} 1",
            "redis_config_maxmemory{target=\"r1\"} 536870912",
            "redis_config_readable{target=\"r1\"} 1",
            "redis_auth_required{target=\"r1\"} 1",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
        assert!(text.contains("maxmemory_policy=\"allkeys-lru\""));
        // Absent INFO fields stay absent, never 0.
        assert!(!text.contains("redis_aof_current_size_bytes"));
        assert!(!text.contains("redis_uptime_in_seconds"));
    }

    #[test]
    fn refused_config_and_down_target() {
        let mut f = Families::default();
        render(
            "r1",
            Some(&snapshot(ConfigState::Refused("NOPERM".into()))),
            &mut f,
        );
        render("r2", None, &mut f);
        let text = f.encode("");
        assert!(text.contains("redis_config_readable{target=\"r1\"} 0"));
        assert!(!text.contains("redis_config_key_value"));
        assert!(text.contains("redis_up{target=\"r2\"} 0"));
        assert!(!text.contains("redis_memory_used_bytes{target=\"r2\"}"));
    }
}
