//! The container image, built from the top-level `Dockerfile` and run for real.
//!
//! No registry is reachable in CI, so both base images of the Dockerfile are made here:
//! the runtime base from exactly the shared libraries the binary under test links (`ldd`),
//! CA certificates and the nonroot user 65532 (what distroless/cc provides), the builder
//! base from the busybox test image. The Dockerfile then takes its `PREBUILT_BINARY` path
//! with the binary cargo built for this test run (debug info stripped). Its default path,
//! which compiles in a Rust image, is covered by `scripts/test.d/40-deploy.sh` (`cargo
//! check` on the exact build context).
//!
//! The image runs the way `deploy/compose.yaml` runs it: non-root, read-only root
//! filesystem, no capabilities, the Docker socket read-only through the socket's group,
//! Docker's volumes directory read-only, `deploy/persistence_exporter.yml` with the compose
//! secret `deploy/secrets/postgres_exporter_password`; against a real Redis and
//! PostgreSQL 17 on the host's loopback, started with the das-tern report's settings, the PostgreSQL
//! role created by `deploy/postgres-init/`.
//!
//! Everything created is labelled `pe-test=1` and `pe-test-run=<unique id>` and removed at
//! the end, the intermediate images of the build included (they inherit the labels of the
//! base images).
//!
//! Run: `source /var/cache/persistence-exporter/env.sh && cargo nextest run -E 'test(/^image::/)'`

use crate::common;

use common::docker::{TestContainer, docker, docker_quiet, unique};
use common::postgres::PgServer;
use common::redis::RedisServer;
use common::{Metrics, env_path, free_port, http_get, promtool_check};
use std::io::Write as _;
use std::net::SocketAddr;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The image's user and group (distroless `nonroot`).
const NONROOT: u32 = 65532;
const REDIS_PASSWORD: &str = "img-R3dis-S3cret-77a1";
/// Where deploy/compose.yaml mounts the exporter's config and the compose secret.
const CONFIG_IN_CONTAINER: &str = "/etc/persistence_exporter/config.yml";
const SECRET_IN_CONTAINER: &str = "/run/secrets/postgres_exporter_password";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `text` with `from` replaced by `to`, asserting `from` is there, so that a change of
/// the shipped file cannot silently turn the rewrite into a no-op.
fn replace_once(text: &str, from: &str, to: &str, file: &str) -> String {
    assert!(text.contains(from), "{file} no longer contains {from:?}");
    text.replacen(from, to, 1)
}

/// Runs a command; stdout on success, panics with everything it printed otherwise.
fn exec(cmd: &mut Command, stdin: Option<&str>) -> String {
    let what = format!("{cmd:?}");
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One test run's Docker objects: removed (containers, then every image carrying the
/// run's label) when dropped.
struct RunLabel {
    id: String,
}

impl RunLabel {
    fn new() -> RunLabel {
        RunLabel {
            id: unique("image"),
        }
    }

    fn label(&self) -> String {
        format!("pe-test-run={}", self.id)
    }

    /// `--label pe-test=1 --label pe-test-run=<id>`.
    fn args(&self) -> Vec<String> {
        vec![
            "--label".into(),
            "pe-test=1".into(),
            "--label".into(),
            self.label(),
        ]
    }

    /// A tag unique to this run.
    fn tag(&self, repo: &str) -> String {
        format!("{repo}:{}", self.id)
    }
}

impl Drop for RunLabel {
    fn drop(&mut self) {
        let filter = format!("label={}", self.label());
        if let Ok(out) = Command::new("docker")
            .args(["ps", "-aq", "--filter", &filter])
            .output()
        {
            for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                docker_quiet(&["rm", "-f", "-v", id]);
            }
        }
        // Tagged and intermediate images alike; prune removes children before parents.
        docker_quiet(&["image", "prune", "-a", "-f", "--filter", &filter]);
    }
}

