//! Collectors: the only code that talks to the monitored systems. Each one keeps its
//! connection between scrapes, runs one round of requests per scrape, and returns a plain
//! typed snapshot (or a [`CollectError`]); nothing here knows about Prometheus.

pub mod address;
pub mod capped;
pub mod docker;
pub mod postgres;
pub mod redis;

use std::time::Duration;

/// The time budget left before `deadline`, rounded to 10 ms: what a timeout message
/// states (`2.5s`, not `2.4999876s`).
pub(crate) fn stated_budget(deadline: tokio::time::Instant) -> Duration {
    let ms = deadline
        .saturating_duration_since(tokio::time::Instant::now())
        .as_millis();
    let rounded = (ms + 5) / 10 * 10;
    Duration::from_millis(u64::try_from(rounded).unwrap_or(u64::MAX))
}

pub(crate) use crate::plain::lock;

/// Which system a target is; also the `collector` label of the self-metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// A Redis (or Valkey) server.
    Redis,
    /// A PostgreSQL server.
    Postgres,
    /// A Docker Engine.
    Docker,
}

impl Kind {
    /// The `collector` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Redis => "redis",
            Kind::Postgres => "postgres",
            Kind::Docker => "docker",
        }
    }
}

/// The boxed error type a [`Cause`] holds.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong underneath a [`CollectError`]: a client library's error (kept as the
/// `source()`), or a message of ours. Its `Display` is the one-line text the status page
/// and the logs show. Shared, so collection results stay `Clone`.
#[derive(Clone, Debug)]
pub struct Cause(std::sync::Arc<dyn std::error::Error + Send + Sync + 'static>);

/// A message with the error it describes: `Display` is the message, `source()` the error.
#[derive(Debug, thiserror::Error)]
#[error("{text}")]
struct Described {
    text: String,
    #[source]
    source: BoxError,
}

/// A message of ours, without an underlying error.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Message(String);

impl Cause {
    /// An error, shown as it displays itself.
    pub fn new(e: impl std::error::Error + Send + Sync + 'static) -> Cause {
        Cause(std::sync::Arc::new(e))
    }

    /// `source`, shown as `text` (a sanitised or shortened rendering of it).
    pub fn described(text: impl Into<String>, source: impl Into<BoxError>) -> Cause {
        Cause(std::sync::Arc::new(Described {
            text: text.into(),
            source: source.into(),
        }))
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Cause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl From<String> for Cause {
    fn from(text: String) -> Cause {
        Cause(std::sync::Arc::new(Message(text)))
    }
}

impl From<docker::api::ApiError> for Cause {
    fn from(e: docker::api::ApiError) -> Cause {
        Cause::new(e)
    }
}

impl From<&str> for Cause {
    fn from(text: &str) -> Cause {
        Cause::from(text.to_string())
    }
}

/// Why a collection failed. Carries the (sanitised) target name and the cause; never a
/// password, since neither the names nor the client libraries' errors contain one.
#[derive(Clone, Debug, thiserror::Error)]
pub enum CollectError {
    /// The scrape deadline passed before the target answered.
    #[error("target {target}: no answer within {}", crate::duration::format(*.after))]
    Timeout {
        /// Target name.
        target: String,
        /// Time budget that ran out.
        after: Duration,
    },
    /// The TCP/TLS connection could not be established.
    #[error("target {target}: cannot connect: {cause}")]
    Connect {
        /// Target name.
        target: String,
        /// Error from the client library.
        #[source]
        cause: Cause,
    },
    /// The server refused our credentials.
    #[error("target {target}: authentication failed: {cause}")]
    Auth {
        /// Target name.
        target: String,
        /// Error from the server.
        #[source]
        cause: Cause,
    },
    /// The server answered something we could not use.
    #[error("target {target}: unexpected reply: {cause}")]
    Protocol {
        /// Target name.
        target: String,
        /// What was wrong.
        #[source]
        cause: Cause,
    },
    /// A query failed on the server side.
    #[error("target {target}: query failed: {cause}")]
    Query {
        /// Target name.
        target: String,
        /// Error from the server.
        #[source]
        cause: Cause,
    },
}

impl CollectError {
    /// `reason` of [`CollectError::Timeout`].
    pub const TIMEOUT: &'static str = "timeout";
    /// `reason` of [`CollectError::Connect`].
    pub const CONNECT: &'static str = "connect";
    /// `reason` of [`CollectError::Auth`].
    pub const AUTH: &'static str = "auth";
    /// `reason` of [`CollectError::Protocol`].
    pub const PROTOCOL: &'static str = "protocol";
    /// `reason` of [`CollectError::Query`].
    pub const QUERY: &'static str = "query";
    /// Every `reason` label value, in the order their zero series are exported.
    pub const REASONS: [&'static str; 5] = [
        Self::TIMEOUT,
        Self::CONNECT,
        Self::AUTH,
        Self::PROTOCOL,
        Self::QUERY,
    ];

    /// Whether a kept connection that failed this way is worth one fresh try in the same
    /// scrape (it broke: server restarted, idle timeout); not after a timeout, which
    /// spent the budget, nor a protocol error, which a new connection would repeat.
    pub fn worth_a_fresh_connection(&self) -> bool {
        !matches!(
            self,
            CollectError::Timeout { .. } | CollectError::Protocol { .. }
        )
    }

    /// The `reason` label of `persistence_exporter_scrape_errors_total` (one of
    /// [`CollectError::REASONS`]).
    pub fn reason(&self) -> &'static str {
        match self {
            CollectError::Timeout { .. } => Self::TIMEOUT,
            CollectError::Connect { .. } => Self::CONNECT,
            CollectError::Auth { .. } => Self::AUTH,
            CollectError::Protocol { .. } => Self::PROTOCOL,
            CollectError::Query { .. } => Self::QUERY,
        }
    }
}

/// What one collection produced.
#[derive(Clone, Debug)]
pub enum Snapshot {
    /// A Redis server's state.
    Redis(redis::RedisSnapshot),
    /// A PostgreSQL server's state.
    Postgres(Box<postgres::PostgresSnapshot>),
    /// A Docker Engine's state.
    Docker(docker::DockerSnapshot),
}

/// A collector of any kind, dispatched by enum so the scrape loop stays generic.
pub enum Collector {
    /// See [`redis::RedisCollector`].
    Redis(redis::RedisCollector),
    /// See [`postgres::PostgresCollector`].
    Postgres(postgres::PostgresCollector),
    /// See [`docker::DockerCollector`].
    Docker(docker::DockerCollector),
}

impl Collector {
    /// The kind of system this collector scrapes.
    pub fn kind(&self) -> Kind {
        match self {
            Collector::Redis(_) => Kind::Redis,
            Collector::Postgres(_) => Kind::Postgres,
            Collector::Docker(_) => Kind::Docker,
        }
    }

    /// The `target` label value.
    pub fn name(&self) -> &str {
        match self {
            Collector::Redis(c) => c.name(),
            Collector::Postgres(c) => c.name(),
            Collector::Docker(c) => c.name(),
        }
    }

    /// One collection, finished (successfully or not) before `deadline`.
    pub async fn collect(
        &mut self,
        deadline: tokio::time::Instant,
    ) -> Result<Snapshot, CollectError> {
        match self {
            Collector::Redis(c) => c.collect(deadline).await.map(Snapshot::Redis),
            Collector::Postgres(c) => c
                .collect(deadline)
                .await
                .map(|s| Snapshot::Postgres(Box::new(s))),
            Collector::Docker(c) => c.collect(deadline).await.map(Snapshot::Docker),
        }
    }
}

/// Builds one collector per configured target.
pub fn build(settings: &crate::config::Settings) -> Vec<Collector> {
    let mut out = Vec::new();
    for t in &settings.redis {
        out.push(Collector::Redis(
            redis::RedisCollector::new(t.clone()).with_max_reply_bytes(settings.max_reply_bytes),
        ));
    }
    for t in &settings.postgres {
        out.push(Collector::Postgres(
            postgres::PostgresCollector::new(t.clone())
                .with_max_reply_bytes(settings.max_reply_bytes),
        ));
    }
    if let Some(d) = &settings.docker {
        out.push(Collector::Docker(docker::DockerCollector::new(
            d.clone(),
            docker::monitored_targets(settings),
        )));
    }
    out
}
