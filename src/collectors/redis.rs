//! Redis collector: one pipelined round trip per scrape (`INFO` plus an allow-listed
//! `CONFIG GET` per parameter) on a connection kept between scrapes. Never `CONFIG GET *`:
//! that would return `requirepass`. Whether authentication is required is probed with a
//! separate credential-less connection, at most once per [`AUTH_PROBE_INTERVAL`].

use super::CollectError;
use crate::config::RedisTarget;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, IntoConnectionInfo, Value};
use std::collections::BTreeMap;
use std::time::Duration;
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
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RedisInfo {
    /// `field → value` for every non-keyspace line.
    pub fields: BTreeMap<String, String>,
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
    /// Raw value of a field.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.fields.get(field).map(String::as_str)
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

/// Parses an `INFO` reply. Tolerant: unknown or malformed lines are skipped.
pub fn parse_info(text: &str) -> RedisInfo {
    let mut info = RedisInfo::default();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
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
                info.keyspace.push(KeyspaceDb { db, keys, expires });
            }
            continue;
        }
        info.fields.insert(key.to_string(), value.to_string());
    }
    info
}

/// Scrapes one Redis server, keeping its connection between scrapes.
pub struct RedisCollector {
    target: RedisTarget,
    client: Result<Client, String>,
    probe_client: Result<Client, String>,
    conn: Option<MultiplexedConnection>,
    auth: Option<(Instant, bool)>,
}

impl RedisCollector {
    /// Prepares the clients; no connection is made until the first scrape.
    pub fn new(target: RedisTarget) -> Self {
        let client = build_client(&target, true);
        let probe_client = build_client(&target, false);
        RedisCollector {
            target,
            client,
            probe_client,
            conn: None,
            auth: None,
        }
    }

    /// The target's name (the `target` label).
    pub fn name(&self) -> &str {
        &self.target.name
    }

