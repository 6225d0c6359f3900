//! The PostgreSQL collector: the kept connection, the prepared statements, the log-file
//! follower task, and the mapping of client errors to [`CollectError`].

use super::parse::{parse_connect, parse_main, parse_statements};
use super::sizes::{self, RefreshJob, SizeCache, Sizes};
use super::snapshot::{PostgresSnapshot, Privileges, Setting, Statements};
use super::{connect, slowlog, sql, tls};
use crate::collectors::capped::{DEFAULT_MAX_REPLY_BYTES, ReplyBudget};
use crate::collectors::{Cause, CollectError, lock};
use crate::config::{PgSslMode, PostgresTarget, split_sslmode};
use crate::plain::{first_line, remaining};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::time::Instant;

/// How often the background task reads the log file.
pub const LOG_POLL_INTERVAL: Duration = Duration::from_millis(250);

/// After pg_stat_statements failed (not in `shared_preload_libraries`, dropped), how long
/// before it is tried again: each failure is an `ERROR` line in the server's log.
pub const STATEMENTS_RETRY: Duration = Duration::from_secs(300);

/// A live connection and what was learned when it was opened.
struct Conn {
    client: tokio_postgres::Client,
    version_num: u32,
    help: Arc<HashMap<String, String>>,
    /// Whether `main_sql` reads the WAL size (`pg_ls_waldir()`).
    ls_waldir: bool,
    /// The slow-query threshold written into the statements.
    threshold_ms: f64,
    main: Prepared,
    /// The same statement reading the database and WAL sizes too: for a scrape that has
    /// no young enough background refresh to serve.
    main_sizes: Prepared,
    /// The settings last read on this connection, under their key: the statement reads
    /// `pg_settings` again only when the key changes (a reload, a privilege change).
    settings: Option<Box<KeptSettings>>,
    /// `(schema, extversion)` of pg_stat_statements and its statement.
    pgss: Option<((String, String), Prepared)>,
    /// The cluster's `system_identifier`, read at connect ([`super::identity`]).
    system_identifier: Option<String>,
}

/// Settings read by an earlier scrape on the same connection.
struct KeptSettings {
    key: String,
    settings: Arc<Vec<Setting>>,
    info: Arc<Vec<(String, String)>>,
    pending_restart: Arc<Vec<String>>,
}

/// A statement and, once prepared on the connection, its handle: the server plans it once
/// (a generic plan), not every scrape.
struct Prepared {
    sql: String,
    statement: Option<tokio_postgres::Statement>,
}

impl Prepared {
    fn new(sql: String) -> Prepared {
        Prepared {
            sql,
            statement: None,
        }
    }
}

