//! What a binary of this workspace is made of: its version, the git revision it was built from
//! and the Rust crates linked into it. Each binary carries this as JSON in an ELF section
//! ([`SECTION`]), so whoever holds the binary can read it without running it: the packer for
//! the SBOM of the stub it packs, `watt inspect` for the stub an artifact carries, the release
//! tool for the tool's own SBOM.
//!
//! Build scripts fill it with [`collect`] (feature `collect`). The crate list comes from
//! `cargo tree` over exactly the crates Cargo has just downloaded to compile the binary, so it
//! needs no network and no crate outside this build (a `cargo metadata` of the workspace would
//! need every crate of the whole resolve, dev-dependencies of other members included).

use serde::{Deserialize, Serialize};

/// The ELF section holding the JSON of a [`BuildInfo`].
pub const SECTION: &str = ".watt_build_info";

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

#[cfg(feature = "collect")]
pub use collect::collect;

#[cfg(feature = "collect")]
mod collect {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::{Path, PathBuf};
    use std::process::Command;

    use super::{BuildInfo, Crate};

    /// For a build script: gathers the [`BuildInfo`] of the package being built and writes it
    /// to `$OUT_DIR/build_info.json`, for [`embed_build_info!`](crate::embed_build_info).
    /// Fails (the build script should panic with the message) only when Cargo itself cannot
    /// list the crates it is compiling.
    pub fn collect() -> Result<BuildInfo, String> {
        let env = |k: &str| std::env::var(k).map_err(|_| format!("cargo did not set {k}"));
        let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR")?);
        let name = env("CARGO_PKG_NAME")?;
        let target = env("TARGET")?;
        println!("cargo:rerun-if-env-changed=WATT_GIT_REVISION");
        let revision = match std::env::var("WATT_GIT_REVISION") {
            Ok(r) if !r.is_empty() => Some(r),
            _ => git_revision(&manifest_dir),
        };
        let workspace = workspace_root(&manifest_dir)?;
        let lock = workspace.join("Cargo.lock");
        println!("cargo:rerun-if-changed={}", lock.display());
        let checksums = checksums(&std::fs::read_to_string(&lock).unwrap_or_default());
        let mut crates = BTreeSet::new();
        for line in cargo_tree(&workspace, &name, &target)?.lines() {
            // Cargo marks a subtree it printed before with ` (*)` after the whole line.
            let line = line.trim_end().trim_end_matches(" (*)");
            let Some((name_version, license)) = line.split_once('|') else {
                continue;
            };
            let mut words = name_version.split_whitespace();
            let (Some(n), Some(v)) = (words.next(), words.next()) else {
                continue;
            };
            let version = v.trim_start_matches('v').to_string();
            // `name vX (source)` names a path or git source; registry crates have none.
            let registry = words.next().is_none();
            crates.insert(Crate {
                sha256: checksums.get(&(n.to_string(), version.clone())).cloned(),
                name: n.to_string(),
                version,
                license: Some(license.trim().to_string()).filter(|l| !l.is_empty()),
                registry,
            });
        }
        crates.retain(|c| c.name != name);
        let info = BuildInfo {
            version: env("CARGO_PKG_VERSION")?,
            license: std::env::var("CARGO_PKG_LICENSE")
                .ok()
                .filter(|l| !l.is_empty()),
            name,
            revision,
            target,
            crates: crates.into_iter().collect(),
        };
        let dest = PathBuf::from(env("OUT_DIR")?).join("build_info.json");
        let json = serde_json::to_vec(&info).map_err(|e| e.to_string())?;
        std::fs::write(&dest, json).map_err(|e| format!("cannot write {}: {e}", dest.display()))?;
        Ok(info)
    }

    /// The nearest folder upward holding a Cargo.lock (the workspace's).
    fn workspace_root(manifest_dir: &Path) -> Result<PathBuf, String> {
        manifest_dir
            .ancestors()
            .find(|d| d.join("Cargo.lock").is_file())
            .map(Path::to_path_buf)
            .ok_or_else(|| {
                format!(
                    "no Cargo.lock in {} or above; build from the repository",
                    manifest_dir.display()
                )
            })
    }

    /// `name vX.Y.Z[ (source)]|license` per linked crate, from Cargo's own resolution.
    ///
    /// `--offline`: every crate it lists is one Cargo downloaded to compile this package, so
    /// nothing else is needed; `--locked`: never rewrite the lockfile from a build script.
    fn cargo_tree(workspace: &Path, package: &str, target: &str) -> Result<String, String> {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let out = Command::new(cargo)
            .args(["tree", "--offline", "--locked", "--prefix", "none"])
            .args(["--edges", "normal,no-proc-macro", "--format", "{p}|{l}"])
            .args(["--package", package, "--target", target])
            .arg("--manifest-path")
            .arg(workspace.join("Cargo.toml"))
            .output()
            .map_err(|e| format!("cannot run `cargo tree`: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "`cargo tree -p {package}` failed listing the crates linked into {package}:\n{}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        String::from_utf8(out.stdout).map_err(|e| e.to_string())
    }

    /// The commit checked out at `dir`; re-run when HEAD moves.
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

    /// (name, version) → the `checksum` Cargo.lock records for a registry crate.
    fn checksums(lock: &str) -> BTreeMap<(String, String), String> {
        let doc: toml::Value =
            toml::from_str(lock).unwrap_or(toml::Value::Table(Default::default()));
        doc.get("package")
            .and_then(|p| p.as_array())
            .into_iter()
            .flatten()
            .filter_map(|p| {
                Some((
                    (
                        p.get("name")?.as_str()?.to_string(),
                        p.get("version")?.as_str()?.to_string(),
                    ),
                    p.get("checksum")?.as_str()?.to_string(),
                ))
            })
            .collect()
    }
}
