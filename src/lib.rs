//! persistence_exporter as a library: the binary in `main.rs` is a thin shell around
//! [`run`].
//!
//! # A tour of the layers
//!
//! Modules are layered from the ground up; a module uses only modules of its own layer or
//! below, never above.
//!
//! 0. **Plain types and parsing.** [`duration`] (Prometheus durations), [`secret`]
//!    (credentials that never print), [`clock`] (Unix time), [`check_id`] (the check
//!    ids, a contract), [`plain`] (locking, deadlines, one-line errors).
//! 1. **Configuration.** [`cli`] (flags and their env vars), [`logging`] (the `tracing`
//!    subscriber the flags choose) and [`config`]: YAML and flags
//!    into `Settings`, including the web config and the profiles as data
//!    ([`config::profile`]: which checks apply, what they expect, how severe a failure is).
//! 2. **Collectors.** [`collectors`]: the only I/O toward the monitored systems. Each
//!    returns a plain typed snapshot or a `CollectError`. [`canary`]: the opt-in write
//!    canary's background tasks (the only write the exporter makes).
//! 3. **The outcome model.** [`outcome`]: a target's outcome, a scrape's report, the
//!    failure counters, the reload status, and [`outcome::view`], the per-target view
//!    that joins each outcome with what the Docker collector knows about it (where its
//!    data lives, the volumes' filesystem, its slow-log source). The join is written
//!    there once. [`restarts`]: restart tracking, observations in, restart verdicts out
//!    (and the state file that keeps them across exporter restarts).
//! 4. **Pure checks and render.** [`checks`]: a target's view and profile → PASS / FAIL /
//!    UNKNOWN. [`render`]: the views and check results → the exposition (the only
//!    module that uses the `prometheus` crate).
//! 5. **Scrape orchestration.** [`scrape`]: all targets at once under one deadline,
//!    single flight per target.
//! 6. **Serving and one-shot commands.** [`http`] (`/metrics`, `/probe`, the status page,
//!    reload), [`report`] (the `check` command) and [`verify`] (the `verify` command).
//! 7. **The binary.** `main.rs`, through [`run`].

// Layer 0.
pub mod check_id;
pub mod clock;
pub mod duration;
pub mod plain;
pub mod secret;
// Layer 1.
pub mod cli;
pub mod config;
pub mod logging;
// Layer 2.
pub mod canary;
pub mod collectors;
// Layer 3.
pub mod outcome;
pub mod restarts;
// Layer 4.
pub mod checks;
pub mod render;
// Layer 5.
pub mod scrape;
// Layer 6.
pub mod http;
pub mod report;
pub mod verify;

/// Version of this build, shown in `persistence_exporter_build_info` and on the landing page.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Git revision this binary was built from (set by `build.rs`, `unknown` outside a checkout).
pub const REVISION: &str = env!("PE_GIT_REVISION");

/// Installs the `ring` crypto provider for rustls. Every TLS client in the process (Redis,
/// PostgreSQL) relies on it; calling it more than once is harmless.
pub fn init_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Runs the exporter (or `--config.check`) with parsed flags; returns the exit code:
/// 0 success, 2 configuration or usage error, 1 runtime failure.
pub async fn run(cli: cli::Cli) -> std::process::ExitCode {
    use std::process::ExitCode;
    init_crypto();
    logging::init(cli.log_level, cli.log_format);
    let settings = match config::load(&cli, &config::ProcessEnv) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    logging::log_default_targets(&settings);
    if let Some(cli::Command::Check(args)) = &cli.command {
        return report::run_check(&settings, args).await;
    }
    if let Some(cli::Command::Verify(args)) = &cli.command {
        return verify::run_verify(&settings, args).await;
    }
    if cli.config_check {
        println!("{}", config_check_line(&settings));
        return ExitCode::SUCCESS;
    }
    let listener = match http::bind(&settings.web.listen_address).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "Cannot start");
            return ExitCode::from(1);
        }
    };
    let shutdown = async {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(_) => {
                        let _ = ctrl_c.await;
                        return;
                    }
                };
            tokio::select! {
                _ = ctrl_c => {},
                _ = term.recv() => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = ctrl_c.await;
        }
    };
    match serve(listener, Some(cli.clone()), settings, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(errors) => {
            eprintln!("invalid configuration:");
            for e in errors {
                eprintln!("  - {e}");
            }
            ExitCode::from(2)
        }
    }
}

/// The line `--config.check` prints for a valid configuration: the target counts, and
/// the built-in default targets when nothing was configured.
pub fn config_check_line(settings: &config::Settings) -> String {
    let mut line = format!(
        "configuration is valid: {} redis, {} postgres, {} docker target(s)",
        settings.redis.len(),
        settings.postgres.len(),
        usize::from(settings.docker.is_some())
    );
    if !settings.defaults_used.is_empty() {
        let addresses: Vec<&str> = settings
            .defaults_used
            .iter()
            .map(|d| d.address.as_str())
            .collect();
        line.push_str(&format!(
            " (built-in default targets: {}; set --redis.addr/--postgres.dsn/--docker.host or a config file to change them)",
            addresses.join(", ")
        ));
    }
    line
}

/// Starts the collectors and serves HTTP on `listener` until `shutdown` resolves. Used
/// by `main` and by the integration tests (which bind `127.0.0.1:0`). With `cli`, the
/// configuration can be reloaded (`POST /-/reload`, SIGHUP).
pub async fn serve(
    listener: tokio::net::TcpListener,
    cli: Option<cli::Cli>,
    settings: config::Settings,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), Vec<String>> {
    let runtime = http::Runtime::build(settings)?;
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    tracing::info!(
        address = %addr,
        telemetry_path = %runtime.settings.web.telemetry_path,
        targets = runtime.scraper.targets().len(),
        tls = runtime.web.tls.is_some(),
        version = VERSION,
        "Listening"
    );
    let state = std::sync::Arc::new(http::AppState::new(runtime, cli));
    #[cfg(unix)]
    {
        let s = state.clone();
        if let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        {
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    let _ = s.reload().await;
                }
            });
        }
    }
    http::serve(listener, state, shutdown).await;
    Ok(())
}
