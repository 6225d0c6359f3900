//! The SQL the collector sends. Each scrape is one statement (plus one for
//! pg_stat_statements when it is readable), sent together on the kept connection, each
//! returning a single JSON document, so that a scrape is one round trip whatever the number
//! of databases or settings. The text is built once per connection from the server's
//! `server_version_num`; every version difference is gated here, with a comment.
//!
//! Everything that needs a privilege the role may lack is guarded in SQL (a failing
//! statement would lose the whole scrape and spam the server log every scrape): the JSON
//! then says what could not be seen, and the exporter reports it.

/// Server settings that decide durability or the das-tern report's requirements, exported as
/// `pg_settings_info{name,value}` (postgres_exporter exports no enum or string setting).
/// Only names, never secrets (`archive_command`, `primary_conninfo` are left out).
pub const INFO_SETTINGS: &[&str] = &[
    "server_encoding",
    "TimeZone",
    "log_timezone",
    "synchronous_commit",
    "wal_level",
    "archive_mode",
    "data_directory",
    "log_destination",
    "logging_collector",
    "data_checksums",
    "wal_sync_method",
    "fsync",
    "full_page_writes",
    "log_line_prefix",
    "log_directory",
    "log_filename",
    "lc_messages",
    "shared_preload_libraries",
    "server_version",
];

/// Session states postgres_exporter reports in `pg_stat_activity_count`, zeros included.
pub const ACTIVITY_STATES: &[&str] = &[
    "active",
    "idle",
    "idle in transaction",
    "idle in transaction (aborted)",
    "fastpath function call",
    "disabled",
];

/// Run once per connection: the version gates, the settings' descriptions (HELP texts),
/// where pg_stat_statements is installed, and the session's `statement_timeout` (set
/// in-band rather than as a startup option, which connection poolers refuse), so that a
/// statement outliving the exporter's patience is cancelled by the server too.
pub fn connect_query(statement_timeout_ms: u64) -> String {
    format!(
        "SELECT json_build_object(\
'statement_timeout', set_config('statement_timeout', '{statement_timeout_ms}', false), \
'version_num', current_setting('server_version_num')::int, \
'ls_waldir', has_function_privilege('pg_catalog.pg_ls_waldir()', 'EXECUTE'), \
'log_min_duration_statement', (SELECT setting::float8 FROM pg_settings WHERE name = 'log_min_duration_statement'), \
'help', (SELECT json_object_agg(name, short_desc) FROM pg_settings WHERE vartype IN ('bool', 'integer', 'real')), \
'pgss', (SELECT json_build_array(n.nspname, e.extversion) FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_stat_statements'))::text"
    )
}

fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Quotes an identifier (`"a""b"`).
pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// The slow-query threshold in milliseconds: the server's own `log_min_duration_statement`
/// when it is ≥ 0, else the configured default. Known from the previous scrape (or the
/// connect), written into the statements as a literal, so that no statement has to scan
/// `pg_settings` for it.
pub fn effective_threshold_ms(log_min_duration_statement: Option<f64>, default_ms: u64) -> f64 {
    match log_min_duration_statement {
        Some(v) if v >= 0.0 => v,
        _ => default_ms as f64,
    }
}

fn threshold_cte(threshold_ms: f64) -> String {
    format!("th AS (SELECT {threshold_ms}::float8 AS ms)")
}

/// Every database's size (`NULL` when the role may not know it), as a JSON array of
/// `[datname, bytes]`. `pg_database_size()` walks every file of the database: the costly
/// part of a scrape on a large cluster, hence refreshed on its own interval.
const DATABASE_SIZES: &str = "(SELECT json_agg(json_build_array(datname, CASE WHEN has_database_privilege(oid, 'CONNECT') OR pg_has_role('pg_read_all_stats', 'USAGE') THEN pg_database_size(oid) END)) FROM pg_database)";

/// The size of `pg_wal`, or `NULL` when the role may not execute `pg_ls_waldir()` (then
/// the call must not even appear in the statement: EXECUTE is checked when the plan
/// starts, not when a `CASE` branch runs).
fn wal_size(ls_waldir: bool) -> &'static str {
    if ls_waldir {
        "(SELECT sum(size) FROM pg_ls_waldir())"
    } else {
        "NULL::numeric"
    }
}

