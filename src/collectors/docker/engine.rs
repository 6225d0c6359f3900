//! A minimal HTTP/1.1 client for the Docker Engine API over a unix socket or TCP: one
//! connection per request (a unix-socket connect costs microseconds), every request
//! bounded by a deadline, bodies capped in size. Nothing here knows the API's shapes.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full, Limited};
use hyper_util::rt::TokioIo;
use std::path::PathBuf;
use tokio::time::Instant;

/// Largest response body we read (`/system/df` with thousands of volumes is a few MB).
pub const MAX_BODY: usize = 64 * 1024 * 1024;

/// Port of a `tcp://` Engine address that names none (Docker's plain-HTTP port).
pub const DEFAULT_TCP_PORT: u16 = 2375;

/// Where the Engine listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `unix:///var/run/docker.sock`.
    Unix(PathBuf),
    /// `tcp://host:port` (plain HTTP; TLS is not supported).
    Tcp(String),
}

impl Endpoint {
    /// Parses `unix:///path`, `tcp://host:port` or `http://host:port`.
    pub fn parse(host: &str) -> Result<Endpoint, String> {
        if let Some(path) = host.strip_prefix("unix://") {
            if path.is_empty() {
                return Err(format!("docker host {host:?}: empty socket path"));
            }
            return Ok(Endpoint::Unix(PathBuf::from(path)));
        }
        let rest = host
            .strip_prefix("tcp://")
            .or_else(|| host.strip_prefix("http://"))
            .ok_or_else(|| {
                format!("docker host {host:?}: must be unix:///path or tcp://host:port")
            })?;
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains('/') {
            return Err(format!("docker host {host:?}: expected tcp://host:port"));
        }
        let (name, port) = crate::collectors::address::split_host_port(authority, DEFAULT_TCP_PORT);
        let port = port.ok_or_else(|| format!("docker host {host:?}: invalid port"))?;
        let authority = if name.contains(':') {
            format!("[{name}]:{port}")
        } else {
            format!("{name}:{port}")
        };
        Ok(Endpoint::Tcp(authority))
    }

    /// True when the Engine runs on this machine (so its paths are our paths).
    pub fn is_local(&self) -> bool {
        matches!(self, Endpoint::Unix(_))
    }
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// No connection (socket missing, refused).
    #[error("cannot connect: {addr}: {source}")]
    Connect {
        /// The socket path or `host:port`.
        addr: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The deadline passed.
    #[error("no answer in time")]
    Timeout,
    /// The Engine answered with an error status.
    #[error("HTTP {code}: {message}")]
    Status {
        /// HTTP status code.
        code: u16,
        /// The Engine's `message`.
        message: String,
    },
    /// The connection broke or the reply was not HTTP.
    #[error("{context}: {source}")]
    Protocol {
        /// What we were doing.
        context: String,
        /// The HTTP layer's error.
        #[source]
        source: crate::collectors::BoxError,
    },
}

impl EngineError {
    fn protocol(
        context: impl Into<String>,
        source: impl Into<crate::collectors::BoxError>,
    ) -> Self {
        EngineError::Protocol {
            context: context.into(),
            source: source.into(),
        }
    }
}

/// A client of one Engine.
#[derive(Clone, Debug)]
pub struct Engine {
    endpoint: Endpoint,
    host_header: String,
}

/// Aborts the connection task when the request is done or abandoned (timeout), so a
/// connection to an Engine that never answers does not outlive its request.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Engine {
    /// A client for `host` (`unix:///path` or `tcp://host:port`).
    pub fn new(host: &str) -> Result<Engine, String> {
        let endpoint = Endpoint::parse(host)?;
        let host_header = match &endpoint {
            Endpoint::Unix(_) => "docker".to_string(),
            Endpoint::Tcp(a) => a.clone(),
        };
        Ok(Engine {
            endpoint,
            host_header,
        })
    }

    /// Where the Engine listens.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// `GET path_and_query`; the body of a 2xx reply, before `deadline`.
    pub async fn get(&self, path_and_query: &str, deadline: Instant) -> Result<Bytes, EngineError> {
        match tokio::time::timeout_at(deadline, self.get_inner(path_and_query)).await {
            Ok(r) => r,
            Err(_) => Err(EngineError::Timeout),
        }
    }

