//! Engines that are not the real one: a fake Engine serving recorded API replies on a
//! unix socket, a proxy in front of the real Engine that can change the version it
//! reports, and a socket that accepts and never answers.

use super::*;

/// An HTTP/1 server on a unix socket answering with a handler, with the request lines it
/// saw; stopped (and its temp dir removed) when dropped. The fake Engine and the proxy
/// are both one.
pub struct UnixHttp {
    /// Socket path.
    pub path: PathBuf,
    /// Every request line (`GET /v1.41/info`), in order, as the handler records them.
    pub requests: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
    _dir: Option<tempfile::TempDir>,
}

impl UnixHttp {
    /// Serves `handle` on `path` (replacing a stale socket file); `requests` is the log
    /// the handler writes to.
    fn serve<F, Fut, B, E>(path: &Path, requests: Arc<Mutex<Vec<String>>>, handle: F) -> UnixHttp
    where
        F: Fn(hyper::Request<hyper::body::Incoming>) -> Fut + Clone + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<hyper::Response<B>, E>> + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
        B: hyper::body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let path = path.to_path_buf();
        let _ = std::fs::remove_file(&path);
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let handle = handle.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(handle);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        UnixHttp {
            path,
            requests,
            task,
            _dir: None,
        }
    }

    /// `unix://<path>`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.path.display())
    }

    /// The requests so far.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for UnixHttp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A fake Docker Engine on a unix socket, serving the replies in
/// `tests/fixtures/docker/v<X.Y>/` with the version checks of a real Engine.
pub struct FakeEngine {
    /// The server (socket path, request lines).
    pub server: UnixHttp,
    /// Most `/system/df` calls ever in flight at once.
    pub max_concurrent_df: Arc<AtomicUsize>,
}

impl std::ops::Deref for FakeEngine {
    type Target = UnixHttp;
    fn deref(&self) -> &UnixHttp {
        &self.server
    }
}

struct FakeState {
    files: BTreeMap<String, bytes::Bytes>,
    max: (u32, u32),
    min: (u32, u32),
    df_delay: Duration,
    requests: Arc<Mutex<Vec<String>>>,
    df_in_flight: AtomicUsize,
    max_concurrent_df: Arc<AtomicUsize>,
}