/// Runs a single-row, single-text-column statement, preparing it first if needed (that
/// costs one more round trip, once per connection). Returns the statement for reuse.
async fn run_prepared(
    client: &tokio_postgres::Client,
    sql: &str,
    statement: Option<tokio_postgres::Statement>,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<(tokio_postgres::Statement, Option<String>), tokio_postgres::Error> {
    let statement = match statement {
        Some(s) => s,
        None => client.prepare(sql).await?,
    };
    let rows = client.query(&statement, params).await?;
    let doc = rows
        .first()
        .and_then(|r| r.try_get::<_, Option<String>>(0).ok().flatten());
    Ok((statement, doc))
}

/// Scrapes one PostgreSQL server, keeping its connection between scrapes.
pub struct PostgresCollector {
    target: PostgresTarget,
    /// The parsed DSN (password applied) or why it cannot be used.
    config: Result<Box<tokio_postgres::Config>, String>,
    /// The TLS connector and mode, or why they cannot be built.
    tls: Result<
        (
            tokio_postgres_rustls::MakeRustlsConnect,
            tokio_postgres::config::SslMode,
        ),
        String,
    >,
    conn: Option<Conn>,
    /// What the kept connection may read per scrape.
    budget: ReplyBudget,
    /// The time budget of the current scrape: the target's timeout, or less when the
    /// scrape deadline is nearer. Timeout messages state it.
    attempt_budget: Duration,
    /// After a pg_stat_statements failure: the reason and when to try again.
    statements_failed: Option<(String, Instant)>,
    follower: Option<Arc<Mutex<slowlog::LogFollower>>>,
    follow_task: Option<tokio::task::JoinHandle<()>>,
    /// Last privilege state logged, so a missing privilege is logged once, not per scrape.
    logged_privileges: Option<Privileges>,
    /// Database and WAL sizes from the background refresh.
    sizes: Arc<Mutex<SizeCache>>,
    size_task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for PostgresCollector {
    fn drop(&mut self) {
        if let Some(t) = self.follow_task.take() {
            t.abort();
        }
        if let Some(t) = self.size_task.take() {
            t.abort();
        }
    }
}

impl PostgresCollector {
    /// Prepares the connection settings and starts following the log file (positioned at
    /// its end); no connection is made until the first scrape.
    pub fn new(target: PostgresTarget) -> Self {
        let config = build_config(&target).map(Box::new);
        let mode = target.ssl_mode.unwrap_or(PgSslMode::Prefer);
        let tls = tls::connector(mode, target.ca_file.as_deref());
        let follower = target
            .log_file
            .as_deref()
            .map(|p| Arc::new(Mutex::new(slowlog::LogFollower::new(p))));
        let mut c = PostgresCollector {
            target,
            config,
            tls,
            conn: None,
            budget: ReplyBudget::new(DEFAULT_MAX_REPLY_BYTES),
            attempt_budget: Duration::ZERO,
            statements_failed: None,
            follower,
            follow_task: None,
            logged_privileges: None,
            sizes: Arc::new(Mutex::new(SizeCache::default())),
            size_task: None,
        };
        c.start_follow_task();
        c
    }

    /// Sets the cap on the bytes one scrape may read from the server (default
    /// [`DEFAULT_MAX_REPLY_BYTES`]).
    pub fn with_max_reply_bytes(mut self, cap: u64) -> Self {
        self.budget = ReplyBudget::new(cap);
        self.conn = None;
        self
    }

    /// The target's name (the `target` label).
    pub fn name(&self) -> &str {
        &self.target.name
    }

    /// Spawns the background reader of the log file, if there is one and a runtime to run
    /// it on (else the first scrape does). It holds only a weak reference and is aborted
    /// when the collector is dropped.
    fn start_follow_task(&mut self) {
        if self.follow_task.is_some() {
            return;
        }
        let Some(f) = &self.follower else { return };
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let weak: Weak<Mutex<slowlog::LogFollower>> = Arc::downgrade(f);
        self.follow_task = Some(handle.spawn(async move {
            let mut tick = tokio::time::interval(LOG_POLL_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(f) = weak.upgrade() else { return };
                if tokio::task::spawn_blocking(move || lock(&f).poll())
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }));
    }

    /// The size refresh interval (`0`: sizes are read by every scrape).
    fn size_interval(&self) -> Duration {
        self.target
            .size_interval
            .min(crate::config::MAX_SIZE_INTERVAL)
    }

    /// Spawns the background size refresh, when sizes have an interval and there is a
    /// runtime (else the scrapes read the sizes).
    fn start_size_task(&mut self) {
        let interval = self.size_interval();
        if self.size_task.is_some() || interval.is_zero() {
            return;
        }
        let (Ok(config), Ok((tls, ssl_mode))) = (&self.config, &self.tls) else {
            return;
        };
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let job = RefreshJob {
            name: self.target.name.clone(),
            config: (**config).clone(),
            tls: tls.clone(),
            ssl_mode: *ssl_mode,
            pinned: self.target.pinned_addr,
            max_reply_bytes: self.budget.cap(),
            timeout: self.target.timeout,
        };
        self.size_task = Some(sizes::spawn(&handle, &self.sizes, job, interval));
    }

    /// One scrape: the statements on the kept connection (reconnecting once if it broke)
    /// and a last read of the log file, concurrently, all before `deadline`.
    pub async fn collect(&mut self, deadline: Instant) -> Result<PostgresSnapshot, CollectError> {
        self.start_follow_task();
        self.start_size_task();
        let deadline = deadline.min(Instant::now() + self.target.timeout);
        self.attempt_budget = crate::collectors::stated_budget(deadline);
        let follower = self.follower.clone();
        let log = async move {
            let f = follower?;
            let read = tokio::task::spawn_blocking(move || {
                let mut g = lock(&f);
                g.poll();
                g.snapshot()
            });
            tokio::time::timeout_at(deadline, read).await.ok()?.ok()
        };
        let (main, polled) = tokio::join!(self.query(deadline), log);
        let mut snap = main?;
        if let Some(f) = &self.follower {
            // Hand over the server's log_line_prefix (to find %d), then copy the counts.
            // If a slow background read still holds the follower, use what this scrape's
            // own read returned.
            let fresh = match f.try_lock() {
                Ok(mut g) => {
                    if let Some(prefix) = snap.info("log_line_prefix") {
                        g.set_prefix(prefix);
                    }
                    Some(g.snapshot())
                }
                Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner().snapshot()),
                Err(std::sync::TryLockError::WouldBlock) => None,
            };
            snap.slow_log = fresh.or(polled);
        }
        self.log_visibility(&snap);
        Ok(snap)
    }

    /// Logs missing privileges and an unreadable log file when that changes.
    fn log_visibility(&mut self, snap: &PostgresSnapshot) {
        if self.logged_privileges.as_ref() != Some(&snap.privileges) {
            let p = &snap.privileges;
            let missing: Vec<&str> = [
                (p.read_all_settings_missing, "pg_read_all_settings"),
                (p.read_all_stats_missing, "pg_read_all_stats"),
                (p.ls_waldir_missing, "EXECUTE on pg_ls_waldir()"),
                (p.control_system_missing, "EXECUTE on pg_control_system()"),
            ]
            .iter()
            .filter(|(m, _)| *m)
            .map(|(_, n)| *n)
            .collect();
            if !missing.is_empty() {
                tracing::warn!(target_name = %self.target.name, missing = %missing.join(", "), "The PostgreSQL role lacks privileges: some metrics are absent or undercounted (see pg_exporter_privilege_missing); GRANT pg_monitor fixes it");
            }
            self.logged_privileges = Some(snap.privileges.clone());
        }
    }

    async fn query(&mut self, deadline: Instant) -> Result<PostgresSnapshot, CollectError> {
        let reused = self.conn.as_ref().is_some_and(|c| !c.client.is_closed());
        match self.query_once(deadline).await {
            Err(e) if reused && e.worth_a_fresh_connection() => {
                // The kept connection broke (server restarted, idle timeout): one fresh try.
                tracing::debug!(target_name = %self.target.name, error = %e, "Reconnecting");
                self.conn = None;
                self.query_once(deadline).await
            }
            other => other,
        }
    }

    fn timeout_err(&self) -> CollectError {
        CollectError::Timeout {
            target: self.target.name.clone(),
            after: self.attempt_budget,
        }
    }

    /// A client error, or the cap when the server went over it (the client library only
    /// saw the read fail).
    fn failure(&self, e: tokio_postgres::Error, connecting: bool) -> CollectError {
        if self.budget.exceeded() {
            CollectError::Protocol {
                target: self.target.name.clone(),
                cause: self.budget.cause().into(),
            }
        } else {
            classify(&self.target.name, e, connecting)
        }
    }

    async fn query_once(&mut self, deadline: Instant) -> Result<PostgresSnapshot, CollectError> {
        if remaining(deadline).is_zero() {
            return Err(self.timeout_err());
        }
        self.budget.reset();
        let conn = match self.conn.take() {
            Some(c) if !c.client.is_closed() => c,
            _ => self.connect(deadline).await?,
        };
        let name = self.target.name.clone();
        let run_statements = conn.pgss.is_some()
            && self
                .statements_failed
                .as_ref()
                .is_none_or(|(_, retry_at)| Instant::now() >= *retry_at);
        // Sizes from the background refresh while it is young enough (one interval plus
        // one refresh), else read by this scrape's statement.
        let interval = self.size_interval();
        let cached: Option<Sizes> = if interval.is_zero() {
            None
        } else {
            lock(&self.sizes)
                .fresh(interval + self.target.timeout)
                .cloned()
        };
        let main_prepared = if cached.is_some() {
            &conn.main
        } else {
            &conn.main_sizes
        };
        let main_sql = main_prepared.sql.as_str();
        let main_st = main_prepared.statement.clone();
        let settings_key: Option<&str> = conn.settings.as_ref().map(|k| k.key.as_str());
        let main_params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&settings_key];
        let started = Instant::now();
        let pgss_stmt = conn
            .pgss
            .as_ref()
            .filter(|_| run_statements)
            .map(|(_, p)| (p.sql.as_str(), p.statement.clone()));
        // Both statements go out together on the one connection (tokio-postgres pipelines
        // concurrent requests): one round trip.
        let both = async {
            tokio::join!(
                run_prepared(&conn.client, main_sql, main_st, &main_params),
                async {
                    match pgss_stmt {
                        Some((sql, st)) => Some(run_prepared(&conn.client, sql, st, &[]).await),
                        None => None,
                    }
                }
            )
        };
        let (main, pgss) = match tokio::time::timeout_at(deadline, both).await {
            // The connection is dropped with the statements in flight; the server
            // cancels them when it notices (statement_timeout bounds them anyway).
            Err(_) => return Err(self.timeout_err()),
            Ok(r) => r,
        };
        let (main_stmt, doc) = main.map_err(|e| self.failure(e, false))?;
        let doc = doc.ok_or_else(|| CollectError::Protocol {
            target: name.clone(),
            cause: "the statement returned no row".into(),
        })?;
        let took = started.elapsed();
        let mut conn = conn;
        if cached.is_some() {
            conn.main.statement = Some(main_stmt);
        } else {
            conn.main_sizes.statement = Some(main_stmt);
        }
        let system_identifier = conn.system_identifier.clone();
        let (mut snap, pgss_now) =
            parse_main(&doc, conn.version_num, conn.help.clone()).map_err(|e| {
                CollectError::Protocol {
                    target: name.clone(),
                    cause: Cause::new(e),
                }
            })?;
        match (snap.settings_read, &conn.settings) {
            (false, Some(kept)) => {
                snap.settings = kept.settings.clone();
                snap.info_settings = kept.info.clone();
                snap.pending_restart = kept.pending_restart.clone();
            }
            _ => {
                conn.settings = snap.settings_key.clone().map(|key| {
                    Box::new(KeptSettings {
                        key,
                        settings: snap.settings.clone(),
                        info: snap.info_settings.clone(),
                        pending_restart: snap.pending_restart.clone(),
                    })
                });
            }
        }
        if !interval.is_zero() {
            let mut cache = lock(&self.sizes);
            cache.ls_waldir = !snap.privileges.ls_waldir_missing;
            let sizes = match cached {
                Some(s) => {
                    // A database dropped since the refresh is not reported.
                    let current: std::collections::HashSet<&str> =
                        snap.activity.iter().map(|a| a.datname.as_str()).collect();
                    snap.databases = s
                        .databases
                        .iter()
                        .filter(|(d, _)| current.is_empty() || current.contains(d.as_str()))
                        .cloned()
                        .collect();
                    snap.wal_size_bytes = s.wal_size_bytes;
                    s
                }
                None => {
                    let s = Sizes {
                        databases: snap.databases.clone(),
                        wal_size_bytes: snap.wal_size_bytes,
                        at: Instant::now(),
                        took,
                    };
                    cache.sizes = Some(s.clone());
                    s
                }
            };
            snap.size_refresh_age_seconds = Some(sizes.at.elapsed().as_secs_f64());
            snap.size_refresh_duration_seconds = Some(sizes.took.as_secs_f64());
        }
        snap.statements = match (&mut conn.pgss, pgss) {
            (None, _) => Statements::NotInstalled,
            (Some(_), None) => Statements::Unavailable(
                self.statements_failed
                    .as_ref()
                    .map(|(r, _)| r.clone())
                    .unwrap_or_default(),
            ),
            (Some((_, prepared)), Some(Ok((st, doc)))) => {
                self.statements_failed = None;
                prepared.statement = Some(st);
                match doc.map(|d| parse_statements(&d)) {
                    Some(Ok(s)) => s,
                    Some(Err(e)) => Statements::Unavailable(e.to_string()),
                    None => Statements::Unavailable("no row".to_string()),
                }
            }
            (Some(_), Some(Err(e))) => {
                let reason = error_text(&e);
                tracing::warn!(target_name = %name, error = %reason, retry_in_seconds = STATEMENTS_RETRY.as_secs(), "pg_stat_statements is installed but cannot be read");
                self.statements_failed = Some((reason.clone(), Instant::now() + STATEMENTS_RETRY));
                Statements::Unavailable(reason)
            }
        };
        // What the statements were built from changed (EXECUTE on pg_ls_waldir() granted
        // or revoked, log_min_duration_statement changed, pg_stat_statements installed,
        // dropped or updated): rebuild them for the next scrape.
        let threshold_ms = sql::effective_threshold_ms(
            setting_value(&snap.settings, "log_min_duration_statement"),
            self.default_threshold_ms(),
        );
        let threshold_changed = threshold_ms != conn.threshold_ms;
        if conn.ls_waldir == snap.privileges.ls_waldir_missing || threshold_changed {
            conn.ls_waldir = !snap.privileges.ls_waldir_missing;
            conn.threshold_ms = threshold_ms;
            conn.main = Prepared::new(sql::main_query(
                conn.version_num,
                threshold_ms,
                conn.ls_waldir,
                false,
            ));
            conn.main_sizes = Prepared::new(sql::main_query(
                conn.version_num,
                threshold_ms,
                conn.ls_waldir,
                true,
            ));
        }
        if threshold_changed || conn.pgss.as_ref().map(|(loc, _)| loc) != pgss_now.as_ref() {
            if conn.pgss.as_ref().map(|(loc, _)| loc) != pgss_now.as_ref() {
                self.statements_failed = None;
            }
            conn.pgss = pgss_now.map(|loc| {
                let sql = self.statements_sql(&loc, threshold_ms);
                (loc, Prepared::new(sql))
            });
        }
        self.conn = Some(conn);
        snap.system_identifier = system_identifier;
        Ok(snap)
    }

    fn default_threshold_ms(&self) -> u64 {
        self.target.slow_query_threshold.as_millis() as u64
    }

    fn statements_sql(&self, (schema, version): &(String, String), threshold_ms: f64) -> String {
        sql::statements_query(
            schema,
            version,
            self.target
                .statements_top_n
                .min(crate::config::MAX_STATEMENTS_TOP_N),
            threshold_ms,
        )
    }

    /// TCP, TLS, login and the per-connection statement, all before `deadline`.
    async fn connect(&self, deadline: Instant) -> Result<Conn, CollectError> {
        let name = self.target.name.clone();
        let mut config = self.config.clone().map_err(|cause| CollectError::Connect {
            target: name.clone(),
            cause: cause.into(),
        })?;
        let (tls, ssl_mode) = self.tls.clone().map_err(|cause| CollectError::Connect {
            target: name.clone(),
            cause: cause.into(),
        })?;
        if remaining(deadline).is_zero() {
            return Err(self.timeout_err());
        }
        config.ssl_mode(ssl_mode);
        let opening = connect::open(&config, self.target.pinned_addr, tls, self.budget.clone());
        let (client, connection) = match tokio::time::timeout_at(deadline, opening).await {
            Err(_) => return Err(self.timeout_err()),
            Ok(Err(connect::OpenError::Socket(cause))) => {
                return Err(CollectError::Connect {
                    target: name.clone(),
                    cause: cause.into(),
                });
            }
            Ok(Err(connect::OpenError::Postgres(e))) => return Err(self.failure(e, true)),
            Ok(Ok(c)) => c,
        };
        // The connection task ends when the client is dropped.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let timeout_ms = self.target.timeout.as_millis().max(1) as u64;
        let msgs = match tokio::time::timeout_at(
            deadline,
            client.simple_query(&sql::connect_query(timeout_ms)),
        )
        .await
        {
            Err(_) => return Err(self.timeout_err()),
            Ok(Err(e)) => return Err(self.failure(e, false)),
            Ok(Ok(m)) => m,
        };
        let protocol = |cause: Cause| CollectError::Protocol {
            target: name.clone(),
            cause,
        };
        let doc =
            first_value(&msgs).ok_or_else(|| protocol("the statement returned no row".into()))?;
        let info = parse_connect(&doc).map_err(|e| protocol(Cause::new(e)))?;
        tracing::debug!(target_name = %name, server_version_num = info.version_num, "Connected");
        let system_identifier =
            match tokio::time::timeout_at(deadline, super::identity::system_identifier(&client))
                .await
            {
                Err(_) => return Err(self.timeout_err()),
                Ok(Err(e)) => return Err(self.failure(e, false)),
                Ok(Ok(id)) => id,
            };
        let threshold_ms = sql::effective_threshold_ms(
            info.log_min_duration_statement,
            self.default_threshold_ms(),
        );
        let main = Prepared::new(sql::main_query(
            info.version_num,
            threshold_ms,
            info.ls_waldir,
            false,
        ));
        let main_sizes = Prepared::new(sql::main_query(
            info.version_num,
            threshold_ms,
            info.ls_waldir,
            true,
        ));
        let pgss = info.pgss.map(|loc| {
            let sql = self.statements_sql(&loc, threshold_ms);
            (loc, Prepared::new(sql))
        });
        Ok(Conn {
            client,
            version_num: info.version_num,
            help: Arc::new(info.help),
            ls_waldir: info.ls_waldir,
            threshold_ms,
            main,
            main_sizes,
            settings: None,
            pgss,
            system_identifier,
        })
    }
}

/// Parses the DSN (without `sslmode`, which is handled by [`tls`]), applies the password
/// and our session defaults. Errors never contain the password.
pub(crate) fn build_config(target: &PostgresTarget) -> Result<tokio_postgres::Config, String> {
    let (dsn, _) = split_sslmode(&target.dsn);
    let mut config: tokio_postgres::Config = dsn
        .parse()
        .map_err(|e| format!("invalid DSN {}: {e}", target.dsn))?;
    if let Some(p) = &target.password {
        config.password(p.expose());
    }
    if config.get_application_name().is_none() {
        config.application_name("persistence_exporter");
    }
    Ok(config)
}

/// A numeric setting's value (as the server prints it in `setting`).
fn setting_value(settings: &[Setting], name: &str) -> Option<f64> {
    settings
        .iter()
        .find(|s| s.name == name)
        .and_then(|s| s.setting.parse().ok())
}

/// The first column of the first row, as text.
fn first_value(msgs: &[tokio_postgres::SimpleQueryMessage]) -> Option<String> {
    msgs.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
        _ => None,
    })
}

