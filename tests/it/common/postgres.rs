//! Real PostgreSQL servers for tests: `initdb` and `postgres` run as the unprivileged
//! `PE_PG_USER` (PostgreSQL refuses to run as root) in a temp dir, on a free loopback
//! port, with chosen settings. The server's stderr goes to a log file (opened in append
//! mode, like `pg_ctl -l`, so `copytruncate` works) that the exporter can follow. Stopped
//! by PID (fast shutdown, then SIGKILL) when dropped.
//!
//! Authentication: `postgres` (superuser, the harness's admin) is trusted; every other
//! role logs in with a SCRAM password, so the password-leak tests exercise real auth.

use super::{PORT_ATTEMPTS, bind_failed, env_path, free_port};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The versions of the matrix.
pub const VERSIONS: &[u32] = &[13, 14, 15, 16, 17, 18];

/// `(uid, gid)` of `PE_PG_USER`, from `/etc/passwd`.
fn pg_user() -> (u32, u32) {
    let user = env_path("PE_PG_USER");
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.first() == Some(&user.as_str()))
        .and_then(|f| Some((f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?)))
        .unwrap_or_else(|| panic!("user {user} (PE_PG_USER) not found: run scripts/setup"))
}

/// Directory of `initdb` and `postgres` for a major version (`PE_PG<v>_BIN`).
pub fn bin_dir(version: u32) -> PathBuf {
    PathBuf::from(env_path(&format!("PE_PG{version}_BIN")))
}

fn chown(path: &Path, (uid, gid): (u32, u32)) {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
}

/// A running server.
pub struct PgServer {
    /// Major version.
    pub version: u32,
    /// Port on 127.0.0.1.
    pub port: u16,
    /// The temp dir holding everything (owned by `PE_PG_USER`).
    pub dir: PathBuf,
    /// The data directory.
    pub data: PathBuf,
    /// The file the server's stderr is appended to.
    pub log_file: PathBuf,
    settings: Vec<(String, String)>,
    child: Option<Child>,
    _tmp: tempfile::TempDir,
}

impl PgServer {
    /// `initdb -E UTF8` and start with these settings (`-c name=value`), on top of the
    /// harness defaults (loopback only, stderr logging with `%d` in the prefix, English
    /// messages).
    pub fn start(version: u32, settings: &[(&str, &str)]) -> PgServer {
        Self::start_with(version, settings, |_| {})
    }

