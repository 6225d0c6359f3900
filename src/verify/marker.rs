//! The marker `verify` writes before a restart or re-creation and looks for afterwards,
//! spoken directly with the `redis` and `tokio-postgres` crates using the target's own
//! settings (address, password, TLS). Every operation opens its own connection and runs
//! under the target's timeout; replies are bounded (a Redis value is read with `GETRANGE`,
//! a PostgreSQL row by its primary key).
//!
//! - Redis: the key `persistence_exporter:verify:<random>` with a TTL of one hour, so a
//!   marker left behind by an interrupted run expires by itself.
//! - PostgreSQL: a row in the table `persistence_exporter_verify` of the target's
//!   database, created when absent (and dropped again when `verify` created it and it is
//!   empty afterwards).
//!
//! These are the only writes the exporter ever makes to a monitored server.

use crate::collectors::postgres::error_text;
use crate::config::{PgSslMode, PostgresTarget, RedisTarget};
use crate::plain::{first_line, remaining};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, IntoConnectionInfo, Value};
use std::time::Duration;
use tokio::time::Instant;

/// Prefix of the Redis marker key.
pub const REDIS_KEY_PREFIX: &str = "persistence_exporter:verify:";
/// Lifetime of the Redis marker key.
pub const REDIS_MARKER_TTL: Duration = Duration::from_secs(3600);
/// Table holding the PostgreSQL marker rows.
pub const PG_TABLE: &str = "persistence_exporter_verify";
/// Longest marker value read back (ours are 40 bytes).
const MAX_MARKER_BYTES: usize = 256;

/// The server a marker goes to.
#[derive(Clone, Copy, Debug)]
pub enum Server<'a> {
    /// A Redis target.
    Redis(&'a RedisTarget),
    /// A PostgreSQL target.
    Postgres(&'a PostgresTarget),
}

impl Server<'_> {
    fn timeout(&self) -> Duration {
        match self {
            Server::Redis(t) => t.timeout,
            Server::Postgres(t) => t.timeout,
        }
    }
}

/// One marker: a random token, unique to the run and target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Marker {
    /// The random token (hex).
    pub token: String,
}

impl Marker {
    /// A new random marker (128 bits from the system's CSPRNG, time-based if that fails).
    pub fn random() -> Marker {
        use ring::rand::SecureRandom;
        let mut bytes = [0u8; 16];
        let token = if ring::rand::SystemRandom::new().fill(&mut bytes).is_ok() {
            bytes.iter().map(|b| format!("{b:02x}")).collect()
        } else {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            format!("{:x}{:08x}", now.as_nanos(), std::process::id())
        };
        Marker { token }
    }

    /// Where the marker lives, for the report: the Redis key or the table and value.
    pub fn location(&self, server: Server<'_>) -> String {
        match server {
            Server::Redis(_) => self.redis_key(),
            Server::Postgres(_) => format!("{PG_TABLE}.marker = '{}'", self.token),
        }
    }

    fn redis_key(&self) -> String {
        format!("{REDIS_KEY_PREFIX}{}", self.token)
    }
}

/// What a readiness probe saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    /// Not answering yet, starting up, or (Redis) still loading its dataset.
    NotReady(String),
    /// Ready; `identity` changes at every server start (Redis `run_id`, PostgreSQL
    /// `pg_postmaster_start_time()`).
    Ready {
        /// The server start's identity.
        identity: String,
    },
    /// The server answers but refuses us (password or database unknown, as on a server
    /// that starts from an empty data directory): ready, and the marker cannot be there.
    Refused(String),
}

/// What writing the marker learned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    /// The server start's identity before the test.
    pub identity: String,
    /// PostgreSQL: the table did not exist and was created.
    pub created_table: bool,
}

