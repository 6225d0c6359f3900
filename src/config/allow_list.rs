//! The `/probe` allow-list and probe-target syntax, as pure functions.
//!
//! `probe.allowed_targets` entries are parsed once, at config load, into an [`AllowList`]:
//!
//! ```text
//! entry    = network [":" ports]          10.0.0.0/16   10.0.0.5:6379   127.0.0.1:*
//!          | "[" v6network "]" [":" ports] [fd00::/8]:5432   [::1]
//!          | v6network                     ::1/128   fd00::/8        (no port)
//!          | hostname [":" ports]          redis-1.internal:6379   redis-*.internal
//! network  = IPv4 ["/" 0-32] | IPv6 ["/" 0-128]    a bare address is /32 or /128;
//!                                                   host bits must be zero
//! ports    = port | port "-" port | "*"             1-65535; no port or "*" = any port
//! hostname = labels of [a-z0-9_-] separated by ".", compared case-insensitively;
//!            "*" inside a label matches any run of characters within that one label,
//!            never a "." (so "redis-*.internal" does not match "redis-1.evil.internal");
//!            the last label must hold a letter, so "10.0.*" and "*" are refused.
//! ```
//!
//! A probe target ([`ProbeTarget`]) is `host:port`, `[v6]:port`; anything else
//! (credentials, paths, spaces, control characters, a bare IPv6 address, a numeric host
//! name that is not a dotted-quad, more than 255 characters) is refused before any name
//! is resolved. [`AllowList::decide`] then admits an IP-literal target when a network
//! entry holds it (port included), and a host-name target when a host-name entry matches
//! it or when every address it resolved to is admitted by the network entries.

use ipnet::IpNet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

/// Longest probe target accepted, in bytes.
pub const MAX_TARGET_LEN: usize = 255;

/// An inclusive port range; `1..=65535` means any port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ports {
    /// First allowed port.
    pub lo: u16,
    /// Last allowed port.
    pub hi: u16,
}

impl Ports {
    /// Every port.
    pub const ANY: Ports = Ports {
        lo: 1,
        hi: u16::MAX,
    };

    fn contains(self, port: u16) -> bool {
        (self.lo..=self.hi).contains(&port)
    }
}

/// A host-name pattern: lower-case labels, `*` matching within one label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPattern {
    labels: Vec<String>,
}

impl HostPattern {
    /// True when `name` (already validated, any case) has as many labels and each matches.
    fn matches(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        let labels: Vec<&str> = name.split('.').collect();
        labels.len() == self.labels.len()
            && self
                .labels
                .iter()
                .zip(labels)
                .all(|(p, l)| label_glob(p, l))
    }
}

/// `*` = any run of characters inside one label (the label has no dot by construction).
fn label_glob(pattern: &str, label: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = label.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = rest.get(at + part.len()..).unwrap_or(""),
            None => return false,
        }
    }
    rest.ends_with(last)
}

/// One parsed allow-list entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AllowEntry {
    /// An IP network and the ports allowed in it.
    Network {
        /// The network (host bits zero).
        net: IpNet,
        /// Allowed ports.
        ports: Ports,
    },
    /// A host-name pattern and the ports allowed for it.
    Host {
        /// The name, possibly with single-label `*` wildcards.
        pattern: HostPattern,
        /// Allowed ports.
        ports: Ports,
    },
}

/// Why an allow-list entry was refused (the message names the entry).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{entry:?}: {reason}")]
pub struct EntryError {
    /// The entry as written.
    pub entry: String,
    /// What is wrong with it.
    pub reason: String,
}

/// The parsed `probe.allowed_targets`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowList {
    entries: Vec<AllowEntry>,
}

/// What a probe of a target may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Probe it; connect to this checked address (`None`: allowed by name, but the name
    /// did not resolve, so the collector reports it down).
    Allow(Option<SocketAddr>),
    /// Refuse it (403).
    Deny,
}

