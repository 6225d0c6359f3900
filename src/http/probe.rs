//! `/probe?target=host:port&module=name`: one exporter for many instances, in the style
//! of blackbox_exporter and redis_exporter. The module (from the config file) holds the
//! credentials and the profile; the target must match the allow-list, so the exporter is
//! never an open proxy, and credentials never appear in URLs or labels.

use super::{AppState, Runtime, exposition, metrics_body, request_deadline, scrape_permit, text};
use crate::collectors::{Collector, postgres::PostgresCollector, redis::RedisCollector};
use crate::config::{ProbeModule, probe_postgres_target, probe_redis_target};
use crate::scrape::Scraper;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

/// Most probed targets whose connections are kept; the oldest is dropped beyond it.
pub const MAX_CACHED_PROBES: usize = 256;

/// Probe collectors by `(module, target)`, so repeated probes reuse connections and share
/// in-flight collections exactly like configured targets.
#[derive(Default)]
pub struct ProbeCache {
    inner: Mutex<ProbeMap>,
}

/// `(module, target)` → its scraper, plus insertion order for eviction.
type ProbeKey = (String, String);
type ProbeMap = (BTreeMap<ProbeKey, Arc<Scraper>>, VecDeque<ProbeKey>);

impl ProbeCache {
    fn get_or_create(
        &self,
        key: (String, String),
        make: impl FnOnce() -> Option<Collector>,
    ) -> Option<Arc<Scraper>> {
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (map, order) = &mut *guard;
        if let Some(s) = map.get(&key) {
            return Some(s.clone());
        }
        let scraper = Arc::new(Scraper::new(vec![make()?]));
        if map.len() >= MAX_CACHED_PROBES
            && let Some(old) = order.pop_front()
        {
            map.remove(&old);
        }
        map.insert(key.clone(), scraper.clone());
        order.push_back(key);
        Some(scraper)
    }
}

/// Validates a probe target: `host:port`, nothing that could smuggle credentials, a
/// path or a second address.
pub fn valid_target(t: &str) -> bool {
    let Some((host, port)) = t.rsplit_once(':') else {
        return false;
    };
    !host.is_empty()
        && port.parse::<u16>().is_ok_and(|p| p > 0)
        && t.len() <= 255
        && !t.contains(['@', '/', '?', '#', ' ', ',', '\\'])
        && t.chars().all(|c| c.is_ascii_graphic())
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
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
    let (Some(target), Some(module_name)) =
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
    if !valid_target(&target) {
        return refuse(
            StatusCode::BAD_REQUEST,
            "target must be host:port, without credentials\n".into(),
        );
    }
    if !rt.settings.probe.allows(&target) {
        tracing::warn!(target_name = %target, module = %module_name, "Probe refused: target not in probe.allowed_targets");
        return refuse(
            StatusCode::FORBIDDEN,
            "target is not in probe.allowed_targets\n".into(),
        );
    }
    let _permit = match scrape_permit(state) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let threshold = rt
        .settings
        .postgres
        .first()
        .map(|p| p.slow_query_threshold)
        .unwrap_or(std::time::Duration::from_secs(1));
    let (profile, make): (_, Box<dyn FnOnce() -> Option<Collector>>) = match module.clone() {
        ProbeModule::Redis {
            username,
            password,
            tls,
            timeout,
            profile,
        } => {
            let p = profile.clone();
            let t = target.clone();
            (
                p,
                Box::new(move || {
                    probe_redis_target(&t, username.as_deref(), password, tls, timeout, profile)
                        .map(|t| Collector::Redis(RedisCollector::new(t)))
                }),
            )
        }
        ProbeModule::Postgres {
            user,
            database,
            password,
            ssl_mode,
            ca_file,
            timeout,
            profile,
        } => {
            let p = profile.clone();
            let t = target.clone();
            (
                p,
                Box::new(move || {
                    probe_postgres_target(
                        &t, &user, &database, password, ssl_mode, ca_file, timeout, profile,
                        threshold,
                    )
                    .map(|t| Collector::Postgres(PostgresCollector::new(t)))
                }),
            )
        }
    };
    let Some(scraper) = rt.probes.get_or_create((module_name, target.clone()), make) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "cannot build a target from this address\n".into(),
        );
    };
    let report = scraper.scrape(request_deadline(rt, req)).await;
    let profiles = BTreeMap::from([(target, profile)]);
    exposition(req, metrics_body(&report, &profiles, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_validated() {
        assert!(valid_target("10.0.0.5:6379"));
        assert!(valid_target("redis-1.internal:6380"));
        assert!(valid_target("[::1]:6379"));
        for bad in [
            "x", ":6379", "h:0", "h:99999", "u:p@h:1", "h:1/db", "h:1?x", "a b:1", "h:1,h:2",
        ] {
            assert!(!valid_target(bad), "{bad}");
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
    fn allow_list_globs() {
        use crate::config::glob_match;
        assert!(glob_match("127.0.0.1:*", "127.0.0.1:6379"));
        assert!(glob_match("redis-*.internal:6379", "REDIS-7.internal:6379"));
        assert!(!glob_match(
            "redis-*.internal:6379",
            "redis-7.internal:6380"
        ));
        assert!(!glob_match("127.0.0.1:*", "127.0.0.10:1"));
        assert!(glob_match("*", "anything:1"));
    }
}
