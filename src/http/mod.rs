//! HTTP server: `/metrics` (or `--web.telemetry-path`), `/probe`, the status page `/`,
//! the documentation as HTML (`/docs/checks`, `/docs/runbook`, `/docs/verify`),
//! `/-/healthy`, `/-/ready` and `/-/reload`. TLS and basic auth from `--web.config.file`,
//! header-read timeout, a cap on concurrent scrapes, gzip when the client accepts it,
//! live reload (the running configuration is swapped atomically), graceful shutdown.

/// The `/probe` allow-list lives with the configuration it is parsed from.
pub use crate::config::allow_list;
pub mod docs;
pub mod landing;
pub mod probe;
pub mod web_config;

use crate::cli::Cli;
use crate::clock::unix_now;
use crate::config::Settings;
use crate::config::profile::Profile;
use crate::outcome::{ReloadStatus, ScrapeReport, ScrapeView};
use crate::scrape::Scraper;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use web_config::{AuthResult, WebConfig};

/// How long a client may take to send its request headers (and finish a TLS handshake).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Safety margin subtracted from Prometheus' scrape timeout, so our answer arrives in time.
pub const DEADLINE_MARGIN: Duration = Duration::from_millis(500);

/// Everything that a reload replaces: settings, collectors, profiles, web config.
pub struct Runtime {
    /// The settings in force.
    pub settings: Settings,
    /// The targets and their collectors.
    pub scraper: Arc<Scraper>,
    /// Target name → its persistence profile.
    pub profiles: BTreeMap<String, Profile>,
    /// TLS and basic auth.
    pub web: Arc<WebConfig>,
    /// Collectors created by `/probe`, reused between probes of the same target.
    probes: probe::ProbeCache,
}

impl Runtime {
    /// Builds collectors and loads the web config for these settings.
    pub fn build(settings: Settings) -> Result<Runtime, Vec<String>> {
        Runtime::rebuild(settings, None)
    }

    /// Like [`build`](Self::build); with `previous` (a reload), unchanged targets keep
    /// their collectors, connections and counters (see [`Scraper::from_settings`]).
    pub fn rebuild(settings: Settings, previous: Option<&Runtime>) -> Result<Runtime, Vec<String>> {
        let web = match &settings.web.config_file {
            Some(p) => WebConfig::load(p)?,
            None => WebConfig::none(),
        };
        let scraper = Arc::new(Scraper::from_settings(
            &settings,
            previous.map(|p| p.scraper.as_ref()),
        ));
        Ok(Runtime {
            profiles: settings.profiles(),
            scraper,
            web: Arc::new(web),
            probes: probe::ProbeCache::default(),
            settings,
        })
    }
}

/// Shared state of the HTTP handlers.
pub struct AppState {
    /// The flags the exporter started with; a reload re-reads the files they name.
    cli: Option<Cli>,
    current: RwLock<Arc<Runtime>>,
    /// Cap on concurrent scrapes (`None` = unlimited).
    limiter: Option<Arc<Semaphore>>,
    reload_status: Mutex<ReloadStatus>,
    reload_lock: tokio::sync::Mutex<()>,
}