impl AllowList {
    /// Parses every entry; the errors list every bad one.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<AllowList, Vec<EntryError>> {
        let mut ok = Vec::new();
        let mut errors = Vec::new();
        for e in entries {
            match parse_entry(e.as_ref()) {
                Ok(entry) => ok.push(entry),
                Err(reason) => errors.push(EntryError {
                    entry: e.as_ref().to_string(),
                    reason,
                }),
            }
        }
        if errors.is_empty() {
            Ok(AllowList { entries: ok })
        } else {
            Err(errors)
        }
    }

    /// True when nothing is allowed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The parsed entries, in configuration order.
    pub fn entries(&self) -> &[AllowEntry] {
        &self.entries
    }

    /// True when a network entry holds `addr` with `port`.
    pub fn allows_addr(&self, addr: IpAddr, port: u16) -> bool {
        let addr = addr.to_canonical();
        self.entries.iter().any(|e| match e {
            AllowEntry::Network { net, ports } => ports.contains(port) && net.contains(&addr),
            AllowEntry::Host { .. } => false,
        })
    }

    /// True when a host-name entry matches `name` (a validated host name) with `port`.
    pub fn allows_name(&self, name: &str, port: u16) -> bool {
        self.entries.iter().any(|e| match e {
            AllowEntry::Host { pattern, ports } => ports.contains(port) && pattern.matches(name),
            AllowEntry::Network { .. } => false,
        })
    }

    /// True when some network entry admits `port`: only then is resolving a name that no
    /// host-name entry matches worth doing.
    pub fn has_network_for_port(&self, port: u16) -> bool {
        self.entries
            .iter()
            .any(|e| matches!(e, AllowEntry::Network { ports, .. } if ports.contains(port)))
    }

    /// The decision for `target`, given the addresses its host resolved to (ignored for
    /// IP literals). A name allowed by a network entry needs at least one address, and
    /// every address must be allowed.
    pub fn decide(&self, target: &ProbeTarget, resolved: &[IpAddr]) -> Decision {
        let port = target.port;
        match &target.host {
            TargetHost::Ip(ip) => {
                if self.allows_addr(*ip, port) {
                    Decision::Allow(Some(SocketAddr::new(ip.to_canonical(), port)))
                } else {
                    Decision::Deny
                }
            }
            TargetHost::Name(name) => {
                let first = resolved
                    .first()
                    .map(|ip| SocketAddr::new(ip.to_canonical(), port));
                let by_name = self.allows_name(name, port);
                let by_network =
                    first.is_some() && resolved.iter().all(|ip| self.allows_addr(*ip, port));
                if by_name || by_network {
                    Decision::Allow(first)
                } else {
                    Decision::Deny
                }
            }
        }
    }
}

fn parse_entry(s: &str) -> Result<AllowEntry, String> {
    if s.is_empty() {
        return Err("empty entry".into());
    }
    if !s.chars().all(|c| c.is_ascii_graphic()) {
        return Err("spaces, control or non-ASCII characters".into());
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (inner, after) = rest
            .split_once(']')
            .ok_or("missing \"]\" after the IPv6 network")?;
        let net = parse_network(inner)?;
        if !matches!(net, IpNet::V6(_)) {
            return Err("brackets are for IPv6 networks only".into());
        }
        let ports = match after {
            "" => Ports::ANY,
            _ => parse_ports(
                after
                    .strip_prefix(':')
                    .ok_or("expected \":port\" after \"]\"")?,
            )?,
        };
        return Ok(AllowEntry::Network { net, ports });
    }
    if s.matches(':').count() > 1 {
        let net = parse_network(s)
            .map_err(|e| format!("{e} (an IPv6 network with a port is written [fd00::/8]:5432)"))?;
        return Ok(AllowEntry::Network {
            net,
            ports: Ports::ANY,
        });
    }
    let (host, ports) = match s.split_once(':') {
        Some((h, p)) => (h, parse_ports(p)?),
        None => (s, Ports::ANY),
    };
    if host.contains('/') || Ipv4Addr::from_str(host).is_ok() {
        return Ok(AllowEntry::Network {
            net: parse_network(host)?,
            ports,
        });
    }
    Ok(AllowEntry::Host {
        pattern: parse_host_pattern(host)?,
        ports,
    })
}

/// `addr` or `addr/prefix`; a bare address is a single host; host bits must be zero.
fn parse_network(s: &str) -> Result<IpNet, String> {
    let net = match s.split_once('/') {
        None => IpAddr::from_str(s)
            .map(IpNet::from)
            .map_err(|_| format!("{s:?} is not an IP address"))?,
        Some((addr, prefix)) => {
            if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("{prefix:?} is not a prefix length"));
            }
            let addr =
                IpAddr::from_str(addr).map_err(|_| format!("{addr:?} is not an IP address"))?;
            let len: u8 = prefix
                .parse()
                .map_err(|_| format!("{prefix:?} is not a prefix length"))?;
            IpNet::new(addr, len).map_err(|_| format!("prefix /{len} is too long"))?
        }
    };
    if net.trunc() != net {
        return Err(format!("host bits are set; the network is {}", net.trunc()));
    }
    Ok(net)
}