fn parse_ver(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

impl FakeEngine {
    /// Serves the fixtures of one API version (`"1.41"`); `/system/df` answers after
    /// `df_delay`.
    pub async fn start(version: &str, df_delay: Duration) -> FakeEngine {
        let dir = tempfile::tempdir().unwrap();
        let mut e = Self::start_at(&dir.path().join("docker.sock"), version, df_delay).await;
        e.server._dir = Some(dir);
        e
    }

    /// Like [`start`](Self::start), on a given socket path (replacing a stale socket file),
    /// so a test can swap the Engine behind an exporter.
    pub async fn start_at(path: &Path, version: &str, df_delay: Duration) -> FakeEngine {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/docker")
            .join(format!("v{version}"));
        let mut files = BTreeMap::new();
        for entry in
            std::fs::read_dir(&fixtures).unwrap_or_else(|e| panic!("{}: {e}", fixtures.display()))
        {
            let p = entry.unwrap().path();
            let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
            files.insert(stem, bytes::Bytes::from(std::fs::read(&p).unwrap()));
        }
        let v: serde_json::Value = serde_json::from_slice(&files["version"]).unwrap();
        let max = parse_ver(v["ApiVersion"].as_str().unwrap()).unwrap();
        let min = parse_ver(v["MinAPIVersion"].as_str().unwrap()).unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let max_concurrent_df = Arc::new(AtomicUsize::new(0));
        let state = Arc::new(FakeState {
            files,
            max,
            min,
            df_delay,
            requests: requests.clone(),
            df_in_flight: AtomicUsize::new(0),
            max_concurrent_df: max_concurrent_df.clone(),
        });
        let server = UnixHttp::serve(path, requests, move |req| {
            let state = state.clone();
            async move { Ok::<_, std::convert::Infallible>(fake_reply(&state, req).await) }
        });
        FakeEngine {
            server,
            max_concurrent_df,
        }
    }
}

type FakeBody = http_body_util::Full<bytes::Bytes>;

fn reply(status: u16, body: bytes::Bytes) -> hyper::Response<FakeBody> {
    hyper::Response::builder()
        .status(status)
        .header("Content-Type", "application/json")
        .header("Api-Version", "fake")
        .body(http_body_util::Full::new(body))
        .unwrap()
}

fn message(status: u16, msg: &str) -> hyper::Response<FakeBody> {
    reply(
        status,
        bytes::Bytes::from(serde_json::json!({ "message": msg }).to_string()),
    )
}

async fn fake_reply(
    state: &FakeState,
    req: hyper::Request<hyper::body::Incoming>,
) -> hyper::Response<FakeBody> {
    let uri = req.uri().clone();
    state
        .requests
        .lock()
        .unwrap()
        .push(format!("{} {}", req.method(), uri));
    let query = uri.query().unwrap_or("");
    let mut path = uri.path();
    let mut version = None;
    if let Some(rest) = path.strip_prefix("/v")
        && let Some((v, tail)) = rest.split_once('/')
        && let Some(v) = parse_ver(v)
    {
        version = Some(v);
        path = &path[2 + rest.len() - tail.len() - 1..];
    }
    match version {
        Some(v) if v > state.max => {
            return message(
                400,
                &format!(
                    "client version {}.{} is too new. Maximum supported API version is {}.{}",
                    v.0, v.1, state.max.0, state.max.1
                ),
            );
        }
        Some(v) if v < state.min => {
            return message(
                400,
                &format!(
                    "client version {}.{} is too old. Minimum supported API version is {}.{}, please upgrade your client to a newer version",
                    v.0, v.1, state.min.0, state.min.1
                ),
            );
        }
        // Unversioned requests are accepted for /version (negotiation) only: anything else
        // must carry the negotiated version.
        None if path != "/version" => {
            return message(400, "fake engine: unversioned request");
        }
        _ => {}
    }
    let v = version.unwrap_or(state.max);
    match path {
        "/version" => reply(200, state.files["version"].clone()),
        "/info" => reply(200, state.files["info"].clone()),
        "/volumes" => reply(200, state.files["volumes"].clone()),
        "/containers/json" => reply(200, bytes::Bytes::from_static(b"[]")),
        "/_ping" => reply(200, bytes::Bytes::from_static(b"OK")),
        "/system/df" => {
            let now = state.df_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            state.max_concurrent_df.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(state.df_delay).await;
            state.df_in_flight.fetch_sub(1, Ordering::SeqCst);
            let verbose = query.split('&').any(|kv| kv == "verbose=true");
            let key = if v >= (1, 52) && verbose {
                "system_df_verbose"
            } else {
                "system_df"
            };
            reply(200, state.files[key].clone())
        }
        _ => message(404, "page not found"),
    }
}

/// A recording proxy in front of the real Engine: a unix socket that forwards every
/// request, one Engine connection per request, to `/var/run/docker.sock` and records its
/// request line, so a test can count the Engine calls a scrape makes.
pub struct EngineProxy {
    /// The server (socket path, request lines).
    pub server: UnixHttp,
}

impl std::ops::Deref for EngineProxy {
    type Target = UnixHttp;
    fn deref(&self) -> &UnixHttp {
        &self.server
    }
}

impl EngineProxy {
    /// Starts one in a temp dir.
    pub fn start() -> EngineProxy {
        let dir = tempfile::tempdir().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        let mut server = UnixHttp::serve(&dir.path().join("docker.sock"), requests, move |req| {
            let log = log.clone();
            async move { forward_to_engine(&log, req).await }
        });
        server._dir = Some(dir);
        EngineProxy { server }
    }
}

async fn forward_to_engine(
    log: &Mutex<Vec<String>>,
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<hyper::body::Incoming>, hyper::Error> {
    log.lock()
        .unwrap()
        .push(format!("{} {}", req.method(), req.uri()));
    let engine = DOCKER_HOST.strip_prefix("unix://").unwrap();
    let stream = tokio::net::UnixStream::connect(engine)
        .await
        .unwrap_or_else(|e| panic!("{engine}: {e}"));
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    sender.send_request(req).await
}

/// A unix socket that accepts connections and never answers.
pub struct SilentSocket {
    /// Socket path.
    pub path: PathBuf,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl SilentSocket {
    /// Starts one.
    pub fn start() -> SilentSocket {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("silent.sock");
        let task = tokio::spawn(accept_and_hold(
            tokio::net::UnixListener::bind(&path).unwrap(),
        ));
        SilentSocket {
            path,
            task,
            _dir: dir,
        }
    }

    /// `unix://<path>`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.path.display())
    }
}

impl Drop for SilentSocket {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Accepts every connection and keeps it open without reading or answering.
async fn accept_and_hold(listener: tokio::net::UnixListener) {
    let mut held = Vec::new();
    while let Ok((stream, _)) = listener.accept().await {
        held.push(stream);
    }
}
