//! Binary entry point: parse flags, set up logging, then hand over to the library.

use clap::Parser;
use persistence_exporter::cli::Cli;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    persistence_exporter::run(cli).await
}