    async fn get_inner(&self, path_and_query: &str) -> Result<Bytes, EngineError> {
        let (resp, _conn) = self.request(path_and_query).await?;
        read_reply(resp).await
    }

    /// `GET path_and_query` for a streaming reply (container logs): the response head
    /// before `deadline`, then the body to read frame by frame for as long as the caller
    /// wants. The returned guard keeps the connection alive; dropping it closes it.
    pub async fn stream(
        &self,
        path_and_query: &str,
        deadline: Instant,
    ) -> Result<(hyper::body::Incoming, impl Send + Sync + 'static), EngineError> {
        let (resp, conn) =
            match tokio::time::timeout_at(deadline, self.request(path_and_query)).await {
                Ok(r) => r?,
                Err(_) => return Err(EngineError::Timeout),
            };
        let status = resp.status();
        if !status.is_success() {
            let body = tokio::time::timeout_at(
                deadline,
                Limited::new(resp.into_body(), 64 * 1024).collect(),
            )
            .await
            .ok()
            .and_then(Result::ok)
            .map(|b| b.to_bytes())
            .unwrap_or_default();
            return Err(EngineError::Status {
                code: status.as_u16(),
                message: super::api::error_message(&body),
            });
        }
        Ok((resp.into_body(), conn))
    }

    async fn request(
        &self,
        path_and_query: &str,
    ) -> Result<(hyper::Response<hyper::body::Incoming>, AbortOnDrop), EngineError> {
        let (mut sender, conn) = match &self.endpoint {
            Endpoint::Unix(path) => {
                let s = tokio::net::UnixStream::connect(path)
                    .await
                    .map_err(|source| EngineError::Connect {
                        addr: path.display().to_string(),
                        source,
                    })?;
                handshake(s).await?
            }
            Endpoint::Tcp(addr) => {
                let s = tokio::net::TcpStream::connect(addr.as_str())
                    .await
                    .map_err(|source| EngineError::Connect {
                        addr: addr.clone(),
                        source,
                    })?;
                let _ = s.set_nodelay(true);
                handshake(s).await?
            }
        };
        let req = hyper::Request::get(path_and_query)
            .header(hyper::header::HOST, &self.host_header)
            .header(
                hyper::header::USER_AGENT,
                concat!("persistence_exporter/", env!("CARGO_PKG_VERSION")),
            )
            .header(hyper::header::ACCEPT, "application/json")
            .body(Empty::<Bytes>::new())
            .map_err(|e| EngineError::protocol(format!("bad request {path_and_query:?}"), e))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| EngineError::protocol("request failed", e))?;
        Ok((resp, conn))
    }
}

impl Engine {
    /// `method path_and_query` with an optional JSON body (the write calls: create, start,
    /// stop, rename, remove); the body of a 2xx reply (capped at [`MAX_BODY`]), before
    /// `deadline`. Other statuses (304 "not modified" included) are [`EngineError::Status`].
    pub async fn send(
        &self,
        method: hyper::Method,
        path_and_query: &str,
        body: Option<Vec<u8>>,
        deadline: Instant,
    ) -> Result<Bytes, EngineError> {
        let call = async {
            let (mut sender, _conn) = match &self.endpoint {
                Endpoint::Unix(path) => {
                    let s = tokio::net::UnixStream::connect(path)
                        .await
                        .map_err(|source| EngineError::Connect {
                            addr: path.display().to_string(),
                            source,
                        })?;
                    handshake::<_, Full<Bytes>>(s).await?
                }
                Endpoint::Tcp(addr) => {
                    let s = tokio::net::TcpStream::connect(addr.as_str())
                        .await
                        .map_err(|source| EngineError::Connect {
                            addr: addr.clone(),
                            source,
                        })?;
                    let _ = s.set_nodelay(true);
                    handshake::<_, Full<Bytes>>(s).await?
                }
            };
            let mut req = hyper::Request::builder()
                .method(method)
                .uri(path_and_query)
                .header(hyper::header::HOST, &self.host_header)
                .header(
                    hyper::header::USER_AGENT,
                    concat!("persistence_exporter/", env!("CARGO_PKG_VERSION")),
                )
                .header(hyper::header::ACCEPT, "application/json");
            if body.is_some() {
                req = req.header(hyper::header::CONTENT_TYPE, "application/json");
            }
            let req = req
                .body(Full::new(Bytes::from(body.unwrap_or_default())))
                .map_err(|e| EngineError::protocol(format!("bad request {path_and_query:?}"), e))?;
            let resp = sender
                .send_request(req)
                .await
                .map_err(|e| EngineError::protocol("request failed", e))?;
            read_reply(resp).await
        };
        match tokio::time::timeout_at(deadline, call).await {
            Ok(r) => r,
            Err(_) => Err(EngineError::Timeout),
        }
    }
}

