//! `/probe?target=host:port&module=name`: one exporter for many instances, in the style
//! of blackbox_exporter and redis_exporter. The module (from the config file) holds the
//! credentials and the profile; the target must pass the allow-list
//! ([`crate::config::allow_list`]), so the exporter is never an open proxy, and credentials never
//! appear in URLs or labels. A host name is resolved once, every address is checked, and
//! the collector connects to the checked address (`pinned_addr`), never re-resolving.

use super::{AppState, Runtime, exposition, metrics_body, request_deadline, scrape_permit, text};
use crate::collectors::{Collector, postgres::PostgresCollector, redis::RedisCollector};
use crate::config::allow_list::{AllowList, Decision, ProbeTarget, TargetHost};
use crate::config::{
    PostgresTarget, ProbeModule, RedisTarget, probe_postgres_target, probe_redis_target,
};
use crate::scrape::Scraper;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Most probed targets whose connections are kept; the oldest is dropped beyond it.
pub const MAX_CACHED_PROBES: usize = 256;
/// Longest a probe waits for its target's name to resolve (further capped by the
/// scrape deadline).
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(2);
/// Most addresses of one name that are checked; the rest are ignored (never used).
pub const MAX_RESOLVED_ADDRS: usize = 16;

/// Probe collectors by `(module, target)`, so repeated probes reuse connections and share
/// in-flight collections exactly like configured targets.
#[derive(Default)]
pub struct ProbeCache {
    inner: Mutex<ProbeMap>,
}

/// `(module, canonical target)`.
type ProbeKey = (String, String);
/// A cached scraper and the address its collector is pinned to.
type ProbeEntry = (Arc<Scraper>, Option<SocketAddr>);
/// Key → entry, plus insertion order for eviction.
type ProbeMap = (BTreeMap<ProbeKey, ProbeEntry>, VecDeque<ProbeKey>);

impl ProbeCache {
    /// The scraper for `key`. A cached one is reused while its pinned address is still
    /// `pin` or one of the `resolved` (checked) addresses; otherwise it is replaced.
    fn get_or_create(
        &self,
        key: ProbeKey,
        pin: Option<SocketAddr>,
        resolved: &[IpAddr],
        make: impl FnOnce() -> Option<Collector>,
    ) -> Option<Arc<Scraper>> {
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (map, order) = &mut *guard;
        let existing = map.get(&key).map(|(s, cached)| (s.clone(), *cached));
        if let Some((s, cached)) = &existing
            && (*cached == pin || cached.is_some_and(|a| resolved.contains(&a.ip())))
        {
            return Some(s.clone());
        }
        let scraper = Arc::new(Scraper::new(vec![make()?]));
        if existing.is_none() {
            if map.len() >= MAX_CACHED_PROBES
                && let Some(old) = order.pop_front()
            {
                map.remove(&old);
            }
            order.push_back(key.clone());
        }
        map.insert(key, (scraper.clone(), pin));
        Some(scraper)
    }

    /// Number of cached probe targets.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).0.len()
    }
}

/// Resolves a host-name target once, bounded in time and in addresses; nothing for an
/// IP literal, and no lookup at all when no allow-list entry could admit the result.
async fn resolve(
    list: &AllowList,
    target: &ProbeTarget,
    deadline: tokio::time::Instant,
) -> Vec<IpAddr> {
    let TargetHost::Name(name) = &target.host else {
        return Vec::new();
    };
    if !list.allows_name(name, target.port) && !list.has_network_for_port(target.port) {
        return Vec::new();
    }
    let budget = deadline
        .saturating_duration_since(tokio::time::Instant::now())
        .min(RESOLVE_TIMEOUT);
    match tokio::time::timeout(
        budget,
        tokio::net::lookup_host((name.as_str(), target.port)),
    )
    .await
    {
        Ok(Ok(addrs)) => {
            let mut out: Vec<IpAddr> = Vec::new();
            for a in addrs {
                let ip = a.ip().to_canonical();
                if !out.contains(&ip) {
                    out.push(ip);
                }
                if out.len() >= MAX_RESOLVED_ADDRS {
                    break;
                }
            }
            out
        }
        Ok(Err(e)) => {
            tracing::debug!(target_name = %target, error = %e, "Probe target did not resolve");
            Vec::new()
        }
        Err(_) => {
            tracing::debug!(target_name = %target, "Probe target resolution timed out");
            Vec::new()
        }
    }
}

