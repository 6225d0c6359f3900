//! Scrape orchestration: every target is collected concurrently under one deadline, and
//! scrapes that arrive while a collection of the same target is in flight share its
//! result (single flight), so 20 concurrent scrapers cost one round trip per target.
//!
//! A reload builds a new [`Scraper`] from the previous one: every target whose settings
//! did not change keeps its collector (kept connection, slow-log follower and its counts)
//! and its scrape error counts; removed targets take theirs with them, new ones start at 0.
//!
//! Every Redis and PostgreSQL target also has its restart tracker (fed by each collection,
//! kept by a reload — even when the collector is rebuilt — and restored from the state
//! file) and, when enabled, its write canary.

use crate::collectors::docker::MonitoredTarget;
use crate::collectors::{CollectError, Collector, Kind, docker, postgres, redis};
use crate::config::{DockerTarget, PostgresTarget, RedisTarget, Settings};
use crate::outcome::{ScrapeReport, TargetOutcome};
use crate::plain::lock;
use crate::restarts::state::StateStore;
use crate::restarts::{Observation, Tracker};
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// How long a waiter waits past the deadline for the collection's own outcome.
const WAIT_GRACE: Duration = Duration::from_millis(100);

type SharedOutcome = Shared<BoxFuture<'static, Arc<TargetOutcome>>>;

/// What a target's collector is built from.
#[derive(Clone, Debug)]
enum TargetSpec {
    /// A Redis target and the reply cap of its collector.
    Redis(RedisTarget, u64),
    /// A PostgreSQL target and the reply cap of its collector.
    Postgres(PostgresTarget, u64),
    /// The Engine and the targets whose containers it looks up.
    Docker(DockerTarget, Vec<MonitoredTarget>),
}

impl TargetSpec {
    /// One spec per configured target, in the order of [`crate::collectors::build`].
    fn all(settings: &Settings) -> Vec<TargetSpec> {
        let cap = settings.max_reply_bytes;
        let mut out: Vec<TargetSpec> = settings
            .redis
            .iter()
            .map(|t| TargetSpec::Redis(t.clone(), cap))
            .chain(
                settings
                    .postgres
                    .iter()
                    .map(|t| TargetSpec::Postgres(t.clone(), cap)),
            )
            .collect();
        if let Some(d) = &settings.docker {
            out.push(TargetSpec::Docker(
                d.clone(),
                docker::monitored_targets(settings),
            ));
        }
        out
    }

    fn build(&self) -> Collector {
        match self {
            TargetSpec::Redis(t, cap) => {
                Collector::Redis(redis::RedisCollector::new(t.clone()).with_max_reply_bytes(*cap))
            }
            TargetSpec::Postgres(t, cap) => Collector::Postgres(
                postgres::PostgresCollector::new(t.clone()).with_max_reply_bytes(*cap),
            ),
            TargetSpec::Docker(d, monitored) => {
                Collector::Docker(docker::DockerCollector::new(d.clone(), monitored.clone()))
            }
        }
    }

    /// True when a collector built for `self` serves `new` unchanged: all settings equal
    /// but the persistence profile, which checks take from the runtime, not the collector.
    fn same_collector(&self, new: &TargetSpec) -> bool {
        match (self, new) {
            (TargetSpec::Redis(a, ca), TargetSpec::Redis(b, cb)) => {
                ca == cb
                    && *a
                        == RedisTarget {
                            profile: a.profile.clone(),
                            ..b.clone()
                        }
            }
            (TargetSpec::Postgres(a, ca), TargetSpec::Postgres(b, cb)) => {
                ca == cb
                    && *a
                        == PostgresTarget {
                            profile: a.profile.clone(),
                            ..b.clone()
                        }
            }
            (TargetSpec::Docker(a, ma), TargetSpec::Docker(b, mb)) => a == b && ma == mb,
            _ => false,
        }
    }
}

/// A Redis or PostgreSQL target's restart tracking: its tracker, its canary, the state
/// file.
struct RestartSlot {
    tracker: Mutex<Tracker>,
    canary: Mutex<Option<(crate::config::restarts::Canary, crate::canary::CanaryHandle)>>,
    state: Mutex<Option<Arc<StateStore>>>,
}

