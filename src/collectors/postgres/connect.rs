//! Opening a PostgreSQL connection ourselves instead of through `Config::connect`: the
//! socket reads through a [`CappedStream`] (see [`crate::collectors::capped`]), so a server
//! declaring a 2 GB message costs at most the cap, and a pinned address is connected to
//! without resolving the host (libpq's `hostaddr`), the host name still serving TLS.
//!
//! Decision: the cap sits under TLS and counts raw bytes per scrape rather than sniffing
//! the backend framing (type byte + 4-byte length) above TLS: the framing only starts
//! after the one-byte answer to `SSLRequest`, so a sniff would have to sit above
//! tokio-postgres' TLS layer, and it would still let a server send an unbounded number of
//! messages each under the limit (tokio-postgres buffers a result's rows until the last
//! one). A per-scrape raw budget bounds both.
//!
//! Hosts are tried in DSN order (`hostaddr` entries used as in libpq); the first one that
//! accepts the TCP (or Unix socket) connection is used.

use crate::collectors::capped::{CappedStream, ReplyBudget};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio_postgres::config::Host;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres_rustls::MakeRustlsConnect;

/// The connected socket.
pub enum Socket {
    /// TCP.
    Tcp(TcpStream),
    /// Unix domain socket (`host=/run/postgresql`).
    Unix(UnixStream),
}

/// The stream tokio-postgres runs over.
pub type Stream = CappedStream<Socket>;

/// A live connection's driver, to be spawned.
pub type Connection =
    tokio_postgres::Connection<Stream, <MakeRustlsConnect as MakeTlsConnect<Stream>>::Stream>;

/// Why opening failed.
#[derive(Debug)]
pub enum OpenError {
    /// No socket could be connected; plain text.
    Socket(String),
    /// The PostgreSQL start-up (TLS, login) failed.
    Postgres(tokio_postgres::Error),
}

/// Connects to `pinned` or the DSN's hosts, then runs TLS negotiation and login over the
/// capped socket.
pub async fn open(
    config: &tokio_postgres::Config,
    pinned: Option<SocketAddr>,
    mut tls: MakeRustlsConnect,
    budget: ReplyBudget,
) -> Result<(tokio_postgres::Client, Connection), OpenError> {
    let (socket, tls_name) = connect_socket(config, pinned)
        .await
        .map_err(OpenError::Socket)?;
    let tls_connect =
        <MakeRustlsConnect as MakeTlsConnect<Stream>>::make_tls_connect(&mut tls, &tls_name)
            .map_err(|e| OpenError::Socket(format!("TLS setup for {tls_name:?}: {e}")))?;
    config
        .connect_raw(CappedStream::new(socket, budget), tls_connect)
        .await
        .map_err(OpenError::Postgres)
}

/// The socket and the name TLS verifies (the host name, or the address when there is none).
async fn connect_socket(
    config: &tokio_postgres::Config,
    pinned: Option<SocketAddr>,
) -> Result<(Socket, String), String> {
    let hosts = config.get_hosts();
    let ports = config.get_ports();
    let hostaddrs = config.get_hostaddrs();
    let port_of = |i: usize| ports.get(i).or(ports.first()).copied().unwrap_or(5432);
    let first_tcp_host = hosts.iter().find_map(|h| match h {
        Host::Tcp(name) => Some(name.clone()),
        Host::Unix(_) => None,
    });
    if let Some(addr) = pinned {
        let name = first_tcp_host.unwrap_or_else(|| addr.ip().to_string());
        let s = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("{addr}: {e}"))?;
        let _ = s.set_nodelay(true);
        return Ok((Socket::Tcp(s), name));
    }
    let count = hosts.len().max(hostaddrs.len());
    if count == 0 {
        return Err("the DSN names no host".to_string());
    }
    let mut last = String::new();
    for i in 0..count {
        let port = port_of(i);
        let attempt = match (hosts.get(i), hostaddrs.get(i)) {
            (Some(Host::Unix(dir)), _) => {
                let path = dir.join(format!(".s.PGSQL.{port}"));
                UnixStream::connect(&path)
                    .await
                    .map(|s| (Socket::Unix(s), String::new()))
                    .map_err(|e| format!("{}: {e}", path.display()))
            }
            (host, Some(ip)) => {
                let name = match host {
                    Some(Host::Tcp(h)) => h.clone(),
                    _ => ip.to_string(),
                };
                tcp(SocketAddr::new(*ip, port), name).await
            }
            (Some(Host::Tcp(h)), None) => match TcpStream::connect((h.as_str(), port)).await {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    Ok((Socket::Tcp(s), h.clone()))
                }
                Err(e) => Err(format!("{h}:{port}: {e}")),
            },
            (None, None) => continue,
        };
        match attempt {
            Ok(found) => return Ok(found),
            Err(e) => last = e,
        }
    }
    Err(last)
}

async fn tcp(addr: SocketAddr, name: String) -> Result<(Socket, String), String> {
    let s = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("{addr}: {e}"))?;
    let _ = s.set_nodelay(true);
    Ok((Socket::Tcp(s), name))
}

impl AsyncRead for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Socket::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_write(cx, data),
            Socket::Unix(s) => Pin::new(s).poll_write(cx, data),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_flush(cx),
            Socket::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Socket::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}
