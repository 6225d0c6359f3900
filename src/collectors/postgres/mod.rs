//! PostgreSQL collector: one connection per target, kept between scrapes and re-established
//! after a failure (retried once in the same scrape when a kept connection turned out to be
//! broken). The whole connect (TCP, TLS, login) and every scrape run under the scrape
//! deadline. A scrape sends one JSON-returning statement (plus one for pg_stat_statements
//! when it is readable), prepared once per connection so the server plans them once, both
//! pipelined on the connection: one round trip whatever the number of databases and
//! settings. See [`sql`] for the statements and their version gates.
//!
//! Database sizes and the WAL directory size are refreshed in the background on their
//! own interval ([`sizes`]): `pg_database_size()` walks every file of the cluster.
//!
//! Slow statements are seen three ways: in flight (`pg_stat_activity`), counted exactly
//! from the server's log file ([`slowlog`], followed by a background task), and from
//! pg_stat_statements when installed.
//!
//! Works as a non-superuser member of `pg_monitor`; whatever the role cannot see is
//! reported in [`Privileges`] (and a log line), never as a silent zero.

mod collector;
pub mod connect;
pub mod identity;
mod parse;
pub mod settings;
mod sizes;
pub mod slowlog;
mod snapshot;
pub mod sql;
pub mod tls;

pub(crate) use collector::build_config;
pub use collector::{LOG_POLL_INTERVAL, PostgresCollector, STATEMENTS_RETRY, error_text};
pub use parse::{
    ConnectInfo, ParseError, parse_connect, parse_main, parse_sizes, parse_statements,
};
pub use snapshot::{
    Activity, Archiver, Checkpoints, InFlight, PostgresSnapshot, Privileges, STAT_DATABASE_COLUMNS,
    Setting, SettingMetric, StatDatabase, StatementStats, Statements, short_version,
};