/// The error and its causes, one line, without secrets (neither the DSN nor the password
/// is part of tokio-postgres' errors): how every PostgreSQL error is reported.
pub fn error_text(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{}: {} ({})", db.severity(), db.message(), db.code().code());
    }
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(cause) = src {
        let c = cause.to_string();
        if !s.contains(&c) {
            s.push_str(": ");
            s.push_str(&c);
        }
        src = cause.source();
    }
    first_line(&s)
}

/// Maps a client error to a [`CollectError`]; `connecting` says which phase failed.
fn classify(target: &str, e: tokio_postgres::Error, connecting: bool) -> CollectError {
    use tokio_postgres::error::SqlState;
    let auth = matches!(
        e.code(),
        Some(&SqlState::INVALID_PASSWORD | &SqlState::INVALID_AUTHORIZATION_SPECIFICATION)
    );
    let closed = e.is_closed();
    let cause = Cause::described(error_text(&e), e);
    let target = target.to_string();
    if auth {
        CollectError::Auth { target, cause }
    } else if connecting || closed {
        CollectError::Connect { target, cause }
    } else {
        CollectError::Query { target, cause }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(dsn: &str) -> PostgresTarget {
        PostgresTarget {
            name: "t".into(),
            dsn: dsn.into(),
            password: Some(crate::secret::Secret::new("hunter2-pw")),
            ssl_mode: None,
            ca_file: None,
            timeout: Duration::from_secs(3),
            log_file: None,
            slow_query_threshold: Duration::from_secs(1),
            statements_top_n: 10,
            size_interval: Duration::from_secs(60),
            container: None,
            profile: crate::config::profile::Profile::load("durable").unwrap(),
            pinned_addr: None,
            not_in_container: false,
        }
    }

    #[test]
    fn config_gets_password_and_application_name() {
        let c = build_config(&target("postgresql://u@h:5433/db?sslmode=verify-full")).unwrap();
        assert_eq!(c.get_password(), Some(&b"hunter2-pw"[..]));
        assert_eq!(c.get_application_name(), Some("persistence_exporter"));
        assert_eq!(c.get_options(), None, "poolers refuse startup options");
        let c = build_config(&target("host=h application_name=me")).unwrap();
        assert_eq!(c.get_application_name(), Some("me"));
        let e = build_config(&target("host=h port=notaport")).unwrap_err();
        assert!(!e.contains("hunter2"));
    }

    #[tokio::test]
    async fn log_follower_stops_with_the_collector() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("pg.log");
        std::fs::write(&log, "").unwrap();
        let mut t = target("postgresql://u@127.0.0.1:1/db");
        t.log_file = Some(log);
        let c = PostgresCollector::new(t);
        let task = c.follow_task.as_ref().expect("started").abort_handle();
        let follower = Arc::downgrade(c.follower.as_ref().unwrap());
        tokio::time::sleep(LOG_POLL_INTERVAL * 2).await;
        assert!(!task.is_finished());
        drop(c);
        tokio::time::sleep(LOG_POLL_INTERVAL * 2).await;
        assert!(task.is_finished());
        assert!(follower.upgrade().is_none(), "the follower is freed");
    }
}
