use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use watt_pack::sink::{archive::Compression, ArchiveSink, Sink};

/// Pack a Platformatic Watt application into one deployable artifact.
#[derive(Parser)]
#[command(name = "watt", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build every service and pack the app.
    Build {
        /// The app folder (holding watt.json).
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Archive)]
        format: Format,
        /// Output file. Its extension picks the compression: .tar.zst (default), .tar.gz, .tar.
        /// Default: <app name>.tar.zst in the current folder.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// The node executable to carry (default: `node` on PATH).
        #[arg(long)]
        node: Option<PathBuf>,
        /// The watt-stub binary (default: WATT_STUB, else next to `watt`).
        #[arg(long, env = "WATT_STUB")]
        stub: Option<PathBuf>,
        /// Builds to run at once (default: number of cores).
        #[arg(short, long)]
        jobs: Option<usize>,
        /// Ship paths the ignore rules leave out (secret-like files, .wattignore,
        /// .dockerignore): a gitignore-style glob relative to the app root, e.g. `web/api/.env`
        /// or `*.pem`. Repeatable.
        #[arg(long = "include", value_name = "GLOB")]
        include: Vec<String>,
        /// Bake env file values (.env, envfile) into the manifest instead of leaving them out;
        /// also WATT_DOTENV=1.
        #[arg(long, env = "WATT_DOTENV")]
        dotenv: bool,
    },
    /// Show what an artifact holds: size and files per part, the largest packages, the env
    /// file keys baked in (names only).
    Inspect {
        /// An archive written by `watt build` (.tar.zst, .tar.gz, .tar).
        archive: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print the resolved application: services, kinds, entrypoint, environment.
    Resolve {
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Print JSON instead of a summary.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// A self-contained .tar.zst/.tar.gz that runs on a Linux host without Node.
    Archive,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Cmd::Inspect { archive, json } => {
            let report = watt_pack::inspect::inspect(&archive)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.to_text());
            }
            Ok(())
        }
        Cmd::Resolve { dir, json } => {
            let app = watt_pack::config::resolve(&dir)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&app)?);
            } else {
                print_summary(&app);
            }
            Ok(())
        }
        Cmd::Build {
            dir,
            format: Format::Archive,
            output,
            node,
            stub,
            jobs,
            include,
            dotenv,
        } => {
            let started = std::time::Instant::now();
            let app = watt_pack::config::resolve(&dir)?;
            let output = output.unwrap_or_else(|| default_output(&app));
            let Some(compression) = Compression::from_path(&output) else {
                bail!(
                    "{}: the archive name must end in .tar.zst, .tar.gz or .tar",
                    output.display()
                );
            };
            check_writable(&output)?;
            let jobs =
                jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
            let packed = watt_pack::build_app(
                &app,
                &watt_pack::BuildOptions {
                    node,
                    stub,
                    jobs,
                    include,
                    bake_dotenv: dotenv,
                },
            )?;
            let sink = ArchiveSink {
                path: output,
                compression,
            };
            sink.write(&packed)?;
            let size = std::fs::metadata(&sink.path).map(|m| m.len()).unwrap_or(0);
            eprintln!(
                "watt: wrote {} ({:.1} MB, {} entries) in {:.1}s\n      run it: mkdir app && tar -xf {} -C app && app/watt-stub",
                sink.describe(),
                size as f64 / 1e6,
                packed.tree.len(),
                started.elapsed().as_secs_f64(),
                sink.describe(),
            );
            Ok(())
        }
    }
}

fn default_output(app: &watt_pack::config::ResolvedApp) -> PathBuf {
    let name: String = app
        .name
        .trim_start_matches('@')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    PathBuf::from(format!("{name}.tar.zst"))
}

/// Fail before building when the output cannot be written, not after minutes of builds.
fn check_writable(output: &Path) -> Result<()> {
    let dir = match output.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        bail!("the output folder {} does not exist", dir.display());
    }
    tempfile::Builder::new()
        .prefix(".watt-probe-")
        .tempfile_in(dir)
        .with_context(|| format!("cannot write to the output folder {}", dir.display()))?;
    Ok(())
}

fn print_summary(app: &watt_pack::config::ResolvedApp) {
    println!("app {} ({})", app.name, app.config_file.display());
    println!(
        "entrypoint {} ({:?})",
        app.entrypoint, app.entrypoint_reason
    );
    for s in &app.services {
        let rel = s.path.strip_prefix(&app.root).unwrap_or(&s.path);
        println!("  {:<16} {:<13} {}", s.id, s.kind.as_str(), rel.display());
        if !s.dependencies.is_empty() {
            println!("  {:<16} depends on {}", "", s.dependencies.join(", "));
        }
    }
}
