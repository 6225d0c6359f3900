//! HTTP server: `/metrics` (or `--web.telemetry-path`), the landing page `/`, and the
//! `/-/healthy` and `/-/ready` probes. Header-read timeout, a cap on concurrent scrapes,
//! gzip when the client accepts it, graceful shutdown.

mod landing;

use crate::config::Settings;
use crate::scrape::Scraper;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// How long a client may take to send its request headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Safety margin subtracted from Prometheus' scrape timeout, so our answer arrives in time.
pub const DEADLINE_MARGIN: Duration = Duration::from_millis(500);

/// Shared state of the HTTP handlers.
pub struct AppState {
    /// The targets and their collectors.
    pub scraper: Arc<Scraper>,
    /// The settings the exporter runs with.
    pub settings: Settings,
    /// Cap on concurrent scrapes (`None` = unlimited).
    limiter: Option<Arc<Semaphore>>,
}

impl AppState {
    /// Bundles the scraper and settings for the handlers.
    pub fn new(scraper: Arc<Scraper>, settings: Settings) -> Self {
        let limiter = (settings.web.max_requests > 0)
            .then(|| Arc::new(Semaphore::new(settings.web.max_requests)));
        AppState {
            scraper,
            settings,
            limiter,
        }
    }
}

/// Errors that stop the server from starting.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The listen address is malformed.
    #[error("invalid listen address {0:?}: expected host:port or :port")]
    Address(String),
    /// Binding failed (port in use, no permission).
    #[error("cannot listen on {address}: {cause}")]
    Bind {
        /// The address we tried.
        address: String,
        /// The OS error.
        cause: std::io::Error,
    },
}

/// Splits `host:port` / `:port` / `[v6]:port` into host (empty = all) and port.
pub fn parse_listen_address(addr: &str) -> Result<(String, u16), ServeError> {
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| ServeError::Address(addr.to_string()))?;
    let port: u16 = port
        .parse()
        .map_err(|_| ServeError::Address(addr.to_string()))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Ok((host.to_string(), port))
}

/// Binds the listener: `:port` means every interface (IPv6 dual-stack when available).
pub async fn bind(addr: &str) -> Result<TcpListener, ServeError> {
    let (host, port) = parse_listen_address(addr)?;
    let candidates: Vec<SocketAddr> = if host.is_empty() {
        vec![
            SocketAddr::from(([0u16; 8], port)),
            SocketAddr::from(([0u8; 4], port)),
        ]
    } else {
        tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|cause| ServeError::Bind {
                address: addr.to_string(),
                cause,
            })?
            .collect()
    };
    let mut last = None;
    for c in candidates {
        match TcpListener::bind(c).await {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(e),
        }
    }
    Err(ServeError::Bind {
        address: addr.to_string(),
        cause: last.unwrap_or_else(|| std::io::Error::other("no address to bind")),
    })
}

/// Serves until `shutdown` resolves, then lets in-flight requests finish (bounded).
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "Accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let state = state.clone();
        let svc = hyper::service::service_fn(move |req| {
            let state = state.clone();
            async move { Ok::<_, std::convert::Infallible>(handle(&state, req).await) }
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .keep_alive(true)
            .serve_connection(TokioIo::new(stream), svc);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(peer = %peer, error = %e, "Connection ended with an error");
            }
        });
    }
    tracing::info!("Shutting down");
    if tokio::time::timeout(Duration::from_secs(15), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("Connections still open after 15s, closing them");
    }
}

async fn handle(state: &AppState, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed\n");
    }
    if path == state.settings.web.telemetry_path {
        return metrics(state, &req).await;
    }
    match path {
        "/" => {
            let mut r = Response::new(Full::new(Bytes::from(landing::page(state))));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            r
        }
        "/-/healthy" => text(StatusCode::OK, "Healthy\n"),
        "/-/ready" => text(StatusCode::OK, "Ready\n"),
        _ => text(StatusCode::NOT_FOUND, "Not found\n"),
    }
}

/// The scrape deadline: `--scrape.timeout`, lowered by Prometheus' own timeout header
/// minus a margin.
pub fn scrape_budget(configured: Duration, header: Option<&str>) -> Duration {
    let from_header = header
        .and_then(|h| h.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(|s| {
            let d = Duration::from_secs_f64(s);
            // Keep at least half of a tiny timeout rather than nothing.
            d.saturating_sub(DEADLINE_MARGIN).max(d / 2)
        });
    match from_header {
        Some(h) => h.min(configured),
        None => configured,
    }
}

async fn metrics(state: &AppState, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let _permit = match &state.limiter {
        Some(sem) => match sem.clone().try_acquire_owned() {
            Ok(p) => Some(p),
            Err(_) => {
                return text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Too many concurrent scrapes\n",
                );
            }
        },
        None => None,
    };
    let header = req
        .headers()
        .get("X-Prometheus-Scrape-Timeout-Seconds")
        .and_then(|v| v.to_str().ok());
    let budget = scrape_budget(state.settings.scrape_timeout, header);
    let deadline = tokio::time::Instant::now() + budget;
    let report = state.scraper.scrape(deadline).await;
    let body = crate::render::render(&report);

    let gzip = req
        .headers()
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(accepts_gzip);
    let mut resp = if gzip {
        let mut enc = flate2::write::GzEncoder::new(
            Vec::with_capacity(body.len() / 4),
            flate2::Compression::fast(),
        );
        match enc.write_all(body.as_bytes()).and_then(|()| enc.finish()) {
            Ok(z) => {
                let mut r = Response::new(Full::new(Bytes::from(z)));
                r.headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                r
            }
            Err(_) => Response::new(Full::new(Bytes::from(body))),
        }
    } else {
        Response::new(Full::new(Bytes::from(body)))
    };
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    resp
}

/// True when `Accept-Encoding` lists gzip with a non-zero quality.
fn accepts_gzip(header: &str) -> bool {
    header.split(',').any(|part| {
        let mut it = part.split(';');
        let coding = it.next().unwrap_or("").trim();
        let q = it
            .find_map(|p| p.trim().strip_prefix("q="))
            .and_then(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        (coding.eq_ignore_ascii_case("gzip") || coding == "*") && q > 0.0
    })
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_follows_prometheus_header() {
        let ten = Duration::from_secs(10);
        assert_eq!(scrape_budget(ten, None), ten);
        assert_eq!(scrape_budget(ten, Some("2")), Duration::from_millis(1500));
        assert_eq!(scrape_budget(ten, Some("30")), ten);
        assert_eq!(scrape_budget(ten, Some("0.4")), Duration::from_millis(200));
        assert_eq!(scrape_budget(ten, Some("garbage")), ten);
        assert_eq!(scrape_budget(ten, Some("-1")), ten);
    }

    #[test]
    fn gzip_negotiation() {
        assert!(accepts_gzip("gzip"));
        assert!(accepts_gzip("deflate, gzip;q=0.5"));
        assert!(!accepts_gzip("gzip;q=0"));
        assert!(!accepts_gzip("identity"));
    }

    #[test]
    fn listen_addresses() {
        assert_eq!(
            parse_listen_address(":9631").unwrap(),
            (String::new(), 9631)
        );
        assert_eq!(
            parse_listen_address("127.0.0.1:0").unwrap(),
            ("127.0.0.1".into(), 0)
        );
        assert_eq!(
            parse_listen_address("[::1]:80").unwrap(),
            ("::1".into(), 80)
        );
        assert!(parse_listen_address("9631").is_err());
        assert!(parse_listen_address(":http").is_err());
    }
}