/// The background size refresh: the session's `statement_timeout`, then every
/// database's size and the WAL directory's, as one JSON document
/// (`{"databases": [[datname, bytes]], "wal_size": bytes}`).
pub fn sizes_query(statement_timeout_ms: u64, ls_waldir: bool) -> String {
    format!(
        "SET statement_timeout = {statement_timeout_ms}; \
SELECT json_build_object('databases', {DATABASE_SIZES}, 'wal_size', {wal})::text",
        wal = wal_size(ls_waldir),
    )
}

/// The per-scrape statement for a server of this version. `ls_waldir`: whether the role
/// may execute `pg_ls_waldir()`. `sizes`: whether it reads the database and WAL sizes
/// (else they come from the background refresh and the keys are `null`).
///
/// Takes one parameter, `$1` (text): the [`settings_key`](self) of the settings the
/// caller already holds, or `NULL`. `pg_settings` is read only when the key differs:
/// settings change only at a reload (`pg_conf_load_time()`) or when the role gains or
/// loses `pg_read_all_settings`; the document's `settings_key` is the current key and
/// `settings_read` says whether `settings` and `info` were read.
pub fn main_query(version_num: u32, threshold_ms: f64, ls_waldir: bool, sizes: bool) -> String {
    let info_names = INFO_SETTINGS
        .iter()
        .map(|n| quote_literal(n))
        .collect::<Vec<_>>()
        .join(", ");
    let states = ACTIVITY_STATES
        .iter()
        .map(|s| format!("({})", quote_literal(s)))
        .collect::<Vec<_>>()
        .join(", ");
    // Checkpoint counters moved from pg_stat_bgwriter to pg_stat_checkpointer in 17 (and
    // buffers_backend/buffers_backend_fsync went to pg_stat_io); one stable key set.
    let checkpoints = if version_num >= 170_000 {
        "(SELECT json_build_object('timed', c.num_timed, 'req', c.num_requested, 'write_time', c.write_time, 'sync_time', c.sync_time, 'buffers', c.buffers_written, 'buffers_clean', b.buffers_clean, 'maxwritten_clean', b.maxwritten_clean, 'buffers_alloc', b.buffers_alloc) FROM pg_stat_checkpointer c, pg_stat_bgwriter b)"
    } else {
        "(SELECT json_build_object('timed', checkpoints_timed, 'req', checkpoints_req, 'write_time', checkpoint_write_time, 'sync_time', checkpoint_sync_time, 'buffers', buffers_checkpoint, 'buffers_clean', buffers_clean, 'maxwritten_clean', maxwritten_clean, 'buffers_alloc', buffers_alloc, 'buffers_backend', buffers_backend, 'buffers_backend_fsync', buffers_backend_fsync) FROM pg_stat_bgwriter)"
    };
    // pg_stat_wal exists since 14 (its write/sync columns moved to pg_stat_io in 18; the
    // ones read here exist in 14..18).
    let wal = if version_num >= 140_000 {
        "(SELECT json_build_object('records', wal_records, 'fpi', wal_fpi, 'bytes', wal_bytes, 'buffers_full', wal_buffers_full) FROM pg_stat_wal)"
    } else {
        "NULL::json"
    };
    let (databases, wal_size) = if sizes {
        (DATABASE_SIZES, wal_size(ls_waldir))
    } else {
        ("NULL::json", "NULL::numeric")
    };
    format!(
        "WITH {th}, \
priv AS (SELECT pg_has_role('pg_read_all_settings', 'USAGE') AS settings, pg_has_role('pg_read_all_stats', 'USAGE') AS stats, has_function_privilege('pg_catalog.pg_ls_waldir()', 'EXECUTE') AS waldir, has_function_privilege('pg_catalog.pg_control_system()', 'EXECUTE') AS control), \
ck AS MATERIALIZED (SELECT pg_conf_load_time()::text || '/' || (SELECT settings FROM priv)::text AS key), \
st AS MATERIALIZED (SELECT json_agg(json_build_array(name, setting, unit, vartype)) FILTER (WHERE vartype IN ('bool', 'integer', 'real')) AS num, json_agg(json_build_array(name, setting)) FILTER (WHERE name IN ({info_names})) AS info, COALESCE(json_agg(name) FILTER (WHERE pending_restart), '[]') AS pending FROM pg_settings WHERE (SELECT key FROM ck) IS DISTINCT FROM $1::text), \
act AS MATERIALIZED (SELECT datid, datname, state, xact_start, query_start, backend_type, pid FROM pg_stat_activity) \
SELECT json_build_object(\
'version', version(), \
'server_version', current_setting('server_version'), \
'start_time', extract(epoch FROM pg_postmaster_start_time())::float8, \
'in_recovery', pg_is_in_recovery(), \
'threshold_ms', (SELECT ms FROM th), \
'privileges', (SELECT json_build_object('pg_read_all_settings', settings, 'pg_read_all_stats', stats, 'pg_ls_waldir', waldir, 'pg_control_system', control) FROM priv), \
'settings_key', (SELECT key FROM ck), \
'settings_read', (SELECT key FROM ck) IS DISTINCT FROM $1::text, \
'settings', (SELECT num FROM st), \
'info', (SELECT info FROM st), \
'pending_restart', (SELECT pending FROM st), \
'activity', (SELECT json_agg(json_build_array(d.datname, s.state, COALESCE(a.n, 0), COALESCE(a.max_tx, 0))) FROM pg_database d CROSS JOIN (VALUES {states}) AS s(state) LEFT JOIN (SELECT datname, state, count(*) AS n, max(extract(epoch FROM now() - xact_start))::float8 AS max_tx FROM act GROUP BY datname, state) a ON a.datname = d.datname AND a.state = s.state), \
'in_flight', (SELECT json_agg(json_build_array(d.datname, COALESCE(f.slow, 0), COALESCE(f.longest, 0))) FROM pg_database d LEFT JOIN (SELECT datid, count(*) FILTER (WHERE now() - query_start > (SELECT ms FROM th) * interval '1 millisecond') AS slow, max(extract(epoch FROM now() - query_start))::float8 AS longest FROM act WHERE state = 'active' AND backend_type = 'client backend' AND pid <> pg_backend_pid() GROUP BY datid) f ON f.datid = d.oid), \
'databases', {databases}, \
'stat_database', (SELECT json_agg(json_build_array(datid, datname, numbackends, xact_commit, xact_rollback, blks_read, blks_hit, tup_returned, tup_fetched, tup_inserted, tup_updated, tup_deleted, conflicts, temp_files, temp_bytes, deadlocks, checksum_failures)) FROM pg_stat_database), \
'archiver', (SELECT json_build_array(archived_count, failed_count, extract(epoch FROM now() - last_archived_time)::float8, extract(epoch FROM now() - last_failed_time)::float8) FROM pg_stat_archiver), \
'checkpoints', {checkpoints}, \
'wal', {wal}, \
'wal_size', {wal_size}, \
'pgss', (SELECT json_build_array(n.nspname, e.extversion) FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_stat_statements'))::text",
        th = threshold_cte(threshold_ms),
    )
}