/// Why a marker operation failed. Messages name no secret: addresses come without their
/// password and server errors are cut to their first line.
#[derive(Debug, thiserror::Error)]
pub enum MarkerError {
    /// The operation did not finish within the target's timeout.
    #[error("no answer in time")]
    Timeout,
    /// The server is not ready, or refused us before the operation could start.
    #[error("{0}")]
    NotReady(String),
    /// The Redis client could not be set up from the target's settings.
    #[error("{0}")]
    RedisSetup(#[source] RedisSetupError),
    /// A Redis command or connection failed.
    #[error("{}", first_line(&.0.to_string()))]
    Redis(#[source] redis::RedisError),
    /// Redis answered `SET` with something else than `OK`.
    #[error("SET answered {0}")]
    UnexpectedReply(String),
    /// A PostgreSQL statement failed.
    #[error("{}", error_text(.0))]
    Postgres(#[source] tokio_postgres::Error),
}

/// Why a Redis client could not be built from a target's settings.
#[derive(Debug, thiserror::Error)]
pub enum RedisSetupError {
    /// The address (shown without its password) is not a Redis URL.
    #[error("invalid address {url}: {source}")]
    Address {
        /// The target's address, without the password.
        url: String,
        /// The client's complaint.
        #[source]
        source: redis::RedisError,
    },
    /// A TLS file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    ReadFile {
        /// The CA, certificate or key file.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The TLS files were read but not accepted.
    #[error("TLS setup for {url}: {source}")]
    Tls {
        /// The target's address, without the password.
        url: String,
        /// The client's complaint.
        #[source]
        source: redis::RedisError,
    },
}

// ---- Redis ----------------------------------------------------------------------------

/// A client with the target's address, password and TLS settings; errors without secrets.
fn redis_client(t: &RedisTarget) -> Result<redis::Client, RedisSetupError> {
    let address = |source| RedisSetupError::Address {
        url: t.url.clone(),
        source,
    };
    let mut info = t.url.as_str().into_connection_info().map_err(address)?;
    if let Some(p) = &t.password {
        let settings = info.redis_settings().clone().set_password(p.expose());
        info = info.set_redis_settings(settings);
    }
    if t.tls.insecure_skip_verify
        && let redis::ConnectionAddr::TcpTls {
            host,
            port,
            tls_params,
            ..
        } = info.addr().clone()
    {
        info = info.set_addr(redis::ConnectionAddr::TcpTls {
            host,
            port,
            insecure: true,
            tls_params,
        });
    }
    if t.tls.ca_file.is_none() && t.tls.cert_file.is_none() {
        return redis::Client::open(info).map_err(address);
    }
    let read = |p: &std::path::PathBuf| {
        std::fs::read(p).map_err(|source| RedisSetupError::ReadFile {
            path: p.clone(),
            source,
        })
    };
    let root_cert = t.tls.ca_file.as_ref().map(read).transpose()?;
    let client_tls = match (&t.tls.cert_file, &t.tls.key_file) {
        (Some(c), Some(k)) => Some(redis::ClientTlsConfig {
            client_cert: read(c)?,
            client_key: read(k)?,
        }),
        _ => None,
    };
    redis::Client::build_with_tls(
        info,
        redis::TlsCertificates {
            client_tls,
            root_cert,
        },
    )
    .map_err(|source| RedisSetupError::Tls {
        url: t.url.clone(),
        source,
    })
}

/// A connection to the target, within what is left of `deadline`.
async fn redis_conn(
    t: &RedisTarget,
    deadline: Instant,
) -> Result<MultiplexedConnection, MarkerError> {
    let client = redis_client(t).map_err(MarkerError::RedisSetup)?;
    let budget = remaining(deadline);
    let cfg = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(budget))
        .set_response_timeout(Some(budget));
    client
        .get_multiplexed_async_connection_with_config(&cfg)
        .await
        .map_err(MarkerError::Redis)
}

/// Did the server refuse our credentials?
fn refused_us(e: &MarkerError) -> bool {
    matches!(e, MarkerError::Redis(e) if redis_is_auth_error(e))
}

fn redis_is_auth_error(e: &redis::RedisError) -> bool {
    let text = e.to_string();
    matches!(e.kind(), redis::ErrorKind::AuthenticationFailed)
        || matches!(e.code(), Some("NOAUTH" | "WRONGPASS"))
        || text.contains("NOAUTH")
        || text.contains("WRONGPASS")
}

/// `field:value` of an `INFO` reply.
fn info_field<'a>(info: &'a str, field: &str) -> Option<&'a str> {
    info.lines().find_map(|l| {
        l.trim_end_matches('\r')
            .strip_prefix(field)
            .and_then(|r| r.strip_prefix(':'))
    })
}

fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        _ => None,
    }
}

