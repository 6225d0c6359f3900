//! One target's test: write the marker, re-create or restart its container, wait until the
//! server is ready, read the marker, remove it; and the rollback that restores the
//! original container when a re-creation fails. Nothing here removes a volume.
//!
//! Order of a re-creation (what `docker compose` does when it replaces a container): stop
//! the old container, rename it to `<name>-pe-verify-old-<unix time>`, create the new one
//! under the old name, start it. The old and the new container never run at the same
//! time, so two servers never share a data directory.

use super::marker::{self, Marker, Probe, Server};
use super::recreate::{Container, Docker, DockerError, create_plan};
use super::{Planned, Row, Verdict, lost_reason};
use crate::cli::{VerifyArgs, VerifyMode};
use crate::collectors::docker::MountType;
use std::time::Duration;
use tokio::time::Instant;

/// How often readiness is polled.
const POLL: Duration = Duration::from_millis(250);

/// The server answered after a start.
struct Ready {
    /// Its identity (`None` when it refused our credentials or database).
    identity: Option<String>,
    /// When it was ready.
    at: Instant,
}

/// Why a started container's server never became ready.
#[derive(Debug, thiserror::Error)]
enum NotReady {
    /// The container stopped (and is not restarting).
    #[error("the container exited (code {code}) before the server was ready")]
    Exited {
        /// `State.ExitCode`.
        code: i64,
    },
    /// The deadline passed; `last` is what the last probe saw.
    #[error("the server was not ready within {}: {last}", crate::duration::format(*within))]
    Timeout {
        /// The readiness timeout.
        within: Duration,
        /// The last probe's answer.
        last: String,
    },
}

/// Why the rollback could not restore the original container; each message says what to
/// do by hand.
#[derive(Debug, thiserror::Error)]
enum RollbackError {
    /// The new container could not be removed.
    #[error(
        "{source}; the original container is stopped as {kept_as}: remove {name} by hand, rename {kept_as} back and start it"
    )]
    RemoveNew {
        /// The Engine's error.
        source: DockerError,
        /// The original container's name.
        name: String,
        /// What the original container is called now.
        kept_as: String,
    },
    /// The original container could not be renamed back.
    #[error("{source}; the original container is stopped as {tmp}: rename it back and start it")]
    RenameBack {
        /// The Engine's error.
        source: DockerError,
        /// The temporary name it still has.
        tmp: String,
    },
    /// The original container could not be started.
    #[error("{source}; start it by hand")]
    Start {
        /// The Engine's error.
        source: DockerError,
    },
    /// The original container started but its server did not become ready.
    #[error("the original container {name} was started again, but {source}")]
    NotReady {
        /// The original container's name.
        name: String,
        /// Why it was not ready.
        source: NotReady,
    },
}

/// Polls until the server answers and has loaded, the container exits, or `timeout`.
async fn wait_ready(
    docker: &Docker,
    container_id: &str,
    server: Server<'_>,
    timeout: Duration,
) -> Result<Ready, NotReady> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(c) = docker.inspect(container_id).await
            && !c.running
            && super::recreate::at(&c.raw, "/State/Restarting") != true
        {
            return Err(NotReady::Exited { code: c.exit_code });
        }
        let last = match marker::probe(server).await {
            Probe::Ready { identity } => {
                return Ok(Ready {
                    identity: Some(identity),
                    at: Instant::now(),
                });
            }
            Probe::Refused(e) => {
                tracing::debug!(error = %e, "Server answers but refuses the marker connection");
                return Ok(Ready {
                    identity: None,
                    at: Instant::now(),
                });
            }
            Probe::NotReady(e) => e,
        };
        if Instant::now() >= deadline {
            return Err(NotReady::Timeout {
                within: timeout,
                last,
            });
        }
        tokio::time::sleep(POLL.min(deadline.saturating_duration_since(Instant::now()))).await;
    }
}

/// One target's test in progress: what every step needs.
#[derive(Clone, Copy)]
struct Attempt<'a> {
    docker: &'a Docker,
    args: &'a VerifyArgs,
    server: Server<'a>,
    /// The marker written before the restart or re-creation.
    m: &'a Marker,
    written: &'a marker::Written,
}

