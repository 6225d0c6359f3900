//! The `/volumes` background refresher: the volume listing costs the Engine about 10 ms
//! per thousand volumes, so it is read on the `/system/df` interval by a task of its own
//! (one call at a time) rather than on every scrape. Scrapes serve the last listing; a
//! scrape lists the volumes itself only when there is no listing younger than the
//! interval plus one call's timeout (the first scrape, or the refresh is failing).

use super::api::{self, Volume};
use super::disk_usage::repeat;
use super::engine::{Engine, EngineError};
use crate::collectors::lock;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// One listing of the Engine's volumes.
#[derive(Debug, PartialEq)]
pub struct VolumeList {
    /// The volumes, sorted by name (shared with the snapshots that serve them).
    pub volumes: Arc<Vec<Volume>>,
    /// When the listing finished.
    pub refreshed_at: SystemTime,
    /// How long the call took.
    pub duration: Duration,
}

/// The last listing and when it finished (monotonic clock, for its age).
pub(super) type VolumeListCache = Arc<Mutex<Option<(Instant, Arc<VolumeList>)>>>;

/// Why one listing failed.
#[derive(Debug, thiserror::Error)]
pub(super) enum ListError {
    /// `/version` (for the API version) failed.
    #[error("/version: {0}")]
    Version(#[source] EngineError),
    /// `/volumes` failed.
    #[error("/volumes: {0}")]
    Volumes(#[source] EngineError),
    /// A reply could not be used.
    #[error(transparent)]
    Reply(#[from] api::ApiError),
}

/// Parses a `/volumes` reply into a listing (sorted by name) that took `duration`.
pub(super) fn listing(body: &[u8], duration: Duration) -> Result<VolumeList, api::ApiError> {
    let mut volumes = api::parse_volume_list(body)?;
    volumes.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(VolumeList {
        volumes: Arc::new(volumes),
        refreshed_at: SystemTime::now(),
        duration,
    })
}

/// Stores a listing in the cache and returns it.
pub(super) fn store(cache: &VolumeListCache, list: VolumeList) -> Arc<VolumeList> {
    let list = Arc::new(list);
    *lock(cache) = Some((Instant::now(), list.clone()));
    list
}

/// The cached listing when it is at most `max_age` old.
pub(super) fn fresh(cache: &VolumeListCache, max_age: Duration) -> Option<Arc<VolumeList>> {
    lock(cache)
        .as_ref()
        .filter(|(at, _)| at.elapsed() <= max_age)
        .map(|(_, l)| l.clone())
}

async fn list_once(engine: &Engine, timeout: Duration) -> Result<VolumeList, ListError> {
    let body = engine
        .get("/version", Instant::now() + timeout)
        .await
        .map_err(ListError::Version)?;
    let v = api::parse_version(&body)?;
    let start = Instant::now();
    let body = engine
        .get(&format!("/v{}/volumes", v.api_version), start + timeout)
        .await
        .map_err(ListError::Volumes)?;
    Ok(listing(&body, start.elapsed())?)
}

/// Lists the volumes forever: one call at a time, first at start-up, then every
/// `interval` after the previous call finished (sooner after a failure).
pub(super) async fn refresh_loop(
    engine: Engine,
    name: String,
    interval: Duration,
    timeout: Duration,
    cache: VolumeListCache,
) {
    let store = |list: VolumeList| {
        tracing::debug!(engine = %name, volumes = list.volumes.len(), duration_seconds = list.duration.as_secs_f64(), "Docker volume list refreshed");
        store(&cache, list);
    };
    repeat(
        &name,
        "Docker volume listing failed; scrapes list the volumes themselves once the last listing is too old",
        interval,
        || list_once(&engine, timeout),
        store,
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn listings_are_sorted_and_age_out() {
        let cache: VolumeListCache = Arc::default();
        assert!(fresh(&cache, Duration::from_secs(1)).is_none());
        let body = br#"{"Volumes": [{"Name": "b", "Driver": "local"}, {"Name": "a", "Driver": "local"}], "Warnings": null}"#;
        let l = store(&cache, listing(body, Duration::ZERO).unwrap());
        let names: Vec<&str> = l.volumes.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert!(fresh(&cache, Duration::from_secs(60)).is_some());
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(fresh(&cache, Duration::from_millis(10)).is_none());
    }
}
