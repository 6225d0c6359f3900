//! `/probe` settings: credentials live in modules, targets must match the allow-list, so
//! the exporter never becomes an open proxy and credentials never travel in URLs.

use super::allow_list::AllowList;
use super::file::Entry;
use super::postgres::PgSslMode;
use super::profile::Profile;
use super::redis::RedisTls;
use super::{DEFAULT_TARGET_TIMEOUT, Env, MAX_TIMEOUT, Problem, password_from, resolve_profile};
use crate::secret::Secret;
use serde_yaml_ng::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// `/probe` settings: credentials live in modules, targets must match the allow-list, so
/// the exporter never becomes an open proxy and credentials never travel in URLs.
#[derive(Clone, Debug, Default)]
pub struct ProbeSettings {
    /// `allowed_targets`, parsed: the networks (CIDR, with ports) and host names a
    /// probed target must be in (grammar in [`super::allow_list`]).
    pub allowed_targets: AllowList,
    /// Module name → target template.
    pub modules: BTreeMap<String, ProbeModule>,
}

/// A target template for `/probe`: everything but the address.
#[derive(Clone, Debug)]
pub enum ProbeModule {
    /// Redis targets: `redis://[username@]<target>` (or `rediss://` with `tls`).
    Redis {
        /// ACL user, if any.
        username: Option<String>,
        /// Password, never printed.
        password: Option<Secret>,
        /// TLS client settings; `Some` means `rediss://`.
        tls: Option<RedisTls>,
        /// Per-target timeout.
        timeout: Duration,
        /// Persistence profile.
        profile: Profile,
    },
    /// PostgreSQL targets: `postgresql://<user>@<target>/<database>`.
    Postgres {
        /// Role to log in as.
        user: String,
        /// Database to connect to.
        database: String,
        /// Password, never printed.
        password: Option<Secret>,
        /// TLS mode.
        ssl_mode: Option<PgSslMode>,
        /// CA bundle for verify modes.
        ca_file: Option<PathBuf>,
        /// Per-target timeout.
        timeout: Duration,
        /// Persistence profile.
        profile: Profile,
    },
}

/// Which system a module probes.
#[derive(Clone, Copy)]
enum ModuleKind {
    Redis,
    Postgres,
}

/// The `probe:` section.
pub(crate) fn from_file(v: &Value, env: &dyn Env, problems: &mut Vec<Problem>) -> ProbeSettings {
    let Some(mut e) = Entry::new(v, "probe", "", problems) else {
        return ProbeSettings::default();
    };
    let allowed: Vec<String> = e.get("allowed_targets").unwrap_or_default();
    let module_entries = e.map("modules");
    e.finish(problems);
    let mut modules = BTreeMap::new();
    for (name, mv) in module_entries {
        if let Some(m) = module(&name, mv, env, problems) {
            modules.insert(name, m);
        }
    }
    let allowed_targets = match AllowList::parse(&allowed) {
        Ok(list) => list,
        Err(bad) => {
            problems.extend(
                bad.into_iter()
                    .map(|err| Problem::at("probe", "allowed_targets", err)),
            );
            AllowList::default()
        }
    };
    if !modules.is_empty() && allowed.is_empty() {
        problems.push(Problem::at(
            "probe",
            "allowed_targets",
            "must list the networks (CIDR) or host names that may be probed",
        ));
    }
    ProbeSettings {
        allowed_targets,
        modules,
    }
}

/// One module of `probe.modules`.
fn module(
    name: &str,
    v: &Value,
    env: &dyn Env,
    problems: &mut Vec<Problem>,
) -> Option<ProbeModule> {
    let path = format!("probe.modules.{name}");
    let mut e = Entry::new(v, &path, "", problems)?;
    let kind = e.choice(
        "kind",
        &[
            ("redis", ModuleKind::Redis),
            ("postgres", ModuleKind::Postgres),
        ],
    );
    if e.string("kind").is_none() {
        e.problem("kind", "missing (redis or postgres)");
    }
    let username = e.string("username");
    let user = e.string("user");
    let database = e.string("database");
    let password_file = e.get::<PathBuf>("password_file");
    let password_env = e.string("password_env");
    let tls = super::redis::tls_from(&mut e, problems);
    let (ssl_mode, ca_file) = super::postgres::tls_from(&mut e);
    let timeout = e
        .duration("timeout", MAX_TIMEOUT)
        .unwrap_or(DEFAULT_TARGET_TIMEOUT);
    let profile_name = e.string("profile");
    let overrides = e.check_overrides();
    e.finish(problems);
    let password = password_from(
        password_file.as_deref(),
        password_env.as_deref(),
        &path,
        env,
        problems,
    );
    let profile = resolve_profile(profile_name.as_deref(), &overrides, &path, problems);
    Some(match kind? {
        ModuleKind::Redis => ProbeModule::Redis {
            username,
            password,
            tls,
            timeout,
            profile,
        },
        ModuleKind::Postgres => ProbeModule::Postgres {
            user: user.unwrap_or_else(|| "postgres".to_string()),
            database: database.unwrap_or_else(|| "postgres".to_string()),
            password,
            ssl_mode,
            ca_file,
            timeout,
            profile,
        },
    })
}
