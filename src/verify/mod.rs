//! `persistence_exporter verify`: proves that each Redis and PostgreSQL target running in a
//! Docker container keeps its data when the container is re-created (or restarted).
//!
//! One read-only pass first, like `check`: every target is scraped once, its container is
//! found the same way the exporter finds it (`container:` or automatic matching), and the
//! mount holding its data directory is named — both read from the scrape's
//! [`crate::outcome::view`], the one join of targets with containers. That pass gives the
//! plan, printed before
//! anything is touched, and the `check` results of the report. Then, only with
//! `--confirm`, one target at a time ([`run::test_target`]): write a marker, re-create or
//! restart the container, wait until the server answers and has loaded, read the marker,
//! remove it. A re-creation that fails is rolled back: the original container gets its
//! name back and runs again with its data. Volumes are never removed.

mod marker;
mod recreate;
mod report;
mod run;

use crate::checks::CheckResult;
use crate::cli::{VerifyArgs, VerifyMode};
use crate::collectors::docker::{DataMount, MountType};
use crate::collectors::{Kind, Snapshot};
use crate::config::{DEFAULT_DOCKER_HOST, DockerTarget, Settings};
use crate::outcome::view::{DataLocation, ScrapeView, TargetView};
pub use marker::{PG_TABLE, REDIS_KEY_PREFIX};
use recreate::Docker;
use serde::Serialize;
use std::process::ExitCode;
use tokio::time::Instant;

/// Result of one target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    /// The marker was there after the re-creation (restart).
    Pass,
    /// The marker was gone, or the server did not come back in time.
    Fail,
    /// Not tested: the target does not run in a container the exporter can see.
    Skipped,
    /// Could not be tested (server down, Docker call failed, ...); nothing was lost.
    Error,
}

impl Verdict {
    /// `PASS`, `FAIL`, `SKIPPED`, `ERROR`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Skipped => "SKIPPED",
            Verdict::Error => "ERROR",
        }
    }
}

/// One row of the report.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// Target name.
    pub target: String,
    /// `redis` or `postgres`.
    pub kind: &'static str,
    /// `recreate` or `restart`.
    pub mode: &'static str,
    /// Container name (empty when none was found).
    pub container: String,
    /// Image name the container runs.
    pub image: String,
    /// Image ID the container runs.
    pub image_id: String,
    /// The server's data directory.
    pub data_dir: String,
    /// What holds it (`volume redis_data`, `anonymous volume`, `writable layer`...).
    pub data_mount: String,
    /// Where the marker was written.
    pub marker: String,
    /// The marker was written.
    pub marker_written: bool,
    /// The container was re-created (or restarted, in restart mode).
    pub recreated: bool,
    /// Seconds from the new container's start to the server being ready.
    pub ready_seconds: Option<f64>,
    /// Seconds from the stop of the old container to the server being ready.
    pub downtime_seconds: Option<f64>,
    /// The marker was found afterwards (`None`: not looked for).
    pub marker_found: Option<bool>,
    /// Verdict.
    pub status: Verdict,
    /// The reason, in words.
    pub reason: String,
    /// The original container was restored after a failure.
    pub rolled_back: bool,
    /// Anything else worth knowing (rollback details, leftovers).
    pub notes: Vec<String>,
    /// Volumes no container uses any more after this run (never removed by `verify`).
    pub left_volumes: Vec<String>,
}

impl Row {
    fn new(target: &str, kind: Kind, mode: VerifyMode) -> Row {
        Row {
            target: target.to_string(),
            kind: kind.as_str(),
            mode: mode_str(mode),
            container: String::new(),
            image: String::new(),
            image_id: String::new(),
            data_dir: String::new(),
            data_mount: String::new(),
            marker: String::new(),
            marker_written: false,
            recreated: false,
            ready_seconds: None,
            downtime_seconds: None,
            marker_found: None,
            status: Verdict::Error,
            reason: String::new(),
            rolled_back: false,
            notes: Vec::new(),
            left_volumes: Vec::new(),
        }
    }