impl RestartSlot {
    /// Folds a collection into the tracker and stores the record.
    fn observe(
        &self,
        name: &str,
        result: &Result<crate::collectors::Snapshot, CollectError>,
    ) -> crate::restarts::RestartStatus {
        let obs = result.as_ref().ok().and_then(Observation::from_snapshot);
        let canary = lock(&self.canary).as_ref().map(|(_, h)| h.observation());
        let mut tracker = lock(&self.tracker);
        let status = tracker.observe(obs.as_ref(), canary.as_ref(), crate::clock::unix_now());
        if let Some(store) = lock(&self.state).as_ref() {
            store.put(name, tracker.record());
        }
        status
    }

    /// Applies (re)loaded settings: the ratio, the state file, the canary (restarted only
    /// when its settings changed).
    fn configure(&self, spec: &TargetSpec, settings: &Settings, state: Option<&Arc<StateStore>>) {
        let name = match spec {
            TargetSpec::Redis(t, _) => &t.name,
            TargetSpec::Postgres(t, _) => &t.name,
            TargetSpec::Docker(..) => return,
        };
        let wanted = settings.restarts.target(name);
        lock(&self.tracker).set_min_recovered_ratio(wanted.min_recovered_ratio);
        *lock(&self.state) = state.cloned();
        let mut canary = lock(&self.canary);
        if canary.as_ref().map(|(c, _)| c) == wanted.canary.as_ref() {
            return;
        }
        *canary = wanted.canary.and_then(|c| {
            let handle = match spec {
                TargetSpec::Redis(t, cap) => crate::canary::redis::spawn(t, &c, *cap),
                TargetSpec::Postgres(t, cap) => crate::canary::postgres::spawn(t, &c, *cap),
                TargetSpec::Docker(..) => None,
            }?;
            tracing::info!(target_name = %name, location = %c.location, interval_seconds = c.interval.as_secs_f64(), "Canary writes enabled");
            Some((c, handle))
        });
    }
}

/// One target with its collector, its in-flight collection, its last outcome and its
/// failed collections by reason.
struct TargetSlot {
    name: String,
    kind: Kind,
    /// What the collector was built from (`None`: not reusable by a reload).
    spec: Option<TargetSpec>,
    collector: tokio::sync::Mutex<Collector>,
    flight: Mutex<Option<(u64, SharedOutcome)>>,
    generation: AtomicU64,
    last: Mutex<Option<Arc<TargetOutcome>>>,
    errors: Mutex<BTreeMap<&'static str, u64>>,
    /// Restart tracking (Redis and PostgreSQL targets built from settings).
    restarts: Option<RestartSlot>,
}

impl TargetSlot {
    fn new(c: Collector, spec: Option<TargetSpec>) -> Arc<TargetSlot> {
        Arc::new(Self::plain(c, spec, None))
    }

    /// A slot with restart tracking, its tracker from `tracker`.
    fn tracked(c: Collector, spec: TargetSpec, tracker: Option<Tracker>) -> Arc<TargetSlot> {
        let restarts = tracker.map(|t| RestartSlot {
            tracker: Mutex::new(t),
            canary: Mutex::new(None),
            state: Mutex::new(None),
        });
        Arc::new(Self::plain(c, Some(spec), restarts))
    }

    fn plain(c: Collector, spec: Option<TargetSpec>, restarts: Option<RestartSlot>) -> TargetSlot {
        TargetSlot {
            name: c.name().to_string(),
            kind: c.kind(),
            spec,
            collector: tokio::sync::Mutex::new(c),
            flight: Mutex::new(None),
            generation: AtomicU64::new(0),
            last: Mutex::new(None),
            errors: Mutex::new(BTreeMap::new()),
            restarts,
        }
    }
}

/// Owns all targets and collects them on demand.
pub struct Scraper {
    targets: Vec<Arc<TargetSlot>>,
    /// The state file, when configured.
    state: Option<Arc<StateStore>>,
    /// The targets declared not to run in a container (kind and name).
    not_in_container: Vec<(Kind, String)>,
}