/// `6379`, `6379-6380` or `*`.
fn parse_ports(s: &str) -> Result<Ports, String> {
    if s == "*" {
        return Ok(Ports::ANY);
    }
    let (lo, hi) = match s.split_once('-') {
        Some((a, b)) => (parse_port(a)?, parse_port(b)?),
        None => {
            let p = parse_port(s)?;
            (p, p)
        }
    };
    if lo > hi {
        return Err(format!("port range {s:?} runs backwards"));
    }
    Ok(Ports { lo, hi })
}

/// A port number 1-65535, digits only.
fn parse_port(s: &str) -> Result<u16, String> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{s:?} is not a port"));
    }
    match s.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("{s:?} is not a port (1-65535)")),
    }
}

fn parse_host_pattern(s: &str) -> Result<HostPattern, String> {
    if s.is_empty() {
        return Err("empty host".into());
    }
    if s.len() > 253 {
        return Err("host name longer than 253 characters".into());
    }
    let labels: Vec<String> = s.split('.').map(str::to_ascii_lowercase).collect();
    for l in &labels {
        if l.is_empty() || l.len() > 63 {
            return Err(format!("{s:?} has an empty or over-long label"));
        }
        if !l
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'*')
        {
            return Err(format!(
                "{s:?} is neither an IP network nor a host name (letters, digits, \"-\", \"_\", \"*\")"
            ));
        }
    }
    let last = labels.last().map(String::as_str).unwrap_or("");
    if !last.bytes().any(|b| b.is_ascii_alphabetic()) {
        return Err(format!(
            "{s:?}: a host name's last label needs a letter; \"*\" matches one name label, \
             never parts of an IP address: use a CIDR network such as 10.0.0.0/16"
        ));
    }
    Ok(HostPattern { labels })
}

/// The host of a probe target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetHost {
    /// An IPv4 or IPv6 literal.
    Ip(IpAddr),
    /// A host name, lower-cased.
    Name(String),
}

/// A syntactically valid probe target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeTarget {
    /// Host (literal or name).
    pub host: TargetHost,
    /// Port, 1-65535.
    pub port: u16,
}

/// Why a probe target was refused (400).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("target must be host:port or [ipv6]:port: {0}")]
pub struct TargetError(pub &'static str);

impl ProbeTarget {
    /// Parses `host:port` / `[v6]:port`, refusing anything else before any lookup.
    pub fn parse(s: &str) -> Result<ProbeTarget, TargetError> {
        if s.len() > MAX_TARGET_LEN {
            return Err(TargetError("too long"));
        }
        if !s.chars().all(|c| c.is_ascii_graphic()) {
            return Err(TargetError("spaces, control or non-ASCII characters"));
        }
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (inner, after) = rest.split_once(']').ok_or(TargetError("missing \"]\""))?;
            let port = after.strip_prefix(':').ok_or(TargetError("missing port"))?;
            let ip = Ipv6Addr::from_str(inner).map_err(|_| TargetError("bad IPv6 address"))?;
            (TargetHost::Ip(IpAddr::V6(ip)), port)
        } else {
            let (host, port) = s.rsplit_once(':').ok_or(TargetError("missing port"))?;
            if host.contains(':') {
                return Err(TargetError("an IPv6 address needs brackets"));
            }
            let host = match Ipv4Addr::from_str(host) {
                Ok(ip) => TargetHost::Ip(IpAddr::V4(ip)),
                Err(_) => TargetHost::Name(valid_host_name(host)?),
            };
            (host, port)
        };
        let port = parse_port(port).map_err(|_| TargetError("bad port"))?;
        Ok(ProbeTarget { host, port })
    }

    /// The host as it goes into a URL (`[v6]` bracketed).
    pub fn url_host(&self) -> String {
        match &self.host {
            TargetHost::Ip(IpAddr::V6(ip)) => format!("[{ip}]"),
            TargetHost::Ip(IpAddr::V4(ip)) => ip.to_string(),
            TargetHost::Name(n) => n.clone(),
        }
    }
}

impl fmt::Display for ProbeTarget {
    /// The canonical `host:port`, used as the `target` label and the cache key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.url_host(), self.port)
    }
}

