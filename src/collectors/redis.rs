//! Redis collector: one pipelined round trip per scrape (`INFO` plus an allow-listed
//! `CONFIG GET` per parameter) on a connection kept between scrapes. Never `CONFIG GET *`:
//! that would return `requirepass`. Whether authentication is required is probed with a
//! separate credential-less connection, at most once per [`AUTH_PROBE_INTERVAL`].
//!
//! Both connections are opened here rather than by the `redis` crate: they read through a
//! [`CappedStream`] (see [`super::capped`]), so a server answering `$999999999` costs at
//! most the cap, and they connect to the target's pinned address when it has one.

use super::capped::{CappedStream, DEFAULT_MAX_REPLY_BYTES, ReplyBudget};
use super::{Cause, CollectError};
use crate::config::{RedisTarget, RedisTls};
use crate::plain::{first_line, remaining};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ConnectionAddr, IntoConnectionInfo, Value};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// `CONFIG GET` parameters we read: what decides persistence and eviction, nothing secret.
/// One `CONFIG GET` per name, because Redis 6.2 accepts only one pattern per call.
pub const CONFIG_ALLOW_LIST: &[&str] = &[
    "maxmemory",
    "maxmemory-policy",
    "save",
    "appendonly",
    "appendfsync",
    "dir",
    "dbfilename",
    "appendfilename",
    "appenddirname",
    "databases",
];

/// How often the "is a password required" probe opens its extra connection.
pub const AUTH_PROBE_INTERVAL: Duration = Duration::from_secs(60);

/// Parsed `INFO` reply: every `field:value` line as given, plus the keyspace section.
/// Fields a server version lacks are simply absent.
///
/// The reply is kept as received, with an index of where each field's name and value
/// are (sorted by a hash of the name), rather than a map of owned strings: two
/// allocations per scrape instead of two per field, and integer comparisons to sort it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RedisInfo {
    /// The reply text.
    text: String,
    /// [`name_hash`] of each non-keyspace line's field and the byte ranges in `text` of
    /// its `(field, value)`, sorted by hash; a field given twice appears once, with its
    /// last value.
    fields: Vec<(u64, Range<usize>, Range<usize>)>,
    /// One entry per `dbN:` line of the keyspace section.
    pub keyspace: Vec<KeyspaceDb>,
}

/// One database of the `# Keyspace` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyspaceDb {
    /// Database index (`db0` → 0).
    pub db: u32,
    /// Number of keys.
    pub keys: u64,
    /// Number of keys with an expiry.
    pub expires: u64,
}

impl RedisInfo {
    /// Every field and its raw value, by field name.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields
            .iter()
            .filter_map(|(_, k, v)| Some((self.text.get(k.clone())?, self.text.get(v.clone())?)))
    }

    /// Raw value of a field.
    pub fn get(&self, field: &str) -> Option<&str> {
        let h = name_hash(field);
        let first = self.fields.partition_point(|(k, _, _)| *k < h);
        self.fields
            .get(first..)?
            .iter()
            .take_while(|(k, _, _)| *k == h)
            .find(|(_, k, _)| self.text.get(k.clone()) == Some(field))
            .and_then(|(_, _, v)| self.text.get(v.clone()))
    }

    /// Numeric value of a field; absent or unparsable gives `None`, never 0.
    pub fn num(&self, field: &str) -> Option<f64> {
        self.get(field)?
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
    }

    /// `ok` → 1, anything else (`err`) → 0, absent → `None`.
    pub fn status(&self, field: &str) -> Option<f64> {
        self.get(field).map(|v| if v == "ok" { 1.0 } else { 0.0 })
    }
}

/// Result of reading the allow-listed configuration.
#[derive(Clone, Debug, PartialEq)]
pub enum ConfigState {
    /// `CONFIG GET` worked; parameters the server does not know are absent.
    Readable(BTreeMap<String, String>),
    /// `CONFIG` was refused (ACL `NOPERM`, renamed or disabled command); the server's
    /// error is kept so the landing page and checks can say what is missing.
    Refused(String),
}

