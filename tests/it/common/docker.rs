//! Docker harness: volumes, networks and containers on the real Engine started by
//! `scripts/setup` (all labelled `pe-test=1` and removed when dropped), servers from the
//! host run inside containers of the busybox test image, a fake Engine serving recorded
//! API replies and a recording proxy (`docker/engines.rs`), and a socket that accepts and
//! never answers.

use super::env_path;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod engines;
pub use engines::{EngineProxy, FakeEngine, SilentSocket};

/// The Engine every live test talks to.
pub const DOCKER_HOST: &str = "unix:///var/run/docker.sock";
/// Label on everything the tests create.
pub const TEST_LABEL: &str = "pe-test=1";

/// The minimal test image (static busybox), from `PE_DOCKER_IMAGE`.
pub fn image() -> String {
    env_path("PE_DOCKER_IMAGE")
}

/// Runs `docker args...`; stdout on success, panics with stderr otherwise.
pub fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run docker: {e} (scripts/setup installs it)"));
    assert!(
        out.status.success(),
        "docker {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Runs `docker args...` ignoring failure (cleanup).
pub fn docker_quiet(args: &[&str]) {
    let _ = Command::new("docker").args(args).output();
}

/// A name unique to this test process: `pe-test-<pid>-<n>-<what>`.
pub fn unique(what: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "pe-test-{}-{}-{what}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A named volume, removed when dropped.
pub struct TestVolume {
    /// Its name.
    pub name: String,
}

impl TestVolume {
    /// Creates a volume with extra labels (besides `pe-test=1`).
    pub fn create(name: &str, labels: &[(&str, &str)]) -> TestVolume {
        let mut args = vec![
            "volume".to_string(),
            "create".into(),
            "--label".into(),
            TEST_LABEL.into(),
        ];
        for (k, v) in labels {
            args.push("--label".into());
            args.push(format!("{k}={v}"));
        }
        args.push(name.to_string());
        docker(&args.iter().map(String::as_str).collect::<Vec<_>>());
        TestVolume {
            name: name.to_string(),
        }
    }

    /// Writes files of exactly these sizes (bytes) into the volume from a container.
    pub fn fill(&self, files: &[(&str, usize)]) {
        let script: Vec<String> = files
            .iter()
            .map(|(f, n)| format!("head -c {n} /dev/zero > /v/{f}"))
            .collect();
        self.run_script(&format!("{} && sync", script.join(" && ")));
    }

    /// Runs a shell script in a throw-away container with the volume at `/v`.
    fn run_script(&self, script: &str) {
        let mount = format!("{}:/v", self.name);
        let img = image();
        docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            "--label",
            TEST_LABEL,
            "-v",
            &mount,
            &img,
            "sh",
            "-c",
            script,
        ]);
    }
}

impl Drop for TestVolume {
    fn drop(&mut self) {
        docker_quiet(&["volume", "rm", "-f", &self.name]);
    }
}

/// A user-defined bridge network, removed when dropped.
pub struct TestNetwork {
    /// Its name.
    pub name: String,
}

impl TestNetwork {
    /// Creates one.
    pub fn create(name: &str) -> TestNetwork {
        docker(&["network", "create", "--label", TEST_LABEL, name]);
        TestNetwork {
            name: name.to_string(),
        }
    }
}

impl Drop for TestNetwork {
    fn drop(&mut self) {
        docker_quiet(&["network", "rm", &self.name]);
    }
}

/// A container started detached; removed with its anonymous volumes when dropped.
pub struct TestContainer {
    /// Its name.
    pub name: String,
}

impl TestContainer {
    /// `docker run -d --label pe-test=1 --name <name> <args...>`.
    pub fn run(name: &str, args: &[String]) -> TestContainer {
        let mut all = vec![
            "run".to_string(),
            "-d".into(),
            "--label".into(),
            TEST_LABEL.into(),
            "--name".into(),
            name.to_string(),
        ];
        all.extend_from_slice(args);
        // Remove a leftover of an earlier, killed run of the same process id.
        docker_quiet(&["rm", "-f", "-v", name]);
        let c = TestContainer {
            name: name.to_string(),
        };
        docker(&all.iter().map(String::as_str).collect::<Vec<_>>());
        c
    }

    /// `docker inspect -f <format>`.
    pub fn inspect(&self, format: &str) -> String {
        docker(&["inspect", "-f", format, &self.name])
    }

    /// The container's output so far.
    pub fn logs(&self) -> String {
        let out = Command::new("docker")
            .args(["logs", "--tail", "60", &self.name])
            .output();
        match out {
            Ok(o) => format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => e.to_string(),
        }
    }