impl AppState {
    /// State for a runtime; `cli` (when given) makes SIGHUP reloads possible, and
    /// `POST /-/reload` too when it has `--web.enable-lifecycle`.
    pub fn new(runtime: Runtime, cli: Option<Cli>) -> Self {
        let max = runtime.settings.web.max_requests;
        let limiter = (max > 0).then(|| Arc::new(Semaphore::new(max)));
        AppState {
            cli,
            current: RwLock::new(Arc::new(runtime)),
            limiter,
            reload_status: Mutex::new(ReloadStatus {
                success: true,
                success_timestamp: unix_now(),
            }),
            reload_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// The runtime in force now.
    pub fn runtime(&self) -> Arc<Runtime> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// True when `--web.enable-lifecycle` allows `POST /-/reload`.
    fn lifecycle_enabled(&self) -> bool {
        self.cli.as_ref().is_some_and(|c| c.web_enable_lifecycle)
    }

    /// The last reload outcome.
    pub fn reload_status(&self) -> ReloadStatus {
        *self.reload_status.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Re-reads the config, secret and web-config files. A bad new configuration is
    /// rejected with a log line and the running one stays in force.
    pub async fn reload(&self) -> Result<(), ReloadError> {
        let _one_at_a_time = self.reload_lock.lock().await;
        let Some(cli) = &self.cli else {
            return Err(ReloadError::Unavailable);
        };
        let previous = self.runtime();
        let result = crate::config::load(cli, &crate::config::ProcessEnv)
            .map_err(|e| e.lines())
            .and_then(|s| Runtime::rebuild(s, Some(&previous)));
        let mut status = self.reload_status.lock().unwrap_or_else(|e| e.into_inner());
        match result {
            Ok(rt) => {
                let targets = rt.scraper.targets().len();
                let kept = rt.scraper.kept_from(&previous.scraper);
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(rt);
                *status = ReloadStatus {
                    success: true,
                    success_timestamp: unix_now(),
                };
                tracing::info!(targets, kept, "Configuration reloaded");
                Ok(())
            }
            Err(errors) => {
                status.success = false;
                let e = ReloadError::Rejected(errors);
                tracing::error!(error = %e, "Reload rejected, keeping the running configuration");
                Err(e)
            }
        }
    }
}

/// Why a reload left the running configuration in force.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The exporter was not started from flags (a test runtime), so there is nothing to
    /// re-read.
    #[error("reload is not available")]
    Unavailable,
    /// The new configuration has problems, every one listed (sanitised, as `config`
    /// reports them).
    #[error("{}", .0.join("; "))]
    Rejected(Vec<String>),
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
        #[source]
        cause: std::io::Error,
    },
}

pub use crate::config::web::parse_listen_address;

/// Binds the listener: `:port` means every interface (IPv6 dual-stack when available).
pub async fn bind(addr: &str) -> Result<TcpListener, ServeError> {
    let (host, port) =
        parse_listen_address(addr).map_err(|_| ServeError::Address(addr.to_string()))?;
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
        let tls = state.runtime().web.tls.clone();
        let state = state.clone();
        let svc = hyper::service::service_fn(move |req| {
            let state = state.clone();
            async move { Ok::<_, std::convert::Infallible>(handle(&state, req).await) }
        });
        let builder = {
            let mut b = hyper::server::conn::http1::Builder::new();
            b.timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .keep_alive(true);
            b
        };
        match tls {
            None => {
                let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), svc));
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(peer = %peer, error = %e, "Connection ended with an error");
                    }
                });
            }
            Some(acceptor) => {
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let stream =
                        match tokio::time::timeout(HEADER_READ_TIMEOUT, acceptor.accept(stream))
                            .await
                        {
                            Ok(Ok(s)) => s,
                            Ok(Err(e)) => {
                                tracing::debug!(peer = %peer, error = %e, "TLS handshake failed");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!(peer = %peer, "TLS handshake timed out");
                                return;
                            }
                        };
                    let conn = watcher.watch(builder.serve_connection(TokioIo::new(stream), svc));
                    if let Err(e) = conn.await {
                        tracing::debug!(peer = %peer, error = %e, "Connection ended with an error");
                    }
                });
            }
        }
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
    let rt = state.runtime();
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match rt.web.authorize(auth).await {
        AuthResult::Allowed => {}
        AuthResult::Denied => {
            let mut r = text(StatusCode::UNAUTHORIZED, "Unauthorized\n");
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"persistence_exporter\""),
            );
            return r;
        }
        AuthResult::Busy => {
            let mut r = text(
                StatusCode::SERVICE_UNAVAILABLE,
                "Too many password checks in progress\n",
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return r;
        }
    }
    let mut resp = route(state, &rt, req).await;
    for (k, v) in &rt.web.headers {
        resp.headers_mut().insert(k.clone(), v.clone());
    }
    resp
}

async fn route(state: &AppState, rt: &Runtime, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    if path == "/-/reload" {
        if req.method() != Method::POST && req.method() != Method::PUT {
            return text(StatusCode::METHOD_NOT_ALLOWED, "Use POST to reload\n");
        }
        if !state.lifecycle_enabled() {
            return text(
                StatusCode::FORBIDDEN,
                "Lifecycle API is not enabled (--web.enable-lifecycle)\n",
            );
        }
        // Details of a failure go to the log only: the caller may not see the config.
        return match state.reload().await {
            Ok(()) => text(StatusCode::OK, "Reloaded\n"),
            Err(_) => text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Reload failed, see the exporter's log; the running configuration stays in force\n",
            ),
        };
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed\n");
    }
    if path == rt.settings.web.telemetry_path {
        return metrics(state, rt, &req).await;
    }
    match path {
        "/probe" => probe::handle(state, rt, &req).await,
        "/" => landing::handle(state, rt, &req).await,
        "/docs/checks.md" => {
            let mut r = Response::new(Full::new(Bytes::from_static(
                docs::CHECKS_MARKDOWN.as_bytes(),
            )));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/markdown; charset=utf-8"),
            );
            r
        }
        p if p.starts_with("/docs/") => match p.strip_prefix("/docs/").and_then(docs::page) {
            Some(html) => {
                let mut r = Response::new(Full::new(Bytes::from(html)));
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                );
                r
            }
            None => text(StatusCode::NOT_FOUND, "Not found\n"),
        },
        "/-/healthy" => text(StatusCode::OK, "Healthy\n"),
        "/-/ready" => text(StatusCode::OK, "Ready\n"),
        _ => text(StatusCode::NOT_FOUND, "Not found\n"),
    }
}