/// Everything one scrape learned about a Redis server.
#[derive(Clone, Debug, PartialEq)]
pub struct RedisSnapshot {
    /// The `INFO` reply.
    pub info: RedisInfo,
    /// The allow-listed configuration.
    pub config: ConfigState,
    /// `Some(true)` when a connection without credentials is refused; `None` when the
    /// probe could not tell (for instance, it timed out).
    pub auth_required: Option<bool>,
}

/// FNV-1a of a field name: the order of the [`RedisInfo`] index.
fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Parses an `INFO` reply. Tolerant: unknown or malformed lines are skipped.
pub fn parse_info(text: impl Into<String>) -> RedisInfo {
    let text: String = text.into();
    let mut fields = Vec::with_capacity(256);
    let mut keyspace = Vec::new();
    let mut start = 0;
    for raw in text.split_inclusive('\n') {
        let line_start = start;
        start += raw.len();
        let line = raw.trim_end_matches(['\n', '\r']);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        if let Some(db) = key.strip_prefix("db").and_then(|n| n.parse::<u32>().ok()) {
            let mut keys = None;
            let mut expires = 0;
            for kv in value.split(',') {
                match kv.split_once('=') {
                    Some(("keys", v)) => keys = v.parse().ok(),
                    Some(("expires", v)) => expires = v.parse().unwrap_or(0),
                    _ => {}
                }
            }
            if let Some(keys) = keys {
                keyspace.push(KeyspaceDb { db, keys, expires });
            }
            continue;
        }
        let value_start = line_start + key.len() + 1;
        fields.push((
            name_hash(key),
            line_start..line_start + key.len(),
            value_start..value_start + value.len(),
        ));
    }
    // By hash, and for a name given twice the later line first: dedup keeps that one.
    fields.sort_unstable_by(|(ha, a, _), (hb, b, _)| ha.cmp(hb).then(b.start.cmp(&a.start)));
    let name = |r: &Range<usize>| text.get(r.clone()).unwrap_or_default();
    fields.dedup_by(|(ha, a, _), (hb, b, _)| ha == hb && name(a) == name(b));
    RedisInfo {
        text,
        fields,
        keyspace,
    }
}

/// Scrapes one Redis server, keeping its connection between scrapes.
pub struct RedisCollector {
    target: RedisTarget,
    connector: Result<Connector, String>,
    conn: Option<MultiplexedConnection>,
    /// What the kept connection may read per scrape.
    budget: ReplyBudget,
    max_reply_bytes: u64,
    auth: Option<(Instant, bool)>,
}

impl RedisCollector {
    /// Prepares the connection settings; no connection is made until the first scrape.
    /// Replies are capped at [`DEFAULT_MAX_REPLY_BYTES`] per scrape unless
    /// [`with_max_reply_bytes`](Self::with_max_reply_bytes) says otherwise.
    pub fn new(target: RedisTarget) -> Self {
        let connector = Connector::new(&target);
        RedisCollector {
            target,
            connector,
            conn: None,
            budget: ReplyBudget::new(DEFAULT_MAX_REPLY_BYTES),
            max_reply_bytes: DEFAULT_MAX_REPLY_BYTES,
            auth: None,
        }
    }

    /// Sets the cap on the bytes one scrape may read from the server.
    pub fn with_max_reply_bytes(mut self, cap: u64) -> Self {
        self.max_reply_bytes = cap;
        self.budget = ReplyBudget::new(cap);
        self.conn = None;
        self
    }

    /// The target's name (the `target` label).
    pub fn name(&self) -> &str {
        &self.target.name
    }

