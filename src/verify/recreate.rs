//! Docker Engine calls of `verify`: inspect, stop, rename, create, start, restart and
//! remove a container, every call under a deadline, and the pure function that turns a
//! container's inspection into the body that re-creates it the way `docker compose down`
//! followed by `up` does: same name, `Config`, `HostConfig`, networks and labels; named
//! volumes and bind mounts attached again; anonymous volumes left out, so the Engine makes
//! new, empty ones for the image's `VOLUME`s.
//!
//! `docker compose up --force-recreate` (and `up` after an image change) copies the old
//! container's anonymous volumes to the new one, which hides an anonymous-volume data
//! directory. This module deliberately does not.
//!
//! Volumes are never removed here: containers are removed with `v=0`.

use crate::collectors::docker::api::{self, ApiVersion};
use crate::collectors::docker::engine::{Engine, EngineError, encode_segment};
use crate::collectors::docker::is_anonymous_volume_name;
use hyper::Method;
use serde_json::{Map, Value};
use std::time::Duration;
use tokio::time::Instant;

/// First API version whose `POST /containers/create` accepts several networks in
/// `NetworkingConfig.EndpointsConfig`; older Engines get the others connected afterwards.
pub const MULTI_NETWORK_CREATE_SINCE: ApiVersion = ApiVersion::new(1, 44);

/// Stop timeout the Engine uses when a container does not set `StopTimeout`.
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// `Value::Null`, what [`at`] answers for a missing field.
static NULL: Value = Value::Null;

/// The value at a JSON pointer (`/State/Running`), `null` when absent: the non-panicking
/// counterpart of `raw["State"]["Running"]`.
pub(crate) fn at<'a>(v: &'a Value, pointer: &str) -> &'a Value {
    v.pointer(pointer).unwrap_or(&NULL)
}

/// A failed Engine call, with what was being done.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{action}: {cause}")]
pub struct DockerError {
    /// What was being done (`stop container redis`).
    pub action: String,
    /// The Engine's answer or the transport error.
    #[source]
    pub cause: DockerCause,
}