/// The body of a reply, at most [`MAX_BODY`] bytes: `Ok` for a 2xx status, else the
/// Engine's error message with the status.
async fn read_reply(resp: hyper::Response<hyper::body::Incoming>) -> Result<Bytes, EngineError> {
    let status = resp.status();
    let body = Limited::new(resp.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| EngineError::protocol("reading the reply failed", e))?
        .to_bytes();
    if status.is_success() {
        Ok(body)
    } else {
        Err(EngineError::Status {
            code: status.as_u16(),
            message: super::api::error_message(&body),
        })
    }
}

async fn handshake<S, B>(
    stream: S,
) -> Result<(hyper::client::conn::http1::SendRequest<B>, AbortOnDrop), EngineError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| EngineError::protocol("HTTP handshake failed", e))?;
    let task = tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "Docker Engine connection ended with an error");
        }
    });
    Ok((sender, AbortOnDrop(task)))
}

/// Percent-encodes a path segment (container names and IDs are plain, but a configured
/// name could contain anything).
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(
            Endpoint::parse("unix:///var/run/docker.sock").unwrap(),
            Endpoint::Unix("/var/run/docker.sock".into())
        );
        assert_eq!(
            Endpoint::parse("tcp://10.0.0.1:2375").unwrap(),
            Endpoint::Tcp("10.0.0.1:2375".into())
        );
        assert_eq!(
            Endpoint::parse("tcp://docker").unwrap(),
            Endpoint::Tcp("docker:2375".into())
        );
        assert_eq!(
            Endpoint::parse("http://h:1/").unwrap(),
            Endpoint::Tcp("h:1".into())
        );
        assert!(Endpoint::parse("unix://").is_err());
        assert!(Endpoint::parse("ssh://x").is_err());
        assert!(Endpoint::parse("tcp://h:1/x").is_err());
        assert_eq!(
            Endpoint::parse("tcp://[::1]").unwrap(),
            Endpoint::Tcp("[::1]:2375".into())
        );
        assert_eq!(
            Endpoint::parse("tcp://[::1]:2376").unwrap(),
            Endpoint::Tcp("[::1]:2376".into())
        );
        assert!(Endpoint::parse("tcp://h:port").is_err());
        assert!(Endpoint::parse("unix:///x").unwrap().is_local());
        assert!(!Endpoint::parse("tcp://x:1").unwrap().is_local());
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(encode_segment("redis-1_a.b"), "redis-1_a.b");
        assert_eq!(encode_segment("a/../b c"), "a%2F..%2Fb%20c");
    }

    #[tokio::test]
    async fn missing_socket_is_a_connect_error() {
        let e = Engine::new("unix:///nonexistent/docker.sock").unwrap();
        let r = e
            .get(
                "/version",
                Instant::now() + std::time::Duration::from_secs(2),
            )
            .await;
        assert!(matches!(r, Err(EngineError::Connect { .. })), "{r:?}");
    }

    #[tokio::test]
    async fn silent_socket_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("silent.sock");
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        let hold = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                held.push(s);
            }
        });
        let e = Engine::new(&format!("unix://{}", path.display())).unwrap();
        let start = Instant::now();
        let r = e
            .get("/version", start + std::time::Duration::from_millis(300))
            .await;
        assert!(matches!(r, Err(EngineError::Timeout)), "{r:?}");
        assert!(start.elapsed() < std::time::Duration::from_secs(2));
        hold.abort();
    }
}
