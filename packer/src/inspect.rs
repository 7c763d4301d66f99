//! `watt inspect ARCHIVE`: what an artifact holds, read from the archive stream without
//! extracting it: size and file count of each part (the stub, node's runtime, each service, what
//! services share), the largest shipped packages, and the env file keys baked in (names only).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Serialize;
use watt_manifest::AppManifest;

use crate::sink::archive::Compression;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub name: String,
    /// Bytes of every regular file (uncompressed).
    pub total_bytes: u64,
    pub total_files: u64,
    /// Every file in exactly one part, so their sizes add up to the totals.
    pub parts: Vec<Part>,
    /// The 20 largest installed packages, by the bytes in their folder (packages nested in a
    /// package's own `node_modules` count as themselves, not as part of it).
    pub largest_packages: Vec<Package>,
    /// Baked env file keys (`watt build --dotenv`), by owner (`runtime` or a service id).
    pub baked_env_keys: BTreeMap<String, Vec<String>>,
    /// Where the stub looks for env files at run time, by owner.
    pub env_files: BTreeMap<String, String>,
    /// What the ignore rules left out at build time (path below `app/` → why).
    pub excluded: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Part {
    pub name: String,
    pub bytes: u64,
    pub files: u64,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    /// Its folder in the artifact.
    pub path: String,
    pub bytes: u64,
    pub files: u64,
}

pub fn inspect(archive: &Path) -> Result<Report> {
    let Some(compression) = Compression::from_path(archive) else {
        bail!(
            "{}: not an archive watt writes (.tar.zst, .tar.gz, .tar)",
            archive.display()
        );
    };
    let file = File::open(archive).with_context(|| format!("cannot open {}", archive.display()))?;
    let reader: Box<dyn Read> = match compression {
        Compression::None => Box::new(BufReader::new(file)),
        Compression::Gzip => Box::new(flate2::read::GzDecoder::new(BufReader::new(file))),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::new(file).context("cannot start the zstd decoder")?,
        ),
    };
    let mut tar = tar::Archive::new(reader);
    let mut files: Vec<(String, u64)> = Vec::new();
    let mut manifest = None;
    let what = || format!("cannot read {}", archive.display());
    for entry in tar.entries().with_context(what)? {
        let mut entry = entry.with_context(what)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry
            .path()
            .with_context(what)?
            .to_string_lossy()
            .into_owned();
        let size = entry.header().size().with_context(what)?;
        if path == watt_manifest::MANIFEST_FILE {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).with_context(what)?;
            manifest = Some(
                AppManifest::from_json(&bytes)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", archive.display()))?,
            );
        }
        files.push((path, size));
    }
    let Some(manifest) = manifest else {
        bail!(
            "{} has no {}: not an artifact of `watt build`",
            archive.display(),
            watt_manifest::MANIFEST_FILE
        );
    };
    Ok(report(&manifest, &files))
}