    /// One scrape: the pipeline on the kept connection (reconnecting once if it broke), and
    /// the auth probe when due, concurrently, all before `deadline` and within the target's
    /// timeout.
    pub async fn collect(&mut self, deadline: Instant) -> Result<RedisSnapshot, CollectError> {
        let deadline = deadline.min(Instant::now() + self.target.timeout);
        // The budget a timeout message states: the target's timeout, or less when the
        // scrape deadline is nearer.
        let after = super::stated_budget(deadline);
        let probe_due = self
            .auth
            .is_none_or(|(at, _)| at.elapsed() >= AUTH_PROBE_INTERVAL);
        let connector = self.connector.as_ref().ok().filter(|_| probe_due);
        let probe_budget = ReplyBudget::new(self.max_reply_bytes);
        let pinned = self.target.pinned_addr;
        let probe = async move {
            match connector {
                Some(c) => probe_auth(c, pinned, probe_budget, deadline).await,
                None => None,
            }
        };
        let (main, probed) = tokio::join!(
            query(
                &self.target,
                &self.connector,
                &mut self.conn,
                &self.budget,
                deadline,
                after
            ),
            probe
        );
        if let Some(required) = probed {
            self.auth = Some((Instant::now(), required));
        }
        let (info, config) = main?;
        Ok(RedisSnapshot {
            info,
            config,
            auth_required: self.auth.map(|(_, r)| r),
        })
    }
}

/// The pipeline on the kept connection, with one fresh try when a kept connection broke.
async fn query(
    target: &RedisTarget,
    connector: &Result<Connector, String>,
    conn: &mut Option<MultiplexedConnection>,
    budget: &ReplyBudget,
    deadline: Instant,
    after: Duration,
) -> Result<(RedisInfo, ConfigState), CollectError> {
    let reused = conn.is_some();
    match query_once(target, connector, conn, budget, deadline, after).await {
        Err(e) if reused && e.worth_a_fresh_connection() => {
            // The kept connection broke (server restarted, idle timeout): one fresh try.
            tracing::debug!(target_name = %target.name, error = %e, "Reconnecting");
            query_once(target, connector, conn, budget, deadline, after).await
        }
        other => other,
    }
}

async fn query_once(
    target: &RedisTarget,
    connector: &Result<Connector, String>,
    slot: &mut Option<MultiplexedConnection>,
    budget: &ReplyBudget,
    deadline: Instant,
    after: Duration,
) -> Result<(RedisInfo, ConfigState), CollectError> {
    let name = target.name.clone();
    let timeout_err = || CollectError::Timeout {
        target: name.clone(),
        after,
    };
    if remaining(deadline).is_zero() {
        return Err(timeout_err());
    }
    budget.reset();
    let err = |e: redis::RedisError, connecting: bool| {
        if budget.exceeded() {
            CollectError::Protocol {
                target: name.clone(),
                cause: budget.cause().into(),
            }
        } else {
            classify(&name, e, connecting, after)
        }
    };
    let mut conn = match slot.take() {
        Some(c) => c,
        None => {
            let connector = connector.as_ref().map_err(|cause| CollectError::Connect {
                target: name.clone(),
                cause: cause.clone().into(),
            })?;
            match tokio::time::timeout_at(
                deadline,
                connector.open(
                    true,
                    target.pinned_addr,
                    budget.clone(),
                    remaining(deadline),
                ),
            )
            .await
            {
                Err(_) => return Err(timeout_err()),
                Ok(Err(e)) => return Err(err(e, true)),
                Ok(Ok(c)) => c,
            }
        }
    };
    let mut pipe = redis::pipe();
    pipe.ignore_errors();
    pipe.cmd("INFO");
    for key in CONFIG_ALLOW_LIST {
        pipe.cmd("CONFIG").arg("GET").arg(*key);
    }
    let replies: Vec<redis::RedisResult<Value>> =
        match tokio::time::timeout_at(deadline, pipe.query_async(&mut conn)).await {
            Err(_) => return Err(timeout_err()),
            Ok(Err(e)) => return Err(err(e, false)),
            Ok(Ok(r)) => r,
        };
    let mut replies = replies.into_iter();
    let info = match replies.next() {
        Some(Ok(v)) => parse_info(value_text(&v).ok_or_else(|| CollectError::Protocol {
            target: name.clone(),
            cause: "INFO reply is not text".into(),
        })?),
        Some(Err(e)) => return Err(err(e, false)),
        None => {
            return Err(CollectError::Protocol {
                target: name,
                cause: "empty pipeline reply".into(),
            });
        }
    };
    let config = config_from_replies(replies);
    *slot = Some(conn);
    Ok((info, config))
}