    /// One scrape: the pipeline on the kept connection (reconnecting once if it broke), and
    /// the auth probe when due, concurrently, all before `deadline`.
    pub async fn collect(&mut self, deadline: Instant) -> Result<RedisSnapshot, CollectError> {
        let probe_due = self
            .auth
            .is_none_or(|(at, _)| at.elapsed() >= AUTH_PROBE_INTERVAL);
        let target = self.target.clone();
        let probe_client = self.probe_client.clone();
        let probe = async move {
            if probe_due {
                probe_auth(&target, probe_client.ok()?, deadline).await
            } else {
                None
            }
        };
        let (main, probed) = tokio::join!(self.query(deadline), probe);
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

    async fn query(&mut self, deadline: Instant) -> Result<(RedisInfo, ConfigState), CollectError> {
        let reused = self.conn.is_some();
        match self.query_once(deadline).await {
            Err(e) if reused && !matches!(e, CollectError::Timeout { .. }) => {
                // The kept connection broke (server restarted, idle timeout): one fresh try.
                tracing::debug!(target_name = %self.target.name, error = %e, "Reconnecting");
                self.query_once(deadline).await
            }
            other => other,
        }
    }

    async fn query_once(
        &mut self,
        deadline: Instant,
    ) -> Result<(RedisInfo, ConfigState), CollectError> {
        let name = self.target.name.clone();
        let timeout_err = || CollectError::Timeout {
            target: name.clone(),
            after: self.target.timeout,
        };
        let budget = remaining(deadline).min(self.target.timeout);
        if budget.is_zero() {
            return Err(timeout_err());
        }
        let mut conn = match self.conn.take() {
            Some(c) => c,
            None => {
                let client = self.client.clone().map_err(|cause| CollectError::Connect {
                    target: name.clone(),
                    cause,
                })?;
                let cfg = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(budget))
                    .set_response_timeout(Some(budget));
                match tokio::time::timeout_at(
                    deadline,
                    client.get_multiplexed_async_connection_with_config(&cfg),
                )
                .await
                {
                    Err(_) => return Err(timeout_err()),
                    Ok(Err(e)) => return Err(classify(&name, &e, true)),
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
                Ok(Err(e)) => return Err(classify(&name, &e, false)),
                Ok(Ok(r)) => r,
            };
        let mut replies = replies.into_iter();
        let info = match replies.next() {
            Some(Ok(v)) => parse_info(&value_text(&v).ok_or_else(|| CollectError::Protocol {
                target: name.clone(),
                cause: "INFO reply is not text".to_string(),
            })?),
            Some(Err(e)) => return Err(classify(&name, &e, false)),
            None => {
                return Err(CollectError::Protocol {
                    target: name,
                    cause: "empty pipeline reply".to_string(),
                });
            }
        };
        let config = config_from_replies(replies);
        self.conn = Some(conn);
        Ok((info, config))
    }
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
async fn probe_auth(target: &RedisTarget, client: Client, deadline: Instant) -> Option<bool> {
    let budget = remaining(deadline).min(target.timeout);
    if budget.is_zero() {
        return None;
    }
    let cfg = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(budget))
        .set_response_timeout(Some(budget));
    let attempt = async {
        let mut conn = match client
            .get_multiplexed_async_connection_with_config(&cfg)
            .await
        {
            Ok(c) => c,
            Err(e) => return is_auth_error(&e).then_some(true),
        };
        match redis::cmd("PING").query_async::<Value>(&mut conn).await {
            Ok(_) => Some(false),
            Err(e) => is_auth_error(&e).then_some(true),
        }
    };
    tokio::time::timeout_at(deadline, attempt)
        .await
        .ok()
        .flatten()
}

fn is_auth_error(e: &redis::RedisError) -> bool {
    if matches!(e.kind(), redis::ErrorKind::AuthenticationFailed) {
        return true;
    }
    let code = e.code().unwrap_or("");
    let text = e.to_string();
    code == "NOAUTH" || code == "WRONGPASS" || text.contains("NOAUTH") || text.contains("WRONGPASS")
}

/// Maps a client error to a [`CollectError`]; `connecting` says which phase failed.
fn classify(target: &str, e: &redis::RedisError, connecting: bool) -> CollectError {
    let cause = first_line(&e.to_string());
    let target = target.to_string();
    if is_auth_error(e) {
        CollectError::Auth { target, cause }
    } else if e.is_timeout() {
        CollectError::Timeout {
            target,
            after: Duration::ZERO,
        }
    } else if connecting
        || e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
    {
        CollectError::Connect { target, cause }
    } else {
        CollectError::Query { target, cause }
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").chars().take(300).collect()
}

fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
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

/// Builds a client for the target, with its password unless `with_credentials` is false
/// (the auth probe). Errors are plain text without secrets.
fn build_client(target: &RedisTarget, with_credentials: bool) -> Result<Client, String> {
    let mut info = target
        .url
        .as_str()
        .into_connection_info()
        .map_err(|e| format!("invalid address {}: {e}", target.url))?;
    let mut settings = info.redis_settings().clone();
    if with_credentials {
        if let Some(p) = &target.password {
            settings = settings.set_password(p.expose());
        }
    } else {
        settings = redis::RedisConnectionInfo::default()
            .set_db(settings.db())
            .set_skip_set_lib_name();
    }
    info = info.set_redis_settings(settings);
    if target.tls.insecure_skip_verify
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
    if target.tls.ca_file.is_some() || target.tls.cert_file.is_some() {
        let read = |p: &std::path::PathBuf| {
            std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
        };
        let root_cert = target.tls.ca_file.as_ref().map(read).transpose()?;
        let client_tls = match (&target.tls.cert_file, &target.tls.key_file) {
            (Some(c), Some(k)) => Some(redis::ClientTlsConfig {
                client_cert: read(c)?,
                client_key: read(k)?,
            }),
            _ => None,
        };
        return Client::build_with_tls(
            info,
            redis::TlsCertificates {
                client_tls,
                root_cert,
            },
        )
        .map_err(|e| format!("TLS setup for {}: {e}", target.url));
    }
    Client::open(info).map_err(|e| format!("invalid address {}: {e}", target.url))
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