/// A target built from a module: Redis or PostgreSQL, connecting to `pin` when given.
#[derive(Debug)]
enum Built {
    Redis(RedisTarget),
    Postgres(PostgresTarget),
}

/// Builds the collector target for `target` from `module`, pinned to the checked address.
fn build_target(
    module: ProbeModule,
    target: &str,
    pin: Option<SocketAddr>,
    slow_query_threshold: Duration,
) -> Option<Built> {
    match module {
        ProbeModule::Redis {
            username,
            password,
            tls,
            timeout,
            profile,
        } => probe_redis_target(target, username.as_deref(), password, tls, timeout, profile).map(
            |mut t| {
                t.pinned_addr = pin;
                Built::Redis(t)
            },
        ),
        ProbeModule::Postgres {
            user,
            database,
            password,
            ssl_mode,
            ca_file,
            timeout,
            profile,
        } => probe_postgres_target(
            target,
            &user,
            &database,
            password,
            ssl_mode,
            ca_file,
            timeout,
            profile,
            slow_query_threshold,
        )
        .map(|mut t| {
            t.pinned_addr = pin;
            Built::Postgres(t)
        }),
    }
}

/// The percent-decoded value of query parameter `name` (`+` is a space, as in forms);
/// `None` when absent or not valid UTF-8 once decoded.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        if k == name { percent_decode(v) } else { None }
    })
}

fn percent_decode(s: &str) -> Option<String> {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8()
        .ok()
        .map(|v| v.into_owned())
}

fn refuse(status: StatusCode, msg: String) -> Response<Full<Bytes>> {
    let mut r = text(status, "");
    *r.body_mut() = Full::new(Bytes::from(msg));
    r
}

