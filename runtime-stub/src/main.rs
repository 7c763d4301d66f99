//! `watt-stub`: the entrypoint and PID 1 of a packed Watt app.
//!
//! Two personalities, chosen by the name it is started under:
//! - `node` (the artifact's `runtime/bin/node` links here): exec the bundled node, so user code,
//!   frameworks and shell scripts that run `node` or `process.execPath` get the packed runtime;
//! - anything else: read the manifest, bind the listeners, boot the services in dependency order
//!   and supervise them until a signal or the entrypoint's death (see `supervisor`); static
//!   sites, gateways and the client files of framework services are served by the stub itself
//!   (see `http`).

mod command;
mod env;
mod health;
mod http;
mod js;
mod lifecycle;
mod logs;
mod node;
mod plan;
mod reaper;
mod relay;
mod supervisor;

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

// What this binary is made of, for `--version` and for the packer's SBOM (which reads the
// section from the file it packs).
watt_manifest::embed_build_info!();

const USAGE: &str = "usage: watt-stub [--manifest PATH]   (default: watt-manifest.json next to watt-stub; env WATT_MANIFEST)
       watt-stub healthcheck [HOST:PORT]   exit 0 when /ready answers 200 (default: WATT_HEALTH_ADDR, else 127.0.0.1:9090)
       watt-stub --version";

fn main() {
    let code = match real_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("watt-stub: {e:#}");
            1
        }
    };
    // The services' last lines go out before we do (unless stdout never drains).
    logs::flush(std::time::Duration::from_secs(2));
    std::process::exit(code)
}

fn real_main() -> Result<i32> {
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_default();
    if Path::new(&argv0).file_name() == Some("node".as_ref()) {
        return exec_node(args.collect());
    }
    let mut manifest = std::env::var_os("WATT_MANIFEST").map(PathBuf::from);
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--version" | "-V") => {
                let info: watt_manifest::build_info::BuildInfo =
                    serde_json::from_slice(&BUILD_INFO).context("runtime-stub/build.rs output")?;
                println!("watt-stub {}", info.version_line());
                return Ok(0);
            }
            Some("--help" | "-h") => {
                println!("{USAGE}");
                return Ok(0);
            }
            Some("healthcheck") => {
                let addr = args
                    .next()
                    .and_then(|a| a.into_string().ok())
                    .or_else(|| std::env::var("WATT_HEALTH_ADDR").ok())
                    .unwrap_or_else(|| format!("127.0.0.1:{}", watt_manifest::DEFAULT_HEALTH_PORT));
                return Ok(health::check(&addr));
            }
            Some("--manifest") => {
                let path = args.next().context("--manifest needs a path")?;
                manifest = Some(path.into());
            }
            Some(a) if a.starts_with("--manifest=") => {
                manifest = Some(a.trim_start_matches("--manifest=").into())
            }
            _ => {
                eprintln!("watt-stub: unknown argument {arg:?}\n{USAGE}");
                return Ok(2);
            }
        }
    }
    let manifest = match manifest {
        Some(path) => path,
        None => next_to_exe(watt_manifest::MANIFEST_FILE)?,
    };
    let plan = plan::Plan::load(&manifest)?;
    if let Some(file) = &plan.env_file {
        eprintln!("watt-stub: read env file {}", file.display());
    }
    // The gateway and static files use every core (`WATT_THREADS` to choose).
    let threads = match std::env::var("WATT_THREADS") {
        Ok(v) => v
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|&n| n > 0)
            .with_context(|| format!("WATT_THREADS={v:?} is not a positive number"))?,
        Err(_) => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(supervisor::run(plan))
}

/// Node shim: replace this process with the bundled node, keeping every argument.
fn exec_node(args: Vec<OsString>) -> Result<i32> {
    let manifest = next_to_exe(watt_manifest::MANIFEST_FILE)?;
    let (root, m) = plan::read_manifest(&manifest)?;
    let node = node::Node::new(&root, &m.node);
    let err = node.command().args(args).exec();
    bail!("cannot execute {}: {err}", node.describe())
}

/// `name` in the folder of the real executable (links resolved: the shim is a symlink to us).
fn next_to_exe(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot locate the watt-stub executable")?;
    let dir = exe
        .parent()
        .context("the watt-stub executable has no folder")?;
    Ok(dir.join(name))
}
