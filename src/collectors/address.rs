//! Host and port of a target's address (Redis URL, PostgreSQL DSN), as the Docker
//! collector needs them to find the target's container. Never fails: an address it cannot
//! read gives an empty host.
//!
//! [`split_host_port`] is the collectors' one `host:port` splitter (Redis URLs, the Docker
//! Engine's `tcp://` address). The HTTP layer keeps its own parsers on purpose: the
//! `/probe` allow-list's target parser is stricter (it rejects what it cannot pin down,
//! since it guards what a request may make the exporter connect to), and
//! `--web.listen-address` accepts `:port`.

/// Host and port of a `redis://` / `rediss://` URL (default port 6379).
pub fn redis_host_port(url: &str) -> (String, Option<u16>) {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let hostport = authority
        .rsplit_once('@')
        .map(|(_, h)| h)
        .unwrap_or(authority);
    split_host_port(hostport, 6379)
}

/// Splits `host:port`, `host`, `[v6]:port` or `[v6]` into the host (without brackets)
/// and the port (`default_port` when absent, `None` when not a number). A bare IPv6
/// address (several colons, no brackets) is all host.
pub fn split_host_port(hostport: &str, default_port: u16) -> (String, Option<u16>) {
    if let Some(rest) = hostport.strip_prefix('[') {
        // [v6]:port
        let (host, after) = rest.split_once(']').unwrap_or((rest, ""));
        let port = after
            .strip_prefix(':')
            .and_then(|p| p.parse().ok())
            .or(Some(default_port));
        return (host.to_string(), port);
    }
    match hostport.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h.to_string(), p.parse().ok()),
        _ => (hostport.to_string(), Some(default_port)),
    }
}

/// Host and port of a PostgreSQL DSN (URL or key/value; default port 5432).
pub fn postgres_host_port(dsn: &str) -> (String, Option<u16>) {
    let (dsn, _) = crate::config::split_sslmode(dsn);
    match dsn.parse::<tokio_postgres::Config>() {
        Ok(c) => {
            let host = match c.get_hosts().first() {
                Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
                Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
                None => "localhost".to_string(),
            };
            (host, Some(c.get_ports().first().copied().unwrap_or(5432)))
        }
        Err(_) => (String::new(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            redis_host_port("redis://u@10.0.0.1:6380/2"),
            ("10.0.0.1".into(), Some(6380))
        );
        assert_eq!(
            redis_host_port("rediss://cache"),
            ("cache".into(), Some(6379))
        );
        assert_eq!(
            redis_host_port("redis://[::1]:7000"),
            ("::1".into(), Some(7000))
        );
        assert_eq!(
            postgres_host_port("postgresql://u@db:5433/app?sslmode=verify-full"),
            ("db".into(), Some(5433))
        );
        assert_eq!(
            postgres_host_port("host=127.0.0.1 port=6000 user=x"),
            ("127.0.0.1".into(), Some(6000))
        );
        assert_eq!(
            postgres_host_port("postgresql:///db?host=/run/postgresql"),
            ("/run/postgresql".into(), Some(5432))
        );
    }
}