/// Serves one probe.
pub async fn handle(
    state: &AppState,
    rt: &Runtime,
    req: &Request<Incoming>,
) -> Response<Full<Bytes>> {
    let query = req.uri().query().unwrap_or("");
    let (Some(raw_target), Some(module_name)) =
        (query_param(query, "target"), query_param(query, "module"))
    else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "probe needs ?target=host:port&module=name\n".into(),
        );
    };
    let Some(module) = rt.settings.probe.modules.get(&module_name) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            format!("unknown module {module_name:?}\n"),
        );
    };
    let target = match ProbeTarget::parse(&raw_target) {
        Ok(t) => t,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, format!("{e}\n")),
    };
    let name = target.to_string();
    // The slot also bounds concurrent name lookups.
    let _permit = match scrape_permit(state) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let deadline = request_deadline(rt, req);
    let list = &rt.settings.probe.allowed_targets;
    let resolved = resolve(list, &target, deadline).await;
    let pin = match list.decide(&target, &resolved) {
        Decision::Allow(pin) => pin,
        Decision::Deny => {
            tracing::warn!(target_name = %name, module = %module_name, addresses = ?resolved, "Probe refused: target not in probe.allowed_targets");
            return refuse(
                StatusCode::FORBIDDEN,
                "target is not in probe.allowed_targets\n".into(),
            );
        }
    };
    let threshold = rt
        .settings
        .postgres
        .first()
        .map(|p| p.slow_query_threshold)
        .unwrap_or(Duration::from_secs(1));
    let profile = match module {
        ProbeModule::Redis { profile, .. } | ProbeModule::Postgres { profile, .. } => {
            profile.clone()
        }
    };
    let cap = rt.settings.max_reply_bytes;
    let make = || {
        build_target(module.clone(), &name, pin, threshold).map(|b| match b {
            Built::Redis(t) => Collector::Redis(RedisCollector::new(t).with_max_reply_bytes(cap)),
            Built::Postgres(t) => {
                Collector::Postgres(PostgresCollector::new(t).with_max_reply_bytes(cap))
            }
        })
    };
    let Some(scraper) = rt
        .probes
        .get_or_create((module_name, name.clone()), pin, &resolved, make)
    else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "cannot build a target from this address\n".into(),
        );
    };
    let report = scraper.scrape(deadline).await;
    let profiles = BTreeMap::from([(name, profile)]);
    exposition(req, metrics_body(&report, &profiles, None))
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::profile::{DEFAULT_PROFILE, Profile};

    fn profile() -> Profile {
        Profile::load(DEFAULT_PROFILE).unwrap()
    }

    fn redis_module() -> ProbeModule {
        ProbeModule::Redis {
            username: None,
            password: None,
            tls: None,
            timeout: Duration::from_secs(1),
            profile: profile(),
        }
    }

    #[test]
    fn query_params_decode() {
        assert_eq!(
            query_param("target=127.0.0.1%3A6379&module=r", "target").as_deref(),
            Some("127.0.0.1:6379")
        );
        assert_eq!(query_param("module=r", "target"), None);
    }

    #[test]
    fn targets_are_pinned_to_the_checked_address() {
        let pin: SocketAddr = "127.0.0.1:6379".parse().unwrap();
        let Some(Built::Redis(t)) =
            build_target(redis_module(), "pe.test:6379", Some(pin), Duration::ZERO)
        else {
            panic!("redis target");
        };
        assert_eq!(t.pinned_addr, Some(pin));
        assert_eq!(t.name, "pe.test:6379");
        let pg = ProbeModule::Postgres {
            user: "u".into(),
            database: "d".into(),
            password: None,
            ssl_mode: None,
            ca_file: None,
            timeout: Duration::from_secs(1),
            profile: profile(),
        };
        let pin6: SocketAddr = "[::1]:5432".parse().unwrap();
        let Some(Built::Postgres(t)) = build_target(pg, "[::1]:5432", Some(pin6), Duration::ZERO)
        else {
            panic!("postgres target");
        };
        assert_eq!(t.pinned_addr, Some(pin6));
    }

    #[test]
    fn cache_reuses_while_the_pin_is_still_checked() {
        let cache = ProbeCache::default();
        let a: SocketAddr = "127.0.0.1:6379".parse().unwrap();
        let b: SocketAddr = "127.0.0.2:6379".parse().unwrap();
        let make = |pin| {
            move || {
                build_target(redis_module(), "n.test:6379", pin, Duration::ZERO).map(|b| match b {
                    Built::Redis(t) => Collector::Redis(RedisCollector::new(t)),
                    Built::Postgres(t) => Collector::Postgres(PostgresCollector::new(t)),
                })
            }
        };
        let key = || ("m".to_string(), "n.test:6379".to_string());
        let s1 = cache
            .get_or_create(key(), Some(a), &[a.ip()], make(Some(a)))
            .unwrap();
        // Resolved to both, first is b: the cached one (pinned to a, still checked) stays.
        let s2 = cache
            .get_or_create(key(), Some(b), &[b.ip(), a.ip()], make(Some(b)))
            .unwrap();
        assert!(Arc::ptr_eq(&s1, &s2));
        // a is gone from the name: replaced, and still one slot.
        let s3 = cache
            .get_or_create(key(), Some(b), &[b.ip()], make(Some(b)))
            .unwrap();
        assert!(!Arc::ptr_eq(&s1, &s3));
        assert_eq!(cache.len(), 1);
        // A target that cannot be built takes no slot.
        assert!(
            cache
                .get_or_create(("m".into(), "x".into()), None, &[], || None)
                .is_none()
        );
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn cache_is_bounded() {
        let cache = ProbeCache::default();
        for i in 0..MAX_CACHED_PROBES + 10 {
            let t = format!("127.0.0.1:{}", i + 1);
            let pin: SocketAddr = t.parse().unwrap();
            cache.get_or_create(("m".into(), t.clone()), Some(pin), &[], || {
                build_target(redis_module(), &t, Some(pin), Duration::ZERO).map(|b| match b {
                    Built::Redis(t) => Collector::Redis(RedisCollector::new(t)),
                    Built::Postgres(t) => Collector::Postgres(PostgresCollector::new(t)),
                })
            });
        }
        assert_eq!(cache.len(), MAX_CACHED_PROBES);
    }
}
