//! The `/system/df` background refresher: one call at a time, on an interval, into a cache
//! that scrapes read and never wait for (the call walks every volume and layer).

use super::api::{self, ApiVersion, VolumeUsage};
use super::engine::{Engine, EngineError};
use super::snapshot::DiskUsage;
use crate::collectors::lock;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// Wait before retrying a failed `/system/df` (capped by the configured interval).
pub const DISK_USAGE_RETRY: Duration = Duration::from_secs(5);
/// Lower bound of the `/system/df` timeout: it walks every volume, so it gets longer than
/// the per-call timeout of the scrape path.
pub const DISK_USAGE_MIN_TIMEOUT: Duration = Duration::from_secs(60);

pub(super) type DiskUsageCache = Arc<Mutex<Option<Arc<DiskUsage>>>>;

/// Aborts the background refresh when the collector is dropped.
pub(super) struct RefreshTask(pub(super) tokio::task::JoinHandle<()>);

impl Drop for RefreshTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The `/system/df` request for an API version: `type=volume` only where the Engine
/// honours it (≥ 1.42), `verbose=true` where per-volume items need it (≥ 1.52).
pub fn disk_usage_path(api: ApiVersion) -> String {
    let mut q = Vec::new();
    if api >= api::DF_TYPE_FILTER_SINCE {
        q.push("type=volume");
    }
    if api >= api::DF_VOLUME_USAGE_SINCE {
        q.push("verbose=true");
    }
    if q.is_empty() {
        format!("/v{api}/system/df")
    } else {
        format!("/v{api}/system/df?{}", q.join("&"))
    }
}

/// Why one `/system/df` refresh failed.
#[derive(Debug, thiserror::Error)]
enum RefreshError {
    /// `/version` (for the API version) failed.
    #[error("/version: {0}")]
    Version(#[source] EngineError),
    /// `/system/df` failed.
    #[error("/system/df: {0}")]
    DiskUsage(#[source] EngineError),
    /// A reply could not be used.
    #[error(transparent)]
    Reply(#[from] api::ApiError),
}

async fn refresh_once(
    engine: &Engine,
    timeout: Duration,
) -> Result<BTreeMap<String, VolumeUsage>, RefreshError> {
    let body = engine
        .get(
            "/version",
            Instant::now() + timeout.min(Duration::from_secs(30)),
        )
        .await
        .map_err(RefreshError::Version)?;
    let v = api::parse_version(&body)?;
    let body = engine
        .get(&disk_usage_path(v.api_version), Instant::now() + timeout)
        .await
        .map_err(RefreshError::DiskUsage)?;
    Ok(api::parse_disk_usage(&body)?)
}

/// Refreshes the disk-usage cache forever: one call at a time, first at start-up, then
/// every `interval` after the previous call finished (sooner after a failure).
pub(super) async fn refresh_loop(
    engine: Engine,
    name: String,
    interval: Duration,
    timeout: Duration,
    cache: DiskUsageCache,
) {
    let attempt = || async {
        let start = Instant::now();
        refresh_once(&engine, timeout)
            .await
            .map(|volumes| (volumes, start.elapsed()))
    };
    let store = |(volumes, duration): (BTreeMap<String, VolumeUsage>, Duration)| {
        tracing::debug!(engine = %name, volumes = volumes.len(), duration_seconds = duration.as_secs_f64(), "Docker disk usage refreshed");
        *lock(&cache) = Some(Arc::new(DiskUsage {
            volumes,
            refreshed_at: SystemTime::now(),
            duration,
        }));
    };
    repeat(
        &name,
        "Docker disk usage refresh failed; serving the previous result",
        interval,
        attempt,
        store,
    )
    .await;
}

/// Runs `attempt` forever, one at a time: `store` takes each success, and the next attempt
/// comes `interval` after the previous one ended ([`DISK_USAGE_RETRY`] at most after a
/// failure). The first failure of a run is a warning (`failed`), repeats are debug lines.
/// Both background refreshers of the Engine (`/system/df`, `/volumes`) run on it.
pub(super) async fn repeat<T, E, F, Fut>(
    name: &str,
    failed: &str,
    interval: Duration,
    mut attempt: F,
    mut store: impl FnMut(T),
) where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut failing = false;
    loop {
        let wait = match attempt().await {
            Ok(value) => {
                store(value);
                failing = false;
                interval
            }
            Err(e) => {
                if failing {
                    tracing::debug!(engine = %name, error = %e, "Background Engine call failed again");
                } else {
                    tracing::warn!(engine = %name, error = %e, "{failed}");
                }
                failing = true;
                interval.min(DISK_USAGE_RETRY)
            }
        };
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_usage_requests_by_version() {
        assert_eq!(disk_usage_path(ApiVersion::new(1, 41)), "/v1.41/system/df");
        assert_eq!(
            disk_usage_path(ApiVersion::new(1, 44)),
            "/v1.44/system/df?type=volume"
        );
        assert_eq!(
            disk_usage_path(ApiVersion::new(1, 52)),
            "/v1.52/system/df?type=volume&verbose=true"
        );
    }
}