async fn redis_probe(t: &RedisTarget, deadline: Instant) -> Probe {
    let attempt = async {
        let mut c = match redis_conn(t, deadline).await {
            Ok(c) => c,
            Err(e) if refused_us(&e) => return Probe::Refused(e.to_string()),
            Err(e) => return Probe::NotReady(first_line(&e.to_string())),
        };
        let mut pipe = redis::pipe();
        pipe.cmd("INFO")
            .arg("server")
            .cmd("INFO")
            .arg("persistence");
        match pipe.query_async::<Vec<Value>>(&mut c).await {
            Ok(v) => {
                let text: String = v.iter().filter_map(value_text).collect();
                if info_field(&text, "loading") != Some("0") {
                    return Probe::NotReady("loading its dataset".to_string());
                }
                match info_field(&text, "run_id") {
                    Some(id) if !id.is_empty() => Probe::Ready {
                        identity: id.to_string(),
                    },
                    _ => Probe::NotReady("INFO has no run_id".to_string()),
                }
            }
            Err(e) if redis_is_auth_error(&e) => Probe::Refused(first_line(&e.to_string())),
            Err(e) => Probe::NotReady(first_line(&e.to_string())),
        }
    };
    tokio::time::timeout_at(deadline, attempt)
        .await
        .unwrap_or_else(|_| Probe::NotReady("no answer in time".to_string()))
}

async fn redis_write(
    t: &RedisTarget,
    m: &Marker,
    deadline: Instant,
) -> Result<Written, MarkerError> {
    let identity = match redis_probe(t, deadline).await {
        Probe::Ready { identity } => identity,
        Probe::NotReady(e) | Probe::Refused(e) => return Err(MarkerError::NotReady(e)),
    };
    let attempt = async {
        let mut c = redis_conn(t, deadline).await?;
        let reply: Value = redis::cmd("SET")
            .arg(m.redis_key())
            .arg(&m.token)
            .arg("EX")
            .arg(REDIS_MARKER_TTL.as_secs())
            .arg("NX")
            .query_async(&mut c)
            .await
            .map_err(MarkerError::Redis)?;
        match reply {
            Value::Okay => Ok(()),
            Value::SimpleString(s) if s == "OK" => Ok(()),
            other => Err(MarkerError::UnexpectedReply(first_line(&format!(
                "{other:?}"
            )))),
        }
    };
    match tokio::time::timeout_at(deadline, attempt).await {
        Ok(Ok(())) => Ok(Written {
            identity,
            created_table: false,
        }),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(MarkerError::Timeout),
    }
}

async fn redis_read(t: &RedisTarget, m: &Marker, deadline: Instant) -> Result<bool, MarkerError> {
    let attempt = async {
        let mut c = match redis_conn(t, deadline).await {
            Ok(c) => c,
            Err(e) if refused_us(&e) => return Ok(false),
            Err(e) => return Err(e),
        };
        let v: Value = redis::cmd("GETRANGE")
            .arg(m.redis_key())
            .arg(0)
            .arg(MAX_MARKER_BYTES - 1)
            .query_async(&mut c)
            .await
            .map_err(MarkerError::Redis)?;
        Ok(value_text(&v).is_some_and(|s| s == m.token))
    };
    tokio::time::timeout_at(deadline, attempt)
        .await
        .unwrap_or(Err(MarkerError::Timeout))
}

async fn redis_remove(t: &RedisTarget, m: &Marker, deadline: Instant) -> Result<(), MarkerError> {
    let attempt = async {
        let mut c = redis_conn(t, deadline).await?;
        redis::cmd("DEL")
            .arg(m.redis_key())
            .query_async::<Value>(&mut c)
            .await
            .map_err(MarkerError::Redis)
            .map(drop)
    };
    tokio::time::timeout_at(deadline, attempt)
        .await
        .unwrap_or(Err(MarkerError::Timeout))
}

// ---- PostgreSQL -----------------------------------------------------------------------

enum PgConnectError {
    /// Starting up, refused, unreachable: try again.
    NotReady(String),
    /// The server answered and refused us.
    Refused(String),
}

