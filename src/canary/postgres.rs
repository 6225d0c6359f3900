//! The PostgreSQL canary: one row per target in one table, upserted on its own
//! connection (`INSERT … ON CONFLICT (target) DO UPDATE`). The table is created when it
//! is missing and the role may (`CREATE TABLE IF NOT EXISTS`); otherwise an administrator
//! creates it (README, "Does the data survive a restart?"). The instance is
//! `pg_postmaster_start_time()`; a missing table reads back as an absent canary.

use super::{Backend, CanaryHandle, instance_of_start_time};
use crate::collectors::capped::ReplyBudget;
use crate::collectors::postgres::error_text;
use crate::collectors::postgres::{build_config, connect, tls};
use crate::config::restarts::Canary;
use crate::config::{PgSslMode, PostgresTarget};
use std::time::Duration;

struct PgCanary {
    target: PostgresTarget,
    /// The table, each part quoted.
    table: String,
    budget: ReplyBudget,
    client: Option<tokio_postgres::Client>,
}

/// Starts the canary of a PostgreSQL target (replies capped at `max_reply_bytes`).
pub fn spawn(
    target: &PostgresTarget,
    canary: &Canary,
    max_reply_bytes: u64,
) -> Option<CanaryHandle> {
    let backend = PgCanary {
        target: target.clone(),
        table: quote_table(&canary.location),
        budget: ReplyBudget::new(max_reply_bytes),
        client: None,
    };
    super::spawn(target.name.clone(), canary, backend)
}

/// `a.b` → `"a"."b"` (the name was validated as identifiers).
fn quote_table(t: &str) -> String {
    t.split('.')
        .map(crate::collectors::postgres::sql::quote_ident)
        .collect::<Vec<_>>()
        .join(".")
}

/// The DDL of the canary table.
pub fn create_table_sql(table: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {} (target text PRIMARY KEY, written_at_ms bigint NOT NULL)",
        quote_table(table)
    )
}

impl PgCanary {
    fn timeout(&self) -> Duration {
        self.target.timeout
    }

    fn client(&self) -> Result<&tokio_postgres::Client, String> {
        self.client
            .as_ref()
            .ok_or_else(|| "not connected".to_string())
    }

    async fn bounded<T>(
        &self,
        f: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<Result<T, tokio_postgres::Error>, String> {
        self.budget.reset();
        let timeout = self.timeout();
        match tokio::time::timeout(timeout, f).await {
            Err(_) => Err(format!("no reply within {timeout:?}")),
            Ok(Err(_)) if self.budget.exceeded() => Err(self.budget.cause()),
            Ok(r) => Ok(r),
        }
    }
}

impl Backend for PgCanary {
    async fn connect(&mut self) -> Result<String, String> {
        let mut config = build_config(&self.target)?;
        let mode = self.target.ssl_mode.unwrap_or(PgSslMode::Prefer);
        let (tls, ssl_mode) = tls::connector(mode, self.target.ca_file.as_deref())?;
        config.ssl_mode(ssl_mode);
        config.application_name("persistence_exporter_canary");
        let timeout = self.timeout();
        let opening = connect::open(&config, self.target.pinned_addr, tls, self.budget.clone());
        let (client, connection) = match tokio::time::timeout(timeout, opening).await {
            Err(_) => return Err(format!("no connection within {timeout:?}")),
            Ok(Err(connect::OpenError::Socket(cause))) => return Err(cause),
            Ok(Err(connect::OpenError::Postgres(e))) => return Err(error_text(&e)),
            Ok(Ok(c)) => c,
        };
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let ms = timeout.as_millis().max(1);
        let start = self
            .bounded(client.query_one(
                &format!(
                    "SELECT set_config('statement_timeout', '{ms}', false), extract(epoch FROM pg_postmaster_start_time())::float8, to_regclass($1) IS NULL"
                ),
                &[&self.table],
            ))
            .await?
            .map_err(|e| error_text(&e))?;
        let started: f64 = start.try_get(1).map_err(|e| error_text(&e))?;
        let missing: bool = start.try_get(2).map_err(|e| error_text(&e))?;
        if missing {
            // Created when the role may; otherwise the writes fail and are counted.
            let ddl = format!(
                "CREATE TABLE IF NOT EXISTS {} (target text PRIMARY KEY, written_at_ms bigint NOT NULL)",
                self.table
            );
            if let Err(e) = self.bounded(client.batch_execute(&ddl)).await? {
                tracing::debug!(target_name = %self.target.name, error = %error_text(&e), "Cannot create the canary table");
            }
        }
        self.client = Some(client);
        Ok(instance_of_start_time(started))
    }

    async fn read(&mut self) -> Result<Option<i64>, String> {
        let sql = format!("SELECT written_at_ms FROM {} WHERE target = $1", self.table);
        let client = self.client()?;
        match self
            .bounded(client.query_opt(&sql, &[&self.target.name]))
            .await?
        {
            Ok(row) => row
                .map(|r| r.try_get::<_, i64>(0))
                .transpose()
                .map_err(|e| error_text(&e)),
            // The table itself is gone (a fresh data directory): so is the canary.
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) => {
                Ok(None)
            }
            Err(e) => Err(error_text(&e)),
        }
    }

    async fn write(&mut self, ms: i64) -> Result<(), String> {
        let sql = format!(
            "INSERT INTO {} (target, written_at_ms) VALUES ($1, $2) ON CONFLICT (target) DO UPDATE SET written_at_ms = EXCLUDED.written_at_ms",
            self.table
        );
        let client = self.client()?;
        self.bounded(client.execute(&sql, &[&self.target.name, &ms]))
            .await?
            .map(|_| ())
            .map_err(|e| error_text(&e))
    }

    fn reset(&mut self) {
        self.client = None;
    }
}
