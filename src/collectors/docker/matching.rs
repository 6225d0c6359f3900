//! Which running container a monitored target lives in: the target's address (from its
//! URL or DSN) against the containers' published ports, compose services and names. Pure.

use super::api::{self, ContainerSummary};
use crate::collectors::Kind;
use crate::collectors::address::{postgres_host_port, redis_host_port};
use crate::config::Settings;

/// A monitored Redis/PostgreSQL target whose container the collector looks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonitoredTarget {
    /// The target's `target` label.
    pub name: String,
    /// Redis or Postgres.
    pub kind: Kind,
    /// Host from the target's address (a name, an IP, or a unix socket directory).
    pub host: String,
    /// Port from the target's address.
    pub port: Option<u16>,
    /// Explicit container name or ID from the target's configuration.
    pub container: Option<String>,
    /// PostgreSQL with a log file configured: its slow statements come from that file,
    /// not from the container's log stream.
    pub log_file: bool,
}

/// The Redis and PostgreSQL targets of the configuration, with host and port taken from
/// their addresses (no secrets: URLs and DSNs are already sanitised).
pub fn monitored_targets(settings: &Settings) -> Vec<MonitoredTarget> {
    let mut out = Vec::new();
    for t in settings.redis.iter().filter(|t| !t.not_in_container) {
        let (host, port) = redis_host_port(&t.url);
        out.push(MonitoredTarget {
            name: t.name.clone(),
            kind: Kind::Redis,
            host,
            port,
            container: t.container.clone(),
            log_file: false,
        });
    }
    for t in settings.postgres.iter().filter(|t| !t.not_in_container) {
        let (host, port) = postgres_host_port(&t.dsn);
        out.push(MonitoredTarget {
            name: t.name.clone(),
            kind: Kind::Postgres,
            host,
            port,
            container: t.container.clone(),
            log_file: t.log_file.is_some(),
        });
    }
    out
}

/// How a target's container was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchedBy {
    /// `container:` in the target's configuration.
    Explicit,
    /// The only container publishing the target's port on a matching host address.
    PublishedPort,
    /// The only container whose compose service is the target's host name.
    ComposeService,
    /// The only container named like the target's host (Docker network DNS).
    ContainerName,
}

impl MatchedBy {
    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchedBy::Explicit => "config",
            MatchedBy::PublishedPort => "published_port",
            MatchedBy::ComposeService => "compose_service",
            MatchedBy::ContainerName => "container_name",
        }
    }
}

/// Result of looking for a target's container among the running ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// Exactly one candidate.
    Found(String, MatchedBy),
    /// No candidate.
    NotFound,
    /// Several candidates (IDs): we do not guess.
    Ambiguous(Vec<String>),
}

fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn is_wildcard_ip(ip: &str) -> bool {
    matches!(ip, "" | "0.0.0.0" | "::")
}

/// Does a port binding on `binding_ip` serve connections to `host`?
fn binding_serves(binding_ip: &str, host: &str) -> bool {
    if is_wildcard_ip(binding_ip) {
        // Reachable on every local address; we only claim it for loopback targets (a
        // remote host with the same port is a different server).
        return is_loopback_host(host);
    }
    if binding_ip == host {
        return true;
    }
    let loop_ip = binding_ip
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback());
    loop_ip && is_loopback_host(host)
}