async fn pg_client(
    t: &PostgresTarget,
    deadline: Instant,
) -> Result<tokio_postgres::Client, PgConnectError> {
    use tokio_postgres::error::SqlState;
    let (dsn, dsn_mode) = crate::config::split_sslmode(&t.dsn);
    let mut config: tokio_postgres::Config = dsn
        .parse()
        .map_err(|e| PgConnectError::Refused(format!("invalid DSN {}: {e}", t.dsn)))?;
    if let Some(p) = &t.password {
        config.password(p.expose());
    }
    config.application_name("persistence_exporter verify");
    let budget = remaining(deadline);
    if budget.is_zero() {
        return Err(PgConnectError::NotReady("no answer in time".to_string()));
    }
    config.connect_timeout(budget);
    config.options(format!(
        "-c statement_timeout={}",
        budget.as_millis().max(1)
    ));
    let mode = t.ssl_mode.or(dsn_mode).unwrap_or(PgSslMode::Prefer);
    let (tls, ssl_mode) = crate::collectors::postgres::tls::connector(mode, t.ca_file.as_deref())
        .map_err(PgConnectError::Refused)?;
    config.ssl_mode(ssl_mode);
    match tokio::time::timeout_at(deadline, config.connect(tls)).await {
        Err(_) => Err(PgConnectError::NotReady("no answer in time".to_string())),
        Ok(Ok((client, connection))) => {
            tokio::spawn(async move {
                let _ = connection.await;
            });
            Ok(client)
        }
        Ok(Err(e)) => {
            let text = error_text(&e);
            match e.code() {
                // Starting up, shutting down, in recovery startup, too many connections.
                Some(c)
                    if *c == SqlState::CANNOT_CONNECT_NOW
                        || *c == SqlState::ADMIN_SHUTDOWN
                        || *c == SqlState::TOO_MANY_CONNECTIONS =>
                {
                    Err(PgConnectError::NotReady(text))
                }
                Some(_) => Err(PgConnectError::Refused(text)),
                None => Err(PgConnectError::NotReady(text)),
            }
        }
    }
}

async fn pg_probe(t: &PostgresTarget, deadline: Instant) -> Probe {
    let attempt = async {
        let client = match pg_client(t, deadline).await {
            Ok(c) => c,
            Err(PgConnectError::NotReady(e)) => return Probe::NotReady(e),
            Err(PgConnectError::Refused(e)) => return Probe::Refused(e),
        };
        match client
            .query_one("SELECT pg_postmaster_start_time()::text", &[])
            .await
        {
            Ok(row) => match row.try_get::<_, String>(0) {
                Ok(identity) => Probe::Ready { identity },
                Err(e) => Probe::NotReady(error_text(&e)),
            },
            Err(e) => Probe::NotReady(error_text(&e)),
        }
    };
    tokio::time::timeout_at(deadline, attempt)
        .await
        .unwrap_or_else(|_| Probe::NotReady("no answer in time".to_string()))
}

impl From<PgConnectError> for MarkerError {
    fn from(e: PgConnectError) -> MarkerError {
        match e {
            PgConnectError::NotReady(e) | PgConnectError::Refused(e) => MarkerError::NotReady(e),
        }
    }
}

async fn pg_write(
    t: &PostgresTarget,
    m: &Marker,
    deadline: Instant,
) -> Result<Written, MarkerError> {
    let attempt = async {
        let client = pg_client(t, deadline).await?;
        let row = client
            .query_one(
                &format!(
                    "SELECT pg_postmaster_start_time()::text, to_regclass('{PG_TABLE}') IS NULL"
                ),
                &[],
            )
            .await
            .map_err(MarkerError::Postgres)?;
        let identity: String = row.try_get(0).map_err(MarkerError::Postgres)?;
        let absent: bool = row.try_get(1).map_err(MarkerError::Postgres)?;
        if absent {
            client
                .batch_execute(&format!(
                    "CREATE TABLE IF NOT EXISTS {PG_TABLE} (marker text PRIMARY KEY, written_at timestamptz NOT NULL DEFAULT now())"
                ))
                .await
                .map_err(MarkerError::Postgres)?;
        }
        client
            .execute(
                &format!("INSERT INTO {PG_TABLE} (marker) VALUES ($1)"),
                &[&m.token],
            )
            .await
            .map_err(MarkerError::Postgres)?;
        Ok(Written {
            identity,
            created_table: absent,
        })
    };
    tokio::time::timeout_at(deadline, attempt)
        .await
        .unwrap_or(Err(MarkerError::Timeout))
}