/// The runtime base: a root filesystem with what distroless/cc-debian12:nonroot offers the
/// binary (its shared libraries, CA certificates, passwd/group with nonroot 65532, /tmp),
/// imported as an image that runs as 65532.
fn runtime_base(run: &RunLabel, binary: &Path, dir: &Path) -> String {
    let root = dir.join("rootfs");
    let ldd = exec(Command::new("ldd").arg(binary), None);
    let libs: Vec<&str> = ldd
        .split_whitespace()
        .filter(|t| t.starts_with('/'))
        .collect();
    assert!(
        libs.iter().any(|l| l.contains("libc.so")),
        "ldd {} lists no libc:\n{ldd}",
        binary.display()
    );
    for lib in &libs {
        let dst = root.join(lib.trim_start_matches('/'));
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::copy(lib, &dst).unwrap_or_else(|e| panic!("copy {lib}: {e}"));
    }
    for d in ["etc/ssl/certs", "tmp", "home/nonroot", "usr/local/bin"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/sbin/nologin\n\
         nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n\
         nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n",
    )
    .unwrap();
    std::fs::write(
        root.join("etc/group"),
        "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n",
    )
    .unwrap();
    std::fs::write(root.join("etc/nsswitch.conf"), "hosts: files dns\n").unwrap();
    let certs = Path::new("/etc/ssl/certs/ca-certificates.crt");
    if certs.exists() {
        std::fs::copy(certs, root.join("etc/ssl/certs/ca-certificates.crt")).unwrap();
    }
    std::fs::set_permissions(root.join("tmp"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    std::os::unix::fs::chown(root.join("home/nonroot"), Some(NONROOT), Some(NONROOT))
        .expect("chown to 65532 (the tests run as root, like scripts/setup)");
    let tar = dir.join("rootfs.tar");
    exec(
        Command::new("tar")
            .args(["--numeric-owner", "-C"])
            .arg(&root)
            .arg("-cf")
            .arg(&tar)
            .arg("."),
        None,
    );
    let tag = run.tag("pe-runtime-local");
    let mut args: Vec<String> = vec!["import".into()];
    for change in [
        format!("USER {NONROOT}:{NONROOT}"),
        "WORKDIR /home/nonroot".into(),
        "ENV PATH=/usr/local/bin:/usr/bin:/bin".into(),
        "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt".into(),
        "LABEL pe-test=1".into(),
        format!("LABEL {}", run.label()),
    ] {
        args.push("--change".into());
        args.push(change);
    }
    args.push(tar.display().to_string());
    args.push(tag.clone());
    docker(&args.iter().map(String::as_str).collect::<Vec<_>>());
    tag
}

/// The builder base for the prebuilt-binary path: the busybox test image (a shell and
/// `cp`), with the run's labels so every intermediate image of the build carries them.
fn builder_base(run: &RunLabel) -> String {
    let tag = run.tag("pe-builder-local");
    let mut cmd = Command::new("docker");
    cmd.args(["build", "-q", "-t", &tag])
        .args(run.args())
        .arg("-");
    exec(
        &mut cmd,
        Some(&format!("FROM {}\n", env_path("PE_DOCKER_IMAGE"))),
    );
    tag
}

/// The binary under test, debug info stripped (the image test needs no symbols, and a
/// 30 MB build context instead of 140 MB), as `<dir>/persistence_exporter`.
fn binary_context(dir: &Path) -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_persistence_exporter"));
    let ctx = dir.join("context");
    std::fs::create_dir_all(&ctx).unwrap();
    let dst = ctx.join("persistence_exporter");
    let stripped = Command::new("objcopy")
        .arg("--strip-debug")
        .arg(bin)
        .arg(&dst)
        .status()
        .is_ok_and(|s| s.success());
    if !stripped {
        std::fs::copy(bin, &dst).unwrap();
    }
    std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o755)).unwrap();
    ctx
}

fn image_size(image: &str) -> u64 {
    docker(&["image", "inspect", "-f", "{{.Size}}", image])
        .parse()
        .unwrap()
}