/// Tests one target; never leaves the original container stopped unless the rollback
/// itself failed (then the row says what to do by hand).
pub(crate) async fn test_target(docker: &Docker, args: &VerifyArgs, p: Planned<'_>) -> Row {
    let Planned {
        server,
        mut row,
        mount,
        container,
    } = p;
    let m = Marker::random();
    row.marker = m.location(server);
    let written = match marker::write(server, &m).await {
        Ok(w) => w,
        Err(e) => {
            return row.done(
                Verdict::Error,
                format!("cannot write the marker, nothing was touched: {e}"),
            );
        }
    };
    row.marker_written = true;
    tracing::info!(target_name = %row.target, container = %container.name, mode = row.mode, "Verifying");
    let attempt = Attempt {
        docker,
        args,
        server,
        m: &m,
        written: &written,
    };
    match args.mode {
        VerifyMode::Restart => restart(&attempt, row, &mount, &container).await,
        VerifyMode::Recreate => recreate(&attempt, row, &mount, &container).await,
    }
}

async fn restart(
    a: &Attempt<'_>,
    mut row: Row,
    mount: &crate::collectors::docker::DataMount,
    c: &Container,
) -> Row {
    let Attempt {
        docker,
        args,
        server,
        m,
        written,
    } = *a;
    let t0 = Instant::now();
    if let Err(e) = docker.restart(c).await {
        // Make sure it runs again whatever state the failed restart left.
        let _ = docker.start(&c.id, &c.name).await;
        let _ = marker::remove(server, m, written.created_table).await;
        return row.done(Verdict::Error, e.to_string());
    }
    row.recreated = true;
    let ready = match wait_ready(docker, &c.id, server, args.timeout).await {
        Ok(r) => r,
        Err(e) => return row.done(Verdict::Fail, format!("after the restart, {e}")),
    };
    row.ready_seconds = Some(ready.at.duration_since(t0).as_secs_f64());
    row.downtime_seconds = row.ready_seconds;
    if ready.identity.as_deref() == Some(written.identity.as_str()) {
        let _ = marker::remove(server, m, written.created_table).await;
        return row.done(
            Verdict::Error,
            "the server did not restart with the container: the container found is not this target's server; set `container:`",
        );
    }
    match marker::read(server, m).await {
        Err(e) => row.done(Verdict::Error, format!("cannot read the marker: {e}")),
        Ok(false) => {
            row.marker_found = Some(false);
            row.done(
                Verdict::Fail,
                "the marker was lost on a plain restart: the server does not write its data to disk before it stops (persistence off?)",
            )
        }
        Ok(true) => {
            row.marker_found = Some(true);
            if let Err(e) = marker::remove(server, m, written.created_table).await {
                row.notes.push(format!("could not remove the marker: {e}"));
            }
            let reason = match mount.mount_type {
                MountType::None | MountType::AnonymousVolume | MountType::Tmpfs => format!(
                    "the marker survived a restart, which keeps the writable layer and anonymous volumes; but {} (run --mode recreate)",
                    lost_reason(mount).replace("starts empty", "would start empty")
                ),
                _ => "the marker survived a restart".to_string(),
            };
            row.done(Verdict::Pass, reason)
        }
    }
}

/// Where a re-creation got to, for the rollback.
struct Progress<'a> {
    old: &'a Container,
    renamed_to: Option<String>,
    new_id: Option<String>,
}