impl Scraper {
    /// Wraps these collectors (never reused by a reload).
    pub fn new(collectors: Vec<Collector>) -> Self {
        let targets = collectors
            .into_iter()
            .map(|c| TargetSlot::new(c, None))
            .collect();
        Scraper {
            targets,
            state: None,
            not_in_container: Vec::new(),
        }
    }

    /// Builds the collectors of the configured targets. With `previous` (a reload), every
    /// target whose settings are unchanged keeps its collector and counts from there;
    /// changed, new and removed targets do not.
    pub fn from_settings(settings: &Settings, previous: Option<&Scraper>) -> Self {
        let mut reusable: Vec<&Arc<TargetSlot>> = previous
            .map(|p| p.targets.iter().filter(|t| t.spec.is_some()).collect())
            .unwrap_or_default();
        // The state file: kept from the previous configuration when its path is the same.
        let state = settings.restarts.state_file.as_ref().map(|path| {
            match previous
                .and_then(|p| p.state.as_ref())
                .filter(|s| s.path() == path.as_path())
            {
                Some(s) => s.clone(),
                None => Arc::new(StateStore::open(path)),
            }
        });
        let now = crate::clock::unix_now();
        let targets = TargetSpec::all(settings)
            .into_iter()
            .map(|spec| {
                let kept = reusable
                    .iter()
                    .position(|t| t.spec.as_ref().is_some_and(|s| s.same_collector(&spec)));
                let slot = match kept {
                    Some(i) => reusable.swap_remove(i).clone(),
                    None => {
                        let tracker = new_tracker(&spec, settings, previous, state.as_deref(), now);
                        TargetSlot::tracked(spec.build(), spec.clone(), tracker)
                    }
                };
                if let Some(r) = &slot.restarts {
                    r.configure(&spec, settings, state.as_ref());
                }
                slot
            })
            .collect();
        let not_in_container = crate::outcome::view::declared_not_in_container(settings);
        Scraper {
            targets,
            not_in_container,
            state,
        }
    }

    /// How many targets a reload kept from `previous` (the same collector).
    pub fn kept_from(&self, previous: &Scraper) -> usize {
        self.targets
            .iter()
            .filter(|t| previous.targets.iter().any(|p| Arc::ptr_eq(t, p)))
            .count()
    }

    /// Names and kinds of all targets, in configuration order.
    pub fn targets(&self) -> Vec<(Kind, String)> {
        self.targets
            .iter()
            .map(|t| (t.kind, t.name.clone()))
            .collect()
    }

    /// The last outcome of every target that has been scraped at least once.
    pub fn last_outcomes(&self) -> Vec<(Kind, String, Option<Arc<TargetOutcome>>)> {
        self.targets
            .iter()
            .map(|t| (t.kind, t.name.clone(), lock(&t.last).clone()))
            .collect()
    }

    /// Collects every target concurrently; each one finishes (or is reported as timed out)
    /// by `deadline`.
    pub async fn scrape(&self, deadline: Instant) -> ScrapeReport {
        let budget = deadline.saturating_duration_since(Instant::now());
        let futs = self
            .targets
            .iter()
            .map(|t| self.collect_shared(t.clone(), deadline, budget));
        let outcomes = futures::future::join_all(futs).await;
        if let Some(store) = self.state.as_ref().filter(|s| s.flush_due()) {
            let store = store.clone();
            // Throttled inside; the write (with its fsync) stays off the async threads.
            drop(tokio::task::spawn_blocking(move || store.flush_if_due()));
        }
        let errors = self
            .targets
            .iter()
            .flat_map(|t| {
                lock(&t.errors)
                    .iter()
                    .map(|(reason, n)| ((t.kind.as_str(), t.name.clone(), *reason), *n))
                    .collect::<Vec<_>>()
            })
            .collect();
        ScrapeReport {
            outcomes,
            errors,
            not_in_container: self.not_in_container.clone(),
        }
    }

