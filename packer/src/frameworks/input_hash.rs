//! A build id made from what a framework's build reads, for the frameworks whose own id is
//! random (Next's `BUILD_ID`, Nuxt's `buildId`): the same inputs give the same id wherever and
//! whenever they are built, and changing a source file, the lockfile, the framework's version
//! or the base path gives another (the id is public: clients use it to notice a deployment).

use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use super::find_package;

/// Folders that are never build inputs, whatever the framework: installed packages, VCS data,
/// watt's own scratch folder.
const NEVER_INPUTS: &[&str] = &["node_modules", ".git", ".watt"];

const LOCKFILES: &[&str] = &[
    "package-lock.json",
    "npm-shrinkwrap.json",
    "pnpm-lock.yaml",
    "yarn.lock",
    "bun.lock",
];

/// A hash of the service's files (by path relative to its folder; folders named in `outputs`,
/// the framework's output and caches, left out: a name matches at any depth, a path with a
/// `/` only there), the nearest lockfile, the installed `framework` package's version, and
/// the base path. 20 hex characters.
pub fn build_id(
    svc_dir: &Path,
    base_path: &str,
    framework: &str,
    outputs: &[&str],
) -> Result<String> {
    let mut h = Sha256::new();
    let mut field = |name: &str, bytes: &[u8]| {
        h.update((name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    field("basePath", base_path.as_bytes());
    let skip = Skip::new(outputs);
    let mut files = Vec::new();
    list_inputs(svc_dir, Path::new(""), &skip, &mut files)?;
    files.sort();
    for rel in &files {
        let host = svc_dir.join(rel);
        let meta = std::fs::symlink_metadata(&host)
            .with_context(|| format!("cannot read {}", host.display()))?;
        let bytes = if meta.file_type().is_symlink() {
            std::fs::read_link(&host)
                .with_context(|| format!("cannot read link {}", host.display()))?
                .to_string_lossy()
                .into_owned()
                .into_bytes()
        } else {
            std::fs::read(&host).with_context(|| format!("cannot read {}", host.display()))?
        };
        field(&format!("file:{}", rel.to_string_lossy()), &bytes);
    }
    if let Some(lock) = svc_dir
        .ancestors()
        .flat_map(|d| LOCKFILES.iter().map(move |l| d.join(l)))
        .find(|p| p.is_file())
    {
        let bytes =
            std::fs::read(&lock).with_context(|| format!("cannot read {}", lock.display()))?;
        field("lockfile", &bytes);
    }
    if let Some(dir) = find_package(svc_dir, framework) {
        let pkg = std::fs::read(dir.join("package.json")).unwrap_or_default();
        let version = serde_json::from_slice::<serde_json::Value>(&pkg)
            .ok()
            .and_then(|v| {
                v.get("version")
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
            })
            .unwrap_or_default();
        field(framework, version.as_bytes());
    }
    let digest = h.finalize();
    Ok(digest[..10].iter().map(|b| format!("{b:02x}")).collect())
}

/// The folders [`build_id`] does not read.
struct Skip {
    names: Vec<String>,
    paths: Vec<PathBuf>,
}

impl Skip {
    fn new(outputs: &[&str]) -> Self {
        let mut names: Vec<String> = NEVER_INPUTS.iter().map(|s| s.to_string()).collect();
        let mut paths = Vec::new();
        for out in outputs {
            let rel: PathBuf = Path::new(out)
                .components()
                .filter(|c| matches!(c, Component::Normal(_)))
                .collect();
            match rel.components().count() {
                0 => {}
                1 => names.push(rel.to_string_lossy().into_owned()),
                _ => paths.push(rel),
            }
        }
        Skip { names, paths }
    }

    fn skips(&self, rel: &Path) -> bool {
        let name = rel.file_name().map(|n| n.to_string_lossy());
        name.is_some_and(|n| self.names.iter().any(|s| *s == n))
            || self.paths.iter().any(|p| p == rel)
    }
}

fn list_inputs(dir: &Path, rel: &Path, skip: &Skip, out: &mut Vec<PathBuf>) -> Result<()> {
    let here = dir.join(rel);
    for entry in std::fs::read_dir(&here)
        .with_context(|| format!("cannot read folder {}", here.display()))?
    {
        let entry = entry.with_context(|| format!("cannot read folder {}", here.display()))?;
        let child = rel.join(entry.file_name());
        let ft = entry
            .file_type()
            .with_context(|| format!("cannot read {}", entry.path().display()))?;
        if ft.is_dir() {
            if !skip.skips(&child) {
                list_inputs(dir, &child, skip, out)?;
            }
        } else if ft.is_file() || ft.is_symlink() {
            out.push(child);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_named_or_placed_are_not_inputs() {
        let d = tempfile::tempdir().unwrap();
        let svc = d.path();
        for f in ["app/page.vue", "dist/site/x", "a/dist/site/y", ".nuxt/z"] {
            std::fs::create_dir_all(svc.join(f).parent().unwrap()).unwrap();
            std::fs::write(svc.join(f), "1").unwrap();
        }
        let id = |outputs: &[&str]| build_id(svc, "", "nuxt", outputs).unwrap();
        let before = id(&[".nuxt", "./dist/site"]);
        // The output folders change: the id does not.
        std::fs::write(svc.join(".nuxt/z"), "2").unwrap();
        std::fs::write(svc.join("dist/site/x"), "2").unwrap();
        assert_eq!(before, id(&[".nuxt", "./dist/site"]));
        // `dist/site` is that path only: the same names elsewhere are sources.
        std::fs::write(svc.join("a/dist/site/y"), "2").unwrap();
        assert_ne!(before, id(&[".nuxt", "./dist/site"]));
        let before = id(&[".nuxt", "./dist/site"]);
        std::fs::write(svc.join("app/page.vue"), "2").unwrap();
        assert_ne!(before, id(&[".nuxt", "./dist/site"]));
    }
}