    /// Like [`start`](Self::start), with a hook that runs after `initdb` (to write
    /// certificates or `pg_hba.conf`).
    pub fn start_with(
        version: u32,
        settings: &[(&str, &str)],
        after_initdb: impl FnOnce(&PgServer),
    ) -> PgServer {
        let user = pg_user();
        let tmp = tempfile::Builder::new()
            .prefix(&format!("pe-pg{version}-"))
            .tempdir()
            .unwrap();
        chown(tmp.path(), user);
        let dir = tmp.path().to_path_buf();
        let data = dir.join("data");
        let out = Command::new(bin_dir(version).join("initdb"))
            .args(["-D", data.to_str().unwrap()])
            .args(["-U", "postgres", "-E", "UTF8", "--locale=C", "--auth=trust"])
            .uid(user.0)
            .gid(user.1)
            .env("HOME", &dir)
            .output()
            .expect("initdb runs");
        assert!(
            out.status.success(),
            "initdb (PostgreSQL {version}) failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\n\
             host all postgres 127.0.0.1/32 trust\n\
             hostssl all all 127.0.0.1/32 scram-sha-256\n\
             host all all 127.0.0.1/32 scram-sha-256\n",
        )
        .unwrap();
        let mut all: Vec<(String, String)> = [
            ("listen_addresses", "127.0.0.1"),
            ("unix_socket_directories", dir.to_str().unwrap()),
            ("logging_collector", "off"),
            ("log_line_prefix", "%m [%p] %q%u@%d "),
            ("lc_messages", "C"),
            ("password_encryption", "scram-sha-256"),
            ("fsync", "off"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in settings {
            all.retain(|(n, _)| n != k);
            all.push((k.to_string(), v.to_string()));
        }
        let log_file = dir.join("postgresql.log");
        let mut s = PgServer {
            version,
            port: free_port(),
            dir,
            data,
            log_file,
            settings: all,
            child: None,
            _tmp: tmp,
        };
        after_initdb(&s);
        // The port may have been taken since it was chosen: start again on a new one.
        for attempt in 1.. {
            match s.try_spawn() {
                Ok(()) => break,
                Err(log) if attempt < PORT_ATTEMPTS && bind_failed(&log) => s.port = free_port(),
                Err(log) => panic!(
                    "PostgreSQL {} on port {} did not come up:\n{log}",
                    s.version, s.port
                ),
            }
        }
        s
    }

    fn spawn(&mut self) {
        if let Err(log) = self.try_spawn() {
            panic!(
                "PostgreSQL {} on port {} did not come up:\n{log}",
                self.version, self.port
            );
        }
    }

    /// Starts the server; ready when `postmaster.pid` is this process's and says so. On
    /// failure returns what the server logged meanwhile.
    fn try_spawn(&mut self) -> Result<(), String> {
        let user = pg_user();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_file)
            .unwrap();
        chown(&self.log_file, user);
        std::fs::set_permissions(&self.log_file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let start_len = log.metadata().unwrap().len();
        let mut cmd = Command::new(bin_dir(self.version).join("postgres"));
        cmd.args(["-D", self.data.to_str().unwrap()])
            .args(["-p", &self.port.to_string()]);
        for (k, v) in &self.settings {
            cmd.arg("-c").arg(format!("{k}={v}"));
        }
        cmd.uid(user.0)
            .gid(user.1)
            .env("HOME", &self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        self.child = Some(cmd.spawn().expect("postgres starts"));
        // Ready when postmaster.pid is ours and says so (works whatever the logging setup).
        let pid = self.child.as_ref().map(|c| c.id().to_string()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let status =
                std::fs::read_to_string(self.data.join("postmaster.pid")).unwrap_or_default();
            let lines: Vec<&str> = status.lines().collect();
            if lines.first() == Some(&pid.as_str())
                && lines.get(7).is_some_and(|l| l.trim() == "ready")
            {
                return Ok(());
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() {
                self.child = None;
            }
            if exited.is_some() || Instant::now() > deadline {
                self.stop();
                let text = std::fs::read(&self.log_file).unwrap_or_default();
                return Err(String::from_utf8_lossy(
                    text.get(start_len as usize..).unwrap_or_default(),
                )
                .into_owned());
            }
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    /// Stops the server (fast shutdown, by PID; SIGKILL after 10 s) and waits for it.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // SAFETY: sending a signal to our own child process by its PID.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGINT);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Starts the stopped server again on the same port and data directory.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Stops the server, wipes its data directory, runs `initdb` on it again (a fresh
    /// cluster with a new system identifier) and starts it on the same port.
    pub fn reinitialise(&mut self) {
        self.stop();
        std::fs::remove_dir_all(&self.data).unwrap();
        let user = pg_user();
        let out = Command::new(bin_dir(self.version).join("initdb"))
            .args(["-D", self.data.to_str().unwrap()])
            .args(["-U", "postgres", "-E", "UTF8", "--locale=C", "--auth=trust"])
            .uid(user.0)
            .gid(user.1)
            .env("HOME", &self.dir)
            .output()
            .expect("initdb runs");
        assert!(out.status.success(), "initdb failed: {out:?}");
        std::fs::write(
            self.data.join("pg_hba.conf"),
            "local all all trust\n\
             host all postgres 127.0.0.1/32 trust\n\
             hostssl all all 127.0.0.1/32 scram-sha-256\n\
             host all all 127.0.0.1/32 scram-sha-256\n",
        )
        .unwrap();
        self.spawn();
    }

    /// Starts it again after [`stop`](Self::stop).
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "server is running");
        self.spawn();
    }

    /// `postgresql://ROLE@127.0.0.1:PORT/DB?sslmode=disable` (no password).
    pub fn dsn(&self, role: &str, db: &str) -> String {
        format!(
            "postgresql://{role}@127.0.0.1:{}/{db}?sslmode=disable",
            self.port
        )
    }

    /// The `target` label the exporter gives a flag target connecting to `db`.
    pub fn target(&self, db: &str) -> String {
        format!("127.0.0.1:{}/{db}", self.port)
    }

    /// A connection as the superuser `postgres` (trusted), to set up and read truth.
    pub async fn admin(&self, db: &str) -> tokio_postgres::Client {
        self.connect("postgres", None, db).await
    }

    /// A connection as `role` with its password.
    pub async fn connect(
        &self,
        role: &str,
        password: Option<&str>,
        db: &str,
    ) -> tokio_postgres::Client {
        let mut cfg = tokio_postgres::Config::new();
        cfg.host("127.0.0.1")
            .port(self.port)
            .user(role)
            .dbname(db)
            .connect_timeout(Duration::from_secs(10));
        if let Some(p) = password {
            cfg.password(p);
        }
        let (client, conn) = cfg
            .connect(tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("connect as {role} to {db}: {e}"));
        tokio::spawn(async move {
            let _ = conn.await;
        });
        client
    }

    /// Runs SQL as the superuser in `postgres`.
    pub async fn exec(&self, sql: &str) {
        self.admin("postgres")
            .await
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log_file).unwrap_or_default()).into_owned()
    }

    /// Writes a file into the server's directory, owned by the server's user with `mode`.
    pub fn write_private(&self, name: &str, content: &[u8], mode: u32) -> PathBuf {
        let p = self.dir.join(name);
        std::fs::write(&p, content).unwrap();
        chown(&p, pg_user());
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop();
    }
}
