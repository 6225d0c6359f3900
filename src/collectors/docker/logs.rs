//! Following a containerised PostgreSQL's log stream through the Engine API as a second
//! source of slow statements (`pg_slow_queries_total`), for servers that log to stderr.
//!
//! `GET /containers/{id}/logs?follow=1&timestamps=1&since=…` streams the container's
//! output; every line carries the Engine's nanosecond timestamp. The follower keeps a
//! cursor (last timestamp, and how many lines it has taken at that timestamp), so after a
//! reconnect (container restarted, Engine restarted, connection lost) it asks again from
//! the cursor and skips exactly what it has already counted: no line is counted twice,
//! none between the two connections is lost. Like the file follower, it counts only what
//! is logged after the exporter started.
//!
//! Records are parsed by the same functions as the log-file source
//! ([`slowlog::split_records`], [`slowlog::parse_record`]).

use super::api::{self, ApiVersion};
use super::engine::{Engine, encode_segment};
use crate::collectors::postgres::slowlog::{self, PrefixTemplate, SlowLogSnapshot};
use crate::plain::lock;
use http_body_util::BodyExt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// Wait before reconnecting after the stream ended (container stopped) or failed.
pub const RECONNECT_MIN: Duration = Duration::from_secs(1);
/// Longest wait between reconnection attempts.
pub const RECONNECT_MAX: Duration = Duration::from_secs(30);
/// Bound on a line without its newline (a runaway line is cut there).
const MAX_LINE: usize = 1 << 20;

/// Splits Docker's multiplexed stdout/stderr stream (8-byte frame headers) back into
/// bytes; a TTY container's stream is raw and passes through.
#[derive(Debug, Default)]
pub struct Demux {
    tty: bool,
    buf: Vec<u8>,
}

impl Demux {
    /// A demultiplexer for a container with (`tty`) or without a TTY.
    pub fn new(tty: bool) -> Self {
        Demux {
            tty,
            buf: Vec::new(),
        }
    }

    /// Feeds stream bytes; returns the payload bytes of every complete frame.
    pub fn push(&mut self, data: &[u8]) -> Vec<u8> {
        if self.tty {
            return data.to_vec();
        }
        self.buf.extend_from_slice(data);
        let mut out = Vec::new();
        let mut at = 0;
        // A frame: stream byte, 3 zero bytes, the payload length (u32 big endian), payload.
        while let Some([_, _, _, _, l0, l1, l2, l3]) =
            self.buf.get(at..).and_then(|r| r.first_chunk::<8>())
        {
            let len = u32::from_be_bytes([*l0, *l1, *l2, *l3]) as usize;
            let Some(payload) = self.buf.get(at + 8..).and_then(|r| r.get(..len)) else {
                break;
            };
            out.extend_from_slice(payload);
            at += 8 + len;
        }
        self.buf.drain(..at);
        out
    }
}

/// Where the follower is in the stream: the newest timestamp taken and how many lines
/// with exactly that timestamp were taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    /// Nanoseconds since the epoch.
    pub ts: i128,
    /// Lines taken at `ts`.
    pub at_ts: usize,
}

impl Cursor {
    /// The `since` parameter for a (re)connection: the Engine resends lines at `ts`.
    pub fn since_param(&self) -> String {
        let ts = self.ts.max(0);
        format!("{}.{:09}", ts / 1_000_000_000, ts % 1_000_000_000)
    }
}

/// Takes timestamped lines of one connection, skipping what an earlier connection took.
#[derive(Debug)]
pub struct Dedup {
    cursor: Cursor,
    skip_at_ts: usize,
    partial: Vec<u8>,
}

impl Dedup {
    /// Starts a connection opened with `since = cursor.ts`.
    pub fn new(cursor: Cursor) -> Self {
        Dedup {
            cursor,
            skip_at_ts: cursor.at_ts,
            partial: Vec::new(),
        }
    }

    /// The cursor after the lines taken so far.
    pub fn cursor(&self) -> Cursor {
        self.cursor
    }

    /// Feeds demultiplexed bytes; returns the text of each new complete line (without
    /// its timestamp).
    pub fn push(&mut self, data: &[u8]) -> Vec<String> {
        let mut buf = std::mem::take(&mut self.partial);
        buf.extend_from_slice(data);
        let mut out = Vec::new();
        let mut start = 0;
        while let Some(line) = buf.get(start..).and_then(|rest| {
            rest.split(|&b| b == b'\n')
                .next()
                .filter(|l| l.len() < rest.len())
        }) {
            start += line.len() + 1;
            if let Some(text) = self.take(line) {
                out.push(text);
            }
        }
        buf.drain(..start);
        self.partial = buf;
        if self.partial.len() > MAX_LINE {
            let line = std::mem::take(&mut self.partial);
            if let Some(text) = self.take(&line) {
                out.push(text);
            }
        }
        out
    }

