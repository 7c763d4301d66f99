//! How to execute the bundled node: directly, or through the bundled dynamic loader so the
//! artifact does not depend on the host's libc.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use watt_manifest::NodeRuntime;

pub struct Node {
    binary: PathBuf,
    /// `(loader, library path)` when node runs through the bundled loader.
    loader: Option<(PathBuf, PathBuf)>,
    /// The `node` command services should find first on `PATH`.
    pub bin_dir: PathBuf,
    /// What `process.execPath` must be inside node when it is not the binary itself.
    pub exec_path: Option<PathBuf>,
}

impl Node {
    pub fn new(root: &Path, m: &NodeRuntime) -> Node {
        let binary = root.join(&m.binary);
        let loader = m.loader.as_ref().map(|l| {
            let libs = m.library_path.as_deref().unwrap_or_default();
            (root.join(l), root.join(libs))
        });
        let shim = m.shim.as_ref().map(|s| root.join(s));
        let bin_dir = shim.as_deref().unwrap_or(&binary).parent();
        Node {
            bin_dir: bin_dir.unwrap_or(root).to_path_buf(),
            // With a loader, node's execPath is the loader, which cannot run a script by itself.
            exec_path: loader.is_some().then_some(shim).flatten(),
            binary,
            loader,
        }
    }

    /// A command that runs node; add node's own arguments.
    pub fn command(&self) -> Command {
        let (program, args) = self.argv();
        let mut cmd = Command::new(program);
        cmd.arg0("node").args(args);
        cmd
    }

    /// The program to execute for node and the arguments before node's own (`argv[0]` is
    /// always `node`).
    pub fn argv(&self) -> (PathBuf, Vec<OsString>) {
        match &self.loader {
            Some((loader, libs)) => {
                let mut args: Vec<OsString> = vec!["--library-path".into(), libs.into()];
                args.extend(["--argv0".into(), "node".into(), self.binary.clone().into()]);
                (loader.clone(), args)
            }
            None => (self.binary.clone(), Vec::new()),
        }
    }

    pub fn describe(&self) -> String {
        match &self.loader {
            Some((loader, _)) => format!("{} through {}", self.binary.display(), loader.display()),
            None => self.binary.display().to_string(),
        }
    }
}