async fn recreate(
    a: &Attempt<'_>,
    mut row: Row,
    mount: &crate::collectors::docker::DataMount,
    old: &Container,
) -> Row {
    let Attempt {
        docker,
        args,
        server,
        m,
        written,
    } = *a;
    let mut progress = Progress {
        old,
        renamed_to: None,
        new_id: None,
    };
    let t0 = Instant::now();
    // Stop, rename, create, start; any failure restores the original.
    let step = async {
        docker.stop(old).await?;
        let tmp = format!(
            "{}-pe-verify-old-{}",
            old.name,
            crate::clock::unix_now() as u64
        );
        docker.rename(&old.id, &tmp).await?;
        progress.renamed_to = Some(tmp);
        let plan = create_plan(old, docker.api);
        let id = docker.create(&old.name, &plan).await?;
        progress.new_id = Some(id.clone());
        docker.start(&id, &old.name).await?;
        Ok::<_, DockerError>(Instant::now())
    }
    .await;
    let started = match step {
        Ok(at) => at,
        Err(e) => {
            return rolled_back(
                a,
                row,
                &progress,
                Verdict::Error,
                format!("{e}; the original container was restored"),
            )
            .await;
        }
    };
    row.recreated = true;
    let Some(new_id) = progress.new_id.clone() else {
        return row.done(Verdict::Error, "internal: no new container");
    };
    let ready = match wait_ready(docker, &new_id, server, args.timeout).await {
        Ok(r) => r,
        Err(e) => {
            let reason = format!("the re-created container did not come up: {e}");
            return rolled_back(a, row, &progress, Verdict::Fail, reason).await;
        }
    };
    row.ready_seconds = Some(ready.at.duration_since(started).as_secs_f64());
    row.downtime_seconds = Some(ready.at.duration_since(t0).as_secs_f64());
    if ready.identity.as_deref() == Some(written.identity.as_str()) {
        return rolled_back(
            a,
            row,
            &progress,
            Verdict::Error,
            "the server did not restart with the container: the container found is not this target's server; set `container:`".to_string(),
        )
        .await;
    }
    match marker::read(server, m).await {
        Ok(true) => {
            row.marker_found = Some(true);
            if let Err(e) = marker::remove(server, m, written.created_table).await {
                row.notes.push(format!("could not remove the marker: {e}"));
            }
            match docker.remove(&old.id, &old.name).await {
                Ok(()) => row.left_volumes = old.anonymous_volumes.clone(),
                Err(e) => row.notes.push(format!(
                    "the old container is kept as {}: {e}",
                    progress.renamed_to.as_deref().unwrap_or(&old.name)
                )),
            }
            let reason = format!(
                "the marker survived re-creation: data directory {} is on {}",
                row.data_dir, row.data_mount
            );
            row.done(Verdict::Pass, reason)
        }
        Ok(false) => {
            row.marker_found = Some(false);
            let reason = lost_reason(mount);
            rolled_back(a, row, &progress, Verdict::Fail, reason).await
        }
        Err(e) => {
            rolled_back(
                a,
                row,
                &progress,
                Verdict::Error,
                format!("cannot read the marker: {e}"),
            )
            .await
        }
    }
}

/// Rolls back, then finishes the row with `status` and `reason` (plus what the rollback
/// did). The marker is removed from the restored server.
async fn rolled_back(
    a: &Attempt<'_>,
    mut row: Row,
    progress: &Progress<'_>,
    status: Verdict,
    reason: String,
) -> Row {
    let Attempt {
        docker,
        args,
        server,
        m,
        written,
    } = *a;
    match rollback(docker, args, server, progress, &mut row).await {
        Ok(()) => {
            row.rolled_back = true;
            match marker::read(server, m).await {
                Ok(true) => row.notes.push(format!(
                    "rolled back: the original container {} runs again and still has the marker",
                    progress.old.name
                )),
                Ok(false) => row.notes.push(format!(
                    "rolled back: the original container {} runs again, but the marker is not there either",
                    progress.old.name
                )),
                Err(e) => row.notes.push(format!(
                    "rolled back: the original container {} runs again; reading the marker failed: {e}",
                    progress.old.name
                )),
            }
            if let Err(e) = marker::remove(server, m, written.created_table).await {
                row.notes.push(format!("could not remove the marker: {e}"));
            }
        }
        Err(e) => {
            tracing::error!(target_name = %row.target, container = %progress.old.name, error = %e, "Rollback failed");
            row.notes.push(format!("ROLLBACK FAILED: {e}"));
        }
    }
    row.done(status, reason)
}

/// Removes the new container (volumes kept), gives the old one its name back and starts
/// it, then waits until its server is ready.
async fn rollback(
    docker: &Docker,
    args: &VerifyArgs,
    server: Server<'_>,
    p: &Progress<'_>,
    row: &mut Row,
) -> Result<(), RollbackError> {
    let old = p.old;
    let kept_as = p.renamed_to.as_deref().unwrap_or(&old.name);
    if let Some(id) = &p.new_id {
        if let Ok(new) = docker.inspect(id).await {
            row.left_volumes.extend(new.anonymous_volumes.clone());
            // A graceful stop first: the new server may share a named volume with the old.
            let _ = docker.stop(&new).await;
        }
        docker
            .remove(id, &old.name)
            .await
            .map_err(|source| RollbackError::RemoveNew {
                source,
                name: old.name.clone(),
                kept_as: kept_as.to_string(),
            })?;
    }
    if let Some(tmp) = &p.renamed_to {
        docker
            .rename(&old.id, &old.name)
            .await
            .map_err(|source| RollbackError::RenameBack {
                source,
                tmp: tmp.clone(),
            })?;
    }
    docker
        .start(&old.id, &old.name)
        .await
        .map_err(|source| RollbackError::Start { source })?;
    wait_ready(docker, &old.id, server, args.timeout)
        .await
        .map(drop)
        .map_err(|source| RollbackError::NotReady {
            name: old.name.clone(),
            source,
        })
}
