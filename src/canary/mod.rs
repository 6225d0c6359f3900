//! The write canary, opt-in and off by default: the only write the exporter ever makes
//! (besides `verify`). A background task per target writes the current time (Unix
//! milliseconds) on its own connection every interval — Redis `SET key <ms>`, PostgreSQL
//! an upsert of one row — and, whenever it connects to a new server instance, reads the
//! value back *before* its first write there. Restart tracking compares that read-back
//! with the last write acknowledged before the restart: the difference is the data
//! actually lost.
//!
//! Every call runs under the target's timeout and reads through the reply cap. Failures
//! are counted (`persistence_canary_write_errors_total`) and logged once per distinct
//! cause, at most every [`LOG_EVERY`], never once per attempt.

pub mod postgres;
pub mod redis;

use crate::config::restarts::Canary;
use crate::plain::{first_line, lock};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// How often the same failure is logged again while it persists.
pub const LOG_EVERY: Duration = Duration::from_secs(600);

/// What the canary task knows, read by restart tracking at every collection.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CanaryObservation {
    /// The server instance of the current connection (Redis `run_id`, PostgreSQL start
    /// time as formatted by [`instance_of_start_time`]).
    pub instance: Option<String>,
    /// The value read back when the task first connected to that instance, before any
    /// write there: `None` not read yet, `Some(None)` absent, `Some(Some(ms))`.
    pub recovered: Option<Option<i64>>,
    /// The last write this instance acknowledged (Unix milliseconds).
    pub last_ack_ms: Option<i64>,
    /// The last write the previous instance acknowledged (the scrape before a restart
    /// may have missed the last few).
    pub previous_last_ack_ms: Option<i64>,
    /// The last acknowledged write on any instance (Unix milliseconds).
    pub last_write_ms: Option<i64>,
    /// Failed attempts (connect, read-back or write) since start.
    pub write_errors: u64,
}

/// A PostgreSQL start time as an instance id (the same text for the collector's and the
/// canary's reading of `pg_postmaster_start_time()`).
pub fn instance_of_start_time(unix_seconds: f64) -> String {
    format!("{unix_seconds:.3}")
}

/// One round of the task against a server.
pub(crate) trait Backend: Send + 'static {
    /// Connects; returns the instance id of the server.
    fn connect(&mut self) -> impl Future<Output = Result<String, String>> + Send;
    /// Reads the canary back: `None` when it is absent.
    fn read(&mut self) -> impl Future<Output = Result<Option<i64>, String>> + Send;
    /// Writes `ms`; `Ok` once the server acknowledged it.
    fn write(&mut self, ms: i64) -> impl Future<Output = Result<(), String>> + Send;
    /// Drops the connection.
    fn reset(&mut self);
}

/// The running canary of one target; the task stops when this is dropped.
#[derive(Debug)]
pub struct CanaryHandle {
    shared: Arc<Mutex<CanaryObservation>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for CanaryHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CanaryHandle {
    /// What the task knows now.
    pub fn observation(&self) -> CanaryObservation {
        lock(&self.shared).clone()
    }
}

/// Starts the task (`None` without a Tokio runtime to run it on).
pub(crate) fn spawn<B: Backend>(
    target: String,
    canary: &Canary,
    backend: B,
) -> Option<CanaryHandle> {
    let handle = tokio::runtime::Handle::try_current().ok()?;
    let shared = Arc::new(Mutex::new(CanaryObservation::default()));
    let weak = Arc::downgrade(&shared);
    let interval = canary.interval;
    let task = handle.spawn(run(target, interval, backend, weak));
    Some(CanaryHandle { shared, task })
}

/// Rate-limits the log lines of one canary.
struct LogLimit {
    last: Option<(String, tokio::time::Instant)>,
}

impl LogLimit {
    fn failed(&mut self, target: &str, phase: &str, cause: &str) {
        let now = tokio::time::Instant::now();
        let due = match &self.last {
            Some((c, at)) => c != cause || now.duration_since(*at) >= LOG_EVERY,
            None => true,
        };
        if due {
            tracing::warn!(target_name = %target, phase, error = %cause, "Canary write failed; counted in persistence_canary_write_errors_total, logged again only when the cause changes or every 10 minutes");
            self.last = Some((cause.to_string(), now));
        }
    }

    fn recovered(&mut self, target: &str) {
        if self.last.take().is_some() {
            tracing::info!(target_name = %target, "Canary writes succeed again");
        }
    }
}

async fn run<B: Backend>(
    target: String,
    interval: Duration,
    mut backend: B,
    shared: Weak<Mutex<CanaryObservation>>,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut log = LogLimit { last: None };
    let mut connected = false;
    loop {
        tick.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let failed = |phase: &str, cause: String, log: &mut LogLimit| {
            lock(&shared).write_errors += 1;
            log.failed(&target, phase, &cause);
        };
        if !connected {
            match backend.connect().await {
                Ok(instance) => {
                    connected = true;
                    let mut s = lock(&shared);
                    if s.instance.as_deref() != Some(instance.as_str()) {
                        if s.last_ack_ms.is_some() {
                            s.previous_last_ack_ms = s.last_ack_ms;
                        }
                        s.instance = Some(instance);
                        s.recovered = None;
                        s.last_ack_ms = None;
                    }
                }
                Err(e) => {
                    failed("connect", e, &mut log);
                    continue;
                }
            }
        }
        if lock(&shared).recovered.is_none() {
            match backend.read().await {
                Ok(v) => lock(&shared).recovered = Some(v),
                Err(e) => {
                    // Still loading, or the connection broke: read again next round, and
                    // never write before the value that survived was seen.
                    backend.reset();
                    connected = false;
                    failed("read-back", e, &mut log);
                    continue;
                }
            }
        }
        let ms = now_ms();
        match backend.write(ms).await {
            Ok(()) => {
                let mut s = lock(&shared);
                s.last_ack_ms = Some(ms);
                s.last_write_ms = Some(ms);
                drop(s);
                log.recovered(&target);
            }
            Err(e) => {
                backend.reset();
                connected = false;
                failed("write", e, &mut log);
            }
        }
    }
}

/// Now in Unix milliseconds.
fn now_ms() -> i64 {
    (crate::clock::unix_now() * 1000.0) as i64
}
