//! What the release asks Cargo and git: the workspace's packages and where their sources are,
//! the release build, and the commit time.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// The one target the binaries ship for.
pub const TARGET: &str = "x86_64-unknown-linux-gnu";

/// The file time when neither `SOURCE_DATE_EPOCH` nor git gives one: 1980-01-01, as the packer.
const FALLBACK_MTIME: u64 = 315_532_800;

pub fn cargo() -> OsString {
    // Set when run through `cargo xtask`: the same toolchain that built us.
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

#[derive(Debug, Deserialize)]
pub struct Package {
    pub id: String,
    pub name: String,
    pub version: String,
    pub source: Option<String>,
    pub manifest_path: PathBuf,
    pub license_file: Option<PathBuf>,
}

impl Package {
    /// The crate's folder: where its licence files are.
    pub fn dir(&self) -> &Path {
        self.manifest_path.parent().unwrap_or(Path::new("/"))
    }
}

#[derive(Debug, Deserialize)]
pub struct Metadata {
    pub packages: Vec<Package>,
    pub workspace_members: BTreeSet<String>,
    pub workspace_root: PathBuf,
    pub target_directory: PathBuf,
}

impl Metadata {
    /// The package a binary's build information names, from the registry when `registry`
    /// (a name and version may also exist as a path crate, in principle).
    pub fn package(&self, name: &str, version: &str, registry: bool) -> Option<&Package> {
        self.packages.iter().find(|p| {
            p.name == name
                && p.version == version
                && p.source
                    .as_deref()
                    .is_some_and(|s| s.starts_with("registry+"))
                    == registry
        })
    }

    pub fn is_member(&self, p: &Package) -> bool {
        self.workspace_members.contains(&p.id)
    }

    /// The version of a workspace member.
    pub fn member_version(&self, name: &str) -> Option<&str> {
        self.packages
            .iter()
            .find(|p| p.name == name && self.is_member(p))
            .map(|p| p.version.as_str())
    }
}

/// `cargo metadata` of the workspace around `cwd`, for the binaries' target only: that is
/// every crate they can contain, and other platforms' crates need not be downloaded.
pub fn metadata(cwd: &Path) -> Result<Metadata> {
    let out = Command::new(cargo())
        .current_dir(cwd)
        .args(["metadata", "--format-version", "1", "--locked"])
        .args(["--filter-platform", TARGET])
        .output()
        .context("cannot run `cargo metadata`")?;
    if !out.status.success() {
        bail!(
            "`cargo metadata` failed (run xtask inside the repository):\n{}",
            String::from_utf8_lossy(&out.stderr).trim_end()
        );
    }
    serde_json::from_slice(&out.stdout).context("cannot read the output of `cargo metadata`")
}

/// The one file time of the tarball (and the SBOM's timestamp): `SOURCE_DATE_EPOCH`, else the
/// time of the commit the binaries were built from (`revision`; the one checked out when they
/// do not know), else 1980-01-01. The commit time makes two releases of one commit agree
/// without anyone setting a variable.
pub fn source_date(root: &Path, revision: Option<&str>) -> Result<u64> {
    if let Ok(v) = std::env::var("SOURCE_DATE_EPOCH") {
        return v
            .trim()
            .parse()
            .with_context(|| format!("SOURCE_DATE_EPOCH={v:?} is not a number of seconds"));
    }
    let commit_time = Command::new("git")
        .arg("-C")
        .arg(root)
        .args([
            "log",
            "-1",
            "--format=%ct",
            revision.unwrap_or("HEAD"),
            "--",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok());
    Ok(commit_time.unwrap_or(FALLBACK_MTIME))
}

/// Whether tracked files differ from the commit: the binaries then carry its revision without
/// being built from it.
pub fn uncommitted_changes(root: &Path) -> bool {
    Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .is_ok_and(|o| o.status.success() && !o.stdout.is_empty())
}
