//! What a binary of this workspace is made of: its version, the git revision it was built from
//! and the Rust crates linked into it. Each binary carries this as JSON in an ELF section
//! ([`SECTION`]), so whoever holds the binary can read it without running it: the packer for
//! the SBOM of the stub it packs, `watt inspect` for the stub an artifact carries, the release
//! tool for the tool's own SBOM.
//!
//! Build scripts fill it with [`collect`]. The crate list is the package's checked-in
//! [`LINKED_CRATES_FILE`] (written and checked by `cargo xtask crates`), never a resolution at
//! build time: Cargo can resolve the workspace's features only with every crate of it on disk,
//! which a fresh machine building one package does not have.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

/// The ELF section holding the JSON of a [`BuildInfo`].
pub const SECTION: &str = ".watt_build_info";
/// Beside a shipped package's Cargo.toml: the [`Crate`]s its binary links, as a JSON array.
pub const LINKED_CRATES_FILE: &str = "linked-crates.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildInfo {
    /// The package name (`watt-pack`, `watt-stub`).
    pub name: String,
    pub version: String,
    /// The git commit it was built from (`WATT_GIT_REVISION` overrides; `None` outside git).
    pub revision: Option<String>,
    pub license: Option<String>,
    /// The Rust target triple it was built for.
    pub target: String,
    /// The crates linked into it, sorted by name and version; the package itself is not listed.
    pub crates: Vec<Crate>,
}

/// A crate linked into a binary (normal dependencies for its target; no proc-macros, no
/// build or dev dependencies).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Crate {
    pub name: String,
    pub version: String,
    pub license: Option<String>,
    /// From a registry (crates.io); `false` for workspace and path crates.
    pub registry: bool,
    /// The SHA-256 of the `.crate` file, as Cargo.lock records it for registry crates.
    pub sha256: Option<String>,
}

impl BuildInfo {
    /// `0.1.0 (1a2b3c4d5e6f)`, or `0.1.0` when the revision is unknown.
    pub fn version_line(&self) -> String {
        version_line(&self.version, self.revision.as_deref())
    }
}

/// A version and the first 12 characters of the revision it was built from, if known.
pub fn version_line(version: &str, revision: Option<&str>) -> String {
    match revision {
        Some(rev) => format!("{version} ({})", rev.chars().take(12).collect::<String>()),
        None => version.to_string(),
    }
}

/// Embeds the `build_info.json` the package's build script wrote (with [`collect`]) as the
/// static `BUILD_INFO`, in [`SECTION`]. Read it back with `BUILD_INFO` (the code that reads it
/// also keeps the linker from dropping the section).
#[macro_export]
macro_rules! embed_build_info {
    () => {
        #[used]
        #[link_section = ".watt_build_info"]
        static BUILD_INFO: [u8; include_bytes!(concat!(env!("OUT_DIR"), "/build_info.json"))
            .len()] = *include_bytes!(concat!(env!("OUT_DIR"), "/build_info.json"));
    };
}

/// For a build script: the [`BuildInfo`] of the package being built, from Cargo's environment,
/// git and the package's [`LINKED_CRATES_FILE`], written to `$OUT_DIR/build_info.json` for
/// [`embed_build_info!`]. The error says what is missing.
pub fn collect() -> Result<BuildInfo, String> {
    let env = |k: &str| std::env::var(k).map_err(|_| format!("cargo did not set {k}"));
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR")?);
    let list = manifest_dir.join(LINKED_CRATES_FILE);
    println!("cargo:rerun-if-changed={}", list.display());
    println!("cargo:rerun-if-env-changed=WATT_GIT_REVISION");
    let text = std::fs::read_to_string(&list).map_err(|e| {
        format!(
            "cannot read {}: {e}; run `cargo xtask crates`",
            list.display()
        )
    })?;
    let crates = serde_json::from_str(&text).map_err(|e| {
        format!(
            "{} is not a crate list ({e}); run `cargo xtask crates`",
            list.display()
        )
    })?;
    let revision = match std::env::var("WATT_GIT_REVISION") {
        Ok(r) if !r.is_empty() => Some(r),
        _ => git_revision(&manifest_dir),
    };
    let info = BuildInfo {
        name: env("CARGO_PKG_NAME")?,
        version: env("CARGO_PKG_VERSION")?,
        revision,
        license: std::env::var("CARGO_PKG_LICENSE")
            .ok()
            .filter(|l| !l.is_empty()),
        target: env("TARGET")?,
        crates,
    };
    let dest = PathBuf::from(env("OUT_DIR")?).join("build_info.json");
    let json = serde_json::to_vec(&info).map_err(|e| e.to_string())?;
    std::fs::write(&dest, json).map_err(|e| format!("cannot write {}: {e}", dest.display()))?;
    Ok(info)
}

/// The commit checked out at `dir`; the build script re-runs when HEAD moves.
fn git_revision(dir: &Path) -> Option<String> {
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let rev = git(&["rev-parse", "HEAD"])?;
    // HEAD, the branch it names and packed-refs: a commit or a checkout changes one of them.
    let mut watch = vec!["HEAD".to_string(), "packed-refs".to_string()];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watch.push(branch);
    }
    for p in watch {
        // Cargo re-runs a script on every build while a path it watches is missing.
        if let Some(path) = git(&["rev-parse", "--path-format=absolute", "--git-path", &p])
            .filter(|p| Path::new(p).exists())
        {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    Some(rev)
}