/// Folds the `CONFIG GET` replies into a [`ConfigState`]: the first refusal wins.
fn config_from_replies(replies: impl Iterator<Item = redis::RedisResult<Value>>) -> ConfigState {
    let mut map = BTreeMap::new();
    for reply in replies {
        match reply {
            Ok(v) => {
                for (k, v) in value_pairs(&v) {
                    map.insert(k, v);
                }
            }
            Err(e) => return ConfigState::Refused(first_line(&e.to_string())),
        }
    }
    ConfigState::Readable(map)
}

/// Opens a connection without credentials and sends `PING`: `NOAUTH` means a password is
/// required. The password is never involved, so it cannot leak from here.
async fn probe_auth(
    connector: &Connector,
    pinned: Option<SocketAddr>,
    budget: ReplyBudget,
    deadline: Instant,
) -> Option<bool> {
    let left = remaining(deadline);
    if left.is_zero() {
        return None;
    }
    let attempt = async {
        let mut conn = match connector.open(false, pinned, budget.clone(), left).await {
            Ok(c) => c,
            Err(e) => return is_auth_error(&e).then_some(true),
        };
        match redis::cmd("PING").query_async::<Value>(&mut conn).await {
            Ok(_) => Some(false),
            Err(e) => is_auth_error(&e).then_some(true),
        }
    };
    let r = tokio::time::timeout_at(deadline, attempt)
        .await
        .ok()
        .flatten();
    // A reply over the cap proves nothing about authentication.
    r.filter(|_| !budget.exceeded())
}

fn is_auth_error(e: &redis::RedisError) -> bool {
    if matches!(e.kind(), redis::ErrorKind::AuthenticationFailed) {
        return true;
    }
    let code = e.code().unwrap_or("");
    let text = e.to_string();
    code == "NOAUTH" || code == "WRONGPASS" || text.contains("NOAUTH") || text.contains("WRONGPASS")
}

/// Maps a client error to a [`CollectError`]; `connecting` says which phase failed, `after`
/// is the time budget the attempt had.
fn classify(target: &str, e: redis::RedisError, connecting: bool, after: Duration) -> CollectError {
    let text = first_line(&e.to_string());
    let target = target.to_string();
    let auth = is_auth_error(&e);
    let timeout = e.is_timeout();
    let connection =
        connecting || e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal();
    let cause = || Cause::described(text, e);
    if auth {
        CollectError::Auth {
            target,
            cause: cause(),
        }
    } else if timeout {
        CollectError::Timeout { target, after }
    } else if connection {
        CollectError::Connect {
            target,
            cause: cause(),
        }
    } else {
        CollectError::Query {
            target,
            cause: cause(),
        }
    }
}

/// Text of a bulk/simple/verbatim string reply.
fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        _ => None,
    }
}

/// `CONFIG GET` answers a flat array (RESP2) or a map (RESP3) of name/value pairs.
fn value_pairs(v: &Value) -> Vec<(String, String)> {
    match v {
        Value::Array(items) => items
            .chunks(2)
            .filter_map(|c| match c {
                [k, v] => Some((value_text(k)?, value_text(v)?)),
                _ => None,
            })
            .collect(),
        Value::Map(items) => items
            .iter()
            .filter_map(|(k, v)| Some((value_text(k)?, value_text(v)?)))
            .collect(),
        _ => Vec::new(),
    }
}