    fn done(mut self, status: Verdict, reason: impl Into<String>) -> Row {
        self.status = status;
        self.reason = reason.into();
        self
    }
}

fn mode_str(mode: VerifyMode) -> &'static str {
    match mode {
        VerifyMode::Recreate => "recreate",
        VerifyMode::Restart => "restart",
    }
}

/// Everything the report shows.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// When the run started (RFC 3339, UTC).
    pub time: String,
    /// Exporter version.
    pub version: String,
    /// Docker Engine release.
    pub engine_version: String,
    /// Docker API version in use.
    pub api_version: String,
    /// `recreate` or `restart`.
    pub mode: &'static str,
    /// One row per target.
    pub results: Vec<Row>,
    /// The `check` results of the same targets, before the test.
    pub checks: Vec<CheckResult>,
}

/// A target that can be tested, with what the read-only pass found.
pub(crate) struct Planned<'a> {
    server: marker::Server<'a>,
    row: Row,
    mount: DataMount,
    container: recreate::Container,
}

/// What the read-only pass decided for a target.
pub(crate) enum Step<'a> {
    /// To be tested.
    Test(Box<Planned<'a>>),
    /// Not tested; the row says why.
    Done(Box<Row>),
}

impl Step<'_> {
    fn done(row: Row) -> Self {
        Step::Done(Box::new(row))
    }
}

/// Runs `verify`; returns the exit code (0 all passed, 1 a marker was lost, 2 usage or
/// config error, or it could not run).
pub async fn run_verify(settings: &Settings, args: &VerifyArgs) -> ExitCode {
    match verify(settings, args).await {
        Ok((report, code)) => {
            print!("{}", report::render(&report, args.output));
            ExitCode::from(code)
        }
        Err(e) => {
            eprintln!("verify: {e}");
            ExitCode::from(2)
        }
    }
}