    /// Names of the volumes mounted into the container.
    pub fn volume_names(&self) -> Vec<String> {
        self.inspect("{{range .Mounts}}{{if eq .Type \"volume\"}}{{.Name}} {{end}}{{end}}")
            .split_whitespace()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for TestContainer {
    fn drop(&mut self) {
        docker_quiet(&["rm", "-f", "-v", &self.name]);
    }
}

/// Read-only mounts of the host's libraries, so the host's dynamically linked server
/// binaries run in the busybox image.
pub fn host_lib_mounts() -> Vec<String> {
    let mut v = Vec::new();
    for (src, dst) in [
        ("/usr/lib", "/usr/lib"),
        ("/usr/lib", "/lib"),
        ("/usr/lib64", "/lib64"),
    ] {
        if Path::new(src).exists() {
            v.push("-v".to_string());
            v.push(format!("{src}:{dst}:ro"));
        }
    }
    v
}

/// Where a containerised server keeps its data.
#[derive(Clone, Debug)]
pub enum DataSetup {
    /// This named volume mounted at the data path.
    Named(String),
    /// An anonymous volume at the data path (`-v /path`).
    Anonymous,
    /// A host directory bind-mounted at the data path.
    Bind(PathBuf),
    /// Nothing: the container's writable layer.
    Nothing,
}

impl DataSetup {
    fn args(&self, path: &str) -> Vec<String> {
        match self {
            DataSetup::Named(v) => vec!["-v".into(), format!("{v}:{path}")],
            DataSetup::Anonymous => vec!["-v".into(), path.to_string()],
            DataSetup::Bind(dir) => vec!["-v".into(), format!("{}:{path}", dir.display())],
            DataSetup::Nothing => Vec::new(),
        }
    }
}

/// How a containerised server is reached.
#[derive(Clone, Debug)]
pub enum Net {
    /// `--network host`, the server on a free loopback port.
    Host,
    /// A user-defined bridge network with the server's port published on
    /// `127.0.0.1:<free port>`.
    Published(String),
}

/// Redis 7.0 (the host's binary) running in a container.
pub struct RedisContainer {
    /// The container.
    pub container: TestContainer,
    /// Port on 127.0.0.1.
    pub port: u16,
}

impl RedisContainer {
    /// Starts `redis-server --dir <data_path>` with its data set up as given, plus extra
    /// `docker run` arguments (labels...).
    pub fn start(
        name: &str,
        data_path: &str,
        data: &DataSetup,
        net: &Net,
        extra: &[String],
    ) -> RedisContainer {
        Self::start_configured(
            name,
            data_path,
            data,
            net,
            extra,
            "--save '' --appendonly no",
            None,
        )
    }

    /// Like [`start`](Self::start) with the server's own arguments (shell-quoted) instead
    /// of "persistence off", and the password the readiness probe must use.
    pub fn start_configured(
        name: &str,
        data_path: &str,
        data: &DataSetup,
        net: &Net,
        extra: &[String],
        server_args: &str,
        password: Option<&str>,
    ) -> RedisContainer {
        let bin = env_path("PE_REDIS_70_SERVER");
        let port = super::free_port();
        let mut args = host_lib_mounts();
        args.extend([
            "-v".to_string(),
            format!("{bin}:/usr/local/bin/redis-server:ro"),
        ]);
        args.extend(data.args(data_path));
        args.extend_from_slice(extra);
        let listen_port = match net {
            Net::Host => {
                args.extend(["--network".into(), "host".into()]);
                port
            }
            Net::Published(network) => {
                args.extend([
                    "--network".into(),
                    network.clone(),
                    "-p".into(),
                    format!("127.0.0.1:{port}:6379"),
                ]);
                6379
            }
        };
        args.push(image());
        let bind = match net {
            Net::Host => "127.0.0.1",
            Net::Published(_) => "0.0.0.0",
        };
        // The image has no data directory of its own: create it (a no-op on a mount).
        args.extend([
            "sh".to_string(),
            "-c".into(),
            format!(
                "mkdir -p {data_path} && exec /usr/local/bin/redis-server --port {listen_port} --bind {bind} --protected-mode no --dir {data_path} {server_args}"
            ),
        ]);
        let container = TestContainer::run(name, &args);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if ping_redis(port, password) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "redis in container {name} did not answer on port {port}:\n{}",
                container.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        RedisContainer { container, port }
    }
}

fn ping_redis(port: u16, password: Option<&str>) -> bool {
    let auth = password.map(|p| format!(":{p}@")).unwrap_or_default();
    let Ok(client) = redis::Client::open(format!("redis://{auth}127.0.0.1:{port}")) else {
        return false;
    };
    client
        .get_connection_with_timeout(Duration::from_secs(1))
        .ok()
        .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c).ok())
        .is_some()
}

/// PostgreSQL (host binaries) running in a container as the unprivileged test user.
pub struct PostgresContainer {
    /// The container.
    pub container: TestContainer,
    /// Port on 127.0.0.1.
    pub port: u16,
}

