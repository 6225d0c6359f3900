//! Database sizes and the WAL directory size, off the scrape path. `pg_database_size()`
//! walks every file of every database (one `stat()` per relation file): on a large
//! cluster it is nearly the whole scrape. A background task per target refreshes them
//! every `size_interval` on a connection of its own (opened per refresh, under the
//! target's timeout and the reply cap), so a slow walk never delays a scrape; scrapes
//! serve the last refresh and its age. Refreshes never overlap (one loop per target).
//! When there is no refresh young enough (the first scrape, or the background refresh
//! failed), the scrape reads the sizes itself.

use super::{connect, parse, sql};
use crate::collectors::capped::ReplyBudget;
use crate::collectors::lock;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::time::Instant;

/// One refresh's result.
#[derive(Clone, Debug)]
pub struct Sizes {
    /// `(datname, bytes)`; `None` when the role may not know it.
    pub databases: Vec<(String, Option<f64>)>,
    /// Size of `pg_wal`; `None` without EXECUTE on `pg_ls_waldir()`.
    pub wal_size_bytes: Option<f64>,
    /// When the refresh finished.
    pub at: Instant,
    /// How long it took.
    pub took: Duration,
}

/// What scrapes and the background task share.
#[derive(Debug, Default)]
pub struct SizeCache {
    /// The last successful refresh.
    pub sizes: Option<Sizes>,
    /// Whether the role may execute `pg_ls_waldir()` (learned by the scrapes).
    pub ls_waldir: bool,
}

impl SizeCache {
    /// The last refresh if it is at most `max_age` old.
    pub fn fresh(&self, max_age: Duration) -> Option<&Sizes> {
        self.sizes.as_ref().filter(|s| s.at.elapsed() <= max_age)
    }
}

/// How to open the refresh connection; cloned into the background task.
#[derive(Clone)]
pub struct RefreshJob {
    /// Target name, for logs.
    pub name: String,
    /// Parsed DSN, password applied.
    pub config: tokio_postgres::Config,
    /// TLS connector.
    pub tls: tokio_postgres_rustls::MakeRustlsConnect,
    /// `sslmode`.
    pub ssl_mode: tokio_postgres::config::SslMode,
    /// Address instead of the DSN's host.
    pub pinned: Option<std::net::SocketAddr>,
    /// Reply cap of one refresh.
    pub max_reply_bytes: u64,
    /// The target's timeout: bounds the whole refresh.
    pub timeout: Duration,
}

impl RefreshJob {
    /// Connects, reads the sizes and disconnects, all within the target's timeout.
    pub async fn run(&self, ls_waldir: bool) -> Result<Sizes, String> {
        let started = Instant::now();
        let work = async {
            let mut config = self.config.clone();
            config.ssl_mode(self.ssl_mode);
            let budget = ReplyBudget::new(self.max_reply_bytes);
            let (client, connection) =
                connect::open(&config, self.pinned, self.tls.clone(), budget.clone())
                    .await
                    .map_err(|e| match e {
                        connect::OpenError::Socket(s) => s,
                        connect::OpenError::Postgres(e) => e.to_string(),
                    })?;
            let conn_task = tokio::spawn(async move {
                let _ = connection.await;
            });
            let timeout_ms = self.timeout.as_millis().max(1) as u64;
            let msgs = client
                .simple_query(&sql::sizes_query(timeout_ms, ls_waldir))
                .await;
            drop(client);
            conn_task.abort();
            let msgs = msgs.map_err(|e| {
                if budget.exceeded() {
                    budget.cause().to_string()
                } else {
                    e.to_string()
                }
            })?;
            let doc = msgs
                .iter()
                .find_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
                    _ => None,
                })
                .ok_or_else(|| "the statement returned no row".to_string())?;
            parse::parse_sizes(&doc).map_err(|e| e.to_string())
        };
        let (databases, wal_size_bytes) = tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| format!("timed out after {:?}", self.timeout))??;
        Ok(Sizes {
            databases,
            wal_size_bytes,
            at: Instant::now(),
            took: started.elapsed(),
        })
    }
}

/// Starts the refresh loop on the current runtime: first refresh one `interval` from now
/// (the first scrape reads the sizes itself), then every `interval`, each refresh after
/// the previous one ended. It holds only a weak reference to the cache and ends when the
/// cache is gone; the caller aborts it when the collector is dropped.
pub fn spawn(
    handle: &tokio::runtime::Handle,
    cache: &Arc<Mutex<SizeCache>>,
    job: RefreshJob,
    interval: Duration,
) -> tokio::task::JoinHandle<()> {
    let weak: Weak<Mutex<SizeCache>> = Arc::downgrade(cache);
    handle.spawn(async move {
        let mut tick = tokio::time::interval_at(Instant::now() + interval, interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let ls_waldir = match weak.upgrade() {
                Some(c) => lock(&c).ls_waldir,
                None => return,
            };
            let result = job.run(ls_waldir).await;
            let Some(cache) = weak.upgrade() else { return };
            match result {
                Ok(sizes) => {
                    tracing::debug!(target_name = %job.name, took_seconds = sizes.took.as_secs_f64(), "Refreshed database sizes");
                    lock(&cache).sizes = Some(sizes);
                }
                Err(error) => {
                    tracing::warn!(target_name = %job.name, %error, "Database size refresh failed; the next scrape reads the sizes itself when the last refresh is too old");
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stale_sizes_are_not_served() {
        let mut c = SizeCache::default();
        assert!(c.fresh(Duration::from_secs(60)).is_none());
        c.sizes = Some(Sizes {
            databases: vec![("postgres".into(), Some(1.0))],
            wal_size_bytes: None,
            at: Instant::now() - Duration::from_secs(10),
            took: Duration::ZERO,
        });
        assert!(c.fresh(Duration::from_secs(60)).is_some());
        assert!(c.fresh(Duration::from_secs(5)).is_none());
    }
}