/// Why `verify` did not run its tests (exit code 2). Printed after `verify: `.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// `--target` named targets that are not configured.
    #[error(
        "unknown target(s) {}; configured Redis/PostgreSQL targets: {}",
        .unknown.iter().map(|t| format!("{t:?}")).collect::<Vec<_>>().join(", "),
        .known.join(", ")
    )]
    UnknownTargets {
        /// The names given that match no target.
        unknown: Vec<String>,
        /// The configured Redis and PostgreSQL target names.
        known: Vec<String>,
    },
    /// The Engine could not be reached or its version negotiated.
    #[error("cannot run: {0}")]
    Engine(#[source] recreate::DockerError),
    /// The read-only scrape of the Engine failed.
    #[error("cannot run: Docker Engine: {0}")]
    EngineScrape(#[source] crate::collectors::CollectError),
    /// The read-only scrape has no Docker outcome.
    #[error("cannot run: no Docker Engine answered")]
    NoEngine,
    /// `--confirm` was not given; the plan was printed.
    #[error("refusing to restart containers without --confirm (nothing was touched)")]
    NotConfirmed,
}

async fn verify(settings: &Settings, args: &VerifyArgs) -> Result<(Report, u8), VerifyError> {
    let known: Vec<&str> = settings
        .redis
        .iter()
        .map(|t| t.name.as_str())
        .chain(settings.postgres.iter().map(|t| t.name.as_str()))
        .collect();
    let unknown: Vec<String> = args
        .target
        .iter()
        .filter(|t| !known.contains(&t.as_str()))
        .cloned()
        .collect();
    if !unknown.is_empty() {
        return Err(VerifyError::UnknownTargets {
            unknown,
            known: known.iter().map(|k| k.to_string()).collect(),
        });
    }
    let selected = |name: &str| args.target.is_empty() || args.target.iter().any(|t| t == name);
    // Always look at an Engine: the configured one, else DOCKER_HOST or the local socket.
    let mut settings = settings.clone();
    let docker_target = settings.docker.clone().unwrap_or_else(|| DockerTarget {
        host: std::env::var("DOCKER_HOST").unwrap_or_else(|_| DEFAULT_DOCKER_HOST.to_string()),
        disk_usage_interval: std::time::Duration::from_secs(3600),
        timeout: crate::config::DEFAULT_TARGET_TIMEOUT,
    });
    settings.docker = Some(docker_target.clone());
    let docker = Docker::connect(&docker_target.host, docker_target.timeout)
        .await
        .map_err(VerifyError::Engine)?;

    // The read-only pass: the same scrape and evaluation as `check`.
    let started = crate::clock::unix_now();
    let scraper = crate::scrape::Scraper::new(crate::collectors::build(&settings));
    let scrape = scraper
        .scrape(Instant::now() + settings.scrape_timeout)
        .await;
    // One join of targets with their containers and data mounts, shared with `check`.
    let view = ScrapeView::with_settings(&scrape, &settings);
    let checks: Vec<CheckResult> =
        crate::checks::evaluate_scrape(&view.targets, &settings.profiles(), started)
            .into_iter()
            .filter(|c| selected(&c.target))
            .collect();
    // The collectors (and the log followers the Docker one starts) are not needed again.
    drop(scraper);
    match scrape
        .outcomes
        .iter()
        .find(|o| o.kind == Kind::Docker)
        .map(|o| &o.result)
    {
        Some(Ok(Snapshot::Docker(_))) => {}
        Some(Err(e)) => return Err(VerifyError::EngineScrape(e.clone())),
        _ => return Err(VerifyError::NoEngine),
    }

    let mut steps = Vec::new();
    for t in view.targets.iter().filter(|t| selected(t.target())) {
        let server = match t.kind() {
            Kind::Redis => settings
                .redis
                .iter()
                .find(|r| r.name == t.target())
                .map(marker::Server::Redis),
            Kind::Postgres => settings
                .postgres
                .iter()
                .find(|p| p.name == t.target())
                .map(marker::Server::Postgres),
            Kind::Docker => None,
        };
        let Some(server) = server else { continue };
        steps.push(plan_target(&docker, args.mode, server, t).await);
    }
    eprint!("{}", plan_text(&steps, args));
    if !args.confirm {
        return Err(VerifyError::NotConfirmed);
    }

    // Ctrl-C does not cut a test short (that could leave a container stopped and
    // renamed): the target under test finishes, rollback included, and the rest is
    // skipped.
    let interrupted = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let flag = interrupted.clone();
        tokio::spawn(async move {
            while tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("verify: interrupted; finishing the target under test first");
                flag.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        })
    };
    let mut rows = Vec::new();
    for step in steps {
        let row = match step {
            Step::Done(row) => *row,
            Step::Test(p) if interrupted.load(std::sync::atomic::Ordering::SeqCst) => p.row.done(
                Verdict::Error,
                "interrupted before its test; nothing was touched",
            ),
            Step::Test(p) => run::test_target(&docker, args, *p).await,
        };
        eprintln!(
            "verify: {} {}: {}",
            row.target,
            row.status.as_str(),
            row.reason
        );
        rows.push(row);
    }
    watcher.abort();
    let code = exit_code(&rows, &args.target);
    let report = Report {
        time: crate::clock::rfc3339(started as i64, 0),
        version: crate::VERSION.to_string(),
        engine_version: docker.server_version.clone(),
        api_version: docker.api.to_string(),
        mode: mode_str(args.mode),
        results: rows,
        checks,
    };
    Ok((report, code))
}

/// 1 when a target lost its marker; 2 when a target could not be tested, a target named
/// with `--target` was skipped, or nothing passed; else 0.
pub fn exit_code(rows: &[Row], named: &[String]) -> u8 {
    if rows.iter().any(|r| r.status == Verdict::Fail) {
        return 1;
    }
    let error = rows.iter().any(|r| r.status == Verdict::Error);
    let named_skipped = rows
        .iter()
        .any(|r| r.status == Verdict::Skipped && named.contains(&r.target));
    let passed = rows.iter().any(|r| r.status == Verdict::Pass);
    if error || named_skipped || !passed {
        2
    } else {
        0
    }
}