fn report(m: &AppManifest, files: &[(String, u64)]) -> Report {
    // Deepest service root first, so a service inside another's folder gets its own files.
    let mut roots: Vec<(&str, String)> = m
        .services
        .iter()
        .map(|s| (s.id.as_str(), format!("{}/", s.root.trim_end_matches('/'))))
        .collect();
    roots.sort_by_key(|(_, r)| std::cmp::Reverse(r.len()));
    let mut parts: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut packages: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for (path, size) in files {
        let part = if path == "watt-stub" || path == watt_manifest::MANIFEST_FILE {
            "watt-stub and manifest".to_string()
        } else if path.starts_with("runtime/") {
            "node runtime".to_string()
        } else if let Some((id, _)) = roots.iter().find(|(_, r)| path.starts_with(r.as_str())) {
            format!("service {id}")
        } else {
            "shared by the services".to_string()
        };
        let p = parts.entry(part).or_default();
        p.0 += size;
        p.1 += 1;
        if let Some(pkg) = package_dir(path) {
            let p = packages.entry(pkg.to_string()).or_default();
            p.0 += size;
            p.1 += 1;
        }
    }
    let mut largest: Vec<Package> = packages
        .into_iter()
        .map(|(path, (bytes, files))| Package {
            name: path
                .rsplit_once("node_modules/")
                .map_or(path.as_str(), |(_, n)| n)
                .to_string(),
            path,
            bytes,
            files,
        })
        .collect();
    largest.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.path.cmp(&b.path)));
    largest.truncate(20);

    let mut baked_env_keys = BTreeMap::new();
    let mut env_files = BTreeMap::new();
    if !m.dotenv.is_empty() {
        baked_env_keys.insert("runtime".to_string(), m.dotenv.keys().cloned().collect());
    }
    if let Some(f) = &m.env_file {
        env_files.insert("runtime".to_string(), f.clone());
    }
    for s in &m.services {
        if !s.dotenv.is_empty() {
            baked_env_keys.insert(s.id.clone(), s.dotenv.keys().cloned().collect());
        }
        if let Some(f) = &s.env_file {
            env_files.insert(s.id.clone(), f.clone());
        }
    }
    Report {
        name: m.name.clone(),
        total_bytes: files.iter().map(|(_, s)| s).sum(),
        total_files: files.len() as u64,
        parts: parts
            .into_iter()
            .map(|(name, (bytes, files))| Part { name, bytes, files })
            .collect(),
        largest_packages: largest,
        baked_env_keys,
        env_files,
        excluded: m.excluded.clone(),
    }
}

/// The installed package folder a file belongs to: the path up to the package name after its
/// last `node_modules/` (`@scope/name` for scoped packages).
fn package_dir(path: &str) -> Option<&str> {
    let (before, after) = path.rsplit_once("node_modules/")?;
    let mut parts = after.splitn(3, '/');
    let first = parts.next()?;
    let name_len = if first.starts_with('@') {
        first.len() + 1 + parts.next()?.len()
    } else {
        first.len()
    };
    // A file directly in node_modules (`.package-lock.json`) is no package's.
    if first.starts_with('.') || after.len() == name_len {
        return None;
    }
    Some(&path[..before.len() + "node_modules/".len() + name_len])
}

impl Report {
    /// A table for a terminal.
    pub fn to_text(&self) -> String {
        let mb = |b: u64| format!("{:.1} MB", b as f64 / 1e6);
        let mut out = format!(
            "{}: {} in {} files\n\n  {:<28} {:>10} {:>7}\n",
            self.name,
            mb(self.total_bytes),
            self.total_files,
            "part",
            "size",
            "files"
        );
        for p in &self.parts {
            out.push_str(&format!(
                "  {:<28} {:>10} {:>7}\n",
                p.name,
                mb(p.bytes),
                p.files
            ));
        }
        out.push_str("\nlargest packages\n");
        for p in &self.largest_packages {
            out.push_str(&format!(
                "  {:>10}  {:<32} {}\n",
                mb(p.bytes),
                p.name,
                p.path
            ));
        }
        out.push_str("\nenv files\n");
        if self.baked_env_keys.is_empty() {
            out.push_str("  no values baked in (built without --dotenv)\n");
        }
        for (owner, keys) in &self.baked_env_keys {
            out.push_str(&format!("  baked for {owner}: {}\n", keys.join(", ")));
        }
        for (owner, file) in &self.env_files {
            out.push_str(&format!("  read at run time for {owner}: {file}\n"));
        }
        out.push_str("\nleft out by the ignore rules\n");
        if self.excluded.is_empty() {
            out.push_str("  nothing\n");
        }
        for (path, why) in &self.excluded {
            out.push_str(&format!("  {path} ({why})\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_belong_to_their_package_folder() {
        assert_eq!(
            package_dir("app/node_modules/next/dist/x.js"),
            Some("app/node_modules/next")
        );
        assert_eq!(
            package_dir("app/node_modules/@fastify/ws/index.js"),
            Some("app/node_modules/@fastify/ws")
        );
        assert_eq!(
            package_dir("app/node_modules/a/node_modules/b/i.js"),
            Some("app/node_modules/a/node_modules/b")
        );
        assert_eq!(package_dir("app/node_modules/.package-lock.json"), None);
        assert_eq!(package_dir("app/web/api/index.js"), None);
    }
}