async fn pg_read(t: &PostgresTarget, m: &Marker, deadline: Instant) -> Result<bool, MarkerError> {
    use tokio_postgres::error::SqlState;
    let attempt = async {
        let client = match pg_client(t, deadline).await {
            Ok(c) => c,
            // An empty data directory has no such database or role: no marker either.
            Err(PgConnectError::Refused(_)) => return Ok(false),
            Err(e @ PgConnectError::NotReady(_)) => return Err(e.into()),
        };
        match client
            .query_opt(
                &format!(
                    "SELECT left(marker, {MAX_MARKER_BYTES}) FROM {PG_TABLE} WHERE marker = $1"
                ),
                &[&m.token],
            )
            .await
        {
            Ok(row) => Ok(row.is_some()),
            Err(e) if e.code() == Some(&SqlState::UNDEFINED_TABLE) => Ok(false),
            Err(e) => Err(MarkerError::Postgres(e)),
        }
    };
    tokio::time::timeout_at(deadline, attempt)
        .await
        .unwrap_or(Err(MarkerError::Timeout))
}

async fn pg_remove(
    t: &PostgresTarget,
    m: &Marker,
    drop_table: bool,
    deadline: Instant,
) -> Result<(), MarkerError> {
    use tokio_postgres::error::SqlState;
    let attempt = async {
        let client = pg_client(t, deadline).await?;
        match client
            .execute(
                &format!("DELETE FROM {PG_TABLE} WHERE marker = $1"),
                &[&m.token],
            )
            .await
        {
            Ok(_) => {}
            Err(e) if e.code() == Some(&SqlState::UNDEFINED_TABLE) => return Ok(()),
            Err(e) => return Err(MarkerError::Postgres(e)),
        }
        if drop_table {
            // Only the table this run created, and only when nothing else is in it.
            let left: i64 = client
                .query_one(&format!("SELECT count(*) FROM {PG_TABLE}"), &[])
                .await
                .and_then(|r| r.try_get(0))
                .map_err(MarkerError::Postgres)?;
            if left == 0 {
                client
                    .batch_execute(&format!("DROP TABLE IF EXISTS {PG_TABLE}"))
                    .await
                    .map_err(MarkerError::Postgres)?;
            }
        }
        Ok(())
    };
    tokio::time::timeout_at(deadline, attempt)
        .await
        .unwrap_or(Err(MarkerError::Timeout))
}

// ---- both -----------------------------------------------------------------------------

/// Is the server up and done loading? One attempt, within the target's timeout.
pub async fn probe(server: Server<'_>) -> Probe {
    let deadline = Instant::now() + server.timeout();
    match server {
        Server::Redis(t) => redis_probe(t, deadline).await,
        Server::Postgres(t) => pg_probe(t, deadline).await,
    }
}

/// Writes the marker; returns the server start's identity.
pub async fn write(server: Server<'_>, m: &Marker) -> Result<Written, MarkerError> {
    let deadline = Instant::now() + server.timeout();
    match server {
        Server::Redis(t) => redis_write(t, m, deadline).await,
        Server::Postgres(t) => pg_write(t, m, deadline).await,
    }
}

/// Is the marker there? `Ok(false)` also when the server refuses our credentials or does
/// not know the database (what a server on an empty data directory answers).
pub async fn read(server: Server<'_>, m: &Marker) -> Result<bool, MarkerError> {
    let deadline = Instant::now() + server.timeout();
    match server {
        Server::Redis(t) => redis_read(t, m, deadline).await,
        Server::Postgres(t) => pg_read(t, m, deadline).await,
    }
}

/// Removes the marker (and the PostgreSQL table when `drop_table` and it is empty).
pub async fn remove(server: Server<'_>, m: &Marker, drop_table: bool) -> Result<(), MarkerError> {
    let deadline = Instant::now() + server.timeout();
    match server {
        Server::Redis(t) => redis_remove(t, m, deadline).await,
        Server::Postgres(t) => pg_remove(t, m, drop_table, deadline).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_random_and_hex() {
        let (a, b) = (Marker::random(), Marker::random());
        assert_ne!(a, b);
        assert_eq!(a.token.len(), 32);
        assert!(a.token.bytes().all(|c| c.is_ascii_hexdigit()));
        assert!(a.redis_key().starts_with("persistence_exporter:verify:"));
    }

    #[test]
    fn info_fields() {
        let info = "# Server\r\nrun_id:abc\r\n# Persistence\r\nloading:0\r\nasync_loading:1\r\n";
        assert_eq!(info_field(info, "run_id"), Some("abc"));
        assert_eq!(info_field(info, "loading"), Some("0"));
        assert_eq!(info_field(info, "missing"), None);
    }
}
