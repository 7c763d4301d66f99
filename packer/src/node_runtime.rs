//! The Node.js runtime an artifact carries.
//!
//! The archive must run on a Linux host with no Node and possibly an older or different libc,
//! so it carries node together with every shared library `ldd` reports, including the dynamic
//! loader, and the stub starts node as `ld-linux --library-path runtime/lib runtime/lib/node`.
//! The host then only needs a Linux kernel. The price is about 6 MB of libraries and that
//! `process.execPath` points at the loader, which the stub repairs (see watt-stub's launcher)
//! so frameworks that fork `process.execPath` start the bundled node through `runtime/bin/node`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::tree::Tree;

pub const RUNTIME_DIR: &str = "runtime";
pub const LIB_DIR: &str = "runtime/lib";
pub const BINARY: &str = "runtime/lib/node";
pub const SHIM: &str = "runtime/bin/node";

#[derive(Debug, Clone)]
pub struct NodeRuntime {
    /// The real binary (symlinks resolved).
    pub binary: PathBuf,
    pub version: String,
    /// `process.arch` (`x64`, `arm64`): native addons must be built for it.
    pub arch: String,
    /// `process.versions.modules` (NODE_MODULE_VERSION): non-N-API addons must match it.
    pub modules: u32,
    /// (file name in `runtime/lib`, host file) for each shared library, loader included.
    pub libraries: Vec<(String, PathBuf)>,
    /// File name of the dynamic loader among `libraries`, if node is dynamically linked.
    pub loader: Option<String>,
}

/// Find node: the explicit `--node` path, else `node` on `PATH`.
pub fn locate(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        if !p.is_file() {
            bail!(
                "--node {}: no such file; pass the path of a node executable",
                p.display()
            );
        }
        return Ok(p.to_path_buf());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join("node");
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!(
        "no `node` found on PATH; the artifact needs a Node.js runtime to carry. \
         Install Node.js (22.18 or newer recommended) or pass --node /path/to/node"
    )
}

pub fn inspect(node: &Path) -> Result<NodeRuntime> {
    let binary =
        std::fs::canonicalize(node).with_context(|| format!("cannot read {}", node.display()))?;
    let out = Command::new(&binary)
        .arg("--version")
        .output()
        .with_context(|| format!("cannot run {} --version", binary.display()))?;
    if !out.status.success() {
        bail!(
            "{} --version failed ({}); is it a node executable?",
            binary.display(),
            out.status
        );
    }
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !version.starts_with('v') {
        bail!(
            "{} --version printed {version:?}; is it a node executable?",
            binary.display()
        );
    }
    let (arch, modules) = abi(&binary)?;
    let (libraries, loader) = shared_libraries(&binary)?;
    Ok(NodeRuntime {
        binary,
        version,
        arch,
        modules,
        libraries,
        loader,
    })
}

/// `process.arch` and `process.versions.modules`, which native addons must match.
fn abi(binary: &Path) -> Result<(String, u32)> {
    let out = Command::new(binary)
        .args(["-p", "process.arch + ' ' + process.versions.modules"])
        .env_remove("NODE_OPTIONS")
        .output()
        .with_context(|| format!("cannot run {}", binary.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    match text.trim().split_once(' ') {
        Some((arch, modules)) if out.status.success() => match modules.parse() {
            Ok(m) => Ok((arch.to_string(), m)),
            Err(_) => bail!(
                "{} reports NODE_MODULE_VERSION {modules:?}, not a number",
                binary.display()
            ),
        },
        _ => bail!(
            "{} -p process.versions.modules failed ({}): {}",
            binary.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ),
    }
}

/// (file name, host file) of each library, and the loader's file name.
type Libraries = (Vec<(String, PathBuf)>, Option<String>);

/// Libraries from `ldd`, resolved to real files. A static binary has none.
fn shared_libraries(binary: &Path) -> Result<Libraries> {
    // ldd reports preloaded libraries too (libfaketime, libeatmydata, a preloaded allocator):
    // they belong to the build host's session, not to node, and must not ship.
    let out = Command::new("ldd")
        .arg(binary)
        .env_remove("LD_PRELOAD")
        .output()
        .context(
            "cannot run `ldd` to find the shared libraries node needs; install it (Debian: libc-bin)",
        )?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        if text.contains("not a dynamic executable")
            || String::from_utf8_lossy(&out.stderr).contains("not a dynamic")
        {
            return Ok((Vec::new(), None));
        }
        bail!(
            "ldd {} failed: {}",
            binary.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    parse_ldd(&text)
}

fn parse_ldd(text: &str) -> Result<Libraries> {
    let mut libs = Vec::new();
    let mut loader = None;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with("linux-vdso") || line.starts_with("linux-gate") {
            continue;
        }
        if line.contains("not found") {
            bail!("node needs a library that is missing on this machine: {line}");
        }
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.trim().split(" (").next().unwrap_or("").trim(),
            None => line.split(" (").next().unwrap_or("").trim(),
        };
        if path.is_empty() || !path.starts_with('/') {
            continue;
        }
        let path = PathBuf::from(path);
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_string)
        else {
            continue;
        };
        if name.starts_with("ld-linux") || name.starts_with("ld64") {
            loader = Some(name.clone());
        }
        let real = std::fs::canonicalize(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        libs.push((name, real));
    }
    libs.sort();
    libs.dedup();
    Ok((libs, loader))
}

impl NodeRuntime {
    /// Put node and its libraries in the tree, with `runtime/bin/node` linking to the stub.
    pub fn add_to(&self, tree: &mut Tree, stub_path: &str) -> Result<watt_manifest::NodeRuntime> {
        tree.add_file(BINARY, &self.binary)?;
        for (name, path) in &self.libraries {
            tree.add_file(&format!("{LIB_DIR}/{name}"), path)?;
        }
        let with_loader = self.loader.is_some();
        if with_loader {
            // `runtime/bin/node` → the stub, which in "node" mode execs the loader; relative so
            // the artifact can be extracted anywhere.
            tree.add_symlink(SHIM, &format!("../../{stub_path}"))?;
        }
        Ok(watt_manifest::NodeRuntime {
            binary: BINARY.into(),
            loader: self.loader.as_ref().map(|l| format!("{LIB_DIR}/{l}")),
            library_path: with_loader.then(|| LIB_DIR.to_string()),
            shim: with_loader.then(|| SHIM.to_string()),
            version: self.version.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_output_is_parsed_with_the_loader() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd)\n\tlibstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x1)\n\t/lib64/ld-linux-x86-64.so.2 (0x2)\n";
        let (libs, loader) = parse_ldd(text).unwrap();
        assert_eq!(loader.as_deref(), Some("ld-linux-x86-64.so.2"));
        let names: Vec<_> = libs.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["ld-linux-x86-64.so.2", "libstdc++.so.6"]);
    }

    #[test]
    fn missing_library_is_an_error() {
        let err = parse_ldd("\tlibfoo.so.1 => not found\n").unwrap_err();
        assert!(err.to_string().contains("libfoo"), "{err}");
    }
}
