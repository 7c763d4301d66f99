//! Repository tasks, in Rust so they need nothing but Cargo (the cargo-xtask pattern).
//!
//! - `release` (run by `ci/release.sh`, which first builds the binaries with the one set of
//!   release flags) makes `watt-<version>-x86_64-unknown-linux-gnu.tar.gz`: both static
//!   binaries, the licence texts of the crates linked into them, and the CycloneDX SBOM of the
//!   tool, byte-identical each time it is made from the same commit;
//! - `crates [--check]` writes or checks the checked-in crate list each binary embeds.

mod cargo;
mod crates;
mod licenses;
mod release;
mod sbom;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "xtask", about = "Repository tasks for watt-pack")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Make the release tarball and its .sha256 (builds the release binaries unless given).
    Release(release::Args),
    /// Write (or --check) each shipped package's linked-crates.json from Cargo's resolution.
    Crates(crates::Args),
}

fn main() -> ExitCode {
    let result = match Cli::parse().task {
        Task::Release(args) => release::run(&args),
        Task::Crates(args) => crates::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