/// Parses an extension version (`1.10`) into `(major, minor)`.
pub fn ext_version(v: &str) -> (u32, u32) {
    let mut it = v.split('.').map(|p| {
        p.chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .unwrap_or(0)
    });
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

/// The pg_stat_statements statement: `pg_stat_statements(false)` (no query texts), top N
/// by total execution time aggregated by `queryid`, statements slower on average than the
/// threshold per database, and how many entries the role may not see.
pub fn statements_query(
    schema: &str,
    ext_version_text: &str,
    top_n: usize,
    threshold_ms: f64,
) -> String {
    let v = ext_version(ext_version_text);
    // Extension 1.8 (PostgreSQL 13) renamed total_time/mean_time/max_time to *_exec_time.
    let (total, mean, max) = if v >= (1, 8) {
        ("total_exec_time", "mean_exec_time", "max_exec_time")
    } else {
        ("total_time", "mean_time", "max_time")
    };
    // Extension 1.9 (PostgreSQL 14) tracks nested statements separately (`toplevel`);
    // their time is already in their top-level statement's.
    let toplevel = if v >= (1, 9) { "WHERE toplevel" } else { "" };
    format!(
        "WITH {th}, \
s AS MATERIALIZED (SELECT dbid, queryid, calls, {total} AS total_ms, {mean} AS mean_ms, {max} AS max_ms FROM {schema}.pg_stat_statements(false) {toplevel}) \
SELECT json_build_object(\
'top', (SELECT json_agg(json_build_array(queryid::text, calls, total_ms, max_ms)) FROM (SELECT queryid, sum(calls) AS calls, sum(total_ms) AS total_ms, max(max_ms) AS max_ms FROM s WHERE queryid IS NOT NULL GROUP BY queryid ORDER BY sum(total_ms) DESC, queryid LIMIT {top_n}) t), \
'slow', (SELECT json_agg(json_build_array(d.datname, COALESCE(x.n, 0))) FROM pg_database d LEFT JOIN (SELECT dbid, count(*) AS n FROM s, th WHERE s.mean_ms > th.ms GROUP BY dbid) x ON x.dbid = d.oid), \
'hidden', (SELECT count(*) FROM s WHERE queryid IS NULL))::text",
        th = threshold_cte(threshold_ms),
        schema = quote_ident(schema),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_gates() {
        let q16 = main_query(160_004, 1000.0, true, true);
        assert!(q16.contains("FROM pg_stat_bgwriter)"));
        assert!(!q16.contains("pg_stat_checkpointer"));
        assert!(q16.contains("FROM pg_stat_wal"));
        let q17 = main_query(170_000, 1000.0, true, true);
        assert!(q17.contains("pg_stat_checkpointer"));
        assert!(!q17.contains("buffers_backend_fsync"));
        let q13 = main_query(130_000, 250.0, false, true);
        assert!(!q13.contains("pg_stat_wal"));
        assert!(q13.contains("'TimeZone'"));
        assert!(q13.contains("SELECT 250::float8 AS ms"));
        assert_eq!(
            q13.matches("FROM pg_settings").count(),
            1,
            "one pass over pg_settings"
        );
        assert_eq!(q13.matches("FROM pg_stat_activity").count(), 1);
        assert!(!q13.contains("pg_ls_waldir())"), "no call without EXECUTE");
        assert!(q16.contains("FROM pg_ls_waldir()"));
        assert!(
            q13.contains("FROM pg_settings WHERE (SELECT key FROM ck) IS DISTINCT FROM $1::text"),
            "pg_settings is read only when the reload time or the privilege changed"
        );
        assert!(q13.contains("pg_conf_load_time()::text"));
        let lean = main_query(160_004, 1000.0, true, false);
        assert!(
            !lean.contains("pg_database_size"),
            "sizes off the scrape path"
        );
        assert!(!lean.contains("pg_ls_waldir())"));
        let sizes = sizes_query(5000, true);
        assert!(sizes.starts_with("SET statement_timeout = 5000;"));
        assert!(sizes.contains("pg_database_size(oid)"));
        assert!(sizes.contains("FROM pg_ls_waldir()"));
        assert!(!sizes_query(5000, false).contains("pg_ls_waldir())"));
    }

    #[test]
    fn statements_columns_follow_the_extension_version() {
        let q = statements_query("public", "1.10", 10, 1000.0);
        assert!(q.contains("total_exec_time"));
        assert!(q.contains("WHERE toplevel"));
        assert!(q.contains("\"public\".pg_stat_statements(false)"));
        assert!(q.contains("LIMIT 10"));
        let q = statements_query("we\"ird", "1.8", 5, 1000.0);
        assert!(!q.contains("toplevel"));
        assert!(q.contains("\"we\"\"ird\".pg_stat_statements"));
        let q = statements_query("public", "1.7", 5, 1000.0);
        assert!(q.contains("total_time AS total_ms"));
        assert_eq!(ext_version("1.11"), (1, 11));
        assert_eq!(ext_version("garbage"), (0, 0));
    }

    #[test]
    fn connect_sets_the_statement_timeout() {
        assert!(connect_query(5000).contains("set_config('statement_timeout', '5000', false)"));
    }

    #[test]
    fn threshold_is_the_servers_when_it_logs() {
        assert_eq!(effective_threshold_ms(Some(1000.0), 500), 1000.0);
        assert_eq!(effective_threshold_ms(Some(0.0), 500), 0.0);
        assert_eq!(effective_threshold_ms(Some(-1.0), 500), 500.0);
        assert_eq!(effective_threshold_ms(None, 500), 500.0);
    }

    #[test]
    fn literals_are_quoted() {
        assert_eq!(quote_literal("a'b"), "'a''b'");
    }
}