/// How to reach the server: address, TLS, and the session settings with and without
/// credentials. The connection itself is opened here (not by the `redis` crate) so that it
/// reads through a [`CappedStream`] and can honour a pinned address.
pub(crate) struct Connector {
    addr: ConnectionAddr,
    /// TLS connector and server name (SNI and verification) for `rediss://`.
    tls: Option<(tokio_rustls::TlsConnector, ServerName<'static>)>,
    /// Session settings with the password.
    settings: redis::RedisConnectionInfo,
    /// Session settings of the auth probe: same database, no credentials.
    probe_settings: redis::RedisConnectionInfo,
}

impl Connector {
    /// Parses the URL and loads the TLS files. Errors are plain text without secrets.
    pub(crate) fn new(target: &RedisTarget) -> Result<Connector, String> {
        let info = target
            .url
            .as_str()
            .into_connection_info()
            .map_err(|e| format!("invalid address {}: {e}", target.url))?;
        let mut settings = info.redis_settings().clone();
        if let Some(p) = &target.password {
            settings = settings.set_password(p.expose());
        }
        let probe_settings = redis::RedisConnectionInfo::default()
            .set_db(settings.db())
            .set_skip_set_lib_name();
        let addr = info.addr().clone();
        let tls = match &addr {
            ConnectionAddr::TcpTls { host, .. } => {
                let name = ServerName::try_from(host.clone())
                    .map_err(|e| format!("TLS server name {host:?}: {e}"))?;
                let config = tls_config(&target.tls)?;
                Some((tokio_rustls::TlsConnector::from(Arc::new(config)), name))
            }
            _ => None,
        };
        Ok(Connector {
            addr,
            tls,
            settings,
            probe_settings,
        })
    }

    /// Connects (to `pinned` when set, never resolving the host then), wraps the socket in
    /// the byte budget, does TLS over it and the Redis handshake (`HELLO`/`AUTH`/`SELECT`).
    pub(crate) async fn open(
        &self,
        with_credentials: bool,
        pinned: Option<SocketAddr>,
        budget: ReplyBudget,
        timeout: Duration,
    ) -> redis::RedisResult<MultiplexedConnection> {
        let settings = if with_credentials {
            &self.settings
        } else {
            &self.probe_settings
        };
        let cfg = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout));
        let tcp = match (&self.addr, pinned) {
            (_, Some(addr)) => TcpStream::connect(addr).await?,
            (ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. }, None) => {
                TcpStream::connect((host.as_str(), *port)).await?
            }
            (ConnectionAddr::Unix(path), None) => {
                let unix = tokio::net::UnixStream::connect(path).await?;
                return start(settings, CappedStream::new(unix, budget), cfg).await;
            }
            (_, None) => {
                return Err(redis::RedisError::from((
                    redis::ErrorKind::InvalidClientConfig,
                    "unsupported address",
                )));
            }
        };
        let _ = tcp.set_nodelay(true);
        let capped = CappedStream::new(tcp, budget);
        match &self.tls {
            Some((connector, name)) => {
                let stream = connector.connect(name.clone(), capped).await?;
                start(settings, stream, cfg).await
            }
            None => start(settings, capped, cfg).await,
        }
    }
}

/// Runs the Redis handshake over `stream` and spawns the connection's driver (it ends when
/// the connection is dropped).
async fn start<S>(
    settings: &redis::RedisConnectionInfo,
    stream: S,
    cfg: AsyncConnectionConfig,
) -> redis::RedisResult<MultiplexedConnection>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (conn, driver) = MultiplexedConnection::new_with_config(settings, stream, cfg).await?;
    tokio::spawn(driver);
    Ok(conn)
}