/// Why an Engine call failed.
#[derive(Clone, Debug, thiserror::Error)]
pub enum DockerCause {
    /// No connection, no answer in time, an error status, or a broken reply.
    #[error("{0}")]
    Engine(#[source] std::sync::Arc<EngineError>),
    /// The reply did not parse as the Engine API describes it.
    #[error("{0}")]
    Api(#[source] std::sync::Arc<api::ApiError>),
    /// The reply was not JSON.
    #[error("{0}")]
    Json(#[source] std::sync::Arc<serde_json::Error>),
    /// The reply was JSON but lacked what we need.
    #[error("{0}")]
    Reply(String),
}

impl From<EngineError> for DockerCause {
    fn from(e: EngineError) -> DockerCause {
        DockerCause::Engine(std::sync::Arc::new(e))
    }
}

impl From<api::ApiError> for DockerCause {
    fn from(e: api::ApiError) -> DockerCause {
        DockerCause::Api(std::sync::Arc::new(e))
    }
}

impl From<serde_json::Error> for DockerCause {
    fn from(e: serde_json::Error) -> DockerCause {
        DockerCause::Json(std::sync::Arc::new(e))
    }
}

impl From<String> for DockerCause {
    fn from(e: String) -> DockerCause {
        DockerCause::Reply(e)
    }
}

impl From<&str> for DockerCause {
    fn from(e: &str) -> DockerCause {
        DockerCause::Reply(e.to_string())
    }
}

/// A client of the Engine with its negotiated API version.
#[derive(Clone, Debug)]
pub struct Docker {
    engine: Engine,
    /// API version in use.
    pub api: ApiVersion,
    /// Engine release (`20.10.24+dfsg1`).
    pub server_version: String,
    /// Timeout of one ordinary call.
    pub timeout: Duration,
}

/// What `verify` needs from a container's inspection, plus the raw document it re-creates
/// the container from.
#[derive(Clone, Debug)]
pub struct Container {
    /// Full ID.
    pub id: String,
    /// Name without the leading `/`.
    pub name: String,
    /// `Config.Image`: the image name the container was created from.
    pub image: String,
    /// `Image`: the ID of the image it runs.
    pub image_id: String,
    /// `State.Running`.
    pub running: bool,
    /// `State.ExitCode`.
    pub exit_code: i64,
    /// `Config.StopTimeout`, else the Engine's default.
    pub stop_timeout: Duration,
    /// Names of the anonymous volumes mounted now.
    pub anonymous_volumes: Vec<String>,
    /// The whole `GET /containers/{id}/json` document.
    pub raw: Value,
}

impl Container {
    /// Reads the parts we use from an inspection document.
    pub fn from_inspect(raw: Value) -> Result<Container, DockerCause> {
        let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let id = s(at(&raw, "/Id"));
        if id.is_empty() {
            return Err(DockerCause::Reply(
                "/containers/{id}/json: no Id".to_string(),
            ));
        }
        let anonymous_volumes = at(&raw, "/Mounts")
            .as_array()
            .map(|ms| {
                ms.iter()
                    .filter(|m| at(m, "/Type") == "volume")
                    .map(|m| s(at(m, "/Name")))
                    .filter(|n| is_anonymous_volume_name(n))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Container {
            name: s(at(&raw, "/Name")).trim_start_matches('/').to_string(),
            image: s(at(&raw, "/Config/Image")),
            image_id: s(at(&raw, "/Image")),
            running: at(&raw, "/State/Running").as_bool().unwrap_or(false),
            exit_code: at(&raw, "/State/ExitCode").as_i64().unwrap_or(0),
            stop_timeout: at(&raw, "/Config/StopTimeout")
                .as_u64()
                .map(Duration::from_secs)
                .unwrap_or(DEFAULT_STOP_TIMEOUT),
            anonymous_volumes,
            id,
            raw,
        })
    }

    /// The first 12 characters of the ID (Docker's short form).
    pub fn short_id(&self) -> &str {
        self.id.get(..12).unwrap_or(&self.id)
    }
}

/// Why a container must not be stopped by `verify`, if it must not: one started with
/// `--rm` is removed by its stop, anonymous volumes included, and a swarm task is
/// replaced by the swarm.
pub fn refusal(c: &Container) -> Option<String> {
    if at(&c.raw, "/HostConfig/AutoRemove") == true {
        return Some(
            "the container was started with --rm: stopping it would remove it and its anonymous volumes; nothing was touched"
                .to_string(),
        );
    }
    if at(&c.raw, "/Config/Labels")
        .get("com.docker.swarm.service.id")
        .is_some()
    {
        return Some(
            "the container is a task of a swarm service, which replaces it by itself; nothing was touched"
                .to_string(),
        );
    }
    None
}

/// The create request for a container like `old`: the body of `POST /containers/create`
/// and the networks to connect after creation (Engines before
/// [`MULTI_NETWORK_CREATE_SINCE`] take one network at creation).
#[derive(Clone, Debug, PartialEq)]
pub struct CreatePlan {
    /// `Config` fields, `HostConfig` and `NetworkingConfig`.
    pub body: Value,
    /// `(network, EndpointConfig)` to connect before the start.
    pub connect_later: Vec<(String, Value)>,
    /// Mounts left out because they are anonymous volumes (their destinations).
    pub dropped_anonymous: Vec<String>,
}

/// Does a `HostConfig.Binds` entry (`src:dst[:opts]`) name an anonymous volume?
fn bind_is_anonymous(bind: &str) -> bool {
    bind.split(':').next().is_some_and(is_anonymous_volume_name)
}

/// Builds the re-creation request from an inspection (pure). Anonymous volumes are left
/// out of `HostConfig.Binds` and `HostConfig.Mounts`; `Config.Volumes` (the image's and
/// `-v /path` volumes) stays, so the Engine creates fresh, empty ones. A host name that is
/// the old container's short ID (the Engine's default) is dropped, as are network aliases
/// equal to it.
pub fn create_plan(old: &Container, api: ApiVersion) -> CreatePlan {
    let raw = &old.raw;
    let mut body: Map<String, Value> = at(raw, "/Config").as_object().cloned().unwrap_or_default();
    if body.get("Hostname").and_then(Value::as_str) == Some(old.short_id()) {
        body.remove("Hostname");
    }
    let mut dropped = Vec::new();
    let mut host = at(raw, "/HostConfig")
        .as_object()
        .cloned()
        .unwrap_or_default();
    if let Some(Value::Array(binds)) = host.get_mut("Binds") {
        binds.retain(|b| {
            let anon = b.as_str().is_some_and(bind_is_anonymous);
            if anon {
                dropped.push(
                    b.as_str()
                        .and_then(|s| s.split(':').nth(1))
                        .unwrap_or_default()
                        .to_string(),
                );
            }
            !anon
        });
    }
    if let Some(Value::Array(mounts)) = host.get_mut("Mounts") {
        mounts.retain(|m| {
            let anon = at(m, "/Type") == "volume"
                && at(m, "/Source")
                    .as_str()
                    .is_some_and(is_anonymous_volume_name);
            if anon {
                dropped.push(at(m, "/Target").as_str().unwrap_or_default().to_string());
            }
            !anon
        });
    }
    body.insert("HostConfig".to_string(), Value::Object(host));

    let network_mode = at(raw, "/HostConfig/NetworkMode")
        .as_str()
        .unwrap_or_default();
    let mut endpoints: Vec<(String, Value)> = at(raw, "/NetworkSettings/Networks")
        .as_object()
        .map(|nets| {
            nets.iter()
                .map(|(name, ep)| (name.clone(), endpoint_config(ep, old.short_id())))
                .collect()
        })
        .unwrap_or_default();
    // The network named by NetworkMode goes first: it is the one given at creation.
    endpoints.sort_by_key(|(name, _)| name != network_mode);
    let connect_later = if api >= MULTI_NETWORK_CREATE_SINCE || endpoints.len() <= 1 {
        Vec::new()
    } else {
        endpoints.split_off(1)
    };
    let endpoints: Map<String, Value> = endpoints.into_iter().collect();
    body.insert(
        "NetworkingConfig".to_string(),
        serde_json::json!({ "EndpointsConfig": endpoints }),
    );
    CreatePlan {
        body: Value::Object(body),
        connect_later,
        dropped_anonymous: dropped,
    }
}

/// The user-set parts of an endpoint (`IPAMConfig`, `Links`, `Aliases`, `DriverOpts`);
/// what the Engine assigned (IDs, addresses, the short-ID alias) is left out.
fn endpoint_config(ep: &Value, short_id: &str) -> Value {
    let mut out = Map::new();
    for key in ["IPAMConfig", "Links", "DriverOpts"] {
        if let Some(v) = ep.get(key).filter(|v| !v.is_null()) {
            out.insert(key.to_string(), v.clone());
        }
    }
    if let Some(Value::Array(aliases)) = ep.get("Aliases") {
        let kept: Vec<Value> = aliases
            .iter()
            .filter(|a| a.as_str() != Some(short_id))
            .cloned()
            .collect();
        if !kept.is_empty() {
            out.insert("Aliases".to_string(), Value::Array(kept));
        }
    }
    Value::Object(out)
}

fn err(action: impl Into<String>, e: impl Into<DockerCause>) -> DockerError {
    DockerError {
        action: action.into(),
        cause: e.into(),
    }
}

impl Docker {
    /// Connects to `host` and negotiates the API version (`GET /version`).
    pub async fn connect(host: &str, timeout: Duration) -> Result<Docker, DockerError> {
        let action = format!("Docker Engine {host}");
        let engine = Engine::new(host).map_err(|e| err(&action, e))?;
        let body = engine
            .get("/version", Instant::now() + timeout)
            .await
            .map_err(|e| err(&action, e))?;
        let v = api::parse_version(&body).map_err(|e| err(&action, e))?;
        Ok(Docker {
            engine,
            api: v.api_version,
            server_version: v.server_version,
            timeout,
        })
    }

    fn path(&self, rest: &str) -> String {
        format!("/v{}{rest}", self.api)
    }

    fn deadline(&self) -> Instant {
        Instant::now() + self.timeout
    }

    /// `GET /containers/{id}/json`.
    pub async fn inspect(&self, id: &str) -> Result<Container, DockerError> {
        let action = format!("inspect container {id}");
        let body = self
            .engine
            .get(
                &self.path(&format!("/containers/{}/json", encode_segment(id))),
                self.deadline(),
            )
            .await
            .map_err(|e| err(&action, e))?;
        let raw: Value = serde_json::from_slice(&body).map_err(|e| err(&action, e))?;
        Container::from_inspect(raw).map_err(|e| err(&action, e))
    }

    /// The ID of the image a name resolves to now (`GET /images/{name}/json`).
    pub async fn image_id(&self, name: &str) -> Result<String, DockerError> {
        let action = format!("inspect image {name}");
        let body = self
            .engine
            .get(
                &self.path(&format!("/images/{}/json", encode_segment(name))),
                self.deadline(),
            )
            .await
            .map_err(|e| err(&action, e))?;
        let raw: Value = serde_json::from_slice(&body).map_err(|e| err(&action, e))?;
        at(&raw, "/Id")
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .ok_or_else(|| err(&action, "no Id in the reply"))
    }

    async fn post(
        &self,
        action: String,
        path: &str,
        body: Option<&Value>,
        deadline: Instant,
    ) -> Result<bytes::Bytes, DockerError> {
        let body = body.map(|b| b.to_string().into_bytes());
        match self
            .engine
            .send(Method::POST, &self.path(path), body, deadline)
            .await
        {
            Ok(b) => Ok(b),
            // 304: already stopped / already started.
            Err(EngineError::Status { code: 304, .. }) => Ok(bytes::Bytes::new()),
            Err(e) => Err(err(action, e)),
        }
    }

    /// `POST /containers/{id}/stop?t=<stop timeout>`; waits for the stop (the call
    /// deadline allows the stop timeout plus the ordinary timeout).
    pub async fn stop(&self, c: &Container) -> Result<(), DockerError> {
        let t = c.stop_timeout.as_secs();
        let deadline = Instant::now() + c.stop_timeout + self.timeout;
        self.post(
            format!("stop container {}", c.name),
            &format!("/containers/{}/stop?t={t}", encode_segment(&c.id)),
            None,
            deadline,
        )
        .await
        .map(drop)
    }

    /// `POST /containers/{id}/restart?t=<stop timeout>`.
    pub async fn restart(&self, c: &Container) -> Result<(), DockerError> {
        let t = c.stop_timeout.as_secs();
        let deadline = Instant::now() + c.stop_timeout + self.timeout * 2;
        self.post(
            format!("restart container {}", c.name),
            &format!("/containers/{}/restart?t={t}", encode_segment(&c.id)),
            None,
            deadline,
        )
        .await
        .map(drop)
    }

    /// `POST /containers/{id}/start`.
    pub async fn start(&self, id: &str, name: &str) -> Result<(), DockerError> {
        self.post(
            format!("start container {name}"),
            &format!("/containers/{}/start", encode_segment(id)),
            None,
            self.deadline(),
        )
        .await
        .map(drop)
    }

    /// `POST /containers/{id}/rename?name=<new>`.
    pub async fn rename(&self, id: &str, new_name: &str) -> Result<(), DockerError> {
        self.post(
            format!("rename container {id} to {new_name}"),
            &format!(
                "/containers/{}/rename?name={}",
                encode_segment(id),
                encode_segment(new_name)
            ),
            None,
            self.deadline(),
        )
        .await
        .map(drop)
    }

    /// `POST /containers/create?name=<name>`, then the networks that could not be given
    /// at creation; returns the new container's ID.
    pub async fn create(&self, name: &str, plan: &CreatePlan) -> Result<String, DockerError> {
        let action = format!("create container {name}");
        let reply = self
            .post(
                action.clone(),
                &format!("/containers/create?name={}", encode_segment(name)),
                Some(&plan.body),
                self.deadline(),
            )
            .await?;
        let v: Value = serde_json::from_slice(&reply).map_err(|e| err(&action, e))?;
        let id = at(&v, "/Id")
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .ok_or_else(|| err(&action, "no Id in the reply"))?;
        for (net, ep) in &plan.connect_later {
            let body = serde_json::json!({ "Container": id, "EndpointConfig": ep });
            if let Err(e) = self
                .post(
                    format!("connect container {name} to network {net}"),
                    &format!("/networks/{}/connect", encode_segment(net)),
                    Some(&body),
                    self.deadline(),
                )
                .await
            {
                // The caller removes what it created only when it knows its ID.
                let _ = self.remove(&id, name).await;
                return Err(e);
            }
        }
        Ok(id)
    }

    /// `DELETE /containers/{id}?v=0&force=1`: the container goes, its volumes stay.
    pub async fn remove(&self, id: &str, name: &str) -> Result<(), DockerError> {
        self.engine
            .send(
                Method::DELETE,
                &self.path(&format!("/containers/{}?v=0&force=1", encode_segment(id))),
                None,
                self.deadline(),
            )
            .await
            .map(drop)
            .map_err(|e| err(format!("remove container {name}"), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ANON: &str = "b6b15c493167dc8e4e3cbc6fbbb6745a1410739235417d72d4ae9ac69ec9d878";
    const OLD_ID: &str = "9319ca42a8347bf801211102a8ff221c05a19a1290a3dc27bae3fabd5e5f075f";

    fn inspect(networks: Value, network_mode: &str) -> Container {
        Container::from_inspect(json!({
            "Id": OLD_ID,
            "Name": "/das-tern-redis",
            "Image": "sha256:1965",
            "State": {"Running": true, "StartedAt": "2026-11-30T11:04:10.8Z", "ExitCode": 0},
            "Config": {
                "Hostname": "9319ca42a834",
                "Image": "redis:7.4-alpine",
                "Cmd": ["redis-server", "--appendonly", "yes"],
                "Volumes": {"/data": {}, "/scratch": {}},
                "Labels": {"com.docker.compose.service": "redis"},
                "StopTimeout": 30
            },
            "HostConfig": {
                "NetworkMode": network_mode,
                "Binds": ["redis_data:/data:rw", format!("{ANON}:/scratch"), "/srv/conf:/etc/redis:ro"],
                "Mounts": [
                    {"Type": "volume", "Source": ANON, "Target": "/cache"},
                    {"Type": "volume", "Source": "named", "Target": "/named"},
                    {"Type": "bind", "Source": "/srv/x", "Target": "/x"}
                ],
                "RestartPolicy": {"Name": "unless-stopped"}
            },
            "Mounts": [
                {"Type": "volume", "Name": "redis_data", "Destination": "/data"},
                {"Type": "volume", "Name": ANON, "Destination": "/scratch"}
            ],
            "NetworkSettings": {"Networks": networks}
        }))
        .unwrap()
    }

    #[test]
    fn reads_the_inspection() {
        let c = inspect(json!({}), "default");
        assert_eq!(c.name, "das-tern-redis");
        assert_eq!(c.image, "redis:7.4-alpine");
        assert_eq!(c.image_id, "sha256:1965");
        assert!(c.running);
        assert_eq!(c.stop_timeout, Duration::from_secs(30));
        assert_eq!(c.anonymous_volumes, vec![ANON.to_string()]);
        assert_eq!(c.short_id(), "9319ca42a834");
        assert!(Container::from_inspect(json!({"Name": "/x"})).is_err());
    }

    #[test]
    fn anonymous_volumes_are_dropped_the_rest_is_kept() {
        let c = inspect(
            json!({"das-tern_default": {"Aliases": ["redis", "9319ca42a834"], "IPAddress": "172.18.0.2", "EndpointID": "e"}}),
            "das-tern_default",
        );
        let p = create_plan(&c, ApiVersion::new(1, 41));
        let b = &p.body;
        assert_eq!(
            b["HostConfig"]["Binds"],
            json!(["redis_data:/data:rw", "/srv/conf:/etc/redis:ro"])
        );
        assert_eq!(
            b["HostConfig"]["Mounts"],
            json!([
                {"Type": "volume", "Source": "named", "Target": "/named"},
                {"Type": "bind", "Source": "/srv/x", "Target": "/x"}
            ])
        );
        assert_eq!(p.dropped_anonymous, vec!["/scratch", "/cache"]);
        // The image's VOLUMEs stay declared: the Engine makes new, empty volumes for them.
        assert_eq!(b["Volumes"], json!({"/data": {}, "/scratch": {}}));
        assert_eq!(b["Image"], "redis:7.4-alpine");
        assert_eq!(b["Labels"]["com.docker.compose.service"], "redis");
        assert_eq!(b["HostConfig"]["RestartPolicy"]["Name"], "unless-stopped");
        // The Engine-made host name and alias are not copied; assigned addresses neither.
        assert!(b.get("Hostname").is_none());
        assert_eq!(
            b["NetworkingConfig"],
            json!({"EndpointsConfig": {"das-tern_default": {"Aliases": ["redis"]}}})
        );
        assert!(p.connect_later.is_empty());
    }

    #[test]
    fn several_networks_on_an_old_engine_are_connected_after_creation() {
        let nets = json!({
            "backend": {"Aliases": ["db"]},
            "das-tern_default": {"Aliases": ["redis"]}
        });
        let c = inspect(nets.clone(), "das-tern_default");
        let old = create_plan(&c, ApiVersion::new(1, 41));
        assert_eq!(
            old.body["NetworkingConfig"],
            json!({"EndpointsConfig": {"das-tern_default": {"Aliases": ["redis"]}}})
        );
        assert_eq!(
            old.connect_later,
            vec![("backend".to_string(), json!({"Aliases": ["db"]}))]
        );
        let new = create_plan(&inspect(nets, "das-tern_default"), ApiVersion::new(1, 44));
        assert!(new.connect_later.is_empty());
        assert_eq!(
            new.body["NetworkingConfig"]["EndpointsConfig"]
                .as_object()
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn auto_removed_and_swarm_containers_are_refused() {
        let mut c = inspect(json!({}), "default");
        assert_eq!(refusal(&c), None);
        c.raw["HostConfig"]["AutoRemove"] = json!(true);
        assert!(refusal(&c).unwrap().contains("--rm"));
        c.raw["HostConfig"]["AutoRemove"] = json!(false);
        c.raw["Config"]["Labels"]["com.docker.swarm.service.id"] = json!("x");
        assert!(refusal(&c).unwrap().contains("swarm"));
    }

    #[test]
    fn a_user_host_name_is_kept() {
        let mut c = inspect(json!({"host": {}}), "host");
        c.raw["Config"]["Hostname"] = json!("vm");
        let p = create_plan(&c, ApiVersion::new(1, 41));
        assert_eq!(p.body["Hostname"], "vm");
        assert_eq!(
            p.body["NetworkingConfig"],
            json!({"EndpointsConfig": {"host": {}}})
        );
    }
}