/// Finds the running container of a target without an explicit `container:`: first by a
/// published port serving the target's address, then by compose service name or container
/// name equal to the target's host. Only an unambiguous match counts.
pub fn find_container(target: &MonitoredTarget, containers: &[ContainerSummary]) -> Lookup {
    if let Some(port) = target.port {
        let by_port: Vec<&ContainerSummary> = containers
            .iter()
            .filter(|c| {
                c.ports.iter().any(|p| {
                    p.public_port == Some(port)
                        && (p.protocol.is_empty() || p.protocol == "tcp")
                        && binding_serves(&p.ip, &target.host)
                })
            })
            .collect();
        match by_port.as_slice() {
            [] => {}
            [only] => return Lookup::Found(only.id.clone(), MatchedBy::PublishedPort),
            several => return Lookup::Ambiguous(several.iter().map(|c| c.id.clone()).collect()),
        }
    }
    if target.host.is_empty() || target.host.starts_with('/') || is_loopback_host(&target.host) {
        return Lookup::NotFound;
    }
    for (by, pick) in [
        (
            MatchedBy::ComposeService,
            (|c: &ContainerSummary, h: &str| {
                c.labels
                    .get(api::LABEL_COMPOSE_SERVICE)
                    .is_some_and(|s| s == h)
            }) as fn(&ContainerSummary, &str) -> bool,
        ),
        (MatchedBy::ContainerName, |c, h| {
            c.names.iter().any(|n| n == h)
        }),
    ] {
        let found: Vec<&ContainerSummary> = containers
            .iter()
            .filter(|c| pick(c, &target.host))
            .collect();
        match found.as_slice() {
            [] => {}
            [only] => return Lookup::Found(only.id.clone(), by),
            several => return Lookup::Ambiguous(several.iter().map(|c| c.id.clone()).collect()),
        }
    }
    Lookup::NotFound
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::PortBinding;
    use std::collections::BTreeMap;

    fn target(host: &str, port: Option<u16>) -> MonitoredTarget {
        MonitoredTarget {
            name: "t".into(),
            kind: Kind::Redis,
            host: host.into(),
            port,
            container: None,
            log_file: false,
        }
    }

    fn container(
        id: &str,
        name: &str,
        service: Option<&str>,
        ports: &[(&str, u16)],
    ) -> ContainerSummary {
        ContainerSummary {
            id: id.into(),
            names: vec![name.into()],
            labels: service
                .map(|s| BTreeMap::from([(api::LABEL_COMPOSE_SERVICE.to_string(), s.to_string())]))
                .unwrap_or_default(),
            ports: ports
                .iter()
                .map(|(ip, p)| PortBinding {
                    ip: ip.to_string(),
                    private_port: 6379,
                    public_port: Some(*p),
                    protocol: "tcp".into(),
                })
                .collect(),
        }
    }

    #[test]
    fn container_lookup() {
        let cs = vec![
            container("a", "redis-a", Some("cache"), &[("0.0.0.0", 16379)]),
            container("b", "redis-b", Some("queue"), &[("127.0.0.1", 16380)]),
            container("c", "pg", Some("db"), &[("10.1.1.1", 5432)]),
            container("d", "twin1", Some("twin"), &[]),
            container("e", "twin2", Some("twin"), &[]),
        ];
        assert_eq!(
            find_container(&target("127.0.0.1", Some(16379)), &cs),
            Lookup::Found("a".into(), MatchedBy::PublishedPort)
        );
        assert_eq!(
            find_container(&target("localhost", Some(16380)), &cs),
            Lookup::Found("b".into(), MatchedBy::PublishedPort)
        );
        // A wildcard binding is not claimed for a remote host name.
        assert_eq!(
            find_container(&target("db.example.com", Some(16379)), &cs),
            Lookup::NotFound
        );
        assert_eq!(
            find_container(&target("10.1.1.1", Some(5432)), &cs),
            Lookup::Found("c".into(), MatchedBy::PublishedPort)
        );
        assert_eq!(
            find_container(&target("cache", Some(6379)), &cs),
            Lookup::Found("a".into(), MatchedBy::ComposeService)
        );
        assert_eq!(
            find_container(&target("pg", Some(5432)), &cs),
            Lookup::Found("c".into(), MatchedBy::ContainerName)
        );
        assert!(matches!(
            find_container(&target("twin", Some(6379)), &cs),
            Lookup::Ambiguous(ids) if ids.len() == 2
        ));
        let mut dup = cs.clone();
        dup.push(container("f", "other", None, &[("0.0.0.0", 16379)]));
        assert!(matches!(
            find_container(&target("127.0.0.1", Some(16379)), &dup),
            Lookup::Ambiguous(_)
        ));
        assert_eq!(
            find_container(&target("127.0.0.1", Some(1)), &cs),
            Lookup::NotFound
        );
    }
}