/// rustls settings for `rediss://`: the CA file or the web PKI roots, the client
/// certificate for mutual TLS, or no verification at all with `insecure_skip_verify`.
fn tls_config(t: &RedisTls) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?;
    let builder = if t.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(super::postgres::tls::no_verification(provider))
    } else {
        let roots = match &t.ca_file {
            Some(p) => super::postgres::tls::load_roots(p)?,
            None => rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            },
        };
        builder.with_root_certificates(roots)
    };
    match (&t.cert_file, &t.key_file) {
        (Some(c), Some(k)) => {
            let certs = CertificateDer::pem_file_iter(c)
                .and_then(|i| i.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("client certificate {}: {e}", c.display()))?;
            let key = PrivateKeyDer::from_pem_file(k)
                .map_err(|e| format!("client key {}: {e}", k.display()))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| format!("client certificate {}: {e}", c.display()))
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO_70: &str = "# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\nuptime_in_seconds:174\r\n\r\n# Memory\r\nused_memory:4159720\r\nmaxmemory:536870912\r\nmaxmemory_policy:allkeys-lru\r\n# Persistence\r\naof_enabled:1\r\naof_last_write_status:ok\r\nrdb_last_bgsave_status:err\r\n\r\n# Keyspace\r\ndb0:keys=8572,expires=3,avg_ttl=0\r\ndb2:keys=1,expires=0,avg_ttl=0\r\n";

    #[test]
    fn parses_info_sections_and_keyspace() {
        let i = parse_info(INFO_70);
        assert_eq!(i.get("redis_version"), Some("7.0.15"));
        assert_eq!(i.num("maxmemory"), Some(536870912.0));
        assert_eq!(i.status("aof_last_write_status"), Some(1.0));
        assert_eq!(i.status("rdb_last_bgsave_status"), Some(0.0));
        assert_eq!(i.num("aof_current_size"), None);
        assert_eq!(
            i.keyspace,
            vec![
                KeyspaceDb {
                    db: 0,
                    keys: 8572,
                    expires: 3
                },
                KeyspaceDb {
                    db: 2,
                    keys: 1,
                    expires: 0
                }
            ]
        );
    }

    #[test]
    fn info_fields_are_found_by_name_and_the_last_duplicate_wins() {
        let i =
            parse_info("# Server\r\nb:2\r\na:1\r\nc:x:y\r\nb:3\r\ndb0:keys=5,expires=1\r\nlast:9");
        assert_eq!(i.get("a"), Some("1"));
        assert_eq!(i.get("b"), Some("3"));
        assert_eq!(i.get("c"), Some("x:y"));
        assert_eq!(i.get("last"), Some("9"));
        assert_eq!(i.get("d"), None);
        assert_eq!(i.get("db0"), None);
        assert_eq!(i.keyspace.len(), 1);
    }

    #[test]
    fn malformed_info_is_tolerated() {
        let i = parse_info("garbage\nused_memory:notanumber\ndbx:keys=1\ndb1:keys=oops\n:\n");
        assert_eq!(i.num("used_memory"), None);
        assert!(i.keyspace.is_empty());
    }

    #[test]
    fn config_replies_fold_and_refusal_is_kept() {
        let pair = |k: &str, v: &str| {
            Ok(Value::Array(vec![
                Value::BulkString(k.as_bytes().to_vec()),
                Value::BulkString(v.as_bytes().to_vec()),
            ]))
        };
        let ok = config_from_replies(
            vec![
                pair("save", "60 1000"),
                Ok(Value::Array(vec![])),
                pair("appendonly", "yes"),
            ]
            .into_iter(),
        );
        let ConfigState::Readable(m) = ok else {
            panic!("expected readable")
        };
        assert_eq!(m.get("save").map(String::as_str), Some("60 1000"));
        assert_eq!(m.len(), 2);
        let refused = config_from_replies(
            vec![
                pair("save", ""),
                Err(redis::RedisError::from((
                    redis::ErrorKind::Io,
                    "NOPERM this user has no permissions",
                ))),
            ]
            .into_iter(),
        );
        assert!(matches!(refused, ConfigState::Refused(ref s) if s.contains("NOPERM")));
    }
}