/// Reads the target's container and data mount from the scrape's view, inspects the
/// container and its image; decides whether it can be tested. Read-only.
async fn plan_target<'a>(
    docker: &Docker,
    mode: VerifyMode,
    server: marker::Server<'a>,
    target: &TargetView<'_>,
) -> Step<'a> {
    let mut row = Row::new(target.target(), target.kind(), mode);
    if let Err(e) = &target.outcome.result {
        return Step::done(row.done(
            Verdict::Error,
            format!("the server does not answer, nothing was touched: {e}"),
        ));
    }
    let (info, mount) = match &target.data {
        DataLocation::Found { container, mount } => (&container.container, mount.clone()),
        DataLocation::NotInContainer => {
            return Step::done(row.done(
                Verdict::Skipped,
                "declared not to run in a container (`in_container: false`): there is no \
                 container to re-create",
            ));
        }
        DataLocation::Unknown(_) | DataLocation::NotApplicable => {
            return Step::done(row.done(
                Verdict::Skipped,
                "not in a Docker container the exporter can find (not running in Docker, several \
                 candidates, or stopped); set `container:` in its configuration",
            ));
        }
    };
    row.container = info.name.clone();
    row.data_dir = mount.path.clone();
    row.data_mount = mount_text(&mount);
    if !info.running {
        return Step::done(row.done(Verdict::Skipped, "the container is not running"));
    }
    let container = match docker.inspect(&info.id).await {
        Ok(c) => c,
        Err(e) => return Step::done(row.done(Verdict::Error, e.to_string())),
    };
    row.image = container.image.clone();
    row.image_id = container.image_id.clone();
    if let Some(why) = recreate::refusal(&container) {
        return Step::done(row.done(Verdict::Error, why));
    }
    if mode == VerifyMode::Recreate {
        match docker.image_id(&container.image).await {
            Ok(id) if id == container.image_id => {}
            Ok(id) => {
                return Step::done(row.done(
                    Verdict::Error,
                    format!(
                        "image {} now resolves to {id}, not the {} the container runs: re-creating \
                         it would also update it; nothing was touched",
                        container.image, container.image_id
                    ),
                ));
            }
            Err(e) => {
                return Step::done(row.done(
                    Verdict::Error,
                    format!("{e}: cannot re-create the container from it; nothing was touched"),
                ));
            }
        }
    }
    Step::Test(Box::new(Planned {
        server,
        row,
        mount,
        container,
    }))
}

/// What holds a data directory, in words.
pub fn mount_text(m: &DataMount) -> String {
    let at = |what: String| match &m.destination {
        Some(d) if *d != m.path => format!("{what} at {d}"),
        _ => what,
    };
    match &m.mount_type {
        MountType::Volume => at(format!("volume {}", m.volume)),
        MountType::AnonymousVolume => at(format!(
            "anonymous volume {}",
            m.volume.get(..12).unwrap_or(&m.volume)
        )),
        MountType::Bind => at(format!("bind mount {}", m.source)),
        MountType::Tmpfs => at("tmpfs".to_string()),
        MountType::None => "writable layer (no volume)".to_string(),
        MountType::Other(t) => at(format!("{t} mount")),
    }
}

/// Why a marker was lost, from what holds the data directory.
pub fn lost_reason(m: &DataMount) -> String {
    let dir = &m.path;
    let mounted_at = match &m.destination {
        Some(d) if *d != m.path => format!(" (mounted at {d})"),
        _ => String::new(),
    };
    match &m.mount_type {
        MountType::None => format!(
            "data directory {dir} is in the container's writable layer (no volume); a re-created container starts empty"
        ),
        MountType::AnonymousVolume => format!(
            "data directory {dir} is on an anonymous volume{mounted_at}; a re-created container starts empty"
        ),
        MountType::Tmpfs => format!(
            "data directory {dir} is on a tmpfs (memory){mounted_at}; a re-created container starts empty"
        ),
        MountType::Volume | MountType::Bind | MountType::Other(_) => format!(
            "the marker was lost although data directory {dir} is on {}: the server did not write it to disk before it stopped (persistence off?)",
            mount_text(m)
        ),
    }
}

