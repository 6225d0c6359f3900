//! Binary entry point: parse flags, build the async runtime, hand over to the library.

use clap::Parser;
use persistence_exporter::cli::Cli;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(usize::from(cli.worker_threads))
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("persistence_exporter: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Spawned, so that the accept loop and everything else run on the worker threads and
    // the main thread only waits (run on it, every accepted connection was a hand-off
    // between the main thread and a worker).
    runtime.block_on(async {
        match tokio::spawn(persistence_exporter::run(cli)).await {
            Ok(code) => code,
            Err(e) => {
                eprintln!("persistence_exporter: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