    /// Joins the collection in flight for this target, or starts one.
    async fn collect_shared(
        &self,
        slot: Arc<TargetSlot>,
        deadline: Instant,
        budget: Duration,
    ) -> Arc<TargetOutcome> {
        let fut = {
            let mut flight = lock(&slot.flight);
            match flight.as_ref() {
                Some((_, f)) => f.clone(),
                None => {
                    let id = slot.generation.fetch_add(1, Ordering::Relaxed);
                    let task_slot = slot.clone();
                    let handle = tokio::spawn(async move {
                        let outcome = run_collection(&task_slot, deadline, budget).await;
                        if let Err(e) = &outcome.result {
                            *lock(&task_slot.errors).entry(e.reason()).or_insert(0) += 1;
                        }
                        let previous = lock(&task_slot.last).replace(outcome.clone());
                        log_outcome(&task_slot, previous.as_deref(), &outcome);
                        let mut flight = lock(&task_slot.flight);
                        if flight.as_ref().is_some_and(|(g, _)| *g == id) {
                            *flight = None;
                        }
                        outcome
                    });
                    let name = slot.name.clone();
                    let kind = slot.kind;
                    let f: SharedOutcome = async move {
                        match handle.await {
                            Ok(o) => o,
                            // A panicking collector is a bug, but still only this target's failure.
                            Err(e) => Arc::new(TargetOutcome {
                                target: name.clone(),
                                kind,
                                finished_at: SystemTime::now(),
                                duration: Duration::ZERO,
                                result: Err(CollectError::Protocol {
                                    target: name,
                                    cause: format!("collector task failed: {e}").into(),
                                }),
                                restart: None,
                            }),
                        }
                    }
                    .boxed()
                    .shared();
                    *flight = Some((id, f.clone()));
                    f
                }
            }
        };
        // The collection enforces `deadline` itself; the grace lets its own (counted,
        // logged) timeout outcome win over this waiter's fallback.
        match tokio::time::timeout_at(deadline + WAIT_GRACE, fut).await {
            Ok(o) => o,
            Err(_) => Arc::new(TargetOutcome {
                target: slot.name.clone(),
                kind: slot.kind,
                finished_at: SystemTime::now(),
                duration: budget,
                result: Err(CollectError::Timeout {
                    target: slot.name.clone(),
                    after: budget,
                }),
                restart: slot.restarts.as_ref().map(|r| lock(&r.tracker).status()),
            }),
        }
    }
}

async fn run_collection(
    slot: &TargetSlot,
    deadline: Instant,
    budget: Duration,
) -> Arc<TargetOutcome> {
    let start = Instant::now();
    let result = {
        let mut collector = slot.collector.lock().await;
        match tokio::time::timeout_at(deadline, collector.collect(deadline)).await {
            Ok(r) => r,
            Err(_) => Err(CollectError::Timeout {
                target: slot.name.clone(),
                after: budget,
            }),
        }
    };
    let duration = start.elapsed();
    // Failures are logged by `log_outcome`, which knows the previous state.
    if result.is_ok() {
        tracing::debug!(collector = slot.kind.as_str(), target = %slot.name, duration_seconds = duration.as_secs_f64(), "Collected")
    }
    let restart = slot
        .restarts
        .as_ref()
        .map(|r| r.observe(&slot.name, &result));
    Arc::new(TargetOutcome {
        target: slot.name.clone(),
        kind: slot.kind,
        finished_at: SystemTime::now(),
        duration,
        result,
        restart,
    })
}

/// The tracker of a new slot: the previous configuration's (same name and kind, its
/// collector rebuilt), else the state file's record, else a fresh one.
fn new_tracker(
    spec: &TargetSpec,
    settings: &Settings,
    previous: Option<&Scraper>,
    state: Option<&StateStore>,
    now: f64,
) -> Option<Tracker> {
    let (name, kind) = match spec {
        TargetSpec::Redis(t, _) => (&t.name, Kind::Redis),
        TargetSpec::Postgres(t, _) => (&t.name, Kind::Postgres),
        TargetSpec::Docker(..) => return None,
    };
    let ratio = settings.restarts.target(name).min_recovered_ratio;
    let before = previous.and_then(|p| {
        p.targets
            .iter()
            .find(|t| t.name == *name && t.kind == kind)
            .and_then(|t| t.restarts.as_ref())
            .map(|r| lock(&r.tracker).record().clone())
    });
    let stored = before.or_else(|| state.and_then(|s| s.get(name)));
    Some(Tracker::new(kind.as_str(), ratio, stored, now))
}