/// The plan, printed before anything is touched.
fn plan_text(steps: &[Step<'_>], args: &VerifyArgs) -> String {
    let mut out = format!(
        "verify plan ({} mode, {} to become ready):\n",
        mode_str(args.mode),
        crate::duration::format(args.timeout)
    );
    for step in steps {
        match step {
            Step::Done(r) => {
                out.push_str(&format!(
                    "  {}: {}: {}\n",
                    r.target,
                    r.status.as_str(),
                    r.reason
                ));
            }
            Step::Test(p) => {
                let c = &p.container;
                let action = match args.mode {
                    VerifyMode::Recreate => format!(
                        "stop it, rename it to {}-pe-verify-old-<time>, create {} again from the same \
                         definition (named volumes and binds again, anonymous volumes new and empty), \
                         start it",
                        c.name, c.name
                    ),
                    VerifyMode::Restart => "restart it".to_string(),
                };
                out.push_str(&format!(
                    "  {}: container {} (image {}), data directory {} on {}: write a marker, {action}, \
                     wait until the server is ready, read the marker, remove it\n",
                    p.row.target,
                    c.name,
                    c.image,
                    p.row.data_dir,
                    p.row.data_mount
                ));
            }
        }
    }
    if args.mode == VerifyMode::Recreate {
        out.push_str(
            "  on success the old container is removed (its volumes kept); on failure the new one \
             is removed and the old one gets its name back and is started again\n",
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(t: MountType, path: &str, dest: Option<&str>) -> DataMount {
        DataMount {
            path: path.into(),
            path_source: crate::collectors::docker::PathSource::Server,
            mount_type: t,
            destination: dest.map(str::to_string),
            volume: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef".into(),
            driver: "local".into(),
            source: String::new(),
            rw: true,
        }
    }

    #[test]
    fn reasons_in_words() {
        assert_eq!(
            lost_reason(&mount(MountType::None, "/data", None)),
            "data directory /data is in the container's writable layer (no volume); a re-created container starts empty"
        );
        assert_eq!(
            lost_reason(&mount(
                MountType::AnonymousVolume,
                "/var/lib/postgresql/data",
                Some("/var/lib/postgresql/data")
            )),
            "data directory /var/lib/postgresql/data is on an anonymous volume; a re-created container starts empty"
        );
        assert!(
            lost_reason(&mount(
                MountType::AnonymousVolume,
                "/var/lib/postgresql/18/docker",
                Some("/var/lib/postgresql")
            ))
            .contains("anonymous volume (mounted at /var/lib/postgresql)")
        );
        let mut named = mount(MountType::Volume, "/data", Some("/data"));
        named.volume = "redis_data".into();
        assert!(lost_reason(&named).contains("on volume redis_data: the server did not write"));
        assert_eq!(mount_text(&named), "volume redis_data");
    }

    fn row(target: &str, status: Verdict) -> Row {
        Row::new(target, Kind::Redis, VerifyMode::Recreate).done(status, "")
    }

    #[test]
    fn exit_codes() {
        let named = vec!["b".to_string()];
        assert_eq!(exit_code(&[row("a", Verdict::Pass)], &[]), 0);
        assert_eq!(
            exit_code(&[row("a", Verdict::Pass), row("b", Verdict::Skipped)], &[]),
            0
        );
        assert_eq!(
            exit_code(
                &[row("a", Verdict::Pass), row("b", Verdict::Skipped)],
                &named
            ),
            2
        );
        assert_eq!(
            exit_code(&[row("a", Verdict::Pass), row("b", Verdict::Fail)], &[]),
            1
        );
        assert_eq!(
            exit_code(&[row("a", Verdict::Error), row("b", Verdict::Fail)], &[]),
            1
        );
        assert_eq!(
            exit_code(&[row("a", Verdict::Pass), row("b", Verdict::Error)], &[]),
            2
        );
        assert_eq!(exit_code(&[row("a", Verdict::Skipped)], &[]), 2);
        assert_eq!(exit_code(&[], &[]), 2);
    }
}
