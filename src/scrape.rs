//! Scrape orchestration: every target is collected concurrently under one deadline, and
//! scrapes that arrive while a collection of the same target is in flight share its
//! result (single flight), so 20 concurrent scrapers cost one round trip per target.

use crate::collectors::{CollectError, Collector, Kind};
use crate::outcome::{ErrorCounts, ScrapeReport, TargetOutcome};
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

/// One target with its collector, its in-flight collection and its last outcome.
struct TargetSlot {
    name: String,
    kind: Kind,
    collector: tokio::sync::Mutex<Collector>,
    flight: Mutex<Option<(u64, SharedOutcome)>>,
    generation: AtomicU64,
    last: Mutex<Option<Arc<TargetOutcome>>>,
}

/// Owns all targets and collects them on demand.
pub struct Scraper {
    targets: Vec<Arc<TargetSlot>>,
    errors: Arc<Mutex<ErrorCounts>>,
}

impl Scraper {
    /// Wraps the collectors built from the configuration.
    pub fn new(collectors: Vec<Collector>) -> Self {
        let targets = collectors
            .into_iter()
            .map(|c| {
                Arc::new(TargetSlot {
                    name: c.name().to_string(),
                    kind: c.kind(),
                    collector: tokio::sync::Mutex::new(c),
                    flight: Mutex::new(None),
                    generation: AtomicU64::new(0),
                    last: Mutex::new(None),
                })
            })
            .collect();
        Scraper {
            targets,
            errors: Arc::new(Mutex::new(BTreeMap::new())),
        }
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
        let errors = lock(&self.errors).clone();
        ScrapeReport { outcomes, errors }
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
                    let errors = self.errors.clone();
                    let handle = tokio::spawn(async move {
                        let outcome = run_collection(&task_slot, deadline, budget).await;
                        if let Err(e) = &outcome.result {
                            *lock(&errors)
                                .entry((
                                    task_slot.kind.as_str(),
                                    task_slot.name.clone(),
                                    e.reason(),
                                ))
                                .or_insert(0) += 1;
                        }
                        *lock(&task_slot.last) = Some(outcome.clone());
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
                                    cause: format!("collector task failed: {e}"),
                                }),
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
    match &result {
        Ok(_) => {
            tracing::debug!(collector = slot.kind.as_str(), target_name = %slot.name, duration_seconds = duration.as_secs_f64(), "Collected")
        }
        Err(e) => {
            tracing::warn!(collector = slot.kind.as_str(), target_name = %slot.name, reason = e.reason(), error = %e, "Collection failed")
        }
    }
    Arc::new(TargetOutcome {
        target: slot.name.clone(),
        kind: slot.kind,
        finished_at: SystemTime::now(),
        duration,
        result,
    })
}

/// Locks a std mutex, recovering from poisoning (the data is plain values).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