/// Longest scrape timeout taken from Prometheus' header; larger values are clamped to
/// it (the configured `--scrape.timeout` still applies on top).
pub const MAX_HEADER_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// The scrape deadline: `--scrape.timeout`, lowered by Prometheus' own timeout header
/// minus a margin. A header that is not a positive finite number is ignored; a huge one
/// is clamped; nothing here panics.
pub fn scrape_budget(configured: Duration, header: Option<&str>) -> Duration {
    let from_header = header
        .and_then(|h| h.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(|s| {
            let d = Duration::try_from_secs_f64(s.min(MAX_HEADER_TIMEOUT.as_secs_f64()))
                .unwrap_or(MAX_HEADER_TIMEOUT);
            // Keep at least half of a tiny timeout rather than nothing.
            d.saturating_sub(DEADLINE_MARGIN).max(d / 2)
        });
    match from_header {
        Some(h) => h.min(configured),
        None => configured,
    }
}

/// `now + budget`, saturating far in the future instead of overflowing.
fn deadline_after(now: tokio::time::Instant, budget: Duration) -> tokio::time::Instant {
    now.checked_add(budget)
        .or_else(|| now.checked_add(MAX_HEADER_TIMEOUT))
        .unwrap_or(now)
}

/// The scrape deadline of a request.
fn request_deadline(rt: &Runtime, req: &Request<Incoming>) -> tokio::time::Instant {
    let header = req
        .headers()
        .get("X-Prometheus-Scrape-Timeout-Seconds")
        .and_then(|v| v.to_str().ok());
    deadline_after(
        tokio::time::Instant::now(),
        scrape_budget(rt.settings.scrape_timeout, header),
    )
}

/// Takes a scrape slot, or answers 503 when all are busy.
#[allow(clippy::result_large_err)]
fn scrape_permit(
    state: &AppState,
) -> Result<Option<tokio::sync::OwnedSemaphorePermit>, Response<Full<Bytes>>> {
    match &state.limiter {
        Some(sem) => match sem.clone().try_acquire_owned() {
            Ok(p) => Ok(Some(p)),
            Err(_) => Err(text(
                StatusCode::SERVICE_UNAVAILABLE,
                "Too many concurrent scrapes\n",
            )),
        },
        None => Ok(None),
    }
}

async fn metrics(state: &AppState, rt: &Runtime, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let _permit = match scrape_permit(state) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let report = rt.scraper.scrape(request_deadline(rt, req)).await;
    let body = metrics_body(&report, &rt.profiles, Some(&state.reload_status()));
    exposition(req, body)
}

/// The exposition of one scrape: its view is built once (with the targets the report
/// says are declared not to run in a container), and both the checks and the metrics are
/// computed from it.
fn metrics_body(
    report: &ScrapeReport,
    profiles: &BTreeMap<String, Profile>,
    reload: Option<&ReloadStatus>,
) -> String {
    let view = ScrapeView::new(report);
    let checks = crate::checks::evaluate_scrape(&view.targets, profiles, unix_now());
    crate::render::render(&view, &checks, reload)
}

/// Wraps an exposition in a response, gzipped when the client accepts it.
fn exposition(req: &Request<Incoming>, body: String) -> Response<Full<Bytes>> {
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
    fn hostile_timeout_headers_neither_panic_nor_widen() {
        let ten = Duration::from_secs(10);
        for h in [
            "1e300",
            "1e20",
            "1.8e19",
            "inf",
            "-inf",
            "NaN",
            "-0",
            "0",
            "1e-300",
            "+5",
            "",
            " ",
            "9".repeat(400).as_str(),
        ] {
            let b = scrape_budget(ten, Some(h));
            assert!(b <= ten, "{h}: {b:?}");
        }
        assert_eq!(scrape_budget(ten, Some("1e300")), ten);
        assert_eq!(
            scrape_budget(Duration::MAX, Some("1e300")),
            MAX_HEADER_TIMEOUT - DEADLINE_MARGIN
        );
        assert_eq!(scrape_budget(ten, Some("NaN")), ten);
        assert_eq!(scrape_budget(ten, Some("inf")), ten);
    }

    #[test]
    fn deadlines_saturate() {
        let now = tokio::time::Instant::now();
        assert!(deadline_after(now, Duration::MAX) >= now);
        assert_eq!(
            deadline_after(now, Duration::from_secs(1)),
            now + Duration::from_secs(1)
        );
    }

    proptest::proptest! {
        #[test]
        fn any_timeout_header_gives_a_bounded_budget(h in proptest::prelude::any::<String>(), secs in 0u64..100_000) {
            let configured = Duration::from_secs(secs);
            let b = scrape_budget(configured, Some(&h));
            proptest::prop_assert!(b <= configured);
            let _ = deadline_after(tokio::time::Instant::now(), b);
        }

        #[test]
        fn any_numeric_timeout_header_gives_a_bounded_budget(x in proptest::prelude::any::<f64>(), secs in 0u64..100_000) {
            let configured = Duration::from_secs(secs);
            let b = scrape_budget(configured, Some(&x.to_string()));
            proptest::prop_assert!(b <= configured);
            let b = scrape_budget(Duration::MAX, Some(&format!("{x:e}")));
            // Either the header is ignored (non-positive, non-finite) or it is clamped.
            proptest::prop_assert!(b == Duration::MAX || b <= MAX_HEADER_TIMEOUT);
            proptest::prop_assert_eq!(b == Duration::MAX, !(x.is_finite() && x > 0.0));
        }
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
