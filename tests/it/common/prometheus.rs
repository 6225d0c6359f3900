//! A real Prometheus (Debian's, `PE_PROMETHEUS`) as a child process of a test: started in
//! a directory with a given config file, waited on until ready, queried over its HTTP
//! API, killed by PID when dropped.

use super::{PORT_ATTEMPTS, bind_failed, env_path, free_port, http_get};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running Prometheus.
pub struct Prometheus {
    child: Child,
    /// Where its web API listens.
    pub addr: SocketAddr,
    log: PathBuf,
}

impl Prometheus {
    /// Starts Prometheus with `config` (relative paths in it resolve from the config's
    /// directory), its TSDB and log in `dir`, and waits until `/-/ready` answers 200.
    pub async fn start(dir: &Path, config: &Path) -> Prometheus {
        std::fs::create_dir_all(dir).unwrap();
        // The port may have been taken since it was chosen: start again on a new one.
        for attempt in 1.. {
            match Self::try_start(dir, config).await {
                Ok(p) => return p,
                Err(log) if attempt < PORT_ATTEMPTS && bind_failed(&log) => {}
                Err(log) => panic!("prometheus did not start:\n{log}"),
            }
        }
        unreachable!()
    }

    async fn try_start(dir: &Path, config: &Path) -> Result<Prometheus, String> {
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let log = dir.join("prometheus.log");
        let child = Command::new(env_path("PE_PROMETHEUS"))
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("prometheus starts");
        let mut p = Prometheus { child, addr, log };
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = p.child.try_wait().unwrap() {
                return Err(format!("exited with {status}:\n{}", p.log()));
            }
            if tokio::net::TcpStream::connect(addr).await.is_ok()
                && http_get(addr, "/-/ready", &[]).await.status == 200
            {
                return Ok(p);
            }
            assert!(
                Instant::now() < until,
                "prometheus not ready within 30 s:\n{}",
                p.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Its log so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// GET an API path: the `data` of a successful answer, or the error text.
    pub async fn api(&self, path: &str) -> Result<Value, String> {
        let r = http_get(self.addr, path, &[]).await;
        let v: Value = serde_json::from_str(&r.body)
            .map_err(|e| format!("HTTP {}: {e}: {}", r.status, r.body))?;
        if v["status"] == "success" {
            Ok(v["data"].clone())
        } else {
            Err(format!("{}: {}", v["errorType"], v["error"]))
        }
    }

    /// Instant query (now, or at `time`): the series (`{"metric": …, "value": [t, "v"]}`).
    pub async fn query(&self, expr: &str, time: Option<f64>) -> Result<Vec<Value>, String> {
        let at = time.map(|t| format!("&time={t}")).unwrap_or_default();
        let data = self
            .api(&format!("/api/v1/query?query={}{at}", url_encode(expr)))
            .await?;
        match data["resultType"].as_str() {
            Some("vector") | Some("matrix") => {
                Ok(data["result"].as_array().cloned().unwrap_or_default())
            }
            other => Err(format!("result type {other:?}, not series")),
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Percent-encodes a query parameter.
pub fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