    fn take(&mut self, line: &[u8]) -> Option<String> {
        let line = String::from_utf8_lossy(line);
        let (ts, text) = line.split_once(' ').unwrap_or((&line, ""));
        let ts = api::parse_rfc3339_nanos(ts)?;
        if ts < self.cursor.ts {
            return None;
        }
        if ts == self.cursor.ts {
            if self.skip_at_ts > 0 {
                self.skip_at_ts -= 1;
                return None;
            }
            self.cursor.at_ts += 1;
        } else {
            self.cursor = Cursor { ts, at_ts: 1 };
            self.skip_at_ts = 0;
        }
        Some(text.trim_end_matches('\r').to_string())
    }
}

/// The `log_line_prefix` given on the server's command line (`-c log_line_prefix=…` or
/// `--log_line_prefix=…`), which tells where `%d` is in stderr lines. Without it, lines are
/// attributed to a database only through a `db=`/`database=` field (as the file source
/// does before it knows the prefix).
pub fn prefix_from_argv(argv: &[String]) -> Option<String> {
    let mut it = argv.iter();
    while let Some(a) = it.next() {
        let setting = if a == "-c" {
            it.next().map(String::as_str)
        } else {
            a.strip_prefix("-c")
                .or_else(|| a.strip_prefix("--"))
                .filter(|s| s.contains('='))
        };
        if let Some(v) = setting.and_then(|s| s.strip_prefix("log_line_prefix=")) {
            return Some(v.to_string());
        }
    }
    None
}

/// What the follow task needs and produces, shared with the collector.
#[derive(Debug)]
struct Shared {
    container: String,
    tty: bool,
    api: ApiVersion,
    prefix: Option<PrefixTemplate>,
    stats: SlowLogSnapshot,
    pending: Vec<u8>,
}

impl Shared {
    fn count(&mut self, lines: Vec<String>) {
        for l in lines {
            self.pending.extend_from_slice(l.as_bytes());
            self.pending.push(b'\n');
        }
        for rec in slowlog::split_records(&mut self.pending) {
            self.stats.count_record(&rec, self.prefix.as_ref());
        }
    }
}

/// Follows one container's log stream in a background task (aborted on drop).
pub struct ContainerLogFollower {
    shared: Arc<Mutex<Shared>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ContainerLogFollower {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn now_nanos() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0)
}

impl ContainerLogFollower {
    /// Starts following `container` from now on. Must run inside a Tokio runtime.
    pub fn start(
        engine: Engine,
        api: ApiVersion,
        container: &str,
        tty: bool,
        prefix: Option<&str>,
        target: &str,
    ) -> Self {
        let shared = Arc::new(Mutex::new(Shared {
            container: container.to_string(),
            tty,
            api,
            prefix: prefix.map(PrefixTemplate::parse),
            stats: SlowLogSnapshot {
                attributes_database: prefix
                    .is_some_and(|p| PrefixTemplate::parse(p).has_database()),
                ..SlowLogSnapshot::default()
            },
            pending: Vec::new(),
        }));
        let start = Cursor {
            ts: now_nanos(),
            at_ts: 0,
        };
        let task = tokio::spawn(follow(engine, shared.clone(), start, target.to_string()));
        ContainerLogFollower { shared, task }
    }

    /// Points the follower at the container found by this scrape (it may have been
    /// re-created under a new ID) and refreshes what is known about it.
    pub fn update(&self, api: ApiVersion, container: &str, tty: bool, prefix: Option<&str>) {
        let mut s = lock(&self.shared);
        s.api = api;
        s.container = container.to_string();
        s.tty = tty;
        if s.prefix.as_ref().map(PrefixTemplate::raw) != prefix {
            s.prefix = prefix.map(PrefixTemplate::parse);
            s.stats.attributes_database =
                s.prefix.as_ref().is_some_and(PrefixTemplate::has_database);
        }
    }

    /// The counts so far.
    pub fn snapshot(&self) -> SlowLogSnapshot {
        lock(&self.shared).stats.clone()
    }
}