/// Logs one line when the target changes state (first collection included): "Target up"
/// at info, "Target down" at warn with the reason and error. While it stays down, every
/// further failure logs "Collection failed" at warn, as before; while it stays up, nothing.
fn log_outcome(slot: &TargetSlot, previous: Option<&TargetOutcome>, outcome: &TargetOutcome) {
    let was_up = previous.map(|p| p.result.is_ok());
    let kind = slot.kind.as_str();
    match (&outcome.result, was_up) {
        (Ok(_), Some(true)) => {}
        (Ok(_), _) => {
            let reason = if was_up.is_some() {
                "recovered"
            } else {
                "first collection"
            };
            tracing::info!(target = %slot.name, kind, reason, "Target up")
        }
        (Err(e), Some(false)) => {
            tracing::warn!(target = %slot.name, kind, reason = e.reason(), error = %e, "Collection failed")
        }
        (Err(e), _) => {
            tracing::warn!(target = %slot.name, kind, reason = e.reason(), error = %e, "Target down")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    struct NoEnv;
    impl crate::config::Env for NoEnv {
        fn var(&self, _: &str) -> Option<String> {
            None
        }
    }

    fn settings() -> Settings {
        let cli = crate::cli::Cli::try_parse_from([
            "persistence_exporter",
            "--redis.addr",
            "redis://127.0.0.1:1",
            "--postgres.dsn",
            "postgresql://u@127.0.0.1:1/db",
        ])
        .unwrap();
        let mut s = crate::config::load(&cli, &NoEnv).unwrap();
        let second = RedisTarget {
            name: "second".into(),
            ..s.redis[0].clone()
        };
        s.redis.push(second);
        s
    }

    #[test]
    fn a_reload_keeps_the_collectors_of_unchanged_targets_only() {
        let s = settings();
        let n = s.redis.len() + s.postgres.len() + usize::from(s.docker.is_some());
        assert!(n >= 3, "{n}");
        let first = Scraper::from_settings(&s, None);
        assert_eq!(first.targets().len(), n);
        // Unchanged: every collector kept.
        let same = Scraper::from_settings(&s, Some(&first));
        assert_eq!(same.kept_from(&first), n);
        assert_eq!(same.targets(), first.targets());
        // A changed profile alone keeps the collector.
        let mut profile_only = s.clone();
        profile_only.postgres[0].profile = crate::config::profile::Profile::load("cache").unwrap();
        assert_ne!(profile_only.postgres[0], s.postgres[0]);
        let kept = Scraper::from_settings(&profile_only, Some(&same));
        assert_eq!(kept.kept_from(&same), n);
        // A changed connection setting replaces that target's collector only.
        let mut changed = s.clone();
        changed.redis[1].timeout += Duration::from_secs(1);
        let next = Scraper::from_settings(&changed, Some(&kept));
        assert_eq!(next.kept_from(&kept), n - 1);
        let replaced: Vec<_> = next
            .targets
            .iter()
            .filter(|t| !kept.targets.iter().any(|k| Arc::ptr_eq(t, k)))
            .map(|t| t.name.clone())
            .collect();
        assert_eq!(replaced, vec!["second".to_string()]);
        // Removed targets are gone; scrapers built without settings are never reused.
        let mut fewer = s.clone();
        fewer.redis.truncate(1);
        assert_eq!(
            Scraper::from_settings(&fewer, Some(&next)).targets().len(),
            n - 1
        );
        let plain = Scraper::new(crate::collectors::build(&s));
        assert_eq!(
            Scraper::from_settings(&s, Some(&plain)).kept_from(&plain),
            0
        );
    }
}
