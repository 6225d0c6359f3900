//! The Docker Engine to inspect: the `docker:` section, `--docker.host` and
//! `DOCKER_HOST`.

use super::file::Entry;
use super::{DEFAULT_DOCKER_HOST, DEFAULT_TARGET_TIMEOUT, Env, MAX_INTERVAL, MAX_TIMEOUT, Problem};
use crate::cli::Cli;
use serde_yaml_ng::Value;
use std::time::Duration;

/// The Docker Engine to inspect.
#[derive(Clone, Debug, PartialEq)]
pub struct DockerTarget {
    /// `unix:///path` or `tcp://host:port`.
    pub host: String,
    /// Interval of the background `/system/df` refresh.
    pub disk_usage_interval: Duration,
    /// Timeout of each Engine API call.
    pub timeout: Duration,
}

/// The `docker:` section; the flags and `DOCKER_HOST` fill what it leaves out.
pub(crate) fn from_file(
    v: &Value,
    cli: &Cli,
    env: &dyn Env,
    problems: &mut Vec<Problem>,
) -> Option<DockerTarget> {
    let mut e = Entry::new(v, "docker", "", problems)?;
    let host = e.string("host");
    let disk_usage_interval = e.duration("disk_usage_interval", MAX_INTERVAL);
    let timeout = e.duration("timeout", MAX_TIMEOUT);
    e.finish(problems);
    Some(DockerTarget {
        host: host
            .or_else(|| cli.docker_host.clone())
            .or_else(|| env.var("DOCKER_HOST"))
            .unwrap_or_else(|| DEFAULT_DOCKER_HOST.to_string()),
        disk_usage_interval: disk_usage_interval.unwrap_or(cli.docker_disk_usage_interval),
        timeout: timeout.unwrap_or(DEFAULT_TARGET_TIMEOUT),
    })
}

/// Records a problem unless `host` is a `unix://`, `tcp://` or `http://` endpoint.
pub(crate) fn validate_host(host: &str, problems: &mut Vec<Problem>) {
    if !(host.starts_with("unix://") || host.starts_with("tcp://") || host.starts_with("http://")) {
        problems.push(Problem::new(
            "docker",
            format!("host {host:?}: must be unix:///path or tcp://host:port"),
        ));
    }
}