/// A DNS name: labels of 1-63 `[A-Za-z0-9_-]`, not starting or ending with `-`, at most
/// 253 characters, and a last label that is not all digits (so `127.1` or `2130706433`,
/// which the system resolver reads as addresses, are refused). Returned lower-cased.
fn valid_host_name(s: &str) -> Result<String, TargetError> {
    if s.is_empty() {
        return Err(TargetError("empty host"));
    }
    if s.len() > 253 {
        return Err(TargetError("host name too long"));
    }
    for l in s.split('.') {
        if l.is_empty()
            || l.len() > 63
            || l.starts_with('-')
            || l.ends_with('-')
            || !l
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(TargetError("bad host name"));
        }
    }
    if s.rsplit('.')
        .next()
        .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(TargetError("numeric host name that is not an IPv4 address"));
    }
    Ok(s.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> AllowList {
        AllowList::parse(entries).unwrap()
    }

    fn t(s: &str) -> ProbeTarget {
        ProbeTarget::parse(s).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn entries_parse() {
        let l = list(&[
            "10.0.0.0/16",
            "10.1.2.3",
            "10.2.0.0/16:6379",
            "10.3.0.0/16:6379-6380",
            "127.0.0.1:*",
            "::1/128",
            "fd00::/8",
            "[fd00::/8]:5432",
            "[::1]",
            "redis-1.internal:6379",
            "redis-*.internal",
            "dastern-*:*",
            "REDIS:6379",
        ]);
        assert_eq!(l.entries().len(), 13);
        assert_eq!(
            l.entries()[1],
            AllowEntry::Network {
                net: "10.1.2.3/32".parse().unwrap(),
                ports: Ports::ANY
            }
        );
        assert_eq!(
            l.entries()[3],
            AllowEntry::Network {
                net: "10.3.0.0/16".parse().unwrap(),
                ports: Ports { lo: 6379, hi: 6380 }
            }
        );
    }

    #[test]
    fn bad_entries_are_all_reported() {
        let bad = [
            "",
            "10.0.*:6379",
            "10.0.*",
            "*",
            "*.*",
            "10.0.0.0/33",
            "10.0.0.1/16",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "fd00::/8:5432",
            "[10.0.0.0/8]:1",
            "[fd00::/8]5432",
            "[fd00::/8",
            "host:0",
            "host:65536",
            "host:+1",
            "host:6380-6379",
            "host:1-",
            "a b:1",
            "a..b",
            "a/b.c",
            "ho\tst",
            "höst",
            "a@b:1",
        ];
        let errors = AllowList::parse(&bad).unwrap_err();
        assert_eq!(errors.len(), bad.len(), "{errors:#?}");
        for (e, b) in errors.iter().zip(bad) {
            assert_eq!(e.entry, b);
        }
        assert!(errors[1].reason.contains("CIDR"), "{}", errors[1]);
        assert!(errors[6].reason.contains("10.0.0.0/16"), "{}", errors[6]);
        assert!(
            errors[9].reason.contains("[fd00::/8]:5432"),
            "{}",
            errors[9]
        );
    }

    #[test]
    fn networks_match_addresses_not_strings() {
        let l = list(&["10.0.0.0/16:6379", "127.0.0.1", "[fd00::/8]:5432-5433"]);
        assert!(l.allows_addr(ip("10.0.255.1"), 6379));
        assert!(!l.allows_addr(ip("10.1.0.1"), 6379));
        assert!(!l.allows_addr(ip("10.0.0.1"), 6380));
        assert!(l.allows_addr(ip("127.0.0.1"), 1));
        assert!(!l.allows_addr(ip("127.0.0.10"), 1));
        assert!(l.allows_addr(ip("fd12::1"), 5433));
        assert!(!l.allows_addr(ip("fe80::1"), 5433));
        assert!(!l.allows_addr(ip("fd12::1"), 5434));
        // An IPv4-mapped IPv6 literal is the IPv4 address.
        assert!(l.allows_addr(ip("::ffff:10.0.1.1"), 6379));
        assert!(!l.allows_addr(ip("::ffff:10.1.1.1"), 6379));
        // The string-glob bypass: a name is never matched against a network.
        assert!(!l.allows_name("10.0.evil.example", 6379));
    }

    #[test]
    fn host_wildcards_stay_inside_one_label() {
        let l = list(&["redis-*.internal:6379", "*.db.internal", "dastern-*:*"]);
        assert!(l.allows_name("redis-7.internal", 6379));
        assert!(l.allows_name("REDIS-7.Internal", 6379));
        assert!(!l.allows_name("redis-7.internal", 6380));
        assert!(!l.allows_name("redis-7.evil.internal", 6379));
        assert!(!l.allows_name("redis-7.internal.evil.example", 6379));
        assert!(!l.allows_name("x.redis-7.internal", 6379));
        assert!(l.allows_name("pg1.db.internal", 5432));
        assert!(!l.allows_name("a.pg1.db.internal", 5432));
        assert!(l.allows_name("dastern-redis", 1));
        assert!(!l.allows_name("dastern-redis.evil.example", 1));
        assert!(!l.allows_name("localhost", 1));
        assert!(label_glob("a*b*c", "axxbyyc"));
        assert!(!label_glob("a*b*c", "axxbyy"));
        assert!(label_glob("abc", "abc"));
        assert!(!label_glob("abc", "abcd"));
    }

    #[test]
    fn targets_parse() {
        assert_eq!(t("10.0.0.5:6379").host, TargetHost::Ip(ip("10.0.0.5")));
        assert_eq!(t("[::1]:6379").to_string(), "[::1]:6379");
        assert_eq!(t("LOCALHOST:48899").to_string(), "localhost:48899");
        assert_eq!(t("redis_1.internal:6380").port, 6380);
        for bad in [
            "",
            "x",
            ":6379",
            "h:",
            "h:0",
            "h:99999",
            "h:+1",
            "h:-1",
            "h:1a",
            "u:p@h:1",
            "h:1/db",
            "h:1?x",
            "a b:1",
            "h:1,h:2",
            "h\n:1",
            "h\0:1",
            "::1:6379",
            "fe80::1",
            "[::1]",
            "[::1]6379",
            "[fe80::1%eth0]:1",
            "[10.0.0.1]:1",
            "h..x:1",
            "-h:1",
            "h-.x:1",
            ".h:1",
            "h.:1",
            "127.1:1",
            "2130706433:1",
            "0x7f.1:1",
            "héllo:1",
        ] {
            assert!(ProbeTarget::parse(bad).is_err(), "{bad:?}");
        }
        let long = format!("{}.example:1", "a.".repeat(130));
        assert!(ProbeTarget::parse(&long).is_err());
    }

    #[test]
    fn decisions() {
        let l = list(&[
            "127.0.0.0/8",
            "[::1]",
            "redis.internal:6379",
            "10.0.0.0/16:6379",
        ]);
        let pin = |s: &str| Decision::Allow(Some(s.parse().unwrap()));
        assert_eq!(l.decide(&t("127.0.0.2:1"), &[]), pin("127.0.0.2:1"));
        assert_eq!(l.decide(&t("[::1]:5"), &[]), pin("[::1]:5"));
        assert_eq!(l.decide(&t("10.0.0.1:6380"), &[]), Decision::Deny);
        // Literals ignore whatever "resolved" says.
        assert_eq!(
            l.decide(&t("192.0.2.1:6379"), &[ip("127.0.0.1")]),
            Decision::Deny
        );
        // Names: all addresses inside → allowed, pinned to the first.
        assert_eq!(
            l.decide(&t("inside.test:6379"), &[ip("127.0.0.2"), ip("10.0.3.4")]),
            pin("127.0.0.2:6379")
        );
        assert_eq!(
            l.decide(&t("mixed.test:6379"), &[ip("127.0.0.2"), ip("192.0.2.10")]),
            Decision::Deny
        );
        assert_eq!(
            l.decide(&t("outside.test:6379"), &[ip("192.0.2.10")]),
            Decision::Deny
        );
        assert_eq!(l.decide(&t("gone.test:6379"), &[]), Decision::Deny);
        // Names allowed by name: any address, pinned; unresolvable → allowed, unpinned.
        assert_eq!(
            l.decide(&t("REDIS.internal:6379"), &[ip("192.0.2.10")]),
            pin("192.0.2.10:6379")
        );
        assert_eq!(
            l.decide(&t("redis.internal:6379"), &[]),
            Decision::Allow(None)
        );
        assert_eq!(
            l.decide(&t("redis.internal:6380"), &[ip("192.0.2.10")]),
            Decision::Deny
        );
        assert!(l.has_network_for_port(6380));
        let names_only = list(&["redis.internal"]);
        assert!(!names_only.has_network_for_port(6379));
        assert_eq!(
            AllowList::default().decide(&t("127.0.0.1:1"), &[ip("127.0.0.1")]),
            Decision::Deny
        );
    }
}