async fn follow(engine: Engine, shared: Arc<Mutex<Shared>>, start: Cursor, target: String) {
    let mut cursor = start;
    let mut backoff = RECONNECT_MIN;
    loop {
        let (container, tty, api) = {
            let s = lock(&shared);
            (s.container.clone(), s.tty, s.api)
        };
        let path = format!(
            "/v{api}/containers/{}/logs?follow=1&stdout=1&stderr=1&timestamps=1&since={}",
            encode_segment(&container),
            cursor.since_param()
        );
        match engine
            .stream(&path, Instant::now() + Duration::from_secs(10))
            .await
        {
            Ok((mut body, _conn)) => {
                {
                    let mut s = lock(&shared);
                    s.stats.readable = true;
                    s.stats.error = None;
                }
                backoff = RECONNECT_MIN;
                let mut demux = Demux::new(tty);
                let mut dedup = Dedup::new(cursor);
                while let Some(frame) = body.frame().await {
                    let Ok(frame) = frame else { break };
                    let Some(data) = frame.data_ref() else {
                        continue;
                    };
                    let lines = dedup.push(&demux.push(data));
                    cursor = dedup.cursor();
                    if !lines.is_empty() {
                        lock(&shared).count(lines);
                    }
                }
                tracing::debug!(target_name = %target, container = %container, "Container log stream ended; reconnecting");
            }
            Err(e) => {
                let mut s = lock(&shared);
                if s.stats.readable {
                    tracing::warn!(target_name = %target, container = %container, error = %e, "Cannot follow the container's log stream");
                }
                s.stats.readable = false;
                s.stats.error = Some(format!("container {container} logs: {e}"));
                backoff = (backoff * 2).min(RECONNECT_MAX);
            }
        }
        tokio::time::sleep(backoff).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![kind, 0, 0, 0];
        v.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn demux_handles_split_frames() {
        let mut bytes = frame(2, b"2026-11-29T15:20:32.1Z a\n");
        bytes.extend(frame(1, b"2026-11-29T15:20:32.2Z b\n"));
        let mut d = Demux::new(false);
        let (x, y) = bytes.split_at(11);
        let mut out = d.push(x);
        assert!(out.is_empty());
        out.extend(d.push(y));
        assert_eq!(
            out,
            b"2026-11-29T15:20:32.1Z a\n2026-11-29T15:20:32.2Z b\n".to_vec()
        );
        assert_eq!(Demux::new(true).push(b"raw"), b"raw".to_vec());
    }

    #[test]
    fn dedup_never_counts_a_line_twice_across_reconnects() {
        let start = Cursor {
            ts: api::parse_rfc3339_nanos("2026-11-29T15:20:32Z").unwrap(),
            at_ts: 0,
        };
        let mut d = Dedup::new(start);
        let got = d.push(
            b"2026-11-29T15:20:31.9Z before start\n2026-11-29T15:20:32.5Z one\n2026-11-29T15:20:32.5Z two\n2026-11-29T15:20:3",
        );
        assert_eq!(got, vec!["one", "two"]);
        let c = d.cursor();
        assert_eq!(c.at_ts, 2);
        assert_eq!(c.since_param(), "1795965632.500000000");
        // Reconnect: the Engine resends from `since` (inclusive); the two lines at .5 are
        // skipped, a third one at the same instant and the later ones are new.
        let mut d = Dedup::new(c);
        let got = d.push(
            b"2026-11-29T15:20:32.5Z one\n2026-11-29T15:20:32.5Z two\n2026-11-29T15:20:32.5Z three\n2026-11-29T15:20:33Z four\n",
        );
        assert_eq!(got, vec!["three", "four"]);
        assert_eq!(
            d.cursor(),
            Cursor {
                ts: api::parse_rfc3339_nanos("2026-11-29T15:20:33Z").unwrap(),
                at_ts: 1
            }
        );
        // Garbage without a timestamp is ignored.
        assert!(d.push(b"no timestamp here\n").is_empty());
    }

    #[test]
    fn prefix_from_the_command_line() {
        let argv = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            prefix_from_argv(&argv(&["postgres", "-c", "log_line_prefix=%m [%p] %d "])).as_deref(),
            Some("%m [%p] %d ")
        );
        assert_eq!(
            prefix_from_argv(&argv(&["postgres", "--log_line_prefix=%t %d:"])).as_deref(),
            Some("%t %d:")
        );
        assert_eq!(
            prefix_from_argv(&argv(&["postgres", "-clog_line_prefix=%d "])).as_deref(),
            Some("%d ")
        );
        assert_eq!(
            prefix_from_argv(&argv(&["postgres", "-c", "log_min_duration_statement=0"])),
            None
        );
    }

    #[test]
    fn counting_uses_the_log_file_parser() {
        let mut s = Shared {
            container: "c".into(),
            tty: false,
            api: ApiVersion::new(1, 41),
            prefix: Some(PrefixTemplate::parse("%m [%p] %d ")),
            stats: SlowLogSnapshot::default(),
            pending: Vec::new(),
        };
        s.count(vec![
            "2026-11-29 15:20:32.123 UTC [42] app LOG:  duration: 1500.000 ms  statement: SELECT pg_sleep(1.5)".into(),
            "\tcontinued".into(),
            "2026-11-29 15:20:33.123 UTC [42] app LOG:  statement: SELECT 1".into(),
        ]);
        let d = &s.stats.per_db["app"];
        assert_eq!(d.count, 1);
        assert_eq!(d.sum_seconds, 1.5);
        assert_eq!(d.cumulative()[3], (1.0, 0));
        assert_eq!(d.cumulative()[4], (2.5, 1));
    }
}