fn id_of(flag: &str, user: &str) -> String {
    let out = Command::new("id")
        .args([flag, user])
        .output()
        .expect("id runs");
    assert!(
        out.status.success(),
        "user {user} missing (scripts/setup creates it)"
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl PostgresContainer {
    /// Starts PostgreSQL from `bin_dir` (a PE_PG*_BIN value) with `PGDATA=<pgdata>` (initdb
    /// on first start), its volumes/binds set up by `mounts` (`docker run` args), on the
    /// host network. The server runs as the `PE_PG_USER` uid, which owns the data dir.
    pub fn start(name: &str, bin_dir: &str, pgdata: &str, mounts: &[String]) -> PostgresContainer {
        Self::start_with(name, bin_dir, pgdata, mounts, &[])
    }

    /// Like [`start`](Self::start), with server settings passed as `-c name=value` (values
    /// without quotes).
    pub fn start_with(
        name: &str,
        bin_dir: &str,
        pgdata: &str,
        mounts: &[String],
        settings: &[(&str, &str)],
    ) -> PostgresContainer {
        let extra: String = settings
            .iter()
            .map(|(k, v)| format!(" -c \"{k}={v}\""))
            .collect();
        let bin = std::fs::canonicalize(bin_dir)
            .unwrap_or_else(|e| panic!("{bin_dir}: {e}"))
            .display()
            .to_string();
        let user = env_path("PE_PG_USER");
        let (uid, gid) = (id_of("-u", &user), id_of("-g", &user));
        let port = super::free_port();
        let mut args = host_lib_mounts();
        for dir in ["/usr/share/postgresql", "/usr/share/zoneinfo"] {
            if Path::new(dir).exists() {
                args.extend(["-v".to_string(), format!("{dir}:{dir}:ro")]);
            }
        }
        if !bin.starts_with("/usr/lib/") {
            // Self-contained builds (PG 13/14/16/17/18 from npm) live in the deps dir.
            let deps = env_path("PE_DEPS_DIR");
            args.extend(["-v".to_string(), format!("{deps}:{deps}:ro")]);
        }
        args.extend_from_slice(mounts);
        args.extend([
            "--network".to_string(),
            "host".into(),
            "-e".into(),
            format!("PGDATA={pgdata}"),
            image(),
            "sh".into(),
            "-c".into(),
            format!(
                "set -e
echo 'pe:x:{uid}:{gid}::/tmp:/bin/sh' >> /etc/passwd
echo 'pe:x:{gid}:' >> /etc/group
mkdir -p {pgdata}
chown {uid}:{gid} {pgdata}
chmod 700 {pgdata}
if [ ! -s {pgdata}/PG_VERSION ]; then
  su pe -s /bin/sh -c '{bin}/initdb -D {pgdata} -U postgres --auth=trust -E UTF8 --no-sync' > /tmp/initdb.log 2>&1 || {{ cat /tmp/initdb.log; exit 1; }}
fi
exec su pe -s /bin/sh -c 'exec {bin}/postgres -D {pgdata} -p {port} -k /tmp -c listen_addresses=127.0.0.1 -c logging_collector=off{extra}'"
            ),
        ]);
        let container = TestContainer::run(name, &args);
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "postgres in container {name} did not listen on {port}:\n{}",
                container.logs()
            );
            assert!(
                container.inspect("{{.State.Running}}") == "true",
                "postgres container {name} exited:\n{}",
                container.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let pg = PostgresContainer { container, port };
        pg.wait_ready();
        pg
    }

    /// Waits until the server listens (after a start or restart).
    pub fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "postgres in {} not ready:\n{}",
                self.container.name,
                self.container.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs SQL as `postgres` in database `db` (over TCP from the test), retrying the
    /// connection while the server starts up.
    pub async fn sql(&self, db: &str, query: &str) {
        let dsn = format!(
            "host=127.0.0.1 port={} user=postgres dbname={db} connect_timeout=10",
            self.port
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        let (client, conn) = loop {
            match tokio_postgres::connect(&dsn, tokio_postgres::NoTls).await {
                Ok(c) => break c,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("connect to postgres on {}: {e}", self.port),
            }
        };
        let task = tokio::spawn(conn);
        client
            .batch_execute(query)
            .await
            .unwrap_or_else(|e| panic!("{query}: {e}"));
        drop(client);
        let _ = task.await;
    }
}

pub use super::write_config;

/// Creates `n` volumes named `<prefix>-<i>` with `parallel` concurrent `docker volume
/// create` calls; returns their names.
pub fn create_volumes(prefix: &str, range: std::ops::Range<usize>, parallel: usize) -> Vec<String> {
    let names: Vec<String> = range.map(|i| format!("{prefix}-{i:04}")).collect();
    let chunks: Vec<Vec<String>> = names
        .chunks(names.len().div_ceil(parallel.max(1)).max(1))
        .map(<[String]>::to_vec)
        .collect();
    std::thread::scope(|s| {
        for chunk in &chunks {
            s.spawn(move || {
                for n in chunk {
                    docker(&["volume", "create", "--label", TEST_LABEL, n]);
                }
            });
        }
    });
    names
}

/// Removes volumes in batches (ignores errors).
pub fn remove_volumes(names: &[String]) {
    for chunk in names.chunks(200) {
        let mut args = vec!["volume", "rm", "-f"];
        args.extend(chunk.iter().map(String::as_str));
        docker_quiet(&args);
    }
}

/// Removes a set of volumes when dropped.
pub struct VolumeSet(pub Vec<String>);

impl Drop for VolumeSet {
    fn drop(&mut self) {
        remove_volumes(&self.0);
    }
}
