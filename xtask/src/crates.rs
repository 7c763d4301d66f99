//! `cargo xtask crates [--check]`: writes (or checks) `packer/linked-crates.json` and
//! `runtime-stub/linked-crates.json`, the crates each shipped binary is made of, which its build
//! script embeds (`watt_manifest::build_info`).
//!
//! The lists are checked in because the build must not depend on what happens to be downloaded:
//! Cargo can resolve them only with every crate of the workspace on disk. They are what the
//! release build (`cargo build --workspace --bins`) links: `cargo tree --workspace` (features
//! unified over every member), normal dependencies only. A binary built on its own links the
//! same crates or a few fewer, never more.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use watt_manifest::build_info::{Crate, LINKED_CRATES_FILE};

use crate::cargo::{self, Metadata};

/// The packages whose binaries ship.
const SHIPPED: [&str; 2] = ["watt-pack", "watt-stub"];

#[derive(clap::Args)]
pub struct Args {
    /// Fail, naming what changed, when a checked-in list is not what Cargo resolves now.
    #[arg(long)]
    check: bool,
}

pub fn run(args: &Args) -> Result<()> {
    let cwd = std::env::current_dir().context("cannot read the working directory")?;
    let meta = cargo::metadata(&cwd)?;
    let lock = std::fs::read_to_string(meta.workspace_root.join("Cargo.lock"))
        .context("cannot read Cargo.lock")?;
    let checksums = checksums(&lock)?;
    let tree = workspace_tree(&meta.workspace_root)?;
    let mut stale = Vec::new();
    for name in SHIPPED {
        let (dir, crates) = linked(&meta, name, &tree, &checksums)?;
        let path = dir.join(LINKED_CRATES_FILE);
        let mut text = serde_json::to_string_pretty(&crates)?;
        text.push('\n');
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        if old == text {
            continue;
        }
        if args.check {
            stale.push(format!("{}: {}", path.display(), difference(&old, &crates)));
        } else {
            write_atomically(&path, text.as_bytes())?;
            println!("wrote {} ({} crates)", path.display(), crates.len());
        }
    }
    if !stale.is_empty() {
        bail!(
            "the checked-in crate lists differ from Cargo's resolution:\n  {}\nrun `cargo xtask \
             crates` and commit the result",
            stale.join("\n  ")
        );
    }
    Ok(())
}

/// The crates linked into `package`'s binary, and the package's folder.
fn linked(
    meta: &Metadata,
    package: &str,
    tree: &str,
    checksums: &BTreeMap<(String, String), String>,
) -> Result<(PathBuf, Vec<Crate>)> {
    let root = meta
        .packages
        .iter()
        .find(|p| p.name == package && meta.is_member(p))
        .with_context(|| format!("{package} is not a member of the workspace"))?;
    let mut crates = BTreeSet::new();
    let mut inside = false;
    for line in tree.lines() {
        // `<depth>name vX.Y.Z[ (source)]|licence[ (*)]`; depth 0 starts a member's tree.
        let Some(split) = line.find(|c: char| !c.is_ascii_digit()) else {
            continue;
        };
        let (depth, rest) = line.split_at(split);
        let rest = rest.trim_end().trim_end_matches(" (*)");
        let Some((name_version, license)) = rest.split_once('|') else {
            continue;
        };
        let mut words = name_version.split_whitespace();
        let (Some(name), Some(version)) = (words.next(), words.next()) else {
            continue;
        };
        let version = version.trim_start_matches('v');
        if depth == "0" {
            inside = name == package;
            continue;
        }
        if inside {
            crates.insert(Crate {
                name: name.to_string(),
                version: version.to_string(),
                license: Some(license.trim().to_string()).filter(|l| !l.is_empty()),
                // Path and git crates print their source after the version.
                registry: words.next().is_none(),
                sha256: checksums
                    .get(&(name.to_string(), version.to_string()))
                    .cloned(),
            });
        }
    }
    if crates.is_empty() {
        bail!("`cargo tree` listed no crates for {package}");
    }
    Ok((root.dir().to_path_buf(), crates.into_iter().collect()))
}

/// Every member's linked crates as a `--workspace` build resolves features: normal edges only
/// (no build or dev dependencies, no proc-macros), for the binaries' target, no deduplication.
fn workspace_tree(root: &Path) -> Result<String> {
    let out = std::process::Command::new(cargo::cargo())
        .current_dir(root)
        .args(["tree", "--locked", "--workspace", "--no-dedupe"])
        .args(["--edges", "normal,no-proc-macro", "--target", cargo::TARGET])
        .args(["--prefix", "depth", "--format", "{p}|{l}"])
        .output()
        .context("cannot run `cargo tree`")?;
    if !out.status.success() {
        bail!(
            "`cargo tree` failed:\n{}",
            String::from_utf8_lossy(&out.stderr).trim_end()
        );
    }
    String::from_utf8(out.stdout).context("`cargo tree` printed something that is not UTF-8")
}

/// (name, version) → the `checksum` Cargo.lock records for a registry crate.
fn checksums(lock: &str) -> Result<BTreeMap<(String, String), String>> {
    #[derive(serde::Deserialize)]
    struct Lock {
        #[serde(default)]
        package: Vec<Locked>,
    }
    #[derive(serde::Deserialize)]
    struct Locked {
        name: String,
        version: String,
        checksum: Option<String>,
    }
    let lock: Lock = toml::from_str(lock).context("Cargo.lock is not valid TOML")?;
    Ok(lock
        .package
        .into_iter()
        .filter_map(|p| Some(((p.name, p.version), p.checksum?)))
        .collect())
}

/// `+name@version` and `-name@version` between the checked-in list and Cargo's.
fn difference(old: &str, new: &[Crate]) -> String {
    let key = |c: &Crate| format!("{}@{}", c.name, c.version);
    let old: BTreeSet<String> = serde_json::from_str::<Vec<Crate>>(old)
        .map(|v| v.iter().map(key).collect())
        .unwrap_or_default();
    let new: BTreeSet<String> = new.iter().map(key).collect();
    let mut out: Vec<String> = new.difference(&old).map(|k| format!("+{k}")).collect();
    out.extend(old.difference(&new).map(|k| format!("-{k}")));
    if out.is_empty() {
        "licences or checksums changed".into()
    } else {
        out.join(" ")
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    std::io::Write::write_all(&mut tmp, bytes)
        .and_then(|()| tmp.persist(path).map(|_| ()).map_err(|e| e.error))
        .with_context(|| format!("cannot write {}", path.display()))
}