/// The fields of `/proc/<pid>/status` as `name -> value`.
fn proc_status(pid: &str) -> std::collections::BTreeMap<String, String> {
    read(&PathBuf::from(format!("/proc/{pid}/status")))
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

/// Waits (bounded) until the container answers `/-/healthy`.
async fn wait_healthy(c: &TestContainer, addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            let r = http_get(addr, "/-/healthy", &[]).await;
            assert_eq!(r.status, 200, "/-/healthy: {}", r.body);
            return;
        }
        let running = c.inspect("{{.State.Running}}");
        assert!(
            running == "true" && Instant::now() < deadline,
            "the exporter container does not listen on {addr} (running: {running}):\n{}",
            c.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Scrapes until every check in `want` has a result, bounded (the unauthenticated probe of
/// `redis_auth_required` runs on its own connection).
async fn scrape_checks(addr: SocketAddr, want: &[(&str, &str)]) -> Metrics {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = http_get(addr, "/metrics", &[]).await;
        assert_eq!(r.status, 200, "/metrics: {}", r.body);
        let m = Metrics::parse(&r.body);
        let missing: Vec<_> = want
            .iter()
            .filter(|(t, c)| {
                m.get("persistence_check_ok", &[("target", t), ("check", c)])
                    .is_none()
            })
            .collect();
        if missing.is_empty() {
            promtool_check(&r.body);
            return m;
        }
        assert!(
            Instant::now() < deadline,
            "checks {missing:?} never evaluated:\n{}",
            r.body
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn image_runs_the_compose_config_non_root_against_real_redis_and_postgres() {
    // Declared first, dropped last: removes what the containers below leave.
    let run = RunLabel::new();
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();

    // ---- Build: local base images, then the Dockerfile's prebuilt-binary path.
    let ctx = tokio::task::block_in_place(|| binary_context(tmp.path()));
    let binary = ctx.join("persistence_exporter");
    let runtime = tokio::task::block_in_place(|| runtime_base(&run, &binary, tmp.path()));
    let builder = tokio::task::block_in_place(|| builder_base(&run));
    let image = run.tag("persistence-exporter");
    let build_started = Instant::now();
    tokio::task::block_in_place(|| {
        let mut cmd = Command::new("docker");
        cmd.arg("build")
            .arg("-f")
            .arg(repo().join("Dockerfile"))
            .args(["--build-arg", &format!("BUILDER_IMAGE={builder}")])
            .args(["--build-arg", &format!("RUNTIME_IMAGE={runtime}")])
            .args(["--build-arg", "PREBUILT_BINARY=persistence_exporter"])
            .args([
                "--build-arg",
                &format!("VERSION={}", env!("CARGO_PKG_VERSION")),
            ])
            .args(["--build-arg", "REVISION=image-test"])
            .args(run.args())
            .args(["-t", &image])
            .arg(&ctx);
        exec(&mut cmd, None)
    });
    eprintln!("docker build: {:.1?}", build_started.elapsed());

    // ---- The image's metadata.
    let config: serde_json::Value = serde_json::from_str(&docker(&[
        "image",
        "inspect",
        "-f",
        "{{json .Config}}",
        &image,
    ]))
    .unwrap();
    assert_eq!(config["User"], "65532:65532", "numeric non-root user");
    assert!(
        config["ExposedPorts"].get("9631/tcp").is_some(),
        "EXPOSE 9631: {config}"
    );
    assert_eq!(
        config["Entrypoint"],
        serde_json::json!(["/usr/local/bin/persistence_exporter"])
    );
    let labels = &config["Labels"];
    for key in [
        "title",
        "description",
        "version",
        "revision",
        "created",
        "licenses",
        "base.name",
    ] {
        assert!(
            labels
                .get(format!("org.opencontainers.image.{key}"))
                .is_some(),
            "OCI label {key} missing: {labels}"
        );
    }
    assert_eq!(
        labels["org.opencontainers.image.version"],
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(labels["org.opencontainers.image.revision"], "image-test");
    // Multi-stage: the final image is the runtime base plus the binary, nothing of the
    // build stage (no sources, no shell).
    let (size, base) = (image_size(&image), image_size(&runtime));
    let bin_len = std::fs::metadata(&binary).unwrap().len();
    eprintln!(
        "image {image}: {:.1} MB = runtime base {:.1} MB + binary {:.1} MB",
        size as f64 / 1e6,
        base as f64 / 1e6,
        bin_len as f64 / 1e6
    );
    assert!(
        size >= base + bin_len && size <= base + bin_len + 64 * 1024,
        "final image {size} B is not base {base} B + binary {bin_len} B"
    );

    // ---- Servers, configured like the das-tern stack.
    let redis = RedisServer::start(&common::redis::das_tern_args(REDIS_PASSWORD));
    let pg = PgServer::start(
        17,
        &[
            ("max_connections", "20"),
            ("log_min_duration_statement", "1000"),
            ("timezone", "Asia/Phnom_Penh"),
        ],
    );

    // The exporter role from deploy/postgres-init/, run with psql like the postgres image's
    // entrypoint does; the secret path is the repo's copy of the compose secret.
    let secret = repo().join("deploy/secrets/postgres_exporter_password");
    let mode = std::fs::metadata(&secret).unwrap().mode();
    assert!(
        mode & 0o004 != 0,
        "{} must be world-readable (compose bind-mounts secrets with the file's mode; the \
         exporter runs as 65532, the postgres init as 70): mode {mode:o}",
        secret.display()
    );
    let pg_password = read(&secret).trim_end_matches('\n').to_string();
    let init_path = repo().join("deploy/postgres-init/01-exporter-role.sql");
    let init = replace_once(
        &read(&init_path),
        SECRET_IN_CONTAINER,
        secret.to_str().unwrap(),
        "deploy/postgres-init/01-exporter-role.sql",
    );
    let init_copy = tmp.path().join("01-exporter-role.sql");
    std::fs::write(&init_copy, init).unwrap();
    let psql = PathBuf::from(env_path("PE_PG15_BIN")).join("psql");
    tokio::task::block_in_place(|| {
        exec(
            Command::new(&psql)
                .args(["-X", "-v", "ON_ERROR_STOP=1", "--no-password"])
                .args(["-h", "127.0.0.1", "-p", &pg.port.to_string()])
                .args(["-U", "postgres", "-d", "postgres", "-f"])
                .arg(&init_copy),
            None,
        )
    });
    let as_exporter = pg.connect("exporter", Some(&pg_password), "postgres").await;
    let row = as_exporter
        .query_one(
            "SELECT pg_has_role('exporter', 'pg_monitor', 'member')",
            &[],
        )
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0), "the init script grants pg_monitor");
    drop(as_exporter);

    // ---- deploy/persistence_exporter.yml, with the servers' ports (the compose services
    // `redis` and `postgres` are this host's loopback: --add-host below).
    let cfg_file = "deploy/persistence_exporter.yml";
    let cfg = read(&repo().join(cfg_file));
    let cfg = replace_once(
        &cfg,
        "redis://redis:6379",
        &format!("redis://redis:{}", redis.port),
        cfg_file,
    );
    let cfg = replace_once(
        &cfg,
        "postgresql://exporter@postgres:5432/postgres",
        &format!("postgresql://exporter@postgres:{}/postgres", pg.port),
        cfg_file,
    );
    let cfg_copy = tmp.path().join("persistence_exporter.yml");
    std::fs::write(&cfg_copy, cfg).unwrap();
    std::fs::set_permissions(&cfg_copy, std::fs::Permissions::from_mode(0o644)).unwrap();
    let compose = read(&repo().join("deploy/compose.yaml"));
    for expected in [
        format!("--config.file={CONFIG_IN_CONTAINER}"),
        format!("./persistence_exporter.yml:{CONFIG_IN_CONTAINER}:ro"),
        "/var/run/docker.sock:/var/run/docker.sock:ro".into(),
        "read_only: true".into(),
        "cap_drop: [ALL]".into(),
        "no-new-privileges:true".into(),
    ] {
        assert!(
            compose.contains(&expected),
            "deploy/compose.yaml no longer has {expected:?}: update this test to run the \
             image the way compose does"
        );
    }

    // ---- Run it like compose does (plus host networking and a free port).
    let socket_gid = std::fs::metadata("/var/run/docker.sock")
        .expect("Docker socket")
        .gid();
    let data_root = docker(&["info", "-f", "{{.DockerRootDir}}"]);
    let volumes_dir = format!("{data_root}/volumes");
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut args = run.args();
    args.extend(
        [
            "--network",
            "host",
            "--add-host",
            "redis:127.0.0.1",
            "--add-host",
            "postgres:127.0.0.1",
            "--read-only",
            "--cap-drop",
            "ALL",
            "--security-opt",
            "no-new-privileges:true",
        ]
        .map(String::from),
    );
    args.extend([
        "--group-add".into(),
        socket_gid.to_string(),
        "-e".into(),
        format!("REDIS_PASSWORD={REDIS_PASSWORD}"),
        "-v".into(),
        "/var/run/docker.sock:/var/run/docker.sock:ro".into(),
        "-v".into(),
        format!("{volumes_dir}:{volumes_dir}:ro"),
        "-v".into(),
        format!("{}:{CONFIG_IN_CONTAINER}:ro", cfg_copy.display()),
        "-v".into(),
        format!("{}:{SECRET_IN_CONTAINER}:ro", secret.display()),
        image.clone(),
        format!("--config.file={CONFIG_IN_CONTAINER}"),
        format!("--web.listen-address={addr}"),
    ]);
    let name = format!("{}-exporter", run.id);
    let c = tokio::task::block_in_place(|| TestContainer::run(&name, &args));
    wait_healthy(&c, addr).await;

    // ---- It runs as 65532 with the socket's group, no capabilities, no new privileges.
    let pid = c.inspect("{{.State.Pid}}");
    let status = proc_status(&pid);
    for (field, want) in [
        ("Uid", "65532\t65532\t65532\t65532"),
        ("Gid", "65532\t65532\t65532\t65532"),
        ("CapEff", "0000000000000000"),
        ("CapPrm", "0000000000000000"),
        ("NoNewPrivs", "1"),
    ] {
        assert_eq!(
            status.get(field).map(String::as_str),
            Some(want),
            "/proc/{pid}/status {field}"
        );
    }
    assert!(
        status["Groups"]
            .split_whitespace()
            .any(|g| g == socket_gid.to_string()),
        "supplementary groups {:?} lack the socket's gid {socket_gid}",
        status["Groups"]
    );
    assert_eq!(c.inspect("{{.HostConfig.ReadonlyRootfs}}"), "true");

    // ---- /metrics from the container: both servers up, Docker reachable as non-root,
    // the volumes filesystem measured, the das-tern report's settings pass the das-tern checks.
    let want = [
        ("dastern-redis", "redis_version_min"),
        ("dastern-redis", "redis_maxmemory"),
        ("dastern-redis", "redis_maxmemory_policy"),
        ("dastern-redis", "redis_rdb_snapshots"),
        ("dastern-redis", "redis_aof_enabled"),
        ("dastern-redis", "redis_aof_fsync"),
        ("dastern-redis", "redis_auth_required"),
        ("dastern-postgres", "postgres_version_min"),
        ("dastern-postgres", "postgres_encoding"),
        ("dastern-postgres", "postgres_timezone"),
        ("dastern-postgres", "postgres_max_connections"),
        ("dastern-postgres", "postgres_slow_query_logging"),
    ];
    let m = scrape_checks(addr, &want).await;
    assert_eq!(m.value("redis_up", &[("target", "dastern-redis")]), 1.0);
    assert_eq!(m.value("pg_up", &[("target", "dastern-postgres")]), 1.0);
    assert_eq!(
        m.value("docker_up", &[]),
        1.0,
        "Docker socket through group_add:\n{}",
        c.logs()
    );
    assert!(
        m.value("docker_volumes_filesystem_size_bytes", &[]) > 0.0,
        "the volumes directory mount gives the filesystem size"
    );
    assert_eq!(
        m.all(
            "persistence_exporter_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        )
        .len(),
        1
    );
    for (target, check) in want {
        assert_eq!(
            m.value(
                "persistence_check_ok",
                &[("target", target), ("check", check)]
            ),
            1.0,
            "das-tern check {check} of {target}:\n{}",
            m.all(
                "persistence_check_info",
                &[("target", target), ("check", check)]
            )
            .iter()
            .map(|s| format!("{:?}", s.labels))
            .collect::<Vec<_>>()
            .join("\n")
        );
    }

    // ---- Credentials appear nowhere.
    let landing = http_get(addr, "/", &[]).await;
    assert_eq!(landing.status, 200);
    let logs = c.logs();
    for (what, text) in [
        ("/metrics", m.text.as_str()),
        ("/", landing.body.as_str()),
        ("container log", logs.as_str()),
    ] {
        for secret in [REDIS_PASSWORD, pg_password.as_str()] {
            assert!(!text.contains(secret), "a password appears in {what}");
        }
    }

    // ---- The shipped config, unmodified, passes --config.check inside the image with the
    // compose secret and environment.
    tokio::task::block_in_place(|| {
        let mut check = vec!["run".to_string(), "--rm".into()];
        check.extend(run.args());
        check.extend([
            "--network".into(),
            "none".into(),
            "-e".into(),
            format!("REDIS_PASSWORD={REDIS_PASSWORD}"),
            "-v".into(),
            format!(
                "{}:{CONFIG_IN_CONTAINER}:ro",
                repo().join(cfg_file).display()
            ),
            "-v".into(),
            format!("{}:{SECRET_IN_CONTAINER}:ro", secret.display()),
            image.clone(),
            format!("--config.file={CONFIG_IN_CONTAINER}"),
            "--config.check".into(),
        ]);
        docker(&check.iter().map(String::as_str).collect::<Vec<_>>());
    });

    // ---- PID 1 in the container handles SIGTERM: `docker stop` ends it cleanly, well
    // before the kill timeout.
    let stop_started = Instant::now();
    tokio::task::block_in_place(|| docker(&["stop", "-t", "20", &name]));
    let stopped_in = stop_started.elapsed();
    assert_eq!(
        c.inspect("{{.State.ExitCode}}"),
        "0",
        "exit status after SIGTERM:\n{}",
        c.logs()
    );
    assert!(
        stopped_in < Duration::from_secs(10),
        "docker stop took {stopped_in:?}"
    );
}
